//! A session: one connection pool (the wire) plus fastio's own policy around it
//! (defaults merged into each request, redirects, connection and rate
//! limits, the cookie jar, the body limit). `fastio.Client` owns one; the
//! module-level functions share a default one per process.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use std::sync::RwLock;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

use super::adaptive::{Answer, HostLimit, HostSlot};
use super::connect::{ConnectSettings, Connector, Resolver};
use super::defaults;
use super::defaults::Limit;
use super::error::{no_descriptor_left, ErrorKind, FastioError, NO_DESCRIPTORS};
use super::handler::Handler;
use super::opening::{Http2Origins, Noting};
use super::pacing::{Pacer, Turn};
use super::retry::RetryPolicy;
use super::tls;
use super::wire::Wire;
use crate::runtime;

/// What a session's requests start from; a bulk call, and each request,
/// may replace parts of it ([`Defaults::with`]).
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub base_url: Option<Url>,
    /// Shared by the requests built on these defaults.
    pub headers: Arc<HeaderMap>,
    pub params: Vec<(String, String)>,
    /// Sent in the Cookie header (merged into `headers` by `with`).
    pub cookies: Vec<(String, String)>,
    /// Total deadline of a request; `None` waits forever.
    pub timeout: Option<Duration>,
    /// The longest wait for a connection slot.
    pub pool_timeout: Option<Duration>,
    /// The longest wait for the server to take more of a request body.
    pub write_timeout: Option<Duration>,
    /// A request's own connect timeout; `Default`: the session's.
    pub connect_timeout: Limit,
    /// A request's own read timeout; `Default`: the session's.
    pub read_timeout: Limit,
    pub retry: RetryPolicy,
    /// The most (decoded) body bytes taken; `None`: see `RequestSpec::body_limits`.
    pub max_body_size: Option<u64>,
}

impl Defaults {
    /// What a prepared request (one that already has the base URL, params
    /// and headers, as a request hook gets it) starts from: all but those.
    pub fn for_prepared(&self) -> Self {
        Self {
            base_url: None,
            headers: Arc::default(),
            params: Vec::new(),
            ..self.clone()
        }
    }
}

/// Everything a session is built from; plain data, checked in Python-facing
/// code before it gets here.
#[derive(Clone)]
pub struct Settings {
    /// What requests start from; the session moves it out (`Session::defaults`).
    pub defaults: Defaults,
    /// A connect's limit, unless a request sets its own.
    pub connect_timeout: Option<Duration>,
    /// The longest wait between two reads, unless a request sets its own.
    pub read_timeout: Option<Duration>,
    pub max_connections: Option<usize>,
    pub per_host: Option<usize>,
    /// `per_host="auto"`: each host's limit adapts (see adaptive.rs).
    pub adaptive_per_host: bool,
    /// Idle keep-alive connections kept per host; `None`: as many as may
    /// be open (see [`defaults::MAX_IDLE_PER_HOST`]).
    pub max_idle_per_host: Option<usize>,
    /// How long an idle connection is kept; `None`: until the server closes it.
    pub idle_expiry: Option<Duration>,
    /// Requests per second per host.
    pub rate_limit: Option<f64>,
    /// `None`: negotiated by ALPN; `Some(true)`: prior knowledge; `Some(false)`: HTTP/1.1 only.
    pub http2: Option<bool>,
    pub follow_redirects: bool,
    pub max_redirects: usize,
    pub allow_https_to_http: bool,
    pub verify: bool,
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub identity: Option<tls::Identity>,
    /// The proxy's URL, credentials included.
    pub proxy: Option<String>,
    /// The proxy's URL as messages show it (credentials hidden).
    pub proxy_shown: Option<String>,
    pub trust_env: bool,
    pub resolve: Vec<(String, IpAddr)>,
    /// Where names are asked; empty: the system's configuration.
    pub dns_servers: Vec<SocketAddr>,
    /// The address connections are made from; `None`: the system's choice.
    pub local_address: Option<IpAddr>,
    /// Sent unless a request has its own; checked once, where it is given.
    pub user_agent: HeaderValue,
    pub keep_cookies: bool,
    /// Answers every request instead of the network (a mock transport).
    pub handler: Option<Arc<Handler>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            defaults: Defaults {
                timeout: Some(defaults::TIMEOUT),
                ..Defaults::default()
            },
            connect_timeout: Some(defaults::CONNECT_TIMEOUT),
            read_timeout: None,
            max_connections: Some(defaults::MAX_CONNECTIONS),
            per_host: None,
            adaptive_per_host: false,
            max_idle_per_host: None,
            idle_expiry: Some(defaults::IDLE_EXPIRY),
            rate_limit: None,
            http2: None,
            follow_redirects: true,
            max_redirects: defaults::MAX_REDIRECTS,
            allow_https_to_http: false,
            verify: true,
            extra_roots: Vec::new(),
            identity: None,
            proxy: None,
            proxy_shown: None,
            trust_env: true,
            resolve: Vec::new(),
            dns_servers: Vec::new(),
            local_address: None,
            user_agent: HeaderValue::from_static(concat!("fastio/", env!("CARGO_PKG_VERSION"))),
            keep_cookies: false,
            handler: None,
        }
    }
}

/// Slots held while one request (one hop) is on the wire.
pub struct Slots {
    _host: Option<HostPermit>,
    _total: Option<OwnedSemaphorePermit>,
}

/// A request's slot under its host's limit.
enum HostPermit {
    Fixed(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit),
    Adaptive(#[allow(dead_code, reason = "held for its drop")] HostSlot),
}

pub struct Session {
    pub settings: Settings,
    /// Built on first use, on a blocking thread; rebuilt in a forked child.
    http: Mutex<Option<(u64, Arc<Wire>)>>,
    /// Held while the client is being built, so it is built once.
    building: tokio::sync::Mutex<()>,
    jar: Option<CookieJar>,
    total: Option<Arc<Semaphore>>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Under `per_host="auto"`: each host's adaptive limit, by origin.
    adaptive: Mutex<HashMap<String, Arc<HostLimit>>>,
    pacer: Pacer,
    /// Hosts that asked (429/503 with `Retry-After`) to be sent nothing
    /// until a time: only their requests wait.
    holds: Mutex<HashMap<String, Instant>>,
    /// What requests start from: moved out of the settings it was built
    /// with, so this is the one copy; a user may change it
    /// (`client.headers[...] = ...`), and each request takes a snapshot.
    defaults: RwLock<Arc<Defaults>>,
    /// Origins seen speaking HTTP/2, for requests under a pool timeout.
    pub http2_origins: Arc<Http2Origins>,
}

impl Session {
    pub fn new(mut settings: Settings) -> Self {
        Self {
            defaults: RwLock::new(Arc::new(std::mem::take(&mut settings.defaults))),
            jar: settings.keep_cookies.then(CookieJar::default),
            total: settings
                .max_connections
                .map(|limit| Arc::new(Semaphore::new(limit))),
            hosts: Mutex::new(HashMap::new()),
            adaptive: Mutex::new(HashMap::new()),
            pacer: Pacer::default(),
            holds: Mutex::new(HashMap::new()),
            http: Mutex::new(None),
            building: tokio::sync::Mutex::new(()),
            http2_origins: Arc::default(),
            settings,
        }
    }

    /// The defaults requests start from now.
    pub fn defaults(&self) -> Arc<Defaults> {
        Arc::clone(&self.defaults.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes the defaults of the requests made from now on.
    pub fn change_defaults(&self, change: impl FnOnce(&mut Defaults)) {
        let mut current = self
            .defaults
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        change(Arc::make_mut(&mut current));
    }

    /// The default session of this process, verifying TLS or not; made on
    /// first use (without building its wire yet).
    pub fn shared(verify: bool) -> Arc<Session> {
        /// The fork generation, then the verifying and the unverified session.
        type Shared = (u64, Arc<Session>, Arc<Session>);
        static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
        let generation = runtime::generation();
        let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        let (_, verifying, unverified) = match shared.as_ref() {
            Some(sessions) if sessions.0 == generation => sessions,
            _ => shared.insert((
                generation,
                Arc::new(Session::new(Settings::default())),
                Arc::new(Session::new(Settings {
                    verify: false,
                    ..Settings::default()
                })),
            )),
        };
        Arc::clone(if verify { verifying } else { unverified })
    }

    /// The wire. Building one loads the TLS roots, which can take
    /// a while, so it happens on a blocking thread, never on the loop; the
    /// async mutex makes the first caller build it while the others wait
    /// their turn, in order. Once built, it is read without waiting.
    pub async fn http(&self) -> Result<Arc<Wire>, FastioError> {
        let generation = runtime::generation();
        if let Some(client) = self.built(generation) {
            return Ok(client);
        }
        let _building = self.building.lock().await;
        if let Some(client) = self.built(generation) {
            return Ok(client);
        }
        let settings = self.settings.clone();
        let origins = Arc::clone(&self.http2_origins);
        let client = tokio::task::spawn_blocking(move || build(&settings, origins))
            .await
            .map_err(|err| {
                FastioError::internal(format!("building the HTTP client failed: {err:?}"))
            })??;
        let client = Arc::new(client);
        *self.http.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((generation, Arc::clone(&client)));
        Ok(client)
    }

    /// The wire if it is built already (by an earlier request).
    pub fn built_wire(&self) -> Option<Arc<Wire>> {
        self.built(runtime::generation())
    }

    fn built(&self, generation: u64) -> Option<Arc<Wire>> {
        match &*self.http.lock().unwrap_or_else(PoisonError::into_inner) {
            Some((built_in, client)) if *built_in == generation => Some(Arc::clone(client)),
            _ => None,
        }
    }

    /// Waits for a free slot under `max_connections` and `per_host` (FIFO:
    /// tokio's semaphores are fair), for at most `pool_timeout`.
    pub async fn slots(
        &self,
        method: &str,
        url: &Url,
        pool_timeout: Option<Duration>,
    ) -> Result<Slots, FastioError> {
        let fixed = self.settings.per_host.map(|limit| {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                hosts
                    .entry(origin(url))
                    .or_insert_with(|| Arc::new(Semaphore::new(limit))),
            )
        });
        let adaptive = self.host_limit(url);
        let total = self.total.clone();
        let waiting = async move {
            // Host first, then total, always in this order: no deadlock.
            let host = match (fixed, adaptive) {
                (Some(semaphore), _) => semaphore.acquire_owned().await.ok().map(HostPermit::Fixed),
                (None, Some(limit)) => limit.acquire().await.map(HostPermit::Adaptive),
                (None, None) => None,
            };
            let total = match total {
                Some(semaphore) => semaphore.acquire_owned().await.ok(),
                None => None,
            };
            Slots {
                _host: host,
                _total: total,
            }
        };
        match pool_timeout {
            Some(limit) => tokio::time::timeout(limit, waiting).await.map_err(|_| {
                FastioError::for_request(
                    ErrorKind::PoolTimeout,
                    method,
                    url.as_str(),
                    &format!(
                        "no connection slot became free within {} s (max_connections={}, per_host={})",
                        limit.as_secs_f64(),
                        describe(self.settings.max_connections),
                        describe(self.settings.per_host),
                    ),
                )
            }),
            None => Ok(waiting.await),
        }
    }

    /// `url`'s host's adaptive limit, under `per_host="auto"`.
    fn host_limit(&self, url: &Url) -> Option<Arc<HostLimit>> {
        if !self.settings.adaptive_per_host {
            return None;
        }
        let mut limits = self.adaptive.lock().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(
            limits.entry(origin(url)).or_insert_with(HostLimit::new),
        ))
    }

    /// Tells `url`'s host's adaptive limit (under `per_host="auto"`) how a
    /// request sent at `sent` was answered.
    pub fn answered(&self, url: &Url, answer: Answer, sent: tokio::time::Instant) {
        if let Some(limit) = self.host_limit(url) {
            limit.answered(answer, sent);
        }
    }

    /// Waits until `url`'s host may be sent another request under
    /// `rate_limit`: starts are spaced evenly, without bursts.
    pub async fn pace(&self, url: &Url) {
        let Some(rate) = self.settings.rate_limit else {
            return;
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let turn = Turn::take(&self.pacer, origin(url), interval);
        tokio::time::sleep_until(turn.start.into()).await;
        turn.used();
    }

    /// `url`'s host asked to be sent nothing for `wait`.
    pub fn hold(&self, url: &Url, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
        holds.retain(|_, held| *held > now);
        let held = holds.entry(origin(url)).or_insert(until);
        *held = (*held).max(until);
    }

    /// Waits until `url`'s host may be sent requests again.
    pub async fn hold_passed(&self, url: &Url) {
        let until = {
            let holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
            if holds.is_empty() {
                return;
            }
            holds.get(&origin(url)).copied()
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// Adds the jar's cookies for `url` to `headers`, after any given ones
    /// (a given cookie wins over the jar's of the same name).
    pub fn add_cookies(&self, url: &Url, headers: &mut HeaderMap) {
        let Some(stored) = self.jar.as_ref().and_then(|jar| jar.header_for(url)) else {
            return;
        };
        if !headers.contains_key(COOKIE) {
            // Nothing given to merge with: the jar's header as it is.
            headers.insert(COOKIE, stored);
            return;
        }
        let given = headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes);
        if let Some(merged) = merge_cookies(given.chain([stored.as_bytes()])) {
            headers.insert(COOKIE, merged);
        }
    }

    /// Keeps the cookies a response sets, scoped to its URL.
    pub fn keep_cookies(&self, url: &Url, headers: &HeaderMap) {
        if let Some(jar) = &self.jar {
            jar.keep(headers.get_all(SET_COOKIE).iter(), url);
        }
    }

    /// Drops the wire, and with it the idle connections; requests
    /// still running keep theirs until they end, and a later request builds
    /// a new one. Also how a process out of file descriptors gets back those
    /// the pool holds.
    pub fn close(&self) {
        let released = self
            .http
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(released);
    }
}

/// A session's cookies, by the rules of RFC 6265 (domain, path, expiry,
/// secure), as reqwest's own jar keeps them.
#[derive(Default)]
struct CookieJar(RwLock<cookie_store::CookieStore>);

impl CookieJar {
    /// Stores the cookies of `Set-Cookie` values received from `url`;
    /// values that are not cookies are skipped.
    fn keep<'a>(&self, set_cookies: impl Iterator<Item = &'a HeaderValue>, url: &Url) {
        // Most responses set no cookie: they take no write lock, which
        // every other request of the session would wait behind.
        let mut set_cookies = set_cookies.peekable();
        if set_cookies.peek().is_none() {
            return;
        }
        let cookies = set_cookies.filter_map(|value| {
            let text = std::str::from_utf8(value.as_bytes()).ok()?;
            let cookie = cookie::Cookie::parse(text).ok()?.into_owned();
            // As browsers: a cookie over 4 KiB is not kept.
            if cookie.name().len() + cookie.value().len() > MAX_COOKIE_SIZE {
                return None;
            }
            within_its_site(cookie, url)
        });
        let mut store = self.0.write().unwrap_or_else(PoisonError::into_inner);
        // The servers choose how many cookies there are: past the caps (the
        // jar's, and what one site is sent), a full jar takes no more, as
        // browsers cap theirs.
        let room = MAX_JAR_COOKIES
            .saturating_sub(store.iter_any().count())
            .min(MAX_SITE_COOKIES.saturating_sub(store.matches(url).len()));
        store.store_response_cookies(cookies.take(room), url);
    }

    /// The `Cookie` header value for a request to `url`, if any cookie matches.
    fn header_for(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let mut header = String::new();
        for (name, value) in store.get_request_values(url).take(MAX_SITE_COOKIES) {
            // A site's parent domains can set cookies too: what one request
            // carries stays bounded.
            if header.len() + name.len() + value.len() + 3 > MAX_COOKIE_HEADER {
                break;
            }
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        if header.is_empty() {
            return None;
        }
        HeaderValue::from_str(&header).ok()
    }
}

/// The most cookies one session's jar holds.
const MAX_JAR_COOKIES: usize = 3000;

/// The most cookies kept for (and sent to) one URL, as browsers (~180).
const MAX_SITE_COOKIES: usize = 180;

/// The largest cookie kept (name and value), as browsers.
const MAX_COOKIE_SIZE: usize = 4096;

/// The most bytes of Cookie header the jar adds to one request.
const MAX_COOKIE_HEADER: usize = 32 * 1024;

/// One `Cookie` value from several, in order; of two cookies with the same
/// name the first is kept, so earlier sources take precedence.
pub fn merge_cookies<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Option<HeaderValue> {
    let mut names: HashSet<&[u8]> = HashSet::new();
    let mut joined: Vec<u8> = Vec::new();
    for value in values {
        for pair in value.split(|&byte| byte == b';') {
            let pair = pair.trim_ascii();
            if pair.is_empty() {
                continue;
            }
            let name = pair
                .split(|&byte| byte == b'=')
                .next()
                .unwrap_or(pair)
                .trim_ascii();
            if !names.insert(name) {
                continue;
            }
            if !joined.is_empty() {
                joined.extend_from_slice(b"; ");
            }
            joined.extend_from_slice(pair);
        }
    }
    HeaderValue::from_bytes(&joined)
        .ok()
        .filter(|_| !joined.is_empty())
}

/// The cookie as it may be kept, or `None` when its Domain attribute is a
/// public suffix ("com", "co.uk", "github.io") or a single label
/// ("localhost") other than the host itself, which would send it to every
/// site under that suffix (RFC 6265 5.3 step 5, as browsers and curl do).
/// A cookie whose Domain is the host itself is kept for that host only.
fn within_its_site(
    mut cookie: cookie::Cookie<'static>,
    url: &Url,
) -> Option<cookie::Cookie<'static>> {
    let Some(domain) = cookie.domain() else {
        return Some(cookie);
    };
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    let is_public = !domain.contains('.')
        || psl::suffix(domain.as_bytes())
            .is_some_and(|suffix| suffix.is_known() && suffix.as_bytes() == domain.as_bytes());
    if !is_public {
        return Some(cookie);
    }
    if url
        .host_str()
        .is_some_and(|host| host.eq_ignore_ascii_case(&domain))
    {
        cookie.unset_domain();
        return Some(cookie);
    }
    None
}

fn describe(limit: Option<usize>) -> String {
    limit.map_or_else(|| "none".to_owned(), |limit| limit.to_string())
}

/// scheme://host:port: what limits and pacing count per.
pub fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// The most header fields an HTTP/1.1 response may have: real sites send
/// hundreds (a Set-Cookie each). Its head is bounded besides by hyper's
/// read buffer (about 400 KiB).
pub const MAX_RESPONSE_HEADERS: usize = 1024;

/// The most bytes of header list an HTTP/2 response may have (as HTTP/2
/// counts them: name, value and 32 per field).
pub const MAX_HEADER_LIST: u32 = 256 * 1024;

fn build(settings: &Settings, http2_origins: Arc<Http2Origins>) -> Result<Wire, FastioError> {
    // ALPN for the session's HTTP versions.
    let alpn: &[&[u8]] = match settings.http2 {
        Some(true) => &[b"h2"],
        Some(false) => &[b"http/1.1"],
        None => &[b"h2", b"http/1.1"],
    };
    let trust = tls::Trust {
        verify: settings.verify,
        extra_roots: &settings.extra_roots,
        identity: settings.identity.as_ref(),
    };
    let tls_failed = |err: rustls::Error| {
        build_failed(
            no_descriptor_left(),
            format!("loading the TLS configuration failed: {err}"),
        )
    };
    let proxies = match (&settings.proxy, settings.trust_env) {
        (Some(proxy), _) => Some(Matcher::builder().all(proxy.clone()).build()),
        (None, true) => Some(Matcher::from_env()),
        (None, false) => None,
    }
    .map(Arc::new);
    let resolver = Resolver::new(&settings.resolve, &settings.dns_servers)
        .map_err(|why| build_failed(false, format!("the DNS resolver could not be made: {why}")))?;
    let connector = Connector::new(ConnectSettings {
        resolver: resolver.clone(),
        local_address: settings.local_address,
        connect_timeout: settings.connect_timeout,
        tls: tls::client_config(&trust, alpn).map_err(tls_failed)?,
        proxy_tls: tls::client_config(&trust, &[b"http/1.1"]).map_err(tls_failed)?,
        proxies: proxies.clone(),
    });
    // As many idle as may be open to one host: a pool sized for 1,000
    // keeps its connections between bursts instead of reconnecting.
    let idle = settings.max_idle_per_host.unwrap_or_else(|| {
        settings
            .per_host
            .or(settings.max_connections)
            .unwrap_or(defaults::MAX_IDLE_PER_HOST)
    });
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(idle)
        .pool_idle_timeout(settings.idle_expiry)
        .http1_max_headers(MAX_RESPONSE_HEADERS)
        .http2_max_header_list_size(MAX_HEADER_LIST)
        .http2_only(settings.http2 == Some(true));
    Ok(Wire::new(
        builder.build(Noting::around(connector, http2_origins)),
        settings.user_agent.clone(),
        proxies,
        resolver,
    ))
}

/// Why the client could not be built: the process is out of descriptors
/// (a ConnectError that says so), else `what` (a bug: InternalError).
fn build_failed(out_of_descriptors: bool, what: String) -> FastioError {
    if out_of_descriptors {
        FastioError::new(ErrorKind::Connect, None, NO_DESCRIPTORS.to_owned())
    } else {
        FastioError::internal(what)
    }
}
