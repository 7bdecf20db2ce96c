//! Requests on the wire: hyper-util's pooling client over fastio's
//! [`Connector`], with the request body and response types the engine
//! uses. Only what the wire needs lives here; redirects, retries, cookies,
//! limits and decoding are the engine's (transport.rs and its neighbours).

use std::collections::VecDeque;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use http::header::{HeaderValue, ACCEPT, PROXY_AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri, Version};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use url::Url;

use super::connect::{BoxError, Connector, Resolver};
use super::opening::{Noting, Reporting};
use super::timing::{noting_connects, Made, Timings};
use super::write::next_piece;

/// A session's connection pool and how it sends.
pub struct Wire {
    client: Client<Noting<Connector>, Outgoing>,
    /// Sent unless the request has its own.
    user_agent: HeaderValue,
    /// Which requests go through which proxy (plain-HTTP requests through
    /// an HTTP proxy carry its credentials themselves).
    proxies: Option<Arc<Matcher>>,
    /// The connector's, for names looked up ahead of their requests.
    resolver: Resolver,
}

impl Wire {
    pub fn new(
        client: Client<Noting<Connector>, Outgoing>,
        user_agent: HeaderValue,
        proxies: Option<Arc<Matcher>>,
        resolver: Resolver,
    ) -> Self {
        Self {
            client,
            user_agent,
            proxies,
            resolver,
        }
    }

    /// Starts looking up `url`'s host name, so the answer is there (or on
    /// its way) when the request connects; not for a name a proxy resolves.
    pub fn resolve_ahead(&self, url: &Url) {
        let Some(url::Host::Domain(name)) = url.host() else {
            return;
        };
        if let Some(proxies) = &self.proxies {
            let proxied = url
                .as_str()
                .parse::<Uri>()
                .map_or(true, |uri| proxies.intercept(&uri).is_some());
            if proxied {
                return;
            }
        }
        self.resolver.resolve_ahead(name);
    }

    /// Sends one request and waits for its response's head, and then for
    /// each piece of its body, at most `read_timeout` at a time.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Option<WireBody>,
        read_timeout: Option<Duration>,
    ) -> Result<WireResponse, WireError> {
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|err| WireError::new(Failure::Request, err))?;
        with_defaults(&mut headers, &self.user_agent);
        if let Some(proxies) = &self.proxies {
            if uri.scheme() == Some(&http::uri::Scheme::HTTP)
                && !headers.contains_key(PROXY_AUTHORIZATION)
            {
                if let Some(auth) = proxies
                    .intercept(&uri)
                    .as_ref()
                    .and_then(|proxy| proxy.basic_auth().cloned())
                {
                    headers.insert(PROXY_AUTHORIZATION, auth);
                }
            }
        }
        let (body, sent) = Outgoing::new(body.unwrap_or(WireBody::Empty));
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        let sent_at = Instant::now();
        let sending = self.client.request(request);
        // What the connect this request starts (if any) reached, for a
        // failure before the head: no connection carries it then.
        let mut tried = None;
        let answered = noting_connects(
            async {
                match read_timeout {
                    None => Ok(sending.await),
                    Some(limit) => tokio::time::timeout(limit, sending)
                        .await
                        .map_err(|_| limit),
                }
            },
            &mut tried,
        )
        .await;
        let response = match answered {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => {
                let failure = if err.is_connect() {
                    Failure::Connect
                } else if !sent.is_none_or(|sent| sent.load(Ordering::Acquire)) {
                    Failure::Write
                } else {
                    Failure::Request
                };
                return Err(WireError::new(failure, err).having_tried(tried));
            }
            Err(limit) => {
                let timed_out = WireError::new(Failure::TimedOut, ReadTimedOut(limit));
                return Err(timed_out.having_tried(tried));
            }
        };
        let timings = Timings::answered(sent_at, response.extensions().get::<Arc<Made>>());
        let (head, body) = response.into_parts();
        Ok(WireResponse {
            status: head.status,
            version: head.version,
            headers: head.headers,
            body: ResponseBody::Wire(body),
            read_timeout,
            timings,
        })
    }
}

/// The headers every request carries unless it has its own, as reqwest's.
pub fn with_defaults(headers: &mut HeaderMap, user_agent: &HeaderValue) {
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, user_agent.clone());
    }
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    }
}

/// A request body as hyper takes it.
pub enum WireBody {
    Empty,
    /// The whole body, taken once.
    Whole(Option<Bytes>),
    /// Tells when hyper asks for it (see opening.rs).
    Reporting(Reporting),
    /// Pieces as they come.
    Streamed(UnsyncBoxBody<Bytes, BoxError>),
}

impl WireBody {
    pub fn whole(bytes: Bytes) -> Self {
        Self::Whole(Some(bytes))
    }

    /// Pieces from `stream`, framed by a Content-Length the request carries,
    /// or chunked.
    pub fn streamed<S, E>(stream: S) -> Self
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures::TryStreamExt;
        let frames = stream.map_ok(Frame::data).map_err(Into::into);
        Self::Streamed(http_body_util::StreamBody::new(frames).boxed_unsync())
    }

    /// Whether any of it is left to hand over; unlike `is_end_stream`,
    /// this decides nothing (see [`Reporting`]).
    fn has_more(&self) -> bool {
        match self {
            Self::Empty => false,
            Self::Whole(bytes) => bytes.as_ref().is_some_and(|bytes| !bytes.is_empty()),
            Self::Reporting(body) => body.has_data(),
            Self::Streamed(body) => !body.is_end_stream(),
        }
    }

    /// The whole body, read (a mock transport's handler gets it so).
    pub async fn collect(self) -> Result<Bytes, BoxError> {
        Ok(BodyExt::collect(self).await?.to_bytes())
    }
}

impl Body for WireBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Whole(bytes) => {
                Poll::Ready(next_piece(bytes).map(|piece| Ok(Frame::data(piece))))
            }
            Self::Reporting(body) => Pin::new(body)
                .poll_frame(context)
                .map_err(|never| match never {}),
            Self::Streamed(body) => Pin::new(body).poll_frame(context),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Whole(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Self::Reporting(body) => body.is_end_stream(),
            Self::Streamed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Self::Reporting(body) => body.size_hint(),
            Self::Streamed(body) => body.size_hint(),
        }
    }
}

/// A request body as the client sends it: notes when hyper has taken all
/// of it, so a failure before then is told as one while sending.
pub struct Outgoing {
    body: WireBody,
    /// Set once the last piece is taken; `None` for a body that is empty.
    sent: Option<Arc<AtomicBool>>,
}

impl Outgoing {
    /// `body`, and the flag set once it is all taken (`None`: nothing to send).
    fn new(body: WireBody) -> (Self, Option<Arc<AtomicBool>>) {
        let sent = body.has_more().then(|| Arc::new(AtomicBool::new(false)));
        let given = sent.clone();
        (Self { body, sent }, given)
    }

    fn all_taken(&self) {
        if let Some(sent) = &self.sent {
            sent.store(true, Ordering::Release);
        }
    }
}

impl Body for Outgoing {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(context);
        match &polled {
            Poll::Ready(None) => this.all_taken(),
            Poll::Ready(Some(Ok(_))) if !this.body.has_more() => this.all_taken(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A response whose head has arrived; its body is read with [`chunk`].
///
/// [`chunk`]: WireResponse::chunk
pub struct WireResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: ResponseBody,
    /// The longest wait for each piece of the body.
    read_timeout: Option<Duration>,
    timings: Timings,
}

enum ResponseBody {
    Wire(Incoming),
    /// What had arrived when [`WireResponse::gather_arrived`] looked, then
    /// the rest from the wire.
    Arrived(Box<Arrived>),
    /// A mock transport's answer.
    Given(Option<Bytes>),
}

struct Arrived {
    pieces: VecDeque<Bytes>,
    /// How the body ended, if it had.
    end: Option<Result<(), WireError>>,
    rest: Incoming,
}

impl WireResponse {
    /// A response given whole (a mock transport's answer).
    pub fn given(status: StatusCode, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            status,
            version: Version::HTTP_11,
            headers,
            body: ResponseBody::Given(Some(body)),
            read_timeout: None,
            timings: Timings::answered(Instant::now(), None),
        }
    }

    /// Where the time to this response's head went.
    pub fn timings(&self) -> Timings {
        self.timings.clone()
    }

    /// Notes the attempts its request took.
    pub fn set_attempts(&mut self, attempts: u16) {
        self.timings.attempts = attempts;
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn version(&self) -> Version {
        self.version
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body's length, when the response declared it.
    pub fn content_length(&self) -> Option<u64> {
        match &self.body {
            ResponseBody::Wire(body) => body.size_hint().exact(),
            ResponseBody::Arrived(arrived) => {
                let early: usize = arrived.pieces.iter().map(Bytes::len).sum();
                let rest = arrived.rest.size_hint().exact()?;
                Some(early as u64 + rest)
            }
            ResponseBody::Given(body) => Some(body.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, WireError> {
        let body = match &mut self.body {
            ResponseBody::Given(body) => return Ok(body.take().filter(|b| !b.is_empty())),
            ResponseBody::Arrived(arrived) => {
                if let Some(piece) = arrived.pieces.pop_front() {
                    return Ok(Some(piece));
                }
                match arrived.end.take() {
                    Some(Ok(())) => return Ok(None),
                    Some(Err(err)) => return Err(err),
                    None => &mut arrived.rest,
                }
            }
            ResponseBody::Wire(body) => body,
        };
        loop {
            let frame = match self.read_timeout {
                None => body.frame().await,
                Some(limit) => tokio::time::timeout(limit, body.frame())
                    .await
                    .map_err(|_| WireError::new(Failure::TimedOut, ReadTimedOut(limit)))?,
            };
            let Some(frame) = frame else {
                return Ok(None);
            };
            let frame = frame.map_err(|err| WireError::new(Failure::Body, err))?;
            // Trailers are skipped.
            if let Ok(data) = frame.into_data() {
                return Ok(Some(data));
            }
        }
    }

    /// Takes what of the body has already arrived, up to about `limit`
    /// bytes, without waiting, so a small body is whole before anyone
    /// asks: [`Self::take_arrived`] can then hand it out on any thread.
    pub fn gather_arrived(&mut self, limit: usize) {
        if !matches!(self.body, ResponseBody::Wire(_)) {
            return;
        }
        let ResponseBody::Wire(mut rest) =
            std::mem::replace(&mut self.body, ResponseBody::Given(None))
        else {
            return;
        };
        let mut pieces = VecDeque::new();
        let mut gathered = 0;
        let mut end = None;
        while gathered < limit {
            match rest.frame().now_or_never() {
                None => break,
                Some(None) => {
                    end = Some(Ok(()));
                    break;
                }
                Some(Some(Err(err))) => {
                    end = Some(Err(WireError::new(Failure::Body, err)));
                    break;
                }
                Some(Some(Ok(frame))) => {
                    // Trailers are skipped, as by `chunk`.
                    if let Ok(data) = frame.into_data() {
                        gathered += data.len();
                        pieces.push_back(data);
                    }
                }
            }
        }
        self.body = if pieces.is_empty() && end.is_none() {
            ResponseBody::Wire(rest)
        } else {
            ResponseBody::Arrived(Box::new(Arrived { pieces, end, rest }))
        };
    }

    /// The next piece if it has already arrived (or the end, `Some(None)`),
    /// without polling the connection; `None` if it must be waited for.
    pub fn take_arrived(&mut self) -> Option<Option<Bytes>> {
        match &mut self.body {
            ResponseBody::Wire(_) => None,
            ResponseBody::Given(body) => Some(body.take().filter(|b| !b.is_empty())),
            ResponseBody::Arrived(arrived) => match arrived.pieces.pop_front() {
                Some(piece) => Some(Some(piece)),
                None => matches!(arrived.end, Some(Ok(()))).then_some(None),
            },
        }
    }

    /// Whether the whole body has arrived, so [`Self::take_arrived`] gives
    /// all of it.
    pub fn all_arrived(&self) -> bool {
        match &self.body {
            ResponseBody::Wire(_) => false,
            ResponseBody::Given(_) => true,
            ResponseBody::Arrived(arrived) => matches!(arrived.end, Some(Ok(()))),
        }
    }

    /// The rest of the body as a stream of pieces.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Bytes, WireError>> + Send {
        futures::stream::try_unfold(self, |mut response| async move {
            Ok(response.chunk().await?.map(|piece| (piece, response)))
        })
    }
}

/// What part of a request failed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Connect,
    /// Sending the request or reading the response head.
    Request,
    /// Sending the request body: the connection failed before all of it
    /// was handed over.
    Write,
    /// Reading the body.
    Body,
    TimedOut,
}

/// A failure on the wire, with its causes.
#[derive(Debug)]
pub struct WireError {
    pub failure: Failure,
    source: BoxError,
    /// What the connect the request started reached, when it failed
    /// before its head.
    pub tried: Option<Arc<Made>>,
}

impl WireError {
    pub fn new(failure: Failure, source: impl Into<BoxError>) -> Self {
        Self {
            failure,
            source: source.into(),
            tried: None,
        }
    }

    #[must_use]
    fn having_tried(mut self, tried: Option<Made>) -> Self {
        self.tried = tried.map(Arc::new);
        self
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.failure {
            Failure::Connect => "connect failed",
            Failure::Request => "the request failed",
            Failure::Write => "sending the request failed",
            Failure::Body => "reading the body failed",
            Failure::TimedOut => "timed out",
        })
    }
}

impl StdError for WireError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// The read timeout passed.
#[derive(Debug)]
pub struct ReadTimedOut(pub Duration);

impl std::fmt::Display for ReadTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no data for {} s (read timeout)", self.0.as_secs_f64())
    }
}

impl StdError for ReadTimedOut {}
