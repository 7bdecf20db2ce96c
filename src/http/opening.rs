//! Waiting for an HTTP/2 stream counts against the pool timeout.
//!
//! Over HTTP/2 hyper queues a request until the server's
//! `MAX_CONCURRENT_STREAMS` lets it open a stream, and no hook says when
//! that happens; but hyper asks for the request body only once its stream is
//! open (HTTP/1.1: once its head is written). So a request under a pool
//! timeout gets a body that reports when it is first asked for, an
//! [`Opening`]; [`Opening::expired`] ends when that has not happened within
//! the limit. Time spent making this request's connection is not counted: a
//! connector ([`Noting`]) tells the request, through a task-local,
//! when its connect starts and ends, and whether it negotiated HTTP/2.
//!
//! A request without a body gets an empty body that HTTP/2 sends as an empty
//! DATA frame ending the stream; over HTTP/1.1 that would add a
//! `Content-Length: 0`, so it claims to be finished (nothing to ask for)
//! unless HTTP/2 is known: by prior knowledge, by this request's own ALPN,
//! or because the origin answered over HTTP/2 before ([`Http2Origins`]).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http::Uri;
use http_body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::Connection;
use tokio::sync::Notify;
use tokio::time::Instant;
use url::Url;

use super::write::next_piece;

/// Origins remembered as speaking HTTP/2; past this many the set starts over
/// (a crawl meets millions, and a forgotten one only loses the stream wait
/// on its first request).
const MAX_REMEMBERED: usize = 4096;

/// The origins a session has seen answer over HTTP/2, by a hash of scheme,
/// host and port (no string built per response; a collision only changes how
/// an empty body is framed).
#[derive(Default)]
pub struct Http2Origins(RwLock<HashSet<u64>>);

impl Http2Origins {
    /// The key `url`'s origin is remembered by.
    pub fn key(url: &Url) -> u64 {
        Self::key_of(url.scheme(), url.host_str(), url.port_or_known_default())
    }

    /// The key of a connect's destination: the same as its URL's.
    pub fn key_of_uri(uri: &Uri) -> u64 {
        let scheme = uri.scheme_str().unwrap_or("");
        let port = uri.port_u16().or(match scheme {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        });
        Self::key_of(scheme, uri.host(), port)
    }

    fn key_of(scheme: &str, host: Option<&str>, port: Option<u16>) -> u64 {
        let mut hasher = DefaultHasher::new();
        (scheme, host, port).hash(&mut hasher);
        hasher.finish()
    }

    pub fn note(&self, origin: u64) {
        if self.knows(origin) {
            return;
        }
        let mut origins = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if origins.len() >= MAX_REMEMBERED {
            origins.clear();
        }
        origins.insert(origin);
    }

    pub fn knows(&self, origin: u64) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&origin)
    }
}

/// What one request's body, connector and sender share.
pub struct Opening {
    origin: u64,
    origins: Arc<Http2Origins>,
    /// HTTP/2 by prior knowledge.
    http2: bool,
    /// The body was asked for (or dropped unasked): the request is out.
    out: AtomicBool,
    /// This request's connect: when it started, while it runs; how long
    /// connects took in all.
    connecting: Mutex<(Option<Instant>, Duration)>,
    /// This request's own connect negotiated HTTP/2.
    negotiated_http2: AtomicBool,
    changed: Notify,
}

impl Opening {
    pub fn new(origin: u64, origins: Arc<Http2Origins>, http2: bool) -> Arc<Self> {
        Arc::new(Self {
            origin,
            origins,
            http2,
            out: AtomicBool::new(false),
            connecting: Mutex::new((None, Duration::ZERO)),
            negotiated_http2: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn went_out(&self) {
        if !self.out.swap(true, Ordering::AcqRel) {
            self.changed.notify_waiters();
        }
    }

    fn connect_started(&self) {
        self.connecting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0 = Some(Instant::now());
        self.changed.notify_waiters();
    }

    fn connect_ended(&self, http2: bool) {
        if http2 {
            self.negotiated_http2.store(true, Ordering::Release);
        }
        let mut connecting = self
            .connecting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(started) = connecting.0.take() {
            connecting.1 += started.elapsed();
        }
        drop(connecting);
        self.changed.notify_waiters();
    }

    /// Whether hyper will speak HTTP/2 for this request, as far as known.
    fn http2_known(&self) -> bool {
        self.http2
            || self.negotiated_http2.load(Ordering::Acquire)
            || self.origins.knows(self.origin)
    }

    /// Ends once the request has waited `limit` (not counting its connect)
    /// without its body being asked for; never once it has been.
    pub async fn expired(&self, limit: Duration) {
        let started = Instant::now();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.out.load(Ordering::Acquire) {
                return std::future::pending().await;
            }
            let (connect_started, connect_time) = *self
                .connecting
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if connect_started.is_some() {
                changed.await;
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep_until(started + limit + connect_time) => return,
                () = changed => {}
            }
        }
    }
}

/// Runs `sending` so that the connects it makes report to `opening`.
pub fn reporting_connects<F: Future>(
    opening: &Arc<Opening>,
    sending: F,
) -> impl Future<Output = F::Output> {
    CURRENT.scope(Arc::clone(opening), sending)
}

tokio::task_local! {
    /// The opening of the request whose send is being polled, for the connector.
    static CURRENT: Arc<Opening>;
}

/// Latched answers to hyper's questions about an empty body.
const UNDECIDED: u8 = 0;
const EMPTY: u8 = 1;
const EMPTY_FRAME: u8 = 2;

/// A request body that tells its [`Opening`] when hyper first asks for it.
pub struct Reporting {
    opening: Arc<Opening>,
    /// What is left of the body; `None` once handed over or when there is none.
    data: Option<Bytes>,
    /// For a request without a body: whether it is sent as none at all
    /// (HTTP/1.1, or HTTP/2 not known) or as an empty frame.
    empty: AtomicU8,
}

impl Reporting {
    pub fn new(opening: &Arc<Opening>, data: Option<Bytes>) -> Self {
        Self {
            opening: Arc::clone(opening),
            data: data.filter(|data| !data.is_empty()),
            empty: AtomicU8::new(UNDECIDED),
        }
    }

    /// Whether any of the body is left to hand over.
    pub fn has_data(&self) -> bool {
        self.data.is_some()
    }

    /// hyper asks before sending the head, once the connection is chosen.
    fn sent_as_nothing(&self) -> bool {
        if self.data.is_some() {
            return false;
        }
        let decided = self.empty.load(Ordering::Acquire);
        if decided != UNDECIDED {
            return decided == EMPTY;
        }
        let choice = if self.opening.http2_known() {
            EMPTY_FRAME
        } else {
            // Nothing will be asked for: nothing to wait on.
            self.opening.went_out();
            EMPTY
        };
        self.empty.store(choice, Ordering::Release);
        choice == EMPTY
    }
}

impl Body for Reporting {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.opening.went_out();
        Poll::Ready(next_piece(&mut self.data).map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent_as_nothing()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.data {
            Some(data) => SizeHint::with_exact(data.len() as u64),
            None if self.sent_as_nothing() => SizeHint::with_exact(0),
            // Unknown, so hyper adds no `content-length: 0` to a GET.
            None => SizeHint::default(),
        }
    }
}

impl Drop for Reporting {
    fn drop(&mut self) {
        self.opening.went_out();
    }
}

/// A streamed request body that tells its [`Opening`] when first polled.
pub struct ReportingStream<S> {
    inner: S,
    opening: Arc<Opening>,
}

impl<S> ReportingStream<S> {
    pub fn new(inner: S, opening: &Arc<Opening>) -> Self {
        Self {
            inner,
            opening: Arc::clone(opening),
        }
    }
}

impl<S: Stream + Unpin> Stream for ReportingStream<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.opening.went_out();
        Pin::new(&mut self.inner).poll_next(context)
    }
}

impl<S> Drop for ReportingStream<S> {
    fn drop(&mut self) {
        self.opening.went_out();
    }
}

/// A connector that notes the origins its connects negotiated HTTP/2 with
/// (for the session), and reports its connects to the request making them
/// when it has an [`Opening`].
#[derive(Clone)]
pub struct Noting<S> {
    inner: S,
    origins: Arc<Http2Origins>,
}

impl<S> Noting<S> {
    pub fn around(inner: S, origins: Arc<Http2Origins>) -> Self {
        Self { inner, origins }
    }
}

type Connecting<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S> tower_service::Service<Uri> for Noting<S>
where
    S: tower_service::Service<Uri>,
    S::Response: Connection,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Connecting<S::Response, S::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let opening = CURRENT.try_with(Arc::clone).ok();
        if let Some(opening) = &opening {
            opening.connect_started();
        }
        let origin = Http2Origins::key_of_uri(&destination);
        let origins = Arc::clone(&self.origins);
        let connecting = self.inner.call(destination);
        Box::pin(async move {
            let connected = connecting.await;
            let http2 = connected
                .as_ref()
                .is_ok_and(|conn| conn.connected().is_negotiated_h2());
            if http2 {
                origins.note(origin);
            }
            if let Some(opening) = opening {
                opening.connect_ended(http2);
            }
            connected
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening(http2: bool) -> Arc<Opening> {
        Opening::new(7, Arc::new(Http2Origins::default()), http2)
    }

    // Real time, scaled down: tokio's paused clock (its test-util feature)
    // would build tokio and everything on it a second time for the tests.
    const LIMIT: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_body_never_asked_for_expires_after_the_limit() {
        let opening = opening(true);
        let body = Reporting::new(&opening, None);
        assert!(!body.is_end_stream());
        let started = Instant::now();
        opening.expired(LIMIT).await;
        assert!(started.elapsed() >= LIMIT);
        drop(body);
    }

    #[tokio::test]
    async fn a_body_asked_for_never_expires() {
        let opening = opening(true);
        let mut body = Reporting::new(&opening, Some(Bytes::from_static(b"x")));
        let waker = futures::task::noop_waker();
        let frame = Pin::new(&mut body).poll_frame(&mut Context::from_waker(&waker));
        assert!(matches!(frame, Poll::Ready(Some(Ok(_)))));
        let waited = tokio::time::timeout(LIMIT * 3, opening.expired(LIMIT));
        assert!(waited.await.is_err());
    }

    #[tokio::test]
    async fn connect_time_is_not_counted() {
        let opening = opening(false);
        let _body = Reporting::new(&opening, Some(Bytes::from_static(b"x")));
        let started = Instant::now();
        let connect = {
            let opening = Arc::clone(&opening);
            async move {
                opening.connect_started();
                tokio::time::sleep(LIMIT * 2).await;
                opening.connect_ended(true);
            }
        };
        tokio::join!(opening.expired(LIMIT), connect);
        assert!(started.elapsed() >= LIMIT * 3);
        assert!(opening.http2_known());
    }

    #[test]
    fn an_empty_body_is_nothing_unless_http2_is_known() {
        let unknown = opening(false);
        let body = Reporting::new(&unknown, None);
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        // Sent as nothing: the request is out at once.
        assert!(unknown.out.load(Ordering::Acquire));
        let known = opening(true);
        let body = Reporting::new(&known, None);
        assert!(!body.is_end_stream());
        assert_eq!(body.size_hint().exact(), None);
    }

    #[test]
    fn a_connect_notes_the_origin_a_request_looks_up() {
        for text in [
            "https://a.test/x",
            "http://a.test:8080/",
            "https://[::1]:4433/",
            "http://[::1]/",
        ] {
            let url = Url::parse(text).unwrap();
            let uri: Uri = url.as_str().parse().unwrap();
            let noted = Http2Origins::key_of_uri(&uri);
            assert_eq!(noted, Http2Origins::key(&url), "{text}");
        }
    }

    #[test]
    fn remembered_origins_are_bounded() {
        let origins = Http2Origins::default();
        for index in 0..=MAX_REMEMBERED {
            origins.note(index as u64);
        }
        assert!(origins.knows(MAX_REMEMBERED as u64));
        assert!(origins.0.read().unwrap().len() <= MAX_REMEMBERED);
        let url = |text| Url::parse(text).unwrap();
        let key = |text| Http2Origins::key(&url(text));
        assert_eq!(key("https://a/x"), key("https://a:443/y"));
        assert_ne!(key("https://a/"), key("http://a/"));
    }
}
