//! The native half of `fastio.Client`: every constructor option checked and
//! turned into a [`Session`]; requests built on its defaults. The typed
//! Python class in `fastio/_client.py` wraps it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine;
use http::header::{HeaderValue, AUTHORIZATION};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};

use super::args::{
    body_size_limit, form_pairs, parse_headers, positive_count, retry_count,
    retry_methods as retry_methods_arg, seconds, shown_int, type_name, IntArg,
};
use super::bulk::{self, BulkArgs, Count, FetchStream};
use super::mock::Exchanges;
use super::progress::Progress;
use super::reading::StreamedResponse;
use super::request::FetchArgs;
use super::response::StatusChecked;
use super::timeout::{Limit, TimeoutArg};
use crate::bridge::{FastioFuture, Job, Value};
use crate::http::defaults;
use crate::http::error::hide_credentials;
use crate::http::retry::RetryPolicy;
use crate::http::session::{Session, Settings};
use crate::http::spec::{check_cookies, parse_url_text, resolve_url, RequestSpec};
use crate::http::stream::BodyStream;
use crate::http::tls;
use crate::http::transport;

/// A client's settings, pool, limits and cookie jar.
#[pyclass(frozen, module = "fastio._fastio", name = "_ClientSession")]
pub struct ClientSession {
    session: Arc<Session>,
    /// For `repr`: the proxy with its credentials hidden.
    proxy_shown: Option<String>,
    /// A status of 400 or more fails a request's awaitable (aiohttp's
    /// `raise_for_status=True`); bulk calls return such responses as they are.
    raise_for_status: bool,
}

/// The slowest `rate_limit`: its interval between requests is a time tokio
/// can wait for.
const MIN_RATE_LIMIT: f64 = 1e-6;

/// The most a certificate or key file may hold: a system's whole CA bundle
/// is a few hundred KB.
const MAX_PEM_FILE: u64 = 16 * 1024 * 1024;

/// A certificate or key file's bytes, read without the GIL: a regular file
/// of at most [`MAX_PEM_FILE`] bytes, else an OSError naming it.
fn read_file(path: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    let py = path.py();
    let path: std::path::PathBuf = path.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a path (str or os.PathLike), not {}",
            type_name(path)
        ))
    })?;
    py.detach(|| read_bounded(&path, MAX_PEM_FILE))
        .map_err(|why| {
            pyo3::exceptions::PyOSError::new_err(format!(
                "cannot read {what} {}: {why}",
                path.display()
            ))
        })
}

/// `path`'s bytes if it is a regular file of at most `most` bytes. Opened
/// without blocking, so a FIFO is refused instead of waited on.
fn read_bounded(path: &std::path::Path, most: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|err| err.to_string())?;
    let metadata = file.metadata().map_err(|err| err.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    let too_large = || format!("larger than {} MiB", most / (1024 * 1024));
    if metadata.len() > most {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    file.take(most + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| err.to_string())?;
    if bytes.len() as u64 > most {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A limit given both in `timeout=Timeout(...)` and as its own argument.
fn one_of(in_timeout: Limit, alone: Limit, name: &str) -> PyResult<Limit> {
    match (in_timeout, alone) {
        (given, Limit::Default) | (Limit::Default, given) => Ok(given),
        _ => Err(PyValueError::new_err(format!(
            "give {name} in timeout=fastio.Timeout(...) or as {name}_timeout=, not both"
        ))),
    }
}

/// `auth=`: (user, password) for Basic, or a str token for Bearer.
fn auth_header(auth: &Bound<'_, PyAny>) -> PyResult<HeaderValue> {
    let value = if let Ok(token) = auth.cast::<PyString>() {
        format!("Bearer {}", token.to_str()?)
    } else if let Ok(pair) = auth.cast::<PyTuple>() {
        let (user, password): (String, String) = pair.extract().map_err(|_| {
            PyTypeError::new_err("auth must be (user, password) as two str, or a bearer token str")
        })?;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}")
    } else {
        return Err(PyTypeError::new_err(format!(
            "auth must be (user, password) or a bearer token str, not {}",
            type_name(auth)
        )));
    };
    let mut header = HeaderValue::from_str(&value)
        .map_err(|_| PyValueError::new_err("auth must not contain CR, LF or NUL"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// `proxy=`: the proxy, and how to show it.
fn parse_proxy(text: &str) -> PyResult<(String, String)> {
    let url = url::Url::parse(text)
        .map_err(|err| PyValueError::new_err(format!("invalid proxy URL: {err}")))?;
    match url.scheme() {
        "http" | "https" | "socks5" | "socks5h" => {}
        other => {
            return Err(PyValueError::new_err(format!(
                "proxy scheme {other:?} is not http, https, socks5 or socks5h"
            )))
        }
    }
    let shown = hide_credentials(url.as_str()).into_owned();
    if url.host_str().is_none_or(str::is_empty) {
        return Err(PyValueError::new_err(format!("invalid proxy URL {shown}")));
    }
    Ok((url.as_str().to_owned(), shown))
}

#[pymethods]
impl ClientSession {
    /// The client behind the module-level functions: the process's shared
    /// session for `verify`, with fastio's defaults.
    #[staticmethod]
    fn shared(verify: bool) -> Self {
        Self {
            session: Session::shared(verify),
            proxy_shown: None,
            raise_for_status: false,
        }
    }

    #[new]
    #[pyo3(signature = (
        *, base_url = None, headers = None, params = None, cookies = None, auth = None,
        timeout = TimeoutArg::DEFAULT, connect_timeout = Limit::Default,
        read_timeout = Limit::Default, pool_timeout = Limit::Default,
        max_connections = Some(IntArg(defaults::MAX_CONNECTIONS as i64)), per_host = None, rate_limit = None, http2 = None,
        follow_redirects = true, max_redirects = IntArg(defaults::MAX_REDIRECTS as i64), allow_https_to_http = false,
        verify = true, ca_bundle = None, cert = None, proxy = None, trust_env = true,
        resolve = None, user_agent = None, max_body_size = None, retries = IntArg(0),
        retry_backoff = defaults::RETRY_BACKOFF.as_secs_f64(),
        max_retry_after = defaults::MAX_RETRY_AFTER.as_secs_f64(), retry_methods = None,
        raise_for_status = false, mocked = false, max_idle_connections = None,
        keepalive_expiry = Limit::Default, cookie_jar = true, local_address = None,
        dns_servers = None
    ))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn new(
        base_url: Option<&str>,
        headers: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyAny>>,
        cookies: Option<&Bound<'_, PyAny>>,
        auth: Option<&Bound<'_, PyAny>>,
        timeout: TimeoutArg,
        connect_timeout: Limit,
        read_timeout: Limit,
        pool_timeout: Limit,
        max_connections: Option<IntArg>,
        per_host: Option<&Bound<'_, PyAny>>,
        rate_limit: Option<f64>,
        http2: Option<bool>,
        follow_redirects: bool,
        max_redirects: IntArg,
        allow_https_to_http: bool,
        verify: bool,
        ca_bundle: Option<&Bound<'_, PyAny>>,
        cert: Option<&Bound<'_, PyAny>>,
        proxy: Option<&str>,
        trust_env: bool,
        resolve: Option<&Bound<'_, PyAny>>,
        user_agent: Option<&str>,
        max_body_size: Option<IntArg>,
        retries: IntArg,
        retry_backoff: f64,
        max_retry_after: f64,
        retry_methods: Option<&Bound<'_, PyAny>>,
        raise_for_status: bool,
        mocked: bool,
        max_idle_connections: Option<IntArg>,
        keepalive_expiry: Limit,
        cookie_jar: bool,
        local_address: Option<&str>,
        dns_servers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let local_address = local_address
            .map(|text| {
                text.parse::<std::net::IpAddr>().map_err(|_| {
                    PyValueError::new_err(format!(
                        "local_address must be an IP address, not {text:?}"
                    ))
                })
            })
            .transpose()?;
        let mut settings = Settings {
            keep_cookies: cookie_jar,
            local_address,
            handler: mocked.then(Arc::default),
            ..Settings::default()
        };
        let defaults = &mut settings.defaults;
        if let Some(base_url) = base_url {
            defaults.base_url = Some(parse_url_text(base_url).map_err(PyErr::from)?);
        }
        let mut default_headers = parse_headers(headers)?;
        if let Some(auth) = auth.filter(|auth| !auth.is_none()) {
            default_headers.insert(AUTHORIZATION, auth_header(auth)?);
        }
        defaults.headers = Arc::new(default_headers);
        if let Some(params) = params.filter(|params| !params.is_none()) {
            defaults.params = form_pairs(params, "params")?;
        }
        if let Some(cookies) = cookies.filter(|cookies| !cookies.is_none()) {
            defaults.cookies = form_pairs(cookies, "cookies")?;
            check_cookies(&defaults.cookies).map_err(PyValueError::new_err)?;
        }
        defaults.timeout = timeout.or(Some(defaults::TIMEOUT));
        settings.connect_timeout = one_of(timeout.connect, connect_timeout, "connect")?
            .or(Some(defaults::CONNECT_TIMEOUT));
        settings.read_timeout = one_of(timeout.read, read_timeout, "read")?.or(None);
        defaults.pool_timeout = one_of(timeout.pool, pool_timeout, "pool")?.or(None);
        defaults.write_timeout = timeout.write.or(None);
        settings.max_connections = positive_count(max_connections, "max_connections")?;
        match per_host.filter(|given| !given.is_none()) {
            Some(given) if given.cast::<PyString>().is_ok() => {
                if given.extract::<&str>()? != "auto" {
                    return Err(PyValueError::new_err(
                        "per_host must be a number of connections, or \"auto\"",
                    ));
                }
                settings.adaptive_per_host = true;
            }
            Some(given) => {
                settings.per_host = positive_count(Some(given.extract()?), "per_host")?;
            }
            None => {}
        }
        if let Some(IntArg(idle)) = max_idle_connections {
            settings.max_idle_per_host = Some(usize::try_from(idle).map_err(|_| {
                PyValueError::new_err(format!(
                    "max_keepalive_connections must be 0 or more{}",
                    shown_int(idle)
                ))
            })?);
        }
        settings.idle_expiry = keepalive_expiry.or(Some(defaults::IDLE_EXPIRY));
        if let Some(rate) = rate_limit {
            if !(rate.is_finite() && rate >= MIN_RATE_LIMIT) {
                return Err(PyValueError::new_err(format!(
                    "rate_limit must be a number of requests per second of at least \
                     {MIN_RATE_LIMIT} (one in about 11.6 days), not {rate}"
                )));
            }
            settings.rate_limit = Some(rate);
        }
        settings.http2 = http2;
        settings.follow_redirects = follow_redirects;
        let IntArg(max_redirects) = max_redirects;
        settings.max_redirects = usize::try_from(max_redirects).map_err(|_| {
            PyValueError::new_err(format!(
                "max_redirects must be 0 or more{}",
                shown_int(max_redirects)
            ))
        })?;
        settings.allow_https_to_http = allow_https_to_http;
        settings.verify = verify;
        if let Some(bundle) = ca_bundle.filter(|bundle| !bundle.is_none()) {
            let pem = read_file(bundle, "ca_bundle")?;
            let roots = tls::certificates_from_pem(&pem).map_err(|err| {
                PyValueError::new_err(format!("ca_bundle holds no usable PEM certificate: {err}"))
            })?;
            if roots.is_empty() {
                return Err(PyValueError::new_err("ca_bundle holds no PEM certificate"));
            }
            settings.extra_roots = roots;
        }
        if let Some(cert) = cert.filter(|cert| !cert.is_none()) {
            let pem = match cert.cast::<PyTuple>() {
                Ok(pair) if pair.len() == 2 => {
                    let mut pem = read_file(&pair.get_item(0)?, "the client certificate")?;
                    pem.push(b'\n');
                    pem.extend(read_file(&pair.get_item(1)?, "the client key")?);
                    pem
                }
                Ok(_) => {
                    return Err(PyTypeError::new_err(
                        "cert must be a path or (cert path, key path)",
                    ))
                }
                Err(_) => read_file(cert, "the client certificate")?,
            };
            settings.identity = Some(tls::Identity::from_pem(&pem).map_err(|err| {
                PyValueError::new_err(format!(
                    "cert is not a PEM certificate with its private key: {err}"
                ))
            })?);
        }
        let mut proxy_shown = None;
        if let Some(proxy) = proxy {
            let (parsed, shown) = parse_proxy(proxy)?;
            settings.proxy = Some(parsed);
            settings.proxy_shown = Some(shown.clone());
            proxy_shown = Some(shown);
        }
        settings.trust_env = trust_env;
        if let Some(resolve) = resolve.filter(|resolve| !resolve.is_none()) {
            for (host, address) in form_pairs(resolve, "resolve")? {
                let address: IpAddr = address.parse().map_err(|_| {
                    PyValueError::new_err(format!(
                        "resolve[{host:?}] must be an IP address, not {address:?}"
                    ))
                })?;
                settings.resolve.push((host, address));
            }
        }
        if let Some(servers) = dns_servers.filter(|servers| !servers.is_none()) {
            settings.dns_servers = dns_server_addresses(servers)?;
        }
        if let Some(user_agent) = user_agent {
            settings.user_agent = HeaderValue::from_str(user_agent)
                .map_err(|_| PyValueError::new_err("user_agent must not contain CR, LF or NUL"))?;
        }
        let defaults = &mut settings.defaults;
        defaults.max_body_size = body_size_limit(max_body_size)?;
        let base = RetryPolicy::default();
        defaults.retry = RetryPolicy {
            retries: retry_count(Some(retries))?.unwrap_or(base.retries),
            methods: retry_methods_arg(retry_methods)?.unwrap_or(base.methods),
            backoff: seconds(retry_backoff, "retry_backoff")?,
            max_retry_after: seconds(max_retry_after, "max_retry_after")?,
        };
        Ok(Self {
            session: Arc::new(Session::new(settings)),
            proxy_shown,
            raise_for_status,
        })
    }

    /// One request on this client's settings. With `stream`, the
    /// Response comes back at its head, the body to be streamed, and
    /// `timeout` bounds the head, then each wait for body data. A
    /// `prepared` request already has the client's URL, params and headers.
    /// Every argument may come by position: Client.request and its kin pass
    /// them so per request, without building and unpacking a keyword dict.
    #[pyo3(signature = (
        method, url, params = None, headers = None, cookies = None, json = None,
        data = None, files = None, content = None, timeout = TimeoutArg::DEFAULT, retries = None,
        stream = false, auth = None, follow_redirects = None, max_body_size = None,
        prepared = false
    ))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn request(
        &self,
        method: &str,
        url: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        headers: Option<&Bound<'_, PyAny>>,
        cookies: Option<&Bound<'_, PyAny>>,
        json: Option<&Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        files: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        timeout: TimeoutArg,
        retries: Option<IntArg>,
        stream: bool,
        auth: Option<&Bound<'_, PyAny>>,
        follow_redirects: Option<bool>,
        max_body_size: Option<IntArg>,
        prepared: bool,
    ) -> PyResult<FastioFuture> {
        let defaults = self.session.defaults();
        // A prepared request (a hook's) already has the client's URL,
        // params and headers: they are not added twice.
        let defaults = if prepared {
            Arc::new(defaults.for_prepared())
        } else {
            defaults
        };
        let mut spec = FetchArgs {
            url,
            method,
            params,
            headers,
            cookies,
            json,
            data,
            files,
            content,
            timeout,
            retries,
            max_body_size,
        }
        .build_on(&defaults, &self.session)?;
        // This request's credentials replace the client's.
        if let Some(auth) = auth.filter(|auth| !auth.is_none()) {
            Arc::make_mut(&mut spec.headers).insert(AUTHORIZATION, auth_header(auth)?);
        }
        spec.follow_redirects = follow_redirects;
        Ok(if stream {
            stream_future(spec, self.raise_for_status)
        } else {
            request_future(spec, self.raise_for_status)
        })
    }

    /// `fetch_all` (`in_order`) or `fetch_iter` on this client's settings:
    /// the awaitable of the list, or the native stream of results.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    #[pyo3(signature = (
        urls, *, in_order, concurrency = Count::DEFAULT, method = "GET", headers = None,
        timeout = TimeoutArg::DEFAULT, retries = None, return_exceptions = false,
        max_body_size = None, progress = None, retry_methods = None, max_bytes_in_flight = None,
        keep_body = true
    ))]
    fn fetch_many(
        &self,
        py: Python<'_>,
        urls: &Bound<'_, PyAny>,
        in_order: bool,
        concurrency: Count,
        method: &str,
        headers: Option<&Bound<'_, PyAny>>,
        timeout: TimeoutArg,
        retries: Option<IntArg>,
        return_exceptions: bool,
        max_body_size: Option<IntArg>,
        progress: Option<&Bound<'_, Progress>>,
        retry_methods: Option<&Bound<'_, PyAny>>,
        max_bytes_in_flight: Option<IntArg>,
        keep_body: bool,
    ) -> PyResult<Py<PyAny>> {
        let args = BulkArgs {
            retry_methods,
            max_bytes_in_flight,
            keep_body,
            urls,
            concurrency,
            method,
            headers,
            timeout,
            retries,
            return_exceptions,
            max_body_size,
            progress,
        };
        Ok(if in_order {
            Py::new(py, bulk::fetch_all(py, &args, &self.session)?)?.into_any()
        } else {
            Py::new(py, FetchStream::new(py, &args, &self.session)?)?.into_any()
        })
    }

    /// The headers every request starts with, as (name, value) pairs.
    fn default_headers(&self) -> Vec<(String, String)> {
        self.session
            .defaults()
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect()
    }

    /// Replaces the headers requests made from now on start with.
    fn set_default_headers(&self, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let headers = parse_headers(Some(headers))?;
        self.session
            .change_defaults(|defaults| defaults.headers = Arc::new(headers));
        Ok(())
    }

    /// The cookies every request sends, as (name, value) pairs.
    fn default_cookies(&self) -> Vec<(String, String)> {
        self.session.defaults().cookies.clone()
    }

    /// Replaces the cookies requests made from now on send.
    fn set_default_cookies(&self, cookies: &Bound<'_, PyAny>) -> PyResult<()> {
        let cookies = form_pairs(cookies, "cookies")?;
        check_cookies(&cookies).map_err(PyValueError::new_err)?;
        self.session
            .change_defaults(|defaults| defaults.cookies = cookies);
        Ok(())
    }

    /// The URL relative URLs are joined to, or None.
    fn base_url(&self) -> Option<String> {
        let defaults = self.session.defaults();
        defaults
            .base_url
            .as_ref()
            .map(|url| url.as_str().to_owned())
    }

    /// Sets (or with None, removes) the base URL of requests made from now on.
    #[pyo3(signature = (base_url, /))]
    fn set_base_url(&self, base_url: Option<&str>) -> PyResult<()> {
        let base_url = base_url
            .map(parse_url_text)
            .transpose()
            .map_err(PyErr::from)?;
        self.session
            .change_defaults(|defaults| defaults.base_url = base_url);
        Ok(())
    }

    /// Drops the pool's idle connections; running requests finish.
    fn close(&self) -> PyResult<()> {
        self.session.close();
        if let Some(handler) = &self.session.settings.handler {
            let handler = Arc::clone(handler);
            crate::bridge::spawn(async move { handler.close().await })?;
        }
        Ok(())
    }

    /// `url` as a request to it is sent: joined to the base URL if
    /// relative, with the client's params.
    fn sent_url(&self, url: &str) -> PyResult<String> {
        Ok(resolve_url(&self.session.defaults(), url)?.into())
    }

    /// The next requests waiting for a mock transport's handler (a list of
    /// `_Exchange`), or None once the client is closed.
    fn next_exchanges(&self) -> PyResult<FastioFuture> {
        let Some(handler) = self.session.settings.handler.clone() else {
            return Err(PyValueError::new_err("this client has no mock transport"));
        };
        let job = Job::spawn(move || async move {
            let batch = handler.next_batch().await;
            Ok(Value::Object(Box::new(Exchanges(batch))))
        });
        Ok(FastioFuture::new(job, None))
    }

    /// A short description for `repr(Client)`, credentials hidden.
    fn describe(&self) -> String {
        let settings = &self.session.settings;
        let mut parts = Vec::new();
        if let Some(base) = &self.session.defaults().base_url {
            parts.push(format!("base_url={:?}", hide_credentials(base.as_str())));
        }
        if let Some(proxy) = &self.proxy_shown {
            parts.push(format!("proxy={proxy:?}"));
        }
        if let Some(limit) = settings.max_connections {
            parts.push(format!("max_connections={limit}"));
        }
        if let Some(limit) = settings.per_host {
            parts.push(format!("per_host={limit}"));
        }
        if settings.adaptive_per_host {
            parts.push("per_host='auto'".to_owned());
        }
        if let Some(rate) = settings.rate_limit {
            parts.push(format!("rate_limit={rate}"));
        }
        if !settings.verify {
            parts.push("verify=False".to_owned());
        }
        parts.join(", ")
    }
}

/// The awaitable of one request; `checked`: it fails for a status of 400
/// or more.
fn request_future(spec: RequestSpec, checked: bool) -> FastioFuture {
    FastioFuture::new(
        Job::spawn(move || async move {
            let response = transport::execute_alone(spec).await?;
            Ok(Value::Object(if checked {
                Box::new(StatusChecked(response))
            } else {
                Box::new(response)
            }))
        }),
        None,
    )
}

/// `dns_servers=`: each an IP address, with `:port` (`[v6]:port`) or port 53.
fn dns_server_addresses(servers: &Bound<'_, PyAny>) -> PyResult<Vec<SocketAddr>> {
    if servers.cast::<PyString>().is_ok() {
        return Err(PyTypeError::new_err(
            "dns_servers must be a list of addresses, not one str",
        ));
    }
    let mut addresses = Vec::new();
    for server in servers.try_iter()? {
        let server = server?;
        let text: &str = server.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "dns_servers holds addresses as str, not {}",
                type_name(&server)
            ))
        })?;
        let address = text
            .parse::<SocketAddr>()
            .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "dns_servers: {text:?} is not an IP address (with an optional :port)"
                ))
            })?;
        addresses.push(address);
    }
    if addresses.is_empty() {
        return Err(PyValueError::new_err(
            "dns_servers is empty: give None for the system's configuration",
        ));
    }
    Ok(addresses)
}

/// The awaitable of one request whose body is streamed: it finishes with
/// the Response at its head.
fn stream_future(spec: RequestSpec, checked: bool) -> FastioFuture {
    let idle_timeout = spec.timeout;
    let limits = spec.body_limits();
    FastioFuture::new(
        Job::spawn(move || async move {
            let opened = transport::execute_head_alone(spec).await?;
            let (head, body) = BodyStream::open(opened, idle_timeout, limits);
            let response = StreamedResponse { head, body };
            Ok(Value::Object(if checked {
                Box::new(StatusChecked(response))
            } else {
                Box::new(response)
            }))
        }),
        None,
    )
}
