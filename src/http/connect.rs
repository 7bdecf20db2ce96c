//! fastio's connector: names resolved (`resolve=` overrides first, then
//! fastio's resolver, see dns.rs), TCP, a proxy when one applies (HTTP CONNECT or plain
//! forwarding, SOCKS5), then TLS with ALPN. hyper-util's client pools what
//! it makes; the whole connect is bounded by the connect timeout.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::Scheme;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::connect::proxy::{SocksV5, Tunnel};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tower_service::Service;

use super::dns::Dns;
use super::timing::{self, Made};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

type Connecting<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

/// A byte stream a connection runs over: TCP, TLS, or TLS through a tunnel.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Names to addresses: the `resolve=` overrides, else fastio's resolver.
#[derive(Clone)]
pub struct Resolver {
    overrides: Arc<HashMap<String, IpAddr>>,
    names: Names,
}

/// Who answers for names not overridden.
#[derive(Clone)]
enum Names {
    Dns(Arc<Dns>),
    /// The C library's resolver on a blocking thread: only when the
    /// system's DNS configuration cannot be read.
    System(GaiResolver),
}

impl Resolver {
    /// Resolves the names in `overrides` (lower case) to their address, the
    /// others with `dns_servers` (none: the system's configuration).
    pub fn new(overrides: &[(String, IpAddr)], dns_servers: &[SocketAddr]) -> Result<Self, String> {
        let names = if dns_servers.is_empty() {
            Dns::system().map_or_else(|_| Names::System(GaiResolver::new()), Names::Dns)
        } else {
            Names::Dns(Dns::with_servers(dns_servers)?)
        };
        Ok(Self {
            overrides: Arc::new(
                overrides
                    .iter()
                    .map(|(host, address)| (host.to_ascii_lowercase(), *address))
                    .collect(),
            ),
            names,
        })
    }
}

impl Resolver {
    /// Starts looking up `name` (unless it is overridden, or answered by
    /// the C library's resolver), without waiting for the answer.
    pub fn resolve_ahead(&self, name: &str) {
        if let Names::Dns(dns) = &self.names {
            if !self.overrides.contains_key(&name.to_ascii_lowercase()) {
                drop(dns.lookup(name));
            }
        }
    }
}

impl Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        // Port 0: the connector sets the URL's port.
        let given = self
            .overrides
            .get(name.as_str())
            .or_else(|| self.overrides.get(&name.as_str().to_ascii_lowercase()))
            .map(|address| vec![SocketAddr::new(*address, 0)]);
        if let Some(addresses) = given {
            return Box::pin(std::future::ready(Ok(addresses.into_iter())));
        }
        // The connect this lookup is for (if any) notes how long it took.
        let noted = LOOKED_UP.try_with(Arc::clone).ok();
        let started = Instant::now();
        let note = move |found: bool| {
            if let Some(noted) = noted {
                let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                let failed = if found { 0 } else { LOOKUP_FAILED };
                noted.store(micros.min(LOOKUP_FAILED - 1) | failed, Ordering::Relaxed);
            }
        };
        match &mut self.names {
            Names::Dns(dns) => {
                let looking_up = dns.lookup(name.as_str());
                Box::pin(async move {
                    let found = looking_up.await;
                    note(found.is_ok());
                    let found: Vec<SocketAddr> = found?
                        .iter()
                        .map(|address| SocketAddr::new(*address, 0))
                        .collect();
                    Ok(found.into_iter())
                })
            }
            Names::System(system) => {
                let looking_up = system.call(name);
                Box::pin(async move {
                    let found = looking_up.await;
                    note(found.is_ok());
                    let found: Vec<SocketAddr> = found?.collect();
                    Ok(found.into_iter())
                })
            }
        }
    }
}

/// How a session connects.
pub struct ConnectSettings {
    pub resolver: Resolver,
    /// The address connections are made from.
    pub local_address: Option<IpAddr>,
    pub connect_timeout: Option<Duration>,
    /// For origins over https, offering the session's HTTP versions.
    pub tls: rustls::ClientConfig,
    /// For https proxies: HTTP/1.1 only.
    pub proxy_tls: rustls::ClientConfig,
    /// Which requests go through which proxy.
    pub proxies: Option<Arc<Matcher>>,
}

/// The connector a session's hyper-util client connects with.
#[derive(Clone)]
pub struct Connector(Arc<Parts>);

struct Parts {
    resolver: Resolver,
    tcp: HttpConnector<Resolver>,
    tls: TlsConnector,
    proxy_tls: TlsConnector,
    proxies: Option<Arc<Matcher>>,
    connect_timeout: Option<Duration>,
}

impl Connector {
    pub fn new(settings: ConnectSettings) -> Self {
        let mut tcp = HttpConnector::new_with_resolver(settings.resolver.clone());
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        // As reqwest: dead peers found within about a minute.
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
        tcp.set_keepalive_retries(Some(3));
        tcp.set_connect_timeout(settings.connect_timeout);
        tcp.set_local_address(settings.local_address);
        Self(Arc::new(Parts {
            resolver: settings.resolver,
            tcp,
            tls: TlsConnector::from(Arc::new(settings.tls)),
            proxy_tls: TlsConnector::from(Arc::new(settings.proxy_tls)),
            proxies: settings.proxies,
            connect_timeout: settings.connect_timeout,
        }))
    }
}

impl Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Connecting<Conn>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let parts = Arc::clone(&self.0);
        // The request that needs this connection may have a limit of its own.
        let limit = CONNECT_LIMIT
            .try_with(|limit| *limit)
            .unwrap_or(parts.connect_timeout);
        // The send that needs this connection is told what the connect
        // reached, even when it fails.
        let tried = timing::tried_by_this_send();
        Box::pin(async move {
            let started = Instant::now();
            let looked_up = Arc::new(AtomicU64::new(NOT_LOOKED_UP));
            let connecting =
                LOOKED_UP.scope(Arc::clone(&looked_up), parts.connect(destination, limit));
            let connected = match limit {
                None => connecting.await,
                Some(limit) => tokio::time::timeout(limit, connecting)
                    .await
                    .unwrap_or_else(|_| Err(ConnectTimedOut(limit).into())),
            };
            let (dns, lookup_failed) = match looked_up.load(Ordering::Relaxed) {
                NOT_LOOKED_UP => (None, false),
                noted => (
                    Some(Duration::from_micros(noted & !LOOKUP_FAILED)),
                    noted & LOOKUP_FAILED != 0,
                ),
            };
            let at = Instant::now();
            let phases = |tls: Option<Duration>, peer| Made {
                at,
                dns,
                // No connect was tried for a name that was not found.
                connect: (!lookup_failed).then(|| {
                    (at - started)
                        .saturating_sub(dns.unwrap_or_default())
                        .saturating_sub(tls.unwrap_or_default())
                }),
                tls,
                peer,
            };
            let made = match &connected {
                Ok(conn) => phases(conn.tls, conn.peer),
                Err(_) => phases(None, None),
            };
            if let Some(tried) = tried {
                tried.note(made);
            }
            let mut conn = connected?;
            conn.made = Some(Arc::new(made));
            Ok(conn)
        })
    }
}

/// No name was looked up for the connection being made.
const NOT_LOOKED_UP: u64 = u64::MAX;

/// Beside the lookup's µs: it found no address.
const LOOKUP_FAILED: u64 = 1 << 62;

tokio::task_local! {
    /// Where the lookup a connect makes notes how long it took (µs).
    static LOOKED_UP: Arc<AtomicU64>;
}

tokio::task_local! {
    /// A connect timeout a request asked for, other than its session's.
    static CONNECT_LIMIT: Option<Duration>;
}

/// Runs `sending` so that a connection it opens is made within `limit`
/// instead of the session's connect timeout.
pub fn with_connect_limit<F: Future>(
    limit: Option<Duration>,
    sending: F,
) -> impl Future<Output = F::Output> {
    CONNECT_LIMIT.scope(limit, sending)
}

impl Parts {
    async fn connect(&self, destination: Uri, limit: Option<Duration>) -> Result<Conn, BoxError> {
        let https = destination.scheme() == Some(&Scheme::HTTPS);
        let proxy = self
            .proxies
            .as_ref()
            .and_then(|proxies| proxies.intercept(&destination));
        let Some(proxy) = proxy else {
            let mut tcp = self.tcp.clone();
            if limit != self.connect_timeout {
                // hyper-util shares it out among the addresses it tries.
                tcp.set_connect_timeout(limit);
            }
            let tcp = tcp.call(destination.clone()).await?;
            let peer = tcp.inner().peer_addr().ok();
            let mut conn = self
                .secured(Box::new(tcp.into_inner()), &destination, https)
                .await?;
            conn.peer = peer;
            return Ok(conn);
        };
        let proxy_uri = proxy.uri().clone();
        let scheme = proxy_uri.scheme_str().unwrap_or("").to_owned();
        match scheme.as_str() {
            "socks5" | "socks5h" => {
                let mut socks = SocksV5::new(proxy_uri, self.tcp.clone());
                if let Some((user, password)) = proxy.raw_auth() {
                    socks = socks.with_auth(user.to_owned(), password.to_owned());
                }
                // socks5h: the proxy resolves the name; socks5: we do, with
                // our resolver (hyper-util's own would block the worker).
                let target = if scheme == "socks5" {
                    self.resolved(&destination).await?
                } else {
                    with_port(&destination)?
                };
                let tcp = socks.call(target).await.map_err(ProxyFailed::boxed)?;
                self.secured(Box::new(tcp.into_inner()), &destination, https)
                    .await
            }
            "http" | "https" if https => {
                let mut tunnel = Tunnel::new(proxy_uri, ToProxy(self.clone_hop()));
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let target = with_port(&destination)?;
                let io = tunnel.call(target).await.map_err(ProxyFailed::boxed)?;
                self.secured(io.into_inner(), &destination, https).await
            }
            "http" | "https" => {
                // Plain HTTP through the proxy: requests go to it in absolute form.
                let io = ToProxy(self.clone_hop())
                    .call(proxy_uri)
                    .await
                    .map_err(ProxyFailed::boxed)?;
                Ok(Conn::new(io.into_inner(), false, true))
            }
            other => Err(format!("proxy scheme {other:?} is not supported").into()),
        }
    }

    /// `destination` with its host resolved to an address.
    async fn resolved(&self, destination: &Uri) -> Result<Uri, BoxError> {
        let host = destination.host().ok_or("the URL has no host")?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return with_port(destination);
        }
        let name: Name = bare.parse()?;
        let address = self
            .resolver
            .clone()
            .call(name)
            .await?
            .next()
            .ok_or_else(|| format!("no address found for {bare}"))?;
        let host = match address.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        at_host(destination, &host)
    }

    fn clone_hop(&self) -> Hop {
        Hop {
            tcp: self.tcp.clone(),
            tls: self.proxy_tls.clone(),
        }
    }

    /// `io`, under TLS to `destination` when it is https.
    async fn secured(
        &self,
        io: Box<dyn Stream>,
        destination: &Uri,
        https: bool,
    ) -> Result<Conn, BoxError> {
        if !https {
            return Ok(Conn::new(io, false, false));
        }
        let started = Instant::now();
        let tls = handshake(&self.tls, io, destination).await?;
        let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let mut conn = Conn::new(Box::new(tls), http2, false);
        conn.tls = Some(started.elapsed());
        Ok(conn)
    }
}

async fn handshake(
    tls: &TlsConnector,
    io: Box<dyn Stream>,
    destination: &Uri,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn Stream>>, BoxError> {
    let host = destination.host().ok_or("the URL has no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())?;
    Ok(tls.connect(name, io).await?)
}

/// `uri` with its port written out (proxies are asked for host:port).
fn with_port(uri: &Uri) -> Result<Uri, BoxError> {
    at_host(uri, uri.host().ok_or("the URL has no host")?)
}

/// `uri`'s scheme and port (written out) at `host`.
fn at_host(uri: &Uri, host: &str) -> Result<Uri, BoxError> {
    let https = uri.scheme() == Some(&Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    Ok(format!("{}://{host}:{port}", if https { "https" } else { "http" }).parse()?)
}

/// A connection to a proxy itself: TCP, and TLS when it is an https proxy.
#[derive(Clone)]
struct Hop {
    tcp: HttpConnector<Resolver>,
    tls: TlsConnector,
}

#[derive(Clone)]
struct ToProxy(Hop);

impl Service<Uri> for ToProxy {
    type Response = TokioIo<Box<dyn Stream>>;
    type Error = BoxError;
    type Future = Connecting<Self::Response>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, proxy: Uri) -> Self::Future {
        let Hop { mut tcp, tls } = self.0.clone();
        Box::pin(async move {
            let stream: Box<dyn Stream> = Box::new(tcp.call(proxy.clone()).await?.into_inner());
            if proxy.scheme() != Some(&Scheme::HTTPS) {
                return Ok(TokioIo::new(stream));
            }
            let secured: Box<dyn Stream> = Box::new(handshake(&tls, stream, &proxy).await?);
            Ok(TokioIo::new(secured))
        })
    }
}

/// The connect timeout passed.
#[derive(Debug)]
pub struct ConnectTimedOut(pub Duration);

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connect timed out after {} s", self.0.as_secs_f64())
    }
}

impl std::error::Error for ConnectTimedOut {}

/// The proxy could not be reached, or refused to connect onward.
#[derive(Debug)]
pub struct ProxyFailed(BoxError);

impl ProxyFailed {
    fn boxed(error: impl Into<BoxError>) -> BoxError {
        Box::new(Self(error.into()))
    }
}

impl std::fmt::Display for ProxyFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the proxy failed")
    }
}

impl std::error::Error for ProxyFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// A connection as hyper-util's client takes it.
pub struct Conn {
    io: TokioIo<Box<dyn Stream>>,
    http2: bool,
    proxied: bool,
    /// The TLS handshake with the origin, if there was one.
    tls: Option<Duration>,
    peer: Option<SocketAddr>,
    /// How it was made, for the responses that come over it.
    made: Option<Arc<Made>>,
}

impl Conn {
    fn new(io: Box<dyn Stream>, http2: bool, proxied: bool) -> Self {
        Self {
            io: TokioIo::new(io),
            http2,
            proxied,
            tls: None,
            peer: None,
            made: None,
        }
    }
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let mut connected = Connected::new().proxy(self.proxied);
        if let Some(made) = &self.made {
            connected = connected.extra(Arc::clone(made));
        }
        if self.http2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(context, buf)
    }
}

impl Write for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(context, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(context, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}
