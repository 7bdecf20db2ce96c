//! The bindings of the bulk engine: `fetch_all` and `fetch_iter` on any
//! client (the module-level ones use a shared client). One awaitable runs
//! the engine; its [`Bulk`] tenant pulls URLs from the caller's iterable on
//! the loop thread when the work asks, and keeps `fetch_iter`'s results
//! until they are taken.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyStopIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use pyo3::{PyTraverseError, PyVisit};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::sync::Semaphore;

use super::args::{
    body_size_limit, defaults_with, method_arg, parse_headers, positive_count, retry_count,
    retry_methods, type_name, IntArg,
};
use super::progress::Progress;
use super::request::{url_text, Request};
use super::response::IntoResponse;
use super::results::{indexed_exception, ResultSlice};
use super::timeout::TimeoutArg;
use crate::bridge::asyncio::{fastio_exception, running_loop};
use crate::bridge::{
    FastioFuture, Job, Link, Message, Outcome, Settled, Tenant, ToPythonItems, Value, DRAIN_SLICE,
};
use crate::http::budget::BodyBudget;
use crate::http::bulk::{
    body_kib, first_pull, run_requests, AllResults, AsCompleted, Chunk, Requests, Template,
    BODY_BUDGET_KIB, FEED_CHUNK,
};
use crate::http::defaults;
use crate::http::error::{ErrorKind, FastioError};
use crate::http::response::Indexed;
use crate::http::session::Session;
use crate::http::spec::Asked;

/// The most results one `fetch_iter` batch hands over.
const BATCH: usize = 1024;

/// A `concurrency=` argument: an int of at least 1 (else TypeError,
/// ValueError); one beyond any real limit means "no limit".
#[derive(Clone, Copy)]
pub struct Count(pub usize);

impl Count {
    pub const DEFAULT: Count = Count(defaults::CONCURRENCY);
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
        let count = positive_count(Some(count), "concurrency")?;
        Ok(Count(count.unwrap_or(usize::MAX)))
    }
}

/// The keyword arguments every bulk fetch takes, as Python gave them.
pub struct BulkArgs<'a, 'py> {
    pub urls: &'a Bound<'py, PyAny>,
    pub concurrency: Count,
    pub method: &'a str,
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub timeout: TimeoutArg,
    /// `None`: the session's.
    pub retries: Option<IntArg>,
    pub return_exceptions: bool,
    /// `None`: the session's.
    pub max_body_size: Option<IntArg>,
    /// Counters to update as results complete.
    pub progress: Option<&'a Bound<'py, Progress>>,
    /// `None`: the session's.
    pub retry_methods: Option<&'a Bound<'py, PyAny>>,
    /// `None`: [`defaults::BYTES_IN_FLIGHT`].
    pub max_bytes_in_flight: Option<IntArg>,
    /// False: bodies are read and counted, not kept.
    pub keep_body: bool,
}

/// Pulls URLs from the caller's iterator on the loop thread.
struct UrlFeeder {
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
                if err.is_instance_of::<PyStopIteration>(py) {
                    Ok(None)
                } else {
                    Err(err)
                }
            })?
            else {
                self.exhausted = true;
                break;
            };
            let spec = if let Ok(url) = next.cast::<PyString>() {
                url_text(url, self.template.method.as_str())
                    .and_then(|text| self.template.request(text))
            } else if let Ok(request) = next.cast::<Request>() {
                self.template.on(request
                    .get()
                    .spec_on(py, &self.template)
                    .map_err(|err| item_error(py, err, request.get())))
            } else {
                let kind = if next.is_instance_of::<PyBytes>() {
                    "bytes"
                } else {
                    "neither a str nor a fastio.Request"
                };
                return Err(PyTypeError::new_err(format!(
                    "URLs must be str (or fastio.Request); item {} is {kind}: {}",
                    self.next_index,
                    next.repr()
                        .map_or_else(|_| "?".to_owned(), |text| text.to_string())
                )));
            };
            items.push((self.next_index, spec));
            self.next_index += 1;
        }
        if items.is_empty() {
            Ok(Chunk::End)
        } else {
            Ok(Chunk::Items(items))
        }
    }

    /// Sends up to `want` more items to the work.
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
}

/// Why a `fastio.Request` item cannot be sent, as that item's result.
fn item_error(py: Python<'_>, err: PyErr, request: &Request) -> FastioError {
    let invalid_url =
        fastio_exception(py, "InvalidURL").is_ok_and(|class| err.is_instance(py, &class));
    let (method, url) = request.identity();
    if invalid_url {
        return FastioError::new(
            ErrorKind::InvalidUrl,
            Some(url.to_owned()),
            err.value(py).to_string(),
        );
    }
    let kind = err
        .get_type(py)
        .name()
        .map_or_else(|_| "Error".to_owned(), |name| name.to_string());
    FastioError::for_request(
        ErrorKind::Request,
        method,
        url,
        &format!("cannot build the request: {kind}: {}", err.value(py)),
    )
}

/// The tenant of a bulk fetch's awaitable: its input, and (for
/// `fetch_iter`) the results not taken yet with whoever waits for them.
struct Bulk {
    feeder: Mutex<Option<UrlFeeder>>,
    /// Filled by the work on a tokio thread, emptied on the loop thread.
    ready: Arc<Mutex<VecDeque<Indexed>>>,
    /// Finished (with None) when results arrive or the work ends.
    waiter: Mutex<Option<Py<FastioFuture>>>,
    /// Permits for results not yet taken (`fetch_iter`).
    room: Arc<Semaphore>,
    /// Set while this turn of the loop has pulled input already.
    pulled_this_turn: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Bulk {
    /// Pulls up to `want` URLs for the work, at most once per turn of the
    /// loop: a second ask in the same turn is answered in the next, so the
    /// caller's iterator never holds the loop for more than one chunk
    /// between other callbacks. A failing iterator fails `future`.
    fn feed(self: &Arc<Self>, future: &Bound<'_, FastioFuture>, want: usize) -> PyResult<()> {
        let py = future.py();
        let event_loop = running_loop(py)?;
        if self.pulled_this_turn.swap(true, Ordering::AcqRel) {
            let later = PullLater {
                future: future.clone().unbind(),
                want,
            };
            event_loop.call_method1("call_soon", (later,))?;
            return Ok(());
        }
        let turn = TurnEnds {
            bulk: Arc::clone(self),
        };
        event_loop.call_method1("call_soon", (turn,))?;
        // Taken out while the caller's iterator runs Python code.
        let Some(mut feeder) = locked(&self.feeder).take() else {
            return Ok(());
        };
        let fed = feeder.feed(py, want);
        if !future.get().is_done() {
            *locked(&self.feeder) = Some(feeder);
        }
        match fed {
            Ok(()) => Ok(()),
            Err(err) => FastioFuture::finish(future, Err(err.into_value(py).into_any())),
        }
    }

    /// What `fetch_iter`'s next batch is now: (results, ended) or the
    /// exception the work (`run`) failed with; `None` while there is neither.
    fn next_batch(
        &self,
        run: &Bound<'_, FastioFuture>,
    ) -> PyResult<Option<Result<Py<PyAny>, Py<PyAny>>>> {
        let py = run.py();
        let results: Vec<Indexed> = {
            let mut ready = locked(&self.ready);
            let count = ready.len().min(BATCH);
            ready.drain(..count).collect()
        };
        if !results.is_empty() {
            self.room.add_permits(results.len());
            let items = PyList::empty(py);
            for (index, result) in results {
                match result {
                    Ok(data) => items.append(data.into_response(py)?)?,
                    Err(error) => items.append(indexed_exception(py, error, index)?)?,
                }
            }
            return Ok(Some(Ok((items, false)
                .into_pyobject(py)?
                .into_any()
                .unbind())));
        }
        Ok(match run.get().settled(py) {
            None => None,
            Some(Settled::Error(exception)) => Some(Err(exception)),
            Some(_) => Some(Ok((PyList::empty(py), true)
                .into_pyobject(py)?
                .into_any()
                .unbind())),
        })
    }

    /// Answers whoever waits for the next batch, if there is one now.
    fn wake(&self, run: &Bound<'_, FastioFuture>) -> PyResult<()> {
        let py = run.py();
        let Some(waiter) = locked(&self.waiter).take() else {
            return Ok(());
        };
        match self.next_batch(run)? {
            Some(answer) => FastioFuture::finish(waiter.bind(py), answer),
            None => {
                *locked(&self.waiter) = Some(waiter);
                Ok(())
            }
        }
    }
}

impl Tenant for Bulk {
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Ok(feeder) = self.feeder.try_lock() {
            if let Some(feeder) = feeder.as_ref() {
                visit.call(&feeder.iterator)?;
            }
        }
        if let Ok(waiter) = self.waiter.try_lock() {
            visit.call(waiter.as_ref())?;
        }
        Ok(())
    }

    fn stopped(&self) {
        drop(locked(&self.feeder).take());
        self.room.close();
    }
}

/// The work wants up to this many more URLs.
struct WantInput(usize);

impl Message for WantInput {
    fn handle(self: Box<Self>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        let future = future.cast::<FastioFuture>()?;
        match future.get().tenant::<Bulk>() {
            Some(bulk) => bulk.feed(future, self.0),
            None => Ok(()),
        }
    }
}

/// `fetch_iter` results are waiting (one message per batch).
struct Arrived;

impl Message for Arrived {
    fn handle(self: Box<Self>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        let future = future.cast::<FastioFuture>()?;
        match future.get().tenant::<Bulk>() {
            Some(bulk) => bulk.wake(future),
            None => Ok(()),
        }
    }
}

fn ask_through(link: &Link) -> impl Fn(usize) -> bool + '_ {
    |want| link.send(vec![Box::new(WantInput(want))], false)
}

/// Checks the arguments and makes the awaitable that runs the engine,
/// pulling the first chunk of URLs now, so bad items near the start raise
/// here. `in_order`: `fetch_all`'s list; else `fetch_iter`'s stream.
fn start(
    py: Python<'_>,
    args: &BulkArgs<'_, '_>,
    session: &Arc<Session>,
    in_order: bool,
) -> PyResult<(FastioFuture, Arc<Bulk>, usize)> {
    let what = if in_order { "fetch_all" } else { "fetch_iter" };
    let urls = args.urls;
    if urls.is_instance_of::<PyString>() || urls.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} wants an iterable of URLs, not a single str or bytes; use fetch() for one URL"
        )));
    }
    let Count(concurrency) = args.concurrency;
    let iterator = urls.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} wants an iterable of URLs, not {}",
            type_name(urls)
        ))
    })?;
    let timeout = args.timeout;
    let asked = Asked {
        headers: parse_headers(args.headers)?,
        timeout: timeout.total,
        pool_timeout: timeout.pool,
        write_timeout: timeout.write,
        connect_timeout: timeout.connect,
        read_timeout: timeout.read,
        retries: retry_count(args.retries)?,
        retry_methods: retry_methods(args.retry_methods)?,
        max_body_size: body_size_limit(args.max_body_size)?,
        ..Asked::default()
    };
    let template = Template {
        method: method_arg(args.method)?,
        defaults: Arc::new(defaults_with(&session.defaults(), asked)?),
        keep_body: args.keep_body,
        session: Arc::clone(session),
    };
    let (sender, input) = unbounded_channel();
    let mut feeder = UrlFeeder {
        iterator: iterator.into_any().unbind(),
        template,
        next_index: 0,
        sender,
        exhausted: false,
    };
    let in_flight = positive_count(args.max_bytes_in_flight, "max_bytes_in_flight")?;
    let requests = Requests {
        input,
        concurrency,
        stop_on_failure: !args.return_exceptions,
        counts: args.progress.map(|progress| progress.get().counts()),
        body_budget: BodyBudget::new(
            in_flight.map_or(defaults::BYTES_IN_FLIGHT, |bytes| bytes as u64),
        ),
    };
    if in_order {
        feeder.feed(py, first_pull(concurrency))?;
    }
    // Room for one result per request in flight: more waits.
    let room = Arc::new(Semaphore::new(concurrency.min(BATCH)));
    let ready = Arc::new(Mutex::new(VecDeque::new()));
    let bulk = Arc::new(Bulk {
        feeder: Mutex::new(Some(feeder)),
        ready: Arc::clone(&ready),
        waiter: Mutex::new(None),
        room: Arc::clone(&room),
        pulled_this_turn: AtomicBool::new(false),
    });
    let return_exceptions = args.return_exceptions;
    let job = if in_order {
        Job::spawn_linked(move |link| run_in_order(requests, link, return_exceptions))
    } else {
        Job::spawn_linked(move |link| run_as_completed(requests, link, room, ready))
    };
    let future = FastioFuture::with_tenant(job, Arc::clone(&bulk) as Arc<dyn Tenant>);
    Ok((future, bulk, concurrency))
}

/// `fetch_all` on `session`: the awaitable of the Responses in input order.
pub fn fetch_all(
    py: Python<'_>,
    args: &BulkArgs<'_, '_>,
    session: &Arc<Session>,
) -> PyResult<FastioFuture> {
    Ok(start(py, args, session, true)?.0)
}

/// `fetch_all`'s work: the results handed to the loop as they complete, in
/// slices it converts one at a time, each into its place in the list.
async fn run_in_order(requests: Requests, link: Link, return_exceptions: bool) -> Outcome {
    let budget = Arc::new(Semaphore::new(BODY_BUDGET_KIB as usize));
    let given = Arc::clone(&budget);
    let mut collected = AllResults::new(return_exceptions, |batch, taken| {
        link.deliver_items(slices(batch, Some((&given, taken))), false);
    })
    .with_budget(budget);
    run_requests(requests, ask_through(&link), &mut collected).await;
    let mut rest = slices(collected.finish()?, None);
    if rest.is_empty() {
        // The list is finished by a last slice, even an empty one.
        rest.push(Box::new(ResultSlice {
            results: Vec::new(),
            release: None,
        }));
    }
    link.deliver_items(rest, true);
    Ok(Value::Delivered)
}

/// Results in slices of at most `DRAIN_SLICE` results and about
/// `SLICE_BYTES` of body: the loop copies each body into Python when it
/// appends it, so a slice of large bodies is cut short.
/// `taken`: budget the work took for these bodies, shared out among the
/// slices by their bodies' size, each giving its share back once converted.
fn slices(
    results: Vec<Indexed>,
    taken: Option<(&Arc<Semaphore>, u32)>,
) -> Vec<Box<dyn ToPythonItems>> {
    let mut left = taken.map_or(0, |(_, permits)| permits);
    let mut cut: Vec<(Vec<Indexed>, u32)> = Vec::new();
    let mut slice = Vec::new();
    let (mut bytes, mut kib) = (0, 0_u32);
    for result in results {
        if let (_, Ok(data)) = &result {
            bytes += data.body.len();
            kib = kib.saturating_add(body_kib(data.body.len()));
        }
        slice.push(result);
        if slice.len() >= DRAIN_SLICE || bytes >= SLICE_BYTES {
            cut.push((std::mem::take(&mut slice), kib));
            (bytes, kib) = (0, 0);
        }
    }
    if !slice.is_empty() {
        cut.push((slice, kib));
    }
    let count = cut.len();
    cut.into_iter()
        .enumerate()
        .map(|(number, (results, kib))| {
            let share = if number + 1 == count {
                left
            } else {
                kib.min(left)
            };
            left -= share;
            let release = taken
                .filter(|_| share > 0)
                .map(|(budget, _)| (Arc::clone(budget), share));
            Box::new(ResultSlice { results, release }) as Box<dyn ToPythonItems>
        })
        .collect()
}

/// Body bytes the loop copies per slice of `fetch_all` results, at most
/// (one body larger than this is a slice of its own): about a millisecond.
const SLICE_BYTES: usize = 4 * 1024 * 1024;

/// `fetch_iter`'s work: each result put where the loop takes it from as it
/// completes; the loop is told once per batch.
async fn run_as_completed(
    requests: Requests,
    link: Link,
    room: Arc<Semaphore>,
    ready: Arc<Mutex<VecDeque<Indexed>>>,
) -> Outcome {
    let mut sink = AsCompleted::new(
        room,
        |result| locked(&ready).push_back(result),
        || link.send(vec![Box::new(Arrived)], false),
    );
    run_requests(requests, ask_through(&link), &mut sink).await;
    Ok(Value::Preset)
}

/// The native half of `fastio.FetchIterator`.
#[pyclass(frozen, module = "fastio._fastio", name = "_FetchStream")]
pub struct FetchStream {
    run: Py<FastioFuture>,
    bulk: Arc<Bulk>,
    concurrency: usize,
    started: Mutex<bool>,
}

impl FetchStream {
    pub fn new(py: Python<'_>, args: &BulkArgs<'_, '_>, session: &Arc<Session>) -> PyResult<Self> {
        let (run, bulk, concurrency) = start(py, args, session, false)?;
        Ok(Self {
            run: Py::new(py, run)?,
            bulk,
            concurrency,
            started: Mutex::new(false),
        })
    }

    /// Pulls the first URLs and starts the work, once.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let mut started = locked(&self.started);
        if *started {
            return Ok(());
        }
        *started = true;
        drop(started);
        let run = self.run.bind(py);
        self.bulk.feed(run, first_pull(self.concurrency))?;
        let waker = WakeOnEnd {
            bulk: Arc::clone(&self.bulk),
        };
        run.call_method1("add_done_callback", (waker,))?;
        Ok(())
    }
}

#[pymethods]
impl FetchStream {
    /// An awaitable of (results, ended), finished once results are waiting
    /// or the work has ended; raises what the work failed with.
    fn next_batch(&self, py: Python<'_>) -> PyResult<Py<FastioFuture>> {
        self.start(py)?;
        let run = self.run.bind(py);
        let future = match self.bulk.next_batch(run)? {
            Some(Ok(batch)) => FastioFuture::finished(batch),
            Some(Err(exception)) => FastioFuture::failed(exception),
            None => {
                let waiter = Py::new(py, FastioFuture::parked(running_loop(py)?.unbind(), None))?;
                *locked(&self.bulk.waiter) = Some(waiter.clone_ref(py));
                return Ok(waiter);
            }
        };
        Py::new(py, future)
    }

    /// Stops: requests in flight are dropped (their connections closed),
    /// no more URLs are pulled, results not yet taken are discarded.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        FastioFuture::cancel(self.run.bind(py), None)?;
        self.bulk.stopped();
        locked(&self.bulk.ready).clear();
        self.bulk.wake(self.run.bind(py))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.run)?;
        self.bulk.traverse(&visit)
    }

    fn __clear__(&self) {
        Python::attach(|py| {
            let _ = FastioFuture::cancel(self.run.bind(py), None);
        });
    }
}

impl Drop for FetchStream {
    fn drop(&mut self) {
        // The loop's queue keeps running work alive: stop it explicitly.
        Python::attach(|py| {
            let _ = FastioFuture::cancel(self.run.bind(py), None);
        });
    }
}

/// Ends a turn of the loop for [`Bulk::feed`].
#[pyclass(frozen, module = "fastio._fastio")]
struct TurnEnds {
    bulk: Arc<Bulk>,
}

#[pymethods]
impl TurnEnds {
    fn __call__(&self) {
        self.bulk.pulled_this_turn.store(false, Ordering::Release);
    }
}

/// An ask for input put off to the next turn of the loop.
#[pyclass(frozen, module = "fastio._fastio")]
struct PullLater {
    future: Py<FastioFuture>,
    want: usize,
}

#[pymethods]
impl PullLater {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let future = self.future.bind(py);
        match future.get().tenant::<Bulk>() {
            Some(bulk) if !future.get().is_done() => bulk.feed(future, self.want),
            _ => Ok(()),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.future)
    }
}

/// Wakes whoever waits on a `fetch_iter` once its work has ended.
#[pyclass(frozen, module = "fastio._fastio")]
struct WakeOnEnd {
    bulk: Arc<Bulk>,
}

#[pymethods]
impl WakeOnEnd {
    fn __call__(&self, run: &Bound<'_, FastioFuture>) -> PyResult<()> {
        self.bulk.wake(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::ResponseData;

    fn result(index: usize, size: usize) -> Indexed {
        (index, Ok(ResponseData::for_test(index, size)))
    }

    #[test]
    fn slices_are_cut_by_count_and_by_body_size() {
        let small: Vec<_> = (0..150).map(|index| result(index, 10)).collect();
        let lengths: Vec<usize> = slices(small, None)
            .iter()
            .map(|slice| slice.len())
            .collect();
        assert_eq!(lengths, [DRAIN_SLICE, DRAIN_SLICE, 150 - 2 * DRAIN_SLICE]);
        let large: Vec<_> = (0..10).map(|index| result(index, 1024 * 1024)).collect();
        let lengths: Vec<usize> = slices(large, None)
            .iter()
            .map(|slice| slice.len())
            .collect();
        assert_eq!(lengths, [4, 4, 2]);
    }
}
