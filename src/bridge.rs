//! Rust futures as asyncio awaitables.
//!
//! A [`FastioFuture`] is duck-typed as an `asyncio.Future`. Its Rust work runs
//! on the tokio runtime and finishes by pushing plain Rust data into the
//! [`LoopQueue`] of the event loop that awaited it; the loop thread drains the
//! queue in batches, converts to Python objects and schedules the callbacks.
//! No tokio thread ever takes the GIL or touches a Python object.
//!
//! Each loop has one dispatcher task on the runtime that runs all of that
//! loop's work. Starting work is a channel send, which wakes the dispatcher
//! only when it is idle: a spawn per awaitable from the loop thread would
//! wake a parked tokio worker every time.

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasherDefault;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;

use futures::future::{poll_fn, AbortHandle, Abortable, BoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use pyo3::exceptions::{PyOSError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;
use pyo3::{intern, PyTraverseError, PyVisit};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::errors::FastioError;
use crate::inbox::Inbox;
use crate::runtime;

/// Completions converted per loop callback; the rest wait for the next
/// callback so one huge batch never stalls the loop.
const DRAIN_SLICE: usize = 1024;

/// What a finished piece of Rust work hands back, still free of Python.
pub type Outcome = Result<Value, FastioError>;

/// Rust work that ends in an [`Outcome`].
pub type Work = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// Builds the work when the awaitable starts, so timers begin at first await.
pub type Launch = Box<dyn FnOnce() -> Work + Send + 'static>;

/// A successful result, converted to Python on the loop thread.
pub enum Value {
    /// The object the awaitable was created with (`sleep`'s `result`).
    Preset,
    /// Rust data with its own conversion.
    Object(Box<dyn ToPython>),
}

/// Rust data that becomes a Python object on the loop thread.
pub trait ToPython: Send {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

/// What an awaitable does when it starts.
pub enum Job {
    /// Yields to the loop once, then finishes with the preset (`sleep(0)`).
    YieldOnce,
    /// Never finishes on its own; only cancellation ends it (`sleep(inf)`).
    Never,
    /// Runs Rust work on the tokio runtime.
    Spawn(Launch),
}

enum State {
    Idle(Job),
    /// Started, with nothing running (a [`Job::Never`]).
    Parked,
    Running {
        token: u64,
        queue: Weak<LoopQueue>,
        abort: AbortHandle,
    },
    Done(Result<Py<PyAny>, Py<PyAny>>),
    Cancelled(Option<Py<PyAny>>),
}

struct Callback {
    function: Py<PyAny>,
    context: Py<PyAny>,
}

struct Inner {
    state: State,
    event_loop: Option<Py<PyAny>>,
    callbacks: Vec<Callback>,
    preset: Option<Py<PyAny>>,
}

/// fastio's awaitable: asyncio treats it as a future (`asyncio.isfuture` is
/// true), so tasks, `gather`, `wait_for` and `wait` accept it as is.
#[pyclass(frozen, weakref, module = "fastio._fastio", name = "FastioFuture")]
pub struct FastioFuture {
    inner: Mutex<Inner>,
    blocking: AtomicBool,
}

impl FastioFuture {
    /// An awaitable that runs `job` when first awaited, finishing with
    /// `preset` where the job says so.
    pub fn new(job: Job, preset: Option<Py<PyAny>>) -> Self {
        Self::with_state(State::Idle(job), preset)
    }

    /// An awaitable that is already finished with `value`.
    pub fn finished(value: Py<PyAny>) -> Self {
        Self::with_state(State::Done(Ok(value)), None)
    }

    fn with_state(state: State, preset: Option<Py<PyAny>>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state,
                event_loop: None,
                callbacks: Vec::new(),
                preset,
            }),
            blocking: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the job if it has not started. Returns the callbacks to
    /// schedule when starting finished the awaitable at once.
    fn start(slf: &Bound<'_, Self>, inner: &mut Inner) -> PyResult<()> {
        let py = slf.py();
        if !matches!(inner.state, State::Idle(_)) {
            return Ok(());
        }
        let event_loop = bound_loop(py, inner)?;
        let previous = std::mem::replace(&mut inner.state, State::Parked);
        let State::Idle(job) = previous else {
            return Ok(());
        };
        inner.state = match job {
            Job::YieldOnce => State::Done(Ok(take_preset(py, inner))),
            Job::Never => State::Parked,
            Job::Spawn(launch) => {
                let queue = LoopQueue::for_loop(py, &event_loop)?;
                let token = queue.register(slf.clone().unbind());
                match queue.run(launch(), token) {
                    Ok(abort) => State::Running {
                        token,
                        queue: Arc::downgrade(&queue),
                        abort,
                    },
                    Err(err) => {
                        queue.forget(token);
                        return Err(err);
                    }
                }
            }
        };
        Ok(())
    }

    /// Called on the loop thread when the work for `token` finished.
    fn complete(slf: &Bound<'_, Self>, token: u64, outcome: Outcome) -> PyResult<()> {
        let py = slf.py();
        let mut inner = slf.get().lock();
        match inner.state {
            State::Running { token: running, .. } if running == token => {}
            // Cancelled meanwhile: the result is dropped.
            _ => return Ok(()),
        }
        let result = match outcome {
            Ok(Value::Preset) => Ok(take_preset(py, &mut inner)),
            Ok(Value::Object(data)) => data
                .to_python(py)
                .map_err(|err| err.into_value(py).into_any()),
            Err(err) => Err(err.into_pyerr(py).into_value(py).into_any()),
        };
        inner.state = State::Done(result);
        let (event_loop, callbacks) = take_callbacks(py, &mut inner);
        drop(inner);
        schedule_callbacks(slf, event_loop, callbacks)
    }

    /// The `StopIteration` or exception that ends an `await` of a finished
    /// awaitable; `None` while pending.
    fn outcome_error(py: Python<'_>, state: &State) -> Option<PyErr> {
        match state {
            State::Done(Ok(value)) => Some(PyStopIteration::new_err((value.clone_ref(py),))),
            State::Done(Err(exception)) => Some(PyErr::from_value(exception.bind(py).clone())),
            State::Cancelled(message) => Some(cancelled_error(py, message.as_ref())),
            _ => None,
        }
    }
}

#[pymethods]
impl FastioFuture {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        let this = slf.get();
        let mut inner = this.lock();
        if matches!(inner.state, State::Idle(Job::YieldOnce)) {
            // A bare yield, exactly like `asyncio.sleep(0)`: the task
            // reschedules itself and the next step finds the result ready.
            inner.state = State::Done(Ok(take_preset(py, &mut inner)));
            return Ok(Some(py.None()));
        }
        FastioFuture::start(slf, &mut inner)?;
        if let Some(end) = FastioFuture::outcome_error(py, &inner.state) {
            return Err(end);
        }
        drop(inner);
        this.blocking.store(true, Ordering::Relaxed);
        Ok(Some(slf.clone().into_any().unbind()))
    }

    /// Reading this is how `asyncio.isfuture` (so `ensure_future`, `wait`,
    /// `wait_for`) recognises a future, and it is the only thing
    /// `ensure_future` touches; so it also starts the work, as handing a
    /// coroutine to `ensure_future` would. Outside a running loop it only
    /// answers.
    #[getter]
    fn _asyncio_future_blocking(slf: &Bound<'_, Self>) -> bool {
        let this = slf.get();
        let mut inner = this.lock();
        if matches!(inner.state, State::Idle(Job::Spawn(_) | Job::Never)) {
            let started = FastioFuture::start(slf, &mut inner);
            drop(inner);
            if let Err(no_loop_or_failure) = started {
                // Not started; the first await will start it and report
                // this error then.
                drop(no_loop_or_failure);
            }
        }
        this.blocking.load(Ordering::Relaxed)
    }

    #[setter(_asyncio_future_blocking)]
    fn set_asyncio_future_blocking(&self, value: bool) {
        self.blocking.store(value, Ordering::Relaxed);
    }

    /// Schedules `fn(self)` on the loop once finished; starts the work.
    #[pyo3(signature = (r#fn, *, context = None))]
    fn add_done_callback(
        slf: &Bound<'_, Self>,
        r#fn: Bound<'_, PyAny>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let context = match context {
            Some(context) if !context.is_none() => context.unbind(),
            _ => copy_context(py)?,
        };
        let mut inner = slf.get().lock();
        FastioFuture::start(slf, &mut inner)?;
        inner.callbacks.push(Callback {
            function: r#fn.unbind(),
            context,
        });
        if matches!(inner.state, State::Done(_) | State::Cancelled(_)) {
            let (event_loop, callbacks) = take_callbacks(py, &mut inner);
            drop(inner);
            schedule_callbacks(slf, event_loop, callbacks)?;
        }
        Ok(())
    }

    /// Removes every registration of `fn`; returns how many were removed.
    #[pyo3(signature = (r#fn, /))]
    fn remove_done_callback(&self, r#fn: Bound<'_, PyAny>) -> PyResult<usize> {
        let py = r#fn.py();
        let callbacks = std::mem::take(&mut self.lock().callbacks);
        let before = callbacks.len();
        let mut kept = Vec::with_capacity(before);
        for callback in callbacks {
            if !callback.function.bind(py).eq(&r#fn)? {
                kept.push(callback);
            }
        }
        let removed = before - kept.len();
        let mut inner = self.lock();
        kept.append(&mut inner.callbacks);
        inner.callbacks = kept;
        Ok(removed)
    }

    /// Cancels the awaitable and aborts its Rust work at once.
    #[pyo3(signature = (msg = None))]
    fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        let py = slf.py();
        let mut inner = slf.get().lock();
        if matches!(inner.state, State::Done(_) | State::Cancelled(_)) {
            return Ok(false);
        }
        let previous = std::mem::replace(&mut inner.state, State::Cancelled(msg));
        let (event_loop, callbacks) = take_callbacks(py, &mut inner);
        drop(inner);
        if let State::Running {
            token,
            queue,
            abort,
        } = previous
        {
            abort.abort();
            if let Some(queue) = queue.upgrade() {
                queue.forget(token);
            }
        }
        schedule_callbacks(slf, event_loop, callbacks)?;
        Ok(true)
    }

    fn cancelled(&self) -> bool {
        matches!(self.lock().state, State::Cancelled(_))
    }

    fn done(&self) -> bool {
        matches!(self.lock().state, State::Done(_) | State::Cancelled(_))
    }

    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.lock().state {
            State::Done(Ok(value)) => Ok(value.clone_ref(py)),
            State::Done(Err(exception)) => Err(PyErr::from_value(exception.bind(py).clone())),
            State::Cancelled(message) => Err(cancelled_error(py, message.as_ref())),
            _ => Err(invalid_state(py, "Result is not ready.")),
        }
    }

    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.lock().state {
            State::Done(Ok(_)) => Ok(None),
            State::Done(Err(exception)) => Ok(Some(exception.clone_ref(py))),
            State::Cancelled(message) => Err(cancelled_error(py, message.as_ref())),
            _ => Err(invalid_state(py, "Exception is not set.")),
        }
    }

    fn get_loop(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut inner = self.lock();
        Ok(bound_loop(py, &mut inner)?.unbind())
    }

    fn _make_cancelled_error(&self, py: Python<'_>) -> Py<PyAny> {
        let inner = self.lock();
        let message = match &inner.state {
            State::Cancelled(message) => message.as_ref(),
            _ => None,
        };
        cancelled_error(py, message).into_value(py).into_any()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let inner = self.lock();
        let status = match &inner.state {
            State::Idle(_) => "pending (not started)".to_owned(),
            State::Parked | State::Running { .. } => "pending".to_owned(),
            State::Done(Ok(value)) => match value.bind(py).repr() {
                Ok(text) => format!("finished result={text}"),
                Err(_) => "finished".to_owned(),
            },
            State::Done(Err(exception)) => match exception.bind(py).repr() {
                Ok(text) => format!("finished exception={text}"),
                Err(_) => "finished with an exception".to_owned(),
            },
            State::Cancelled(_) => "cancelled".to_owned(),
        };
        format!("<FastioFuture {status}>")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // A held lock means this thread is inside a method of this object;
        // not visiting only makes the collector keep more alive.
        let Ok(inner) = self.inner.try_lock() else {
            return Ok(());
        };
        visit.call(&inner.event_loop)?;
        visit.call(&inner.preset)?;
        for callback in &inner.callbacks {
            visit.call(&callback.function)?;
            visit.call(&callback.context)?;
        }
        match &inner.state {
            State::Done(Ok(value)) => visit.call(value)?,
            State::Done(Err(exception)) => visit.call(exception)?,
            State::Cancelled(message) => visit.call(message)?,
            _ => {}
        }
        Ok(())
    }

    fn __clear__(&self) {
        let mut inner = self.lock();
        let released = (
            inner.event_loop.take(),
            inner.preset.take(),
            std::mem::take(&mut inner.callbacks),
            std::mem::replace(&mut inner.state, State::Cancelled(None)),
        );
        drop(inner);
        if let (_, _, _, State::Running { abort, .. }) = &released {
            abort.abort();
        }
    }
}

impl Drop for FastioFuture {
    fn drop(&mut self) {
        if let State::Running { abort, .. } = &self.lock().state {
            abort.abort();
        }
    }
}

/// The loop this awaitable belongs to: the one it was first used on.
fn bound_loop<'py>(py: Python<'py>, inner: &mut Inner) -> PyResult<Bound<'py, PyAny>> {
    if let Some(event_loop) = &inner.event_loop {
        return Ok(event_loop.bind(py).clone());
    }
    let event_loop = running_loop(py)?;
    inner.event_loop = Some(event_loop.clone().unbind());
    Ok(event_loop)
}

fn take_preset(py: Python<'_>, inner: &mut Inner) -> Py<PyAny> {
    inner.preset.take().unwrap_or_else(|| py.None())
}

/// Takes the callbacks to schedule, with the loop to schedule them on.
fn take_callbacks(py: Python<'_>, inner: &mut Inner) -> (Option<Py<PyAny>>, Vec<Callback>) {
    let callbacks = std::mem::take(&mut inner.callbacks);
    let event_loop = match &inner.event_loop {
        Some(event_loop) if !callbacks.is_empty() => Some(event_loop.clone_ref(py)),
        _ => None,
    };
    (event_loop, callbacks)
}

/// `loop.call_soon(fn, future, context=ctx)` for each callback, as asyncio's
/// own futures do: callbacks never run inline.
fn schedule_callbacks(
    future: &Bound<'_, FastioFuture>,
    event_loop: Option<Py<PyAny>>,
    callbacks: Vec<Callback>,
) -> PyResult<()> {
    let Some(event_loop) = event_loop else {
        return Ok(());
    };
    let py = future.py();
    let event_loop = event_loop.bind(py);
    let mut first_error = None;
    for callback in callbacks {
        let scheduled = call_soon_in_context(
            event_loop,
            callback.function.bind(py),
            future.as_any(),
            callback.context.bind(py),
        );
        if let Err(err) = scheduled {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// `event_loop.call_soon(function, argument, context=context)` through one
/// vectorcall: no argument tuple, no keyword dict, no bound method.
fn call_soon_in_context(
    event_loop: &Bound<'_, PyAny>,
    function: &Bound<'_, PyAny>,
    argument: &Bound<'_, PyAny>,
    context: &Bound<'_, PyAny>,
) -> PyResult<()> {
    static CONTEXT_KEYWORD: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = event_loop.py();
    let keywords =
        CONTEXT_KEYWORD.get_or_try_init(py, || PyTuple::new(py, ["context"]).map(Bound::unbind))?;
    let method = intern!(py, "call_soon");
    let args = [
        event_loop.as_ptr(),
        function.as_ptr(),
        argument.as_ptr(),
        context.as_ptr(),
    ];
    // SAFETY: every pointer in `args` is borrowed from a live Bound for the
    // whole call; three are positional (self included), the last is the
    // value of the one keyword named in `keywords`.
    unsafe {
        let result = pyo3::ffi::PyObject_VectorcallMethod(
            method.as_ptr(),
            args.as_ptr(),
            3,
            keywords.as_ptr(),
        );
        Bound::from_owned_ptr_or_err(py, result).map(drop)
    }
}

fn asyncio_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let value = cell.get_or_try_init(py, || py.import(module)?.getattr(name).map(Bound::unbind))?;
    Ok(value.bind(py).clone())
}

fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    asyncio_attr(py, &GET_RUNNING_LOOP, "asyncio", "get_running_loop")?.call0()
}

fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static COPY_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(
        asyncio_attr(py, &COPY_CONTEXT, "contextvars", "copy_context")?
            .call0()?
            .unbind(),
    )
}

fn cancelled_error(py: Python<'_>, message: Option<&Py<PyAny>>) -> PyErr {
    static CANCELLED_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = match asyncio_attr(py, &CANCELLED_ERROR, "asyncio", "CancelledError") {
        Ok(class) => class,
        Err(err) => return err,
    };
    let instance = match message {
        Some(message) => class.call1((message.bind(py),)),
        None => class.call0(),
    };
    match instance {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

fn invalid_state(py: Python<'_>, message: &str) -> PyErr {
    static INVALID_STATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match asyncio_attr(py, &INVALID_STATE, "asyncio", "InvalidStateError")
        .and_then(|class| class.call1((message,)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// Runs every task it receives, concurrently, until its sender is dropped
/// with the loop's queue; then whatever still runs is dropped too.
///
/// `unconstrained`: tokio's cooperative budget is per task, and this one
/// task stands for thousands, which would otherwise stall on it.
async fn dispatch(mut incoming: UnboundedReceiver<BoxFuture<'static, ()>>) {
    let mut running = FuturesUnordered::new();
    let driver = poll_fn(move |cx| {
        loop {
            match incoming.poll_recv(cx) {
                Poll::Ready(Some(task)) => running.push(task),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
        Poll::Pending
    });
    tokio::task::unconstrained(driver).await;
}

/// Tokens are sequential integers; a multiplicative hash spreads them at a
/// fraction of SipHash's cost, and nothing here is attacker-controlled.
#[derive(Default, Clone, Copy)]
struct TokenHasher(u64);

impl std::hash::Hasher for TokenHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type PendingMap = HashMap<u64, Py<FastioFuture>, BuildHasherDefault<TokenHasher>>;

/// The completion queue of one event loop.
///
/// Owned by the [`LoopDrain`] registered as the loop's reader, so it lives and
/// dies with the loop (closing the loop drops its readers and so closes the
/// fd); everything else holds it weakly.
pub struct LoopQueue {
    generation: u64,
    dispatcher: UnboundedSender<BoxFuture<'static, ()>>,
    inbox: Inbox<(u64, Outcome)>,
    /// Awaitables with work in flight, touched only on the loop thread.
    pending: Mutex<PendingMap>,
    next_token: AtomicU64,
}

/// Event loops by address; entries are weak and dead ones are swept on insert.
static LOOP_QUEUES: Mutex<Option<HashMap<usize, Weak<LoopQueue>>>> = Mutex::new(None);

impl LoopQueue {
    /// The queue of `event_loop`, created and registered with the loop's
    /// reader on first use.
    fn for_loop(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<LoopQueue>> {
        let key = event_loop.as_ptr() as usize;
        let generation = runtime::generation();
        let known = {
            let registry = LOOP_QUEUES.lock().unwrap_or_else(PoisonError::into_inner);
            registry
                .as_ref()
                .and_then(|queues| queues.get(&key))
                .and_then(Weak::upgrade)
        };
        if let Some(queue) = known.filter(|queue| queue.generation == generation) {
            return Ok(queue);
        }
        let (dispatcher, incoming) = unbounded_channel();
        runtime::spawn(dispatch(incoming))?;
        let queue = Arc::new(LoopQueue {
            generation,
            dispatcher,
            inbox: Inbox::new().map_err(|err| {
                PyOSError::new_err(format!("cannot create the wake-up fd: {err}"))
            })?,
            pending: Mutex::new(PendingMap::default()),
            next_token: AtomicU64::new(0),
        });
        let drain = Py::new(
            py,
            LoopDrain {
                queue: Arc::clone(&queue),
            },
        )?;
        event_loop.call_method1(intern!(py, "add_reader"), (queue.inbox.fd(), drain))?;
        let mut registry = LOOP_QUEUES.lock().unwrap_or_else(PoisonError::into_inner);
        let queues = registry.get_or_insert_with(HashMap::new);
        queues.retain(|_, queue| queue.strong_count() > 0);
        queues.insert(key, Arc::downgrade(&queue));
        Ok(queue)
    }

    fn pending(&self) -> MutexGuard<'_, PendingMap> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `future` alive while its work runs, as a loop's timer handle
    /// keeps an asyncio future alive; returns the token its result will carry.
    fn register(&self, future: Py<FastioFuture>) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.pending().insert(token, future);
        token
    }

    /// Hands `work` to this loop's dispatcher; its outcome comes back
    /// through the inbox tagged with `token`. The abort handle is made here,
    /// so a cancel that comes before the dispatcher polls still stops it.
    fn run(self: &Arc<Self>, work: Work, token: u64) -> PyResult<AbortHandle> {
        let (abort, registration) = AbortHandle::new_pair();
        let guarded = Abortable::new(AssertUnwindSafe(work).catch_unwind(), registration);
        let queue = Arc::downgrade(self);
        let task = Box::pin(async move {
            let outcome = match guarded.await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(payload)) => Err(FastioError::from_panic(payload)),
                Err(_aborted) => return,
            };
            if let Some(queue) = queue.upgrade() {
                queue.inbox.push((token, outcome));
            }
        });
        self.dispatcher
            .send(task)
            .map_err(|_| PyOSError::new_err("the fastio runtime has stopped"))?;
        Ok(abort)
    }

    fn forget(&self, token: u64) {
        let released = self.pending().remove(&token);
        drop(released);
    }

    /// Converts up to one slice of completions; schedules itself again
    /// through `call_soon` while more are waiting.
    fn drain(&self, drain: &Bound<'_, LoopDrain>) -> PyResult<()> {
        let py = drain.py();
        if self.generation != runtime::generation() {
            // A forked child still running its parent's loop: the parent's
            // tokio threads will never fill this inbox here.
            let event_loop = running_loop(py)?;
            event_loop.call_method1(intern!(py, "remove_reader"), (self.inbox.fd(),))?;
            return Ok(());
        }
        let (batch, more) = self.inbox.take_batch(DRAIN_SLICE);
        let finished: Vec<_> = {
            let mut pending = self.pending();
            batch
                .into_iter()
                .filter_map(|(token, outcome)| {
                    let future = pending.remove(&token)?;
                    Some((future, token, outcome))
                })
                .collect()
        };
        let mut first_error = None;
        for (future, token, outcome) in finished {
            if let Err(err) = FastioFuture::complete(future.bind(py), token, outcome) {
                first_error.get_or_insert(err);
            }
        }
        if more {
            running_loop(py)?.call_method1(intern!(py, "call_soon"), (drain,))?;
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The loop's reader callback; the owner of its [`LoopQueue`].
#[pyclass(frozen, module = "fastio._fastio")]
pub struct LoopDrain {
    queue: Arc<LoopQueue>,
}

#[pymethods]
impl LoopDrain {
    fn __call__(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.get().queue.drain(slf)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Ok(pending) = self.queue.pending.try_lock() else {
            return Ok(());
        };
        for future in pending.values() {
            visit.call(future)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let released = std::mem::take(&mut *self.queue.pending());
        drop(released);
    }
}

impl Drop for LoopDrain {
    fn drop(&mut self) {
        // Release the awaitables here, with the GIL held, rather than on
        // whichever tokio thread drops the queue last.
        let released = std::mem::take(&mut *self.queue.pending());
        drop(released);
    }
}
