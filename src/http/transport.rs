//! Sending a request through its session: redirects followed by fastio
//! itself (so every hop is a Response in `history` and the policy is ours),
//! slots and pacing per hop, the body read under its limit.

use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::{Either, FutureExt};
use tokio_util::task::AbortOnDropHandle;

use http::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_LENGTH, RANGE, RETRY_AFTER, TRANSFER_ENCODING,
};
use http::{Method, StatusCode};

use super::adaptive::Answer;
use super::body::{Collector, Refusal};
use super::budget::BodyBudget;
use super::classify::classify;
use super::connect::with_connect_limit;
use super::decode::{self, Coding, Decoder};
use super::defaults::CONNECT_TIMEOUT;
use super::error::{out_of_descriptors, ErrorKind, FastioError};
use super::opening::{reporting_connects, Http2Origins, Opening, Reporting, ReportingStream};
use super::redirect::redirect;
use super::response::HeaderList;
use super::response::ResponseData;
use super::session::{Session, Slots};
use super::spec::{RequestBody, RequestSpec};
use super::upload::{BodyFailed, Piece};
use super::wire::{WireBody, WireError, WireResponse};
use super::write::{self, Watched, WriteWatch};
use crate::runtime;

/// Sends `spec`, follows redirects and reads the whole body, retrying as
/// its policy allows; each attempt within the request's deadline.
///
/// Plain functions returning futures, not `async fn`s, here and below: an
/// `async fn` keeps room for its arguments beside the futures they move
/// into, and every layer's future is moved into the next when it starts.
/// fetch_all keeps one of these per request in flight, so their size is
/// copied per request.
pub fn execute(spec: RequestSpec) -> impl Future<Output = Result<ResponseData, FastioError>> {
    execute_admitted(spec, None)
}

/// [`execute`] for a request made on its own (not in a bulk run, whose
/// requests are tasks already): admitted where it was started, then run as
/// a task of its own. The loop's dispatcher starts such requests in the
/// order they were made, so admitting them there keeps the ones waiting for
/// a slot first come, first served, while the rest of their work spreads
/// over the worker threads.
pub fn execute_alone(spec: RequestSpec) -> impl Future<Output = Result<ResponseData, FastioError>> {
    admitted_then_spawned(spec, |spec, slots| execute_admitted(spec, Some(slots)))
}

/// The head of `spec`'s final response (its body left to read), run as
/// [`execute_alone`] runs [`execute`].
pub fn execute_head_alone(spec: RequestSpec) -> impl Future<Output = Result<Opened, FastioError>> {
    admitted_then_spawned(spec, |spec, slots| execute_head_admitted(spec, Some(slots)))
}

/// Admits `spec` here, then runs `run(spec, slots)` as a task of its own,
/// aborted if this future is dropped.
async fn admitted_then_spawned<T, Run>(
    spec: RequestSpec,
    run: impl FnOnce(RequestSpec, Slots) -> Run,
) -> Result<T, FastioError>
where
    T: Send + 'static,
    Run: Future<Output = Result<T, FastioError>> + Send + 'static,
{
    let slots = admit(&spec).await?;
    on_own_task(run(spec, slots)).await
}

/// Runs `work` as a tokio task of its own, aborted if this future is
/// dropped; a task that ends without a result is an internal error.
pub fn on_own_task<T: Send + 'static>(
    work: impl Future<Output = Result<T, FastioError>> + Send + 'static,
) -> impl Future<Output = Result<T, FastioError>> + Send {
    AbortOnDropHandle::new(tokio::spawn(work))
        .map(|joined| joined.unwrap_or_else(|failed| Err(task_failed(failed))))
}

/// A request's task that ended without a result: a panic (a bug in fastio)
/// or the runtime shutting down.
fn task_failed(failed: tokio::task::JoinError) -> FastioError {
    if failed.is_panic() {
        FastioError::internal(runtime::panic_message(failed.into_panic().as_ref()))
    } else {
        FastioError::internal("the request's task was cancelled (the runtime is stopping)")
    }
}

/// [`execute`], its first attempt on `admitted` slots when given.
fn execute_admitted(
    spec: RequestSpec,
    admitted: Option<Slots>,
) -> impl Future<Output = Result<ResponseData, FastioError>> {
    with_retries(
        spec,
        admitted,
        async move |spec: &RequestSpec, slots: Slots| {
            within_deadline(spec, async {
                // Its own statement: inside `read(open(spec).await?, ...)`
                // the `?`'s temporary would be kept across the read.
                let opened = open(spec, slots).await?;
                read(opened, spec).await
            })
            .await
        },
        |data| (data.status, data.headers.get(RETRY_AFTER.as_str())),
    )
}

/// Sends `spec` and follows redirects up to the final response's head,
/// retrying as its policy allows; the body is left to read. The first
/// attempt runs on `admitted` slots when given.
fn execute_head_admitted(
    spec: RequestSpec,
    admitted: Option<Slots>,
) -> impl Future<Output = Result<Opened, FastioError>> {
    with_retries(
        spec,
        admitted,
        async move |spec: &RequestSpec, slots: Slots| {
            within_deadline(spec, open(spec, slots)).await
        },
        |opened| {
            let retry_after = opened.response.headers().get(RETRY_AFTER);
            (
                opened.response.status(),
                retry_after.map(HeaderValue::as_bytes),
            )
        },
    )
}

/// The slots the first attempt was admitted on, if `admitted` still holds
/// them; else this attempt waits for its turn.
async fn first_or_admitted(
    spec: &RequestSpec,
    admitted: &mut Option<Slots>,
) -> Result<Slots, FastioError> {
    match admitted.take() {
        Some(slots) => Ok(slots),
        None => admit(spec).await,
    }
}

/// Runs `attempt` until it succeeds, or fails in a way the request's retry
/// policy does not retry, or the retries are spent; then returns the last
/// result. A response with a retryable status counts as a failure. Each
/// attempt runs on its connection slots: the first on `admitted` when
/// given, the others after waiting for their turn.
///
/// Each attempt borrows the one `spec` this future owns, so the request
/// is held once, not once more per layer.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn would keep a second copy of `spec` (see above)"
)]
fn with_retries<T, Attempt>(
    spec: RequestSpec,
    mut admitted: Option<Slots>,
    mut attempt: Attempt,
    head: impl Fn(&T) -> (StatusCode, Option<&[u8]>),
) -> impl Future<Output = Result<T, FastioError>>
where
    T: Attempted,
    Attempt: AsyncFnMut(&RequestSpec, Slots) -> Result<T, FastioError>,
{
    async move {
        let policy = spec.retry;
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let slots = first_or_admitted(&spec, &mut admitted).await;
            // When the attempt had its slots: an answer is counted against
            // the limit it was sent under.
            let sent = tokio::time::Instant::now();
            let mut result = match slots {
                Ok(slots) => attempt(&spec, slots).await,
                Err(failed) => Err(failed),
            };
            let attempted = u16::try_from(attempts).unwrap_or(u16::MAX);
            match &mut result {
                Ok(answer) => answer.attempted(attempted),
                Err(error) => error.time_failure(sent.into_std(), attempted),
            }
            let answer = result.as_ref().ok().map(&head);
            if spec.session.settings.adaptive_per_host {
                let told = match (&result, answer) {
                    (Ok(_), Some((status, _))) => host_answer(status),
                    (Err(error), _) => error_answer(error),
                    _ => Answer::Neutral,
                };
                spec.session.answered(&spec.url, told, sent);
            }
            if let Some(wait) =
                answer.and_then(|(status, retry_after)| policy.hold(status, retry_after))
            {
                spec.session.hold(&spec.url, wait);
            }
            if attempts > policy.retries || !spec.can_resend() {
                return result;
            }
            let wait = match &result {
                Ok(_) => answer.and_then(|(status, retry_after)| {
                    policy.after_status(&spec.method, attempts, status, retry_after)
                }),
                Err(error) => policy.after_error(&spec.method, attempts, error),
            };
            match wait {
                None => return result,
                Some(wait) => {
                    // Dropping an unread response closes its connection: a
                    // retryable answer's body is not worth reading.
                    drop(result);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// A status as a host's adaptive limit counts it: 429 and 503 say the
/// host is overloaded.
fn host_answer(status: StatusCode) -> Answer {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Answer::Overloaded,
        _ => Answer::Good,
    }
}

/// A failure as a host's adaptive limit counts it: timeouts and lost
/// connections say it is overloaded; the rest say nothing about its load.
fn error_answer(error: &FastioError) -> Answer {
    match error.kind {
        ErrorKind::Timeout
        | ErrorKind::ReadTimeout
        | ErrorKind::ConnectTimeout
        | ErrorKind::Read
        | ErrorKind::Write
        | ErrorKind::Connect => Answer::Overloaded,
        _ => Answer::Neutral,
    }
}

/// What an attempt gives: told how many attempts it took.
trait Attempted {
    fn attempted(&mut self, attempts: u16);
}

impl Attempted for ResponseData {
    fn attempted(&mut self, attempts: u16) {
        self.timings.attempts = attempts;
    }
}

impl Attempted for Opened {
    fn attempted(&mut self, attempts: u16) {
        self.response.set_attempts(attempts);
    }
}

/// Waits for the request's turn: the end of its host's `Retry-After`
/// hold (holding no slot meanwhile), a connection slot, then its
/// rate-limit turn, all within its `pool_timeout`. Queueing is not time on
/// the wire: the deadline starts after it.
async fn admit(spec: &RequestSpec) -> Result<Slots, FastioError> {
    let session = &spec.session;
    let started = tokio::time::Instant::now();
    within_pool(
        spec,
        started,
        "its host's Retry-After",
        session.hold_passed(&spec.url),
    )
    .await?;
    let slots = session
        .slots(spec.method.as_str(), &spec.url, spec.pool_timeout)
        .await?;
    within_pool(spec, started, "a rate-limit turn", session.pace(&spec.url)).await?;
    Ok(slots)
}

/// Waits for `turn`, for what is left of the pool timeout counted from
/// `started`; `what` names it in the PoolTimeout.
async fn within_pool(
    spec: &RequestSpec,
    started: tokio::time::Instant,
    what: &str,
    turn: impl Future<Output = ()>,
) -> Result<(), FastioError> {
    let Some(limit) = spec.pool_timeout else {
        turn.await;
        return Ok(());
    };
    tokio::time::timeout_at(started + limit, turn)
        .await
        .map_err(|_| {
            FastioError::for_request(
                ErrorKind::PoolTimeout,
                spec.method.as_str(),
                spec.url.as_str(),
                &format!(
                    "{what} did not come within {} s (pool timeout)",
                    limit.as_secs_f64()
                ),
            )
        })
}

/// Runs `work` within the request's deadline.
fn within_deadline<'a, T: 'a>(
    spec: &'a RequestSpec,
    work: impl Future<Output = Result<T, FastioError>> + 'a,
) -> impl Future<Output = Result<T, FastioError>> + 'a {
    let Some(limit) = spec.timeout else {
        return Either::Left(work);
    };
    Either::Right(tokio::time::timeout(limit, work).map(move |finished| {
        finished.unwrap_or_else(|_| {
            Err(FastioError::for_request(
                ErrorKind::Timeout,
                spec.method.as_str(),
                spec.url.as_str(),
                &format!(
                    "timed out after {} s (the whole request)",
                    limit.as_secs_f64()
                ),
            ))
        })
    }))
}

/// A response whose head has arrived, its body still unread, with the
/// connection slots it holds.
pub struct Opened {
    pub response: WireResponse,
    /// The URL that answered (the last hop's).
    pub url: String,
    pub slots: Slots,
    /// Keeps the client (its pool) alive while the body is read.
    pub _session: Arc<Session>,
    pub method: Method,
    /// The headers of the request that got this response.
    pub request_headers: Arc<HeaderMap>,
    /// The URL as the caller gave it.
    pub request_url: String,
    pub started: Instant,
    /// The redirect responses that led here, oldest first.
    pub history: Vec<ResponseData>,
}

impl Opened {
    /// Everything but the body, which is left empty; the request URL and
    /// the history are moved out (the caller reads the body next).
    pub fn take_head(&mut self) -> ResponseData {
        ResponseData {
            method: self.method.clone(),
            status: self.response.status(),
            version: self.response.version(),
            // Packed copies, not hyper's values: those are slices of its read
            // buffer, and a kept Response would keep that buffer alive.
            headers: HeaderList::pack(self.response.headers()),
            url: std::mem::take(&mut self.url),
            request_url: std::mem::take(&mut self.request_url),
            request_headers: Arc::clone(&self.request_headers),
            elapsed: self.started.elapsed(),
            body: Bytes::new(),
            downloaded: 0,
            discarded: None,
            history: std::mem::take(&mut self.history),
            index: None,
            timings: self.response.timings(),
        }
    }
}

/// Sends the request, admitted with `slots`, and follows redirects (reading
/// each redirect's body, admitting each hop) until the final response's head.
async fn open(first: &RequestSpec, slots: Slots) -> Result<Opened, FastioError> {
    let started = Instant::now();
    let session = Arc::clone(&first.session);
    // as_str, not to_string: a copy, not a pass through the formatter.
    let request_url = first.url.as_str().to_owned();
    let mut history = Vec::new();
    // The next hop's request is boxed, like its read below: redirects are
    // rare, and inline it would make every request's future larger.
    let mut redirected: Option<Box<RequestSpec>> = None;
    let mut admitted = Some(slots);
    loop {
        let spec = redirected.as_deref().unwrap_or(first);
        let slots = match admitted.take() {
            Some(slots) => slots,
            None => admit(spec).await?,
        };
        // Boxed: its state is the largest part of a request's future, which
        // is moved whole when spawned.
        let response = Box::pin(send(&session, spec)).await?;
        session.keep_cookies(&spec.url, response.headers());
        let follows = first
            .follow_redirects
            .unwrap_or(session.settings.follow_redirects);
        let next = if follows {
            redirect(spec, &response, session.settings.allow_https_to_http)?.map(Box::new)
        } else {
            None
        };
        let opened = Opened {
            response,
            url: spec.url.as_str().to_owned(),
            slots,
            _session: Arc::clone(&session),
            method: spec.method.clone(),
            request_headers: Arc::clone(&spec.headers),
            request_url: String::new(),
            started,
            history: Vec::new(),
        };
        let Some(next) = next else {
            return Ok(Opened {
                request_url,
                history,
                ..opened
            });
        };
        let hop = Opened {
            request_url: request_url.clone(),
            ..opened
        };
        // Boxed: a redirect is rare, and its read inline would make every
        // request's future larger.
        let hop = Box::pin(read(hop, spec)).await?;
        if history.len() >= session.settings.max_redirects {
            return Err(FastioError::for_request(
                ErrorKind::TooManyRedirects,
                spec.method.as_str(),
                &request_url,
                &format!(
                    "more than {} redirects (last to {})",
                    session.settings.max_redirects, next.url
                ),
            ));
        }
        history.push(hop);
        redirected = Some(next);
    }
}

async fn send(session: &Session, spec: &RequestSpec) -> Result<WireResponse, FastioError> {
    if let Some(handler) = &session.settings.handler {
        let (headers, declared) = request_headers(session, spec)?;
        let body = request_body(spec, declared, None, None)?;
        return handler
            .exchange(
                spec.method.clone(),
                spec.url.clone(),
                headers,
                body,
                &session.settings.user_agent,
            )
            .await;
    }
    let wire = session.http().await?;
    // Under a pool timeout, the body reports when hyper first asks for it:
    // over HTTP/2, when the request got a stream (see opening.rs).
    let reports = spec.pool_timeout.is_some() && session.settings.http2 != Some(false);
    let origin = reports.then(|| Http2Origins::key(&spec.url));
    let mut nacks = 0;
    let answered = loop {
        let (headers, declared) = request_headers(session, spec)?;
        let watch = spec.write_timeout.map(|limit| {
            // Before the first piece is asked for, the connection may still be
            // being made.
            let grace = spec.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
            WriteWatch::new(limit, grace)
        });
        let opening = origin.map(|origin| {
            Opening::new(
                origin,
                Arc::clone(&session.http2_origins),
                session.settings.http2 == Some(true),
            )
        });
        let body = request_body(spec, declared, watch.as_ref(), opening.as_ref())?;
        let sending = wire.send(
            spec.method.clone(),
            &spec.url,
            headers,
            body,
            spec.read_timeout,
        );
        let sending = if spec.connect_timeout == session.settings.connect_timeout {
            Either::Left(sending)
        } else {
            Either::Right(with_connect_limit(spec.connect_timeout, sending))
        };
        // The connect this send makes (if any) tells the opening whether it
        // negotiated HTTP/2.
        let sent = match &opening {
            Some(opening) => Either::Left(reporting_connects(opening, sending)),
            None => Either::Right(sending),
        };
        let answered = match (&watch, &opening) {
            (None, None) => sent.await,
            (watch, opening) => {
                let stream_wait = async {
                    match (opening, spec.pool_timeout) {
                        (Some(opening), Some(limit)) => {
                            opening.expired(limit).await;
                            limit
                        }
                        _ => std::future::pending().await,
                    }
                };
                let write_wait = async {
                    match watch {
                        Some(watch) => watch.expired().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    answered = sent => answered,
                    limit = stream_wait => {
                        return Err(FastioError::for_request(
                            ErrorKind::PoolTimeout,
                            spec.method.as_str(),
                            spec.url.as_str(),
                            &format!(
                                "no HTTP/2 stream became free within {} s (pool timeout; the server's MAX_CONCURRENT_STREAMS)",
                                limit.as_secs_f64()
                            ),
                        ));
                    }
                    () = write_wait => {
                        let limit = watch.as_ref().map_or(Duration::ZERO, |watch| watch.limit());
                        return Err(FastioError::for_request(
                            ErrorKind::WriteTimeout,
                            spec.method.as_str(),
                            spec.url.as_str(),
                            &format!(
                                "the server took none of the request body for {} s (the write timeout)",
                                limit.as_secs_f64()
                            ),
                        ));
                    }
                }
            }
        };
        // A request the server refused unprocessed (HTTP/2 REFUSED_STREAM, a
        // graceful GOAWAY) is safe to send again, whatever its method, when
        // its body can be sent again.
        match &answered {
            Err(err)
                if nacks < PROTOCOL_NACK_RESENDS
                    && !matches!(spec.body, Some(RequestBody::Stream(_)))
                    && is_protocol_nack(err) =>
            {
                nacks += 1;
            }
            _ => break answered,
        }
    };
    answered.map_err(|err| {
        if out_of_descriptors(&err) {
            // Its idle connections hold descriptors the process needs.
            session.close();
        }
        let error = classify(&err, spec.method.as_str(), spec.url.as_str());
        match (&session.settings.proxy_shown, error.kind) {
            // Named as the caller gave it (credentials hidden).
            (Some(proxy), ErrorKind::Proxy) => FastioError::for_request(
                ErrorKind::Proxy,
                spec.method.as_str(),
                spec.url.as_str(),
                &error
                    .message
                    .split_once(": ")
                    .map_or("", |(_, why)| why)
                    .replacen("the proxy failed", &format!("the proxy {proxy} failed"), 1),
            )
            .timed_as(&error),
            _ => error,
        }
    })
}

/// The headers `spec` is sent with (the jar's cookies, the encodings fastio
/// decodes, framing), and the Content-Length a streamed body declared.
fn request_headers(
    session: &Session,
    spec: &RequestSpec,
) -> Result<(HeaderMap, Option<u64>), FastioError> {
    let mut headers = (*spec.headers).clone();
    session.add_cookies(&spec.url, &mut headers);
    // Not with a Range, whose offsets would then count compressed bytes.
    if !headers.contains_key(ACCEPT_ENCODING) && !headers.contains_key(RANGE) {
        headers.insert(ACCEPT_ENCODING, decode::ACCEPTED);
    }
    let declared = framing(spec, &headers)?;
    if let (Some(RequestBody::Bytes(body)), Some(_)) = (&spec.body, spec.write_timeout) {
        // Sent as a stream of pieces: hyper would frame it as chunked without this.
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    Ok((headers, declared))
}

/// Resends of a request the server refused unprocessed (as reqwest allows).
const PROTOCOL_NACK_RESENDS: u32 = 2;

/// The request body to hand to the wire, watched by `watch` and reporting
/// to `opening` when given.
fn request_body(
    spec: &RequestSpec,
    declared: Option<u64>,
    watch: Option<&Arc<WriteWatch>>,
    opening: Option<&Arc<Opening>>,
) -> Result<Option<WireBody>, FastioError> {
    fn reporting<S>(stream: S, opening: Option<&Arc<Opening>>) -> Either<ReportingStream<S>, S> {
        match opening {
            Some(opening) => Either::Left(ReportingStream::new(stream, opening)),
            None => Either::Right(stream),
        }
    }
    Ok(match (&spec.body, watch) {
        (None, _) => opening.map(|opening| WireBody::Reporting(Reporting::new(opening, None))),
        (Some(RequestBody::Bytes(body)), None) => Some(match opening {
            Some(opening) => WireBody::Reporting(Reporting::new(opening, Some(body.clone()))),
            None => WireBody::whole(body.clone()),
        }),
        // A stream of pieces: framed by the Content-Length `send` set.
        (Some(RequestBody::Bytes(body)), Some(watch)) => Some(WireBody::streamed(reporting(
            Watched::new(write::pieces(body.clone()), watch),
            opening,
        ))),
        (Some(RequestBody::Stream(source)), watch) => {
            let Some(chunks) = source.take() else {
                return Err(FastioError::for_request(
                    ErrorKind::Request,
                    spec.method.as_str(),
                    spec.url.as_str(),
                    "a streamed body can be sent only once",
                ));
            };
            let chunks = exactly(chunks, declared);
            let chunks = match watch {
                Some(watch) => Either::Left(Watched::new(chunks, watch)),
                None => Either::Right(chunks),
            };
            Some(WireBody::streamed(reporting(chunks, opening)))
        }
    })
}

/// Whether the server refused the request without processing it (HTTP/2
/// REFUSED_STREAM, or a graceful GOAWAY before its stream): safe to send
/// again whatever the method.
fn is_protocol_nack(err: &WireError) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(err) = cause.downcast_ref::<h2::Error>() {
            let reason = err.reason();
            return err.is_remote()
                && ((err.is_go_away() && reason == Some(h2::Reason::NO_ERROR))
                    || (err.is_reset() && reason == Some(h2::Reason::REFUSED_STREAM)));
        }
        source = cause.source();
    }
    false
}

/// Checks the caller's framing headers against the body before anything is
/// sent: a Content-Length that disagrees would send the body cut short (or
/// leave the server waiting for the rest), and fastio frames bodies itself,
/// so a Transfer-Encoding is refused. Returns the Content-Length a streamed
/// body declared, which it is then held to as it is sent.
fn framing(spec: &RequestSpec, headers: &HeaderMap) -> Result<Option<u64>, FastioError> {
    let refuse = |why: String| {
        Err(FastioError::for_request(
            ErrorKind::Request,
            spec.method.as_str(),
            spec.url.as_str(),
            &format!("{why}; leave it out and fastio frames the body itself"),
        ))
    };
    if headers.contains_key(TRANSFER_ENCODING) {
        return refuse("the request sets Transfer-Encoding".to_owned());
    }
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let declared = value
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|text| text.parse::<u64>().ok());
    let Some(declared) = declared.filter(|_| values.next().is_none()) else {
        return refuse(format!(
            "the request's Content-Length {:?} is not one number",
            String::from_utf8_lossy(value.as_bytes())
        ));
    };
    let actual = match &spec.body {
        None => 0,
        Some(RequestBody::Bytes(body)) => body.len() as u64,
        Some(RequestBody::Stream(_)) => return Ok(Some(declared)),
    };
    if declared != actual {
        return refuse(format!(
            "the request's Content-Length is {declared} but its body is {actual} bytes"
        ));
    }
    Ok(None)
}

/// `chunks`, failing if they add up to other than `declared` bytes (when
/// the caller declared a Content-Length for a streamed body).
fn exactly(
    chunks: impl futures::Stream<Item = Piece> + Unpin + Send + Sync + 'static,
    declared: Option<u64>,
) -> impl futures::Stream<Item = Piece> + Unpin + Send + Sync + 'static {
    use futures::StreamExt;
    let mut sent: u64 = 0;
    let mut ended = false;
    let mismatch = move |sent: u64, declared: u64| {
        BodyFailed::piece(format!(
            "the request's Content-Length is {declared} but its body streamed {sent} bytes{}",
            if sent > declared { " or more" } else { "" }
        ))
    };
    chunks
        .map(Some)
        .chain(futures::stream::once(std::future::ready(None)))
        .filter_map(move |piece| {
            let out = match (declared, piece) {
                (_, _) if ended => None,
                (None, Some(piece)) => Some(piece),
                (None, None) => None,
                (Some(declared), Some(Ok(chunk))) => {
                    sent = sent.saturating_add(chunk.len() as u64);
                    if sent > declared {
                        ended = true;
                        Some(mismatch(sent, declared))
                    } else {
                        Some(Ok(chunk))
                    }
                }
                (Some(_), Some(Err(error))) => Some(Err(error)),
                (Some(declared), None) if sent != declared => Some(mismatch(sent, declared)),
                (Some(_), None) => None,
            };
            std::future::ready(out)
        })
}

/// The error for a body past `max_body_size`, or one there is no memory for.
pub fn body_refused(method: &str, url: &str, refusal: Refusal) -> FastioError {
    let what = match refusal {
        Refusal::TooLarge { limit } => format!(
            "the body is larger than max_body_size ({limit} bytes, decoded); \
             stream it (Client.stream) or raise max_body_size"
        ),
        Refusal::OutOfMemory { wanted } => {
            format!("no memory for a body of {wanted} bytes")
        }
    };
    FastioError::for_request(ErrorKind::BodyTooLarge, method, url, &what)
}

/// Reads the whole (decoded) body, refusing more than `spec`'s limit, and
/// a declared length over it before reading, within `spec`'s bulk call's
/// budget. The slots are given back once it is read.
fn read(
    mut opened: Opened,
    spec: &RequestSpec,
) -> impl Future<Output = Result<ResponseData, FastioError>> {
    let limit = spec.whole_body_limit();
    let share = spec.body_budget.as_ref().map(BodyBudget::share);
    let keep = spec.keep_body;
    let mut data = opened.take_head();
    let Opened {
        mut response,
        slots,
        started,
        ..
    } = opened;
    async move {
        let method = data.method.as_str();
        // A failure while reading the body got as far as its head.
        let reached = |error: FastioError| error.over(data.timings.clone());
        let mut body = Collector::new(response.content_length(), Some(limit))
            .map_err(|refusal| reached(body_refused(method, &data.url, refusal)))?
            .within(share)
            .keeping(keep);
        let codings =
            decode::codings(&data.method, &data.url, response.headers()).map_err(reached)?;
        let downloaded = if codings.is_empty() {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|err| reached(classify(&err, method, &data.url)))?
            {
                body.push_within_budget(chunk)
                    .await
                    .map_err(|refusal| reached(body_refused(method, &data.url, refusal)))?;
            }
            body.received()
        } else {
            // Boxed: compressed bodies are the rarer case, and the decoder
            // inline would make every request's future larger.
            Box::pin(read_decoded(
                response, codings, &mut body, method, &data.url,
            ))
            .await
            .map_err(reached)?
        };
        data.downloaded = downloaded;
        drop(slots);
        if !keep {
            data.discarded = Some(body.received());
        }
        data.body = body.finish();
        data.elapsed = started.elapsed();
        Ok(data)
    }
}

/// Decodes `response`'s body into `body` step by step; returns the raw
/// bytes received.
async fn read_decoded(
    response: WireResponse,
    codings: Vec<Coding>,
    body: &mut Collector,
    method: &str,
    url: &str,
) -> Result<u64, FastioError> {
    let downloaded = Arc::new(AtomicU64::new(0));
    let mut decoder = Decoder::new(response, codings, Arc::clone(&downloaded));
    while let Some(piece) = decoder
        .next()
        .await
        .map_err(|err| decoding_failed(&err, method, url))?
    {
        body.push_within_budget(piece)
            .await
            .map_err(|refusal| body_refused(method, url, refusal))?;
        // A bomb decodes in many steps: let the worker's other tasks run.
        tokio::task::consume_budget().await;
    }
    Ok(downloaded.load(Ordering::Relaxed))
}

/// A failure while reading a decoded body: the transport's, sorted as any
/// other, or the encoding's own.
pub fn decoding_failed(error: &std::io::Error, method: &str, url: &str) -> FastioError {
    if let Some(transport) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<WireError>())
    {
        return classify(transport, method, url);
    }
    FastioError::for_request(
        ErrorKind::Decode,
        method,
        url,
        &format!("decoding the body failed: {error}"),
    )
}
