//! `fetch_iter`: the results of many requests as they complete.
//!
//! One tokio task runs the requests (the same loop as `fetch_all`) and
//! sends each result into a bounded channel, so a slow consumer holds back
//! new requests instead of piling up responses. The Python iterator takes
//! whatever has arrived in one batch per wake-up, and pulls more URLs from
//! the caller's iterable on the loop thread when the task asks for them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::{AbortHandle, Abortable};
use futures::FutureExt;
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};
use tokio::sync::mpsc::{channel, error::TryRecvError, Receiver, Sender};
use tokio::sync::Notify;

use crate::bridge::{FastioFuture, Feeder, Job, ToPython, Value};
use crate::fetch::{first_pull, run_requests, Count, ManyArgs, Plan, Requests, UrlFeeder};
use crate::live::LiveWork;
use crate::progress::Progress;
use crate::request::{IntArg, TimeoutArg};
use crate::response::{Batch, Indexed};
use crate::runtime;
use crate::session::Session;

/// The most results one batch hands over.
const BATCH: usize = 1024;

/// How many URLs the task wants next; set by the task, taken by the loop.
#[derive(Default)]
struct Wanted {
    count: AtomicUsize,
    notify: Notify,
}

enum Stage {
    /// Not started: nothing pulled, no request sent. The task will take
    /// the requests and the sending end of the results.
    Ready(Requests, Sender<Indexed>),
    Running {
        abort: AbortHandle,
    },
    Closed,
}

struct State {
    stage: Stage,
    feeder: Option<UrlFeeder>,
}

/// The native half of `fastio.FetchIterator`.
#[pyclass(frozen, module = "fastio._fastio", name = "_FetchStream")]
pub struct FetchStream {
    state: Mutex<State>,
    results: Arc<tokio::sync::Mutex<Receiver<Indexed>>>,
    wanted: Arc<Wanted>,
    concurrency: usize,
}

impl FetchStream {
    pub fn new(
        args: &ManyArgs<'_, '_>,
        return_exceptions: bool,
        session: &Arc<Session>,
    ) -> PyResult<Self> {
        let Plan {
            feeder,
            input,
            concurrency,
            counts,
        } = args.plan(session, "fetch_iter")?;
        // Room for one result per request in flight: more waits.
        let (sender, receiver) = channel(concurrency.min(BATCH));
        Ok(Self {
            state: Mutex::new(State {
                stage: Stage::Ready(
                    Requests {
                        input,
                        concurrency,
                        stop_on_failure: !return_exceptions,
                        counts,
                    },
                    sender,
                ),
                feeder: Some(feeder),
            }),
            results: Arc::new(tokio::sync::Mutex::new(receiver)),
            wanted: Arc::new(Wanted::default()),
            concurrency,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pulls the first URLs and starts the task.
    fn start(&self, py: Python<'_>, state: &mut State) -> PyResult<()> {
        if !matches!(state.stage, Stage::Ready(..)) {
            return Ok(());
        }
        if let Some(feeder) = state.feeder.as_mut() {
            feeder.feed(py, first_pull(self.concurrency))?;
        }
        let Stage::Ready(requests, mut sender) = std::mem::replace(&mut state.stage, Stage::Closed)
        else {
            return Ok(());
        };
        let wanted = Arc::clone(&self.wanted);
        let ask = move |want: usize| {
            wanted.count.fetch_max(want, Ordering::SeqCst);
            wanted.notify.notify_one();
            true
        };
        let (abort, registration) = AbortHandle::new_pair();
        let work = async move { run_requests(requests, ask, &mut sender).await };
        let live = LiveWork::new();
        runtime::spawn(Abortable::new(work, registration).map(move |_| drop(live)))?;
        state.stage = Stage::Running { abort };
        Ok(())
    }

    /// Whatever already arrived, without waiting.
    fn ready_now(&self) -> Option<Batch> {
        let mut results = self.results.try_lock().ok()?;
        let mut batch = Batch {
            results: Vec::new(),
            want: self.wanted.count.swap(0, Ordering::SeqCst),
            ended: false,
        };
        while batch.results.len() < BATCH {
            match results.try_recv() {
                Ok(result) => batch.results.push(result),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    batch.ended = true;
                    break;
                }
            }
        }
        let useful = !batch.results.is_empty() || batch.want > 0 || batch.ended;
        if !useful {
            return None;
        }
        Some(batch)
    }
}

#[pymethods]
impl FetchStream {
    /// The next batch: an awaitable of (results, URLs wanted, ended). It
    /// finishes at once when results are waiting, else on the next one (or
    /// when the task wants input).
    fn next_batch(&self, py: Python<'_>) -> PyResult<FastioFuture> {
        {
            let mut state = self.lock();
            if matches!(state.stage, Stage::Closed) {
                let ended = Batch {
                    results: Vec::new(),
                    want: 0,
                    ended: true,
                };
                return Ok(FastioFuture::finished(Box::new(ended).to_python(py)?));
            }
            self.start(py, &mut state)?;
        }
        if let Some(batch) = self.ready_now() {
            return Ok(FastioFuture::finished(Box::new(batch).to_python(py)?));
        }
        let results = Arc::clone(&self.results);
        let wanted = Arc::clone(&self.wanted);
        Ok(FastioFuture::new(
            Job::spawn(move || async move {
                let mut receiver = results.lock().await;
                let mut batch = Batch {
                    results: Vec::with_capacity(16),
                    want: 0,
                    ended: false,
                };
                tokio::select! {
                    received = receiver.recv_many(&mut batch.results, BATCH) => {
                        batch.ended = received == 0;
                    }
                    () = wanted.notify.notified() => {}
                }
                batch.want = wanted.count.swap(0, Ordering::SeqCst);
                Ok(Value::Object(Box::new(batch)))
            }),
            None,
        ))
    }

    /// Pulls up to `want` more URLs from the caller's iterable for the task.
    fn feed(&self, py: Python<'_>, want: usize) -> PyResult<()> {
        // Taken out while the caller's iterator runs Python code.
        let Some(mut feeder) = self.lock().feeder.take() else {
            return Ok(());
        };
        let fed = feeder.feed(py, want);
        let mut state = self.lock();
        if !matches!(state.stage, Stage::Closed) {
            state.feeder = Some(feeder);
        }
        fed
    }

    /// Stops: requests in flight are dropped (their connections closed),
    /// no more URLs are pulled, results not yet taken are discarded.
    fn close(&self) {
        let mut state = self.lock();
        let stage = std::mem::replace(&mut state.stage, Stage::Closed);
        let feeder = state.feeder.take();
        drop(state);
        if let Stage::Running { abort } = stage {
            abort.abort();
        }
        drop(feeder);
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Ok(state) = self.state.try_lock() else {
            return Ok(());
        };
        if let Some(feeder) = &state.feeder {
            feeder.traverse(&visit)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.close();
    }
}

impl Drop for FetchStream {
    fn drop(&mut self) {
        if let Stage::Running { abort } = &self.lock().stage {
            abort.abort();
        }
    }
}

/// The native stream behind `fastio.fetch_iter`, on the shared session.
#[pyfunction]
#[pyo3(name = "_fetch_stream", signature = (
    urls, *, concurrency = Count::DEFAULT, method = "GET", headers = None,
    timeout = TimeoutArg::Default, retries = IntArg(0), return_exceptions = false, verify = true,
    progress = None, max_body_size = None
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments"
)]
pub fn fetch_stream(
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
) -> PyResult<FetchStream> {
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
    FetchStream::new(&args, return_exceptions, &Session::shared(verify))
}
