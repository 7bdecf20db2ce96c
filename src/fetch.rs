//! `fastio.fetch` and `fastio.fetch_all` (on the process's shared session),
//! and the request machinery `fastio.Client` shares with them.
//!
//! `fetch_all` is one Rust task: a bounded set of requests in flight, fed
//! lazily from the caller's iterable in chunks pulled on the loop thread
//! (through the awaitable's [`Link`]); the completed prefix of the results
//! is handed back in input order while later requests still run, a few
//! hundred per wake-up, in slices the loop converts one at a time.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use http::{HeaderMap, Method};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pyo3::{PyTraverseError, PyVisit};
use tokio::sync::mpsc::{unbounded_channel, Sender, UnboundedReceiver, UnboundedSender};

use crate::bridge::{FastioFuture, Feeder, Job, Link, Outcome, ToPython, ToPythonItems, Value};
use crate::errors::FastioError;
use crate::progress::{Counts, Progress};
use crate::queue::DRAIN_SLICE;
use crate::request::{
    body_size_limit, merged_headers, parse_headers, parse_method, positive_count, resolve_url,
    retry_policy, type_name, FetchArgs, IntArg, RequestSpec, TimeoutArg,
};
use crate::response::{Indexed, ResponseData, ResultSlice};
use crate::retry::RetryPolicy;
use crate::session::{Defaults, Session};
use crate::stream::BodyStream;
use crate::transport;

/// The most URLs pulled from the caller's iterable at once: one pull runs
/// on the loop thread, so this bounds how long it holds the loop.
const FEED_CHUNK: usize = 1024;

/// Sends one request and returns its :class:`Response`.
///
/// ``params`` are added to the URL's query; ``headers`` are sent as given
/// (CR, LF and NUL refused); the body is at most one of ``json`` (encoded
/// by orjson), ``data`` (a mapping is form-encoded; bytes or str are sent
/// as they are) and ``content``. ``timeout`` is the total deadline in
/// seconds: omitted means 30 s, None means none. Connecting is limited to
/// 10 s. Redirects are followed (at most 10; https to http is refused;
/// Authorization and Cookie are dropped when the host changes). TLS
/// certificates are verified unless ``verify=False``. ``retries`` retries
/// as :class:`fastio.Client` describes (with its default backoff).
/// ``max_body_size`` caps the (decoded) body in bytes; omitted, a body is
/// held up to 256 MiB (stream larger ones with :meth:`Client.stream`). A
/// declared Content-Length over the cap fails at once with
/// :class:`fastio.BodyTooLarge`.
///
/// HTTP error statuses are Responses (see :meth:`Response.raise_for_status`);
/// transport failures raise :class:`fastio.RequestError` subclasses whose
/// message names the method, the URL, what failed and why. Bad arguments
/// raise TypeError, ValueError or :class:`fastio.InvalidURL` at once.
///
/// Example::
///
///     response = await fastio.fetch("https://httpbin.org/get", params={"q": "fastio"})
///     print(response.status, response.json())
#[pyfunction]
#[pyo3(signature = (
    url, *, method = "GET", params = None, headers = None, json = None, data = None,
    content = None, timeout = TimeoutArg::Default, retries = IntArg(0), verify = true,
    max_body_size = None
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments"
)]
pub fn fetch(
    url: &Bound<'_, PyAny>,
    method: &str,
    params: Option<&Bound<'_, PyAny>>,
    headers: Option<&Bound<'_, PyAny>>,
    json: Option<&Bound<'_, PyAny>>,
    data: Option<&Bound<'_, PyAny>>,
    content: Option<&Bound<'_, PyAny>>,
    timeout: TimeoutArg,
    retries: IntArg,
    verify: bool,
    max_body_size: Option<IntArg>,
) -> PyResult<FastioFuture> {
    let spec = FetchArgs {
        url,
        method,
        params,
        headers,
        cookies: None,
        json,
        data,
        files: None,
        content,
        timeout,
        retries: Some(retries),
        max_body_size,
    }
    .build(&Session::shared(verify))?;
    Ok(request_future(spec))
}

/// The awaitable of one request.
pub fn request_future(spec: RequestSpec) -> FastioFuture {
    FastioFuture::new(
        Job::spawn(move || async move {
            let response = transport::execute(spec).await?;
            Ok(Value::Object(Box::new(response)))
        }),
        None,
    )
}

/// The awaitable of one request whose body is streamed: it finishes with
/// the Response at its head.
pub fn stream_future(spec: RequestSpec) -> FastioFuture {
    let idle_timeout = spec.timeout;
    let limits = spec.body_limits();
    FastioFuture::new(
        Job::spawn(move || async move {
            let opened = transport::execute_head(spec).await?;
            let (head, body) = BodyStream::open(opened, idle_timeout, limits);
            Ok(Value::Object(Box::new(StreamedResponse { head, body })))
        }),
        None,
    )
}

/// A Response whose body is still to read.
struct StreamedResponse {
    head: ResponseData,
    body: BodyStream,
}

impl ToPython for StreamedResponse {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .head
            .into_response_streaming(py, Some(self.body))?
            .into_any())
    }
}

/// What every request of one `fetch_all` shares.
#[derive(Clone)]
pub struct Template {
    method: Method,
    headers: HeaderMap,
    timeout: Option<std::time::Duration>,
    retry: RetryPolicy,
    max_body_size: Option<u64>,
    /// The session's defaults when the call was made.
    defaults: Arc<Defaults>,
    session: Arc<Session>,
}

impl Template {
    fn request(&self, url: &str) -> Result<RequestSpec, FastioError> {
        Ok(RequestSpec {
            method: self.method.clone(),
            url: resolve_url(&self.defaults, url)?,
            headers: self.headers.clone(),
            body: None,
            timeout: self.timeout,
            retry: self.retry,
            max_body_size: self.max_body_size,
            follow_redirects: None,
            session: Arc::clone(&self.session),
        })
    }
}

/// One pulled input item: its position and its request (or why the URL is
/// invalid, which is that item's result).
type Item = (usize, Result<RequestSpec, FastioError>);

pub enum Chunk {
    Items(Vec<Item>),
    End,
}

/// Pulls URLs from the caller's iterator on the loop thread.
pub struct UrlFeeder {
    iterator: Py<PyAny>,
    template: Template,
    next_index: usize,
    sender: UnboundedSender<Chunk>,
    exhausted: bool,
}

impl UrlFeeder {
    fn pull(&mut self, py: Python<'_>, want: usize) -> PyResult<Chunk> {
        if self.exhausted {
            return Ok(Chunk::End);
        }
        let iterator = self.iterator.bind(py);
        let want = want.min(FEED_CHUNK);
        let mut items = Vec::with_capacity(want);
        while items.len() < want {
            let Some(next) = iterator.call_method0("__next__").map(Some).or_else(|err| {
                if err.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) {
                    Ok(None)
                } else {
                    Err(err)
                }
            })?
            else {
                self.exhausted = true;
                break;
            };
            let url = next.cast::<PyString>().map_err(|_| {
                let kind = if next.is_instance_of::<PyBytes>() {
                    "bytes"
                } else {
                    "not a str"
                };
                PyTypeError::new_err(format!(
                    "URLs must be str; item {} is {kind}: {}",
                    self.next_index,
                    next.repr()
                        .map_or_else(|_| "?".to_owned(), |text| text.to_string())
                ))
            })?;
            items.push((self.next_index, self.template.request(url.to_str()?)));
            self.next_index += 1;
        }
        if items.is_empty() {
            Ok(Chunk::End)
        } else {
            Ok(Chunk::Items(items))
        }
    }
}

impl Feeder for UrlFeeder {
    fn feed(&mut self, py: Python<'_>, want: usize) -> PyResult<()> {
        let chunk = self.pull(py, want)?;
        let ended = matches!(chunk, Chunk::End);
        // A closed receiver means the work already finished or stopped.
        let _ = self.sender.send(chunk);
        if ended || self.exhausted {
            let _ = self.sender.send(Chunk::End);
        }
        Ok(())
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.iterator)
    }
}

/// What `fetch_all` and `fetch_iter` were asked, checked: the URL feeder
/// (nothing pulled yet) and the receiving end of what it pulls.
pub struct Plan {
    pub feeder: UrlFeeder,
    pub input: UnboundedReceiver<Chunk>,
    pub concurrency: usize,
    pub counts: Option<Arc<Counts>>,
}

/// The arguments `fetch_all` and `fetch_iter` share.
pub struct ManyArgs<'a, 'py> {
    pub urls: &'a Bound<'py, PyAny>,
    pub concurrency: Count,
    pub method: &'a str,
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub timeout: TimeoutArg,
    /// `None`: the session's.
    pub retries: Option<IntArg>,
    /// `None`: the session's.
    pub max_body_size: Option<IntArg>,
    /// Counters to update as results complete.
    pub progress: Option<&'a Bound<'py, Progress>>,
}

impl ManyArgs<'_, '_> {
    /// Checks everything; `what` names the caller in messages.
    pub fn plan(&self, session: &Arc<Session>, what: &str) -> PyResult<Plan> {
        let urls = self.urls;
        if urls.is_instance_of::<PyString>() || urls.is_instance_of::<PyBytes>() {
            return Err(PyTypeError::new_err(format!(
                "{what} wants an iterable of URLs, not a single str or bytes; use fetch() for one URL"
            )));
        }
        let Count(concurrency) = self.concurrency;
        let iterator = urls.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} wants an iterable of URLs, not {}",
                type_name(urls)
            ))
        })?;
        let defaults = session.defaults();
        let template = Template {
            method: parse_method(self.method)?,
            headers: merged_headers(&defaults, parse_headers(self.headers)?, &[])?,
            timeout: self.timeout.or(defaults.timeout),
            retry: retry_policy(session.settings.retry, self.retries)?,
            max_body_size: body_size_limit(self.max_body_size)?,
            defaults,
            session: Arc::clone(session),
        };
        let (sender, input) = unbounded_channel();
        Ok(Plan {
            feeder: UrlFeeder {
                iterator: iterator.into_any().unbind(),
                template,
                next_index: 0,
                sender,
                exhausted: false,
            },
            input,
            concurrency,
            counts: self.progress.map(|progress| progress.get().counts()),
        })
    }
}

/// A `concurrency=` argument: an int of at least 1 (else TypeError,
/// ValueError); one beyond any real limit means "no limit".
#[derive(Clone, Copy)]
pub struct Count(pub usize);

impl Count {
    pub const DEFAULT: Count = Count(100);
}

impl<'py> FromPyObject<'_, 'py> for Count {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let count = value.extract::<IntArg>().map_err(|_| {
            PyTypeError::new_err(format!(
                "concurrency must be an int, not {}",
                type_name(&value)
            ))
        })?;
        // At least 1; beyond any real limit is as good as unlimited.
        let count = positive_count(Some(count), "concurrency")?;
        Ok(Count(count.unwrap_or(usize::MAX)))
    }
}

/// URLs pulled before the work starts: enough to fill the first requests.
pub(crate) fn first_pull(concurrency: usize) -> usize {
    FEED_CHUNK.min(concurrency.saturating_mul(2)).max(1)
}

/// Fetches every URL, at most ``concurrency`` at a time; returns the
/// Responses in input order.
///
/// ``urls`` is any iterable of str (list, tuple, generator); it is consumed
/// lazily in chunks, so a huge input is never held twice. A bare str is a
/// TypeError; ``concurrency < 1`` is a ValueError. HTTP error statuses are
/// Responses, not failures. The first failure (a transport error, or an
/// invalid URL) raises and cancels the rest, unless ``return_exceptions``
/// is true, which puts each failure's exception (with ``.index``) in its
/// place. ``timeout`` applies to each attempt of each request and starts
/// when the request does, not while it waits for a free slot; ``retries``
/// as for :func:`fetch`. Each Response has ``.index``.
///
/// The whole batch is one Rust task. Results come back to the event loop
/// in input order while later requests still run, a few hundred per
/// wake-up, converted in slices of 64 between other callbacks.
///
/// Example::
///
///     responses = await fastio.fetch_all(urls, concurrency=200)
///     sizes = [len(response.content) for response in responses]
#[pyfunction]
#[pyo3(signature = (
    urls, *, concurrency = Count::DEFAULT, method = "GET", headers = None,
    timeout = TimeoutArg::Default, retries = IntArg(0), return_exceptions = false, verify = true,
    progress = None, max_body_size = None
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments"
)]
pub fn fetch_all(
    py: Python<'_>,
    urls: &Bound<'_, PyAny>,
    concurrency: Count,
    method: &str,
    headers: Option<&Bound<'_, PyAny>>,
    timeout: TimeoutArg,
    retries: IntArg,
    return_exceptions: bool,
    verify: bool,
    progress: Option<&Bound<'_, Progress>>,
    max_body_size: Option<IntArg>,
) -> PyResult<FastioFuture> {
    let args = ManyArgs {
        urls,
        concurrency,
        method,
        headers,
        timeout,
        retries: Some(retries),
        max_body_size,
        progress,
    };
    start_all(py, &args, return_exceptions, &Session::shared(verify))
}

/// `fetch_all` on `session`: checks the arguments and starts nothing until
/// awaited, except pulling the first chunk of URLs.
pub fn start_all(
    py: Python<'_>,
    args: &ManyArgs<'_, '_>,
    return_exceptions: bool,
    session: &Arc<Session>,
) -> PyResult<FastioFuture> {
    let Plan {
        mut feeder,
        input,
        concurrency,
        counts,
    } = args.plan(session, "fetch_all")?;
    // The first chunk now: bad items near the start raise here, at once.
    feeder.feed(py, first_pull(concurrency))?;
    let requests = Requests {
        input,
        concurrency,
        stop_on_failure: !return_exceptions,
        counts,
    };
    Ok(FastioFuture::fed(
        Job::spawn_linked(move |link| run_all(requests, link, return_exceptions)),
        Box::new(feeder),
    ))
}

/// Where [`run_requests`] puts each result as it completes.
pub(crate) trait Sink {
    /// Takes one result; false stops the run (the taker is gone, or wants
    /// no more).
    fn put(&mut self, result: Indexed) -> impl std::future::Future<Output = bool> + Send;
}

/// `fetch_iter`: a bounded channel, so a slow consumer holds the run back.
impl Sink for Sender<Indexed> {
    async fn put(&mut self, result: Indexed) -> bool {
        self.send(result).await.is_ok()
    }
}

/// `fetch_all`: every result by input position, or the first failure.
/// The completed prefix of the results goes to the loop as it grows, so
/// the loop makes their Responses while later requests still run (on a
/// thread that would otherwise wait), not all of them after the last.
struct Collected<'a> {
    /// Results from position `next_to_deliver` on, as they complete.
    results: VecDeque<Option<Indexed>>,
    next_to_deliver: usize,
    /// How many results at the front of `results` have completed.
    completed_prefix: usize,
    failure: Option<FastioError>,
    return_exceptions: bool,
    link: &'a Link,
}

/// Completed results handed to the loop at once while requests still run:
/// a few wake-ups of the loop per thousand results.
const DELIVER_EVERY: usize = 4 * DRAIN_SLICE;

impl Collected<'_> {
    /// The first `count` results, in slices the loop converts one at a
    /// time, so converting a huge result never stalls it.
    fn take_front(&mut self, count: usize) -> Vec<Box<dyn ToPythonItems>> {
        self.next_to_deliver += count;
        self.completed_prefix = self.completed_prefix.saturating_sub(count);
        let mut front = self.results.drain(..count);
        let mut slices: Vec<Box<dyn ToPythonItems>> = Vec::new();
        loop {
            let slice: Vec<_> = front.by_ref().take(DRAIN_SLICE).collect();
            if slice.is_empty() {
                return slices;
            }
            slices.push(Box::new(ResultSlice(slice)));
        }
    }
}

impl Sink for Collected<'_> {
    fn put(&mut self, (index, result): Indexed) -> impl std::future::Future<Output = bool> + Send {
        let keep_going = match result {
            Err(failure) if !self.return_exceptions => {
                self.failure = Some(failure.with_index(index));
                false
            }
            result => {
                let offset = index - self.next_to_deliver;
                if self.results.len() <= offset {
                    self.results.resize_with(offset + 1, || None);
                }
                self.results[offset] = Some((index, result));
                while self
                    .results
                    .get(self.completed_prefix)
                    .is_some_and(Option::is_some)
                {
                    self.completed_prefix += 1;
                }
                if self.completed_prefix >= DELIVER_EVERY {
                    let slices = self.take_front(self.completed_prefix);
                    self.link.deliver_items(slices, false);
                }
                true
            }
        };
        std::future::ready(keep_going)
    }
}

/// What [`run_requests`] runs.
pub(crate) struct Requests {
    /// The pulled input.
    pub input: UnboundedReceiver<Chunk>,
    pub concurrency: usize,
    pub stop_on_failure: bool,
    pub counts: Option<Arc<Counts>>,
}

/// Runs the requests pulled from `input`, at most `concurrency` at a time,
/// putting each result into `sink` as it completes. Asks for more input
/// through `ask` (false: nobody will send any). Ends when the input and its
/// requests are done, when the sink says stop, or after the first failure
/// if `stop_on_failure`.
pub(crate) async fn run_requests(
    requests: Requests,
    ask: impl Fn(usize) -> bool,
    sink: &mut impl Sink,
) {
    let Requests {
        mut input,
        concurrency,
        stop_on_failure,
        counts,
    } = requests;
    let mut waiting: VecDeque<Item> = VecDeque::new();
    let mut running = FuturesUnordered::new();
    let mut input_ended = false;
    let mut asked = false;
    loop {
        while running.len() < concurrency {
            let Some((index, request)) = waiting.pop_front() else {
                break;
            };
            match request {
                Ok(spec) => running.push(transport::execute(spec).map(move |result| {
                    (
                        index,
                        result.map(|data| ResponseData {
                            index: Some(index),
                            ..data
                        }),
                    )
                })),
                Err(invalid) => {
                    let result = (index, Err(invalid));
                    if let Some(counts) = &counts {
                        counts.record(&result);
                    }
                    if !sink.put(result).await || stop_on_failure {
                        return;
                    }
                }
            }
        }
        if !input_ended && !asked && waiting.len() < concurrency {
            // A chunk at a time whatever the concurrency: each pull runs
            // the caller's iterator on the loop thread.
            asked = ask(FEED_CHUNK);
            if !asked {
                input_ended = true;
            }
        }
        if input_ended && waiting.is_empty() && running.is_empty() {
            return;
        }
        tokio::select! {
            chunk = input.recv(), if !input_ended => match chunk {
                Some(Chunk::Items(items)) => {
                    waiting.extend(items);
                    asked = false;
                }
                Some(Chunk::End) | None => input_ended = true,
            },
            Some((index, result)) = running.next(), if !running.is_empty() => {
                let failed = result.is_err();
                let result = (index, result);
                if let Some(counts) = &counts {
                    counts.record(&result);
                }
                if !sink.put(result).await || (failed && stop_on_failure) {
                    return;
                }
            }
        }
    }
}

/// The body of one `fetch_all`: the results collected in input order.
async fn run_all(requests: Requests, link: Link, return_exceptions: bool) -> Outcome {
    let mut collected = Collected {
        results: VecDeque::new(),
        next_to_deliver: 0,
        completed_prefix: 0,
        failure: None,
        return_exceptions,
        link: &link,
    };
    run_requests(requests, |want| link.request_input(want), &mut collected).await;
    if let Some(failure) = collected.failure {
        return Err(failure);
    }
    let mut slices = collected.take_front(collected.results.len());
    if slices.is_empty() {
        // The list is finished by a last slice, even an empty one.
        slices.push(Box::new(ResultSlice(Vec::new())));
    }
    link.deliver_items(slices, true);
    Ok(Value::Delivered)
}
