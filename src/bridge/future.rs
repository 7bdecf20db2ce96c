//! The awaitable: an `asyncio.Future` (and coroutine) whose work runs in Rust.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use futures::future::{AbortHandle, AbortRegistration, BoxFuture};
use pyo3::exceptions::{PyBaseException, PyStopIteration, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

use super::asyncio::{cancelled_error, copy_context, invalid_state, running_loop};
use super::live::LiveFuture;
use super::queue::{Completion, LoopQueue};
use super::ready::{self, Ready};
use super::release::release;
use super::work::{guard, GuardedWork, Message, Outcome, ToPythonItems, Value};

/// State an awaitable carries for the code that made it (a gather's
/// children, a bulk fetch's input), with hooks the bridge calls on the loop
/// thread. Reached again with [`FastioFuture::tenant`].
pub trait Tenant: Any + Send + Sync {
    /// Visits the Python objects it holds, for the garbage collector.
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError>;

    /// Cancels the awaitable in the tenant's own way; `None` means the
    /// plain cancel (stop the work, finish as cancelled).
    fn cancel(
        &self,
        _future: &Bound<'_, FastioFuture>,
        _message: Option<Py<PyAny>>,
    ) -> Option<PyResult<bool>> {
        None
    }

    /// The awaitable was cancelled or failed: let go of what it holds.
    fn stopped(&self) {}
}

/// Builds the work when the awaitable starts, so timers begin at first
/// await, wrapped (in the same allocation) to answer to `abort`.
type Launch = Box<dyn FnOnce(AbortRegistration) -> GuardedWork + Send + 'static>;

/// As [`Launch`], for work that talks back to its awaitable through a [`Link`].
type LinkedLaunch = Box<dyn FnOnce(AbortRegistration, Link) -> GuardedWork + Send + 'static>;

/// Lets running work hand things to its awaitable on the loop thread.
pub struct Link {
    token: u64,
    queue: Weak<LoopQueue>,
}

impl Link {
    /// Hands the next part of the awaitable's list result over in `slices`,
    /// in order (one wake-up for all). The loop appends each slice to the
    /// list as it comes; once a call with `finished` is taken, the list is
    /// the awaitable's result and the work ends with [`Value::Delivered`].
    /// False if the loop is gone.
    pub fn deliver_items(&self, slices: Vec<Box<dyn ToPythonItems>>, finished: bool) -> bool {
        let count = slices.len();
        self.deliver(
            slices
                .into_iter()
                .enumerate()
                .map(|(number, items)| Completion::Items {
                    token: self.token,
                    items,
                    last: finished && number + 1 == count,
                }),
        )
    }

    /// Sends `messages` to the awaitable (one wake-up for all); `last` ends
    /// the link of work that is not the awaitable's own (see
    /// [`FastioFuture::attach_work`]). False if the loop is gone.
    pub fn send(&self, messages: Vec<Box<dyn Message>>, last: bool) -> bool {
        let count = messages.len();
        self.deliver(messages.into_iter().enumerate().map(|(number, message)| {
            Completion::Message {
                token: self.token,
                message,
                last: last && number + 1 == count,
            }
        }))
    }

    fn deliver(&self, completions: impl IntoIterator<Item = Completion>) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        queue.deliver(completions);
        true
    }
}

/// What an awaitable does when it starts.
pub enum Job {
    /// Yields to the loop once, then finishes with the preset (`sleep(0)`).
    YieldOnce,
    /// Never finishes on its own; only cancellation ends it (`sleep(inf)`).
    Never,
    /// Runs Rust work on the tokio runtime.
    Spawn(Launch),
    /// Runs Rust work that talks back through its [`Link`].
    Linked(LinkedLaunch),
}

impl Job {
    /// Runs the future `make` returns on the tokio runtime.
    pub fn spawn<Make, Work>(make: Make) -> Job
    where
        Make: FnOnce() -> Work + Send + 'static,
        Work: Future<Output = Outcome> + Send + 'static,
    {
        Job::Spawn(Box::new(move |registration| guard(make(), registration)))
    }

    /// Runs the future `make` returns, given its [`Link`], on the runtime.
    pub fn spawn_linked<Make, Work>(make: Make) -> Job
    where
        Make: FnOnce(Link) -> Work + Send + 'static,
        Work: Future<Output = Outcome> + Send + 'static,
    {
        Job::Linked(Box::new(move |registration, link| {
            guard(make(link), registration)
        }))
    }
}

enum State {
    Idle(Job),
    /// Started, with nothing running of its own: a [`Job::Never`], or an
    /// awaitable finished by its tenant.
    Parked,
    Running {
        token: u64,
        queue: Weak<LoopQueue>,
        abort: AbortHandle,
    },
    /// Its work runs inside another awaitable's future (see
    /// [`FastioFuture::join`]).
    Joined {
        abort: AbortHandle,
    },
    Done(Result<Py<PyAny>, Py<PyAny>>),
    Cancelled(Option<Py<PyAny>>),
}

impl State {
    fn is_finished(&self) -> bool {
        matches!(self, State::Done(_) | State::Cancelled(_))
    }
}

/// How a finished awaitable ended.
pub enum Settled {
    Value(Py<PyAny>),
    Error(Py<PyAny>),
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
    /// What only some awaitables need, boxed so the common one stays small.
    extras: Option<Box<Extras>>,
}

#[derive(Default)]
struct Extras {
    tenant: Option<Arc<dyn Tenant>>,
    /// A list result being built from delivered slices.
    collected: Option<Py<PyList>>,
}

impl Inner {
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    fn tenant(&self) -> Option<Arc<dyn Tenant>> {
        self.extras.as_ref()?.tenant.clone()
    }
}

/// An awaitable whose work runs in Rust: to asyncio a coroutine, and once
/// used as a future, the future itself.
///
/// Until it is awaited, given a done callback or cancelled, asyncio sees a
/// coroutine (as an httpx request): ``asyncio.create_task``,
/// ``TaskGroup.create_task``, ``asyncio.run``, ``run_until_complete`` and
/// ``asyncio.ensure_future`` run it in a task, and ``asyncio.wait`` takes
/// that task. Awaited, it is the very future its task waits on (no inner
/// future between); it has ``add_done_callback``, ``cancel``, ``result``
/// and the rest of a future's methods. :func:`fastio.gather` joins fastio
/// awaitables without any task.
///
/// Its work starts when it is first awaited (or run by a task, or given a
/// callback), and runs on fastio's tokio runtime; the result comes back to
/// the event loop it started on. Instances are made by fastio functions
/// such as :func:`sleep`, never directly.
///
/// Example::
///
///     pending = fastio.sleep(0.1, "done")
///     task = asyncio.ensure_future(pending)
///     done, _ = await asyncio.wait([task])
///     assert task.result() == "done"
#[pyclass(frozen, weakref, module = "fastio._fastio", name = "FastioFuture")]
pub struct FastioFuture {
    inner: Mutex<Inner>,
    blocking: AtomicBool,
    /// Used as a future (awaited, given a done callback, or cancelled):
    /// only then does asyncio see it as one (see `_asyncio_future_blocking`).
    exposed: AtomicBool,
    _live: LiveFuture,
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

    /// An awaitable that already failed with `exception`.
    pub fn failed(exception: Py<PyAny>) -> Self {
        Self::with_state(State::Done(Err(exception)), None)
    }

    /// An awaitable running `job`, carrying `tenant` for the code that made it.
    pub fn with_tenant(job: Job, tenant: Arc<dyn Tenant>) -> Self {
        let future = Self::new(job, None);
        future.lock().extras().tenant = Some(tenant);
        future
    }

    /// An awaitable on `event_loop` with no work of its own: `tenant`
    /// finishes it (with [`FastioFuture::finish`]).
    pub fn parked(event_loop: Py<PyAny>, tenant: Option<Arc<dyn Tenant>>) -> Self {
        let future = Self::with_state(State::Parked, None);
        {
            let mut inner = future.lock();
            inner.event_loop = Some(event_loop);
            if tenant.is_some() {
                inner.extras().tenant = tenant;
            }
        }
        future
    }

    /// The tenant this awaitable carries, if it is a `T`.
    pub fn tenant<T: Tenant>(&self) -> Option<Arc<T>> {
        let tenant: Arc<dyn std::any::Any + Send + Sync> = self.lock().tenant()?;
        tenant.downcast().ok()
    }

    fn with_state(state: State, preset: Option<Py<PyAny>>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                state,
                event_loop: None,
                callbacks: Vec::new(),
                preset,
                extras: None,
            }),
            blocking: AtomicBool::new(false),
            exposed: AtomicBool::new(false),
            _live: LiveFuture::new(),
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
                FastioFuture::run(slf, &event_loop, |registration, _| launch(registration))?
            }
            Job::Linked(launch) => FastioFuture::run(slf, &event_loop, launch)?,
        };
        Ok(())
    }

    /// Registers with the loop's queue and hands the launched work to it.
    fn run(
        slf: &Bound<'_, Self>,
        event_loop: &Bound<'_, PyAny>,
        launch: impl FnOnce(AbortRegistration, Link) -> GuardedWork,
    ) -> PyResult<State> {
        let queue = LoopQueue::for_loop(slf.py(), event_loop, deliver)?;
        let token = queue.register(slf.clone().into_any().unbind());
        let (abort, registration) = AbortHandle::new_pair();
        let link = Link {
            token,
            queue: Arc::downgrade(&queue),
        };
        match queue.run(launch(registration, link), token) {
            Ok(()) => Ok(State::Running {
                token,
                queue: Arc::downgrade(&queue),
                abort,
            }),
            Err(err) => {
                queue.forget(token);
                Err(err)
            }
        }
    }

    /// Runs `work` beside this (started) awaitable: what it sends through
    /// its [`Link`] comes to the awaitable, which stays alive until a
    /// message marked last arrives. For tenants whose awaitable has no
    /// work of its own (a gather joining its children's work).
    pub fn attach_work(
        slf: &Bound<'_, Self>,
        work: impl FnOnce(Link) -> BoxFuture<'static, ()>,
    ) -> PyResult<()> {
        let py = slf.py();
        let event_loop = bound_loop(py, &mut slf.get().lock())?;
        let queue = LoopQueue::for_loop(py, &event_loop, deliver)?;
        let token = queue.register(slf.clone().into_any().unbind());
        let link = Link {
            token,
            queue: Arc::downgrade(&queue),
        };
        queue
            .submit(work(link))
            .inspect_err(|_| queue.forget(token))
    }

    /// Finishes with `result` (a value, or an exception) unless already
    /// finished, stopping its work as a cancel would.
    pub fn finish(slf: &Bound<'_, Self>, result: Result<Py<PyAny>, Py<PyAny>>) -> PyResult<()> {
        let mut inner = slf.get().lock();
        if inner.state.is_finished() {
            return Ok(());
        }
        let previous = std::mem::replace(&mut inner.state, State::Parked);
        let tenant = if result.is_err() {
            inner.tenant()
        } else {
            None
        };
        stop(previous);
        FastioFuture::settle(slf, inner, State::Done(result))?;
        if let Some(tenant) = tenant {
            tenant.stopped();
        }
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
        let result = convert(py, &mut inner, outcome);
        // A list handed over in part before the work failed is not the result.
        if let Some(extras) = inner.extras.as_mut() {
            extras.collected = None;
        }
        FastioFuture::settle(slf, inner, State::Done(result))
    }

    /// Called on the loop thread with one slice of the list result of the
    /// work under `token`; the last slice finishes the awaitable.
    fn append_items(
        slf: &Bound<'_, Self>,
        token: u64,
        items: Box<dyn ToPythonItems>,
        last: bool,
    ) -> PyResult<()> {
        let py = slf.py();
        let list = {
            let mut inner = slf.get().lock();
            match inner.state {
                State::Running { token: running, .. } if running == token => {}
                _ => return Ok(()),
            }
            inner
                .extras()
                .collected
                .get_or_insert_with(|| PyList::empty(py).unbind())
                .clone_ref(py)
        };
        let appended = items.append_to(py, list.bind(py));
        let mut inner = slf.get().lock();
        if let Err(err) = appended {
            inner.extras().collected = None;
            let previous = std::mem::replace(&mut inner.state, State::Parked);
            stop(previous);
            return FastioFuture::settle(
                slf,
                inner,
                State::Done(Err(err.into_value(py).into_any())),
            );
        }
        if !last {
            return Ok(());
        }
        let list = inner
            .extras()
            .collected
            .take()
            .unwrap_or_else(|| PyList::empty(py).unbind());
        FastioFuture::settle(slf, inner, State::Done(Ok(list.into_any())))
    }

    /// Finishes a joined awaitable (see [`FastioFuture::join`]) with the
    /// outcome of its work, unless it was cancelled meanwhile.
    pub fn complete_joined(slf: &Bound<'_, Self>, outcome: Outcome) -> PyResult<()> {
        let py = slf.py();
        let mut inner = slf.get().lock();
        if !matches!(inner.state, State::Joined { .. }) {
            return Ok(());
        }
        let result = convert(py, &mut inner, outcome);
        FastioFuture::settle(slf, inner, State::Done(result))
    }

    /// Moves to a finished `state` and schedules the callbacks.
    fn settle(
        slf: &Bound<'_, Self>,
        mut inner: MutexGuard<'_, Inner>,
        state: State,
    ) -> PyResult<()> {
        inner.state = state;
        let (event_loop, callbacks) = take_callbacks(slf.py(), &mut inner);
        drop(inner);
        schedule_callbacks(slf, event_loop, callbacks)
    }

    /// Whether it belongs to `event_loop`, or to no loop yet.
    pub fn is_on(&self, event_loop: &Bound<'_, PyAny>) -> bool {
        self.lock()
            .event_loop
            .as_ref()
            .is_none_or(|bound| bound.as_ptr() == event_loop.as_ptr())
    }

    /// Whether code on `event_loop` can run this awaitable's work inside a
    /// future of its own: only work that has not started on another loop.
    pub fn can_join(&self, event_loop: &Bound<'_, PyAny>) -> bool {
        let inner = self.lock();
        let same_loop = inner
            .event_loop
            .as_ref()
            .is_none_or(|bound| bound.as_ptr() == event_loop.as_ptr());
        same_loop && matches!(inner.state, State::Idle(Job::Spawn(_)))
    }

    /// Takes this awaitable's work to run inside another future on
    /// `event_loop`; the awaitable stays a future of its own, finished with
    /// [`FastioFuture::complete_joined`].
    pub fn join(&self, event_loop: &Bound<'_, PyAny>) -> Option<GuardedWork> {
        let mut inner = self.lock();
        if !matches!(inner.state, State::Idle(Job::Spawn(_))) {
            return None;
        }
        let State::Idle(Job::Spawn(launch)) = std::mem::replace(&mut inner.state, State::Parked)
        else {
            return None;
        };
        let (abort, registration) = AbortHandle::new_pair();
        let work = launch(registration);
        inner.state = State::Joined { abort };
        inner
            .event_loop
            .get_or_insert_with(|| event_loop.clone().unbind());
        Some(work)
    }

    /// True once it has a result, an exception, or was cancelled.
    pub fn is_done(&self) -> bool {
        self.lock().state.is_finished()
    }

    /// How this awaitable ended; `None` while it has not.
    pub fn settled(&self, py: Python<'_>) -> Option<Settled> {
        match &self.lock().state {
            State::Done(Ok(value)) => Some(Settled::Value(value.clone_ref(py))),
            State::Done(Err(exception)) => Some(Settled::Error(exception.clone_ref(py))),
            State::Cancelled(message) => Some(Settled::Cancelled(
                message.as_ref().map(|message| message.clone_ref(py)),
            )),
            _ => None,
        }
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
    /// Starts the work if needed and waits for its result.
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
        this.exposed.store(true, Ordering::Relaxed);
        Ok(Some(slf.clone().into_any().unbind()))
    }

    /// Reading this is how `asyncio.isfuture` recognises a future. None
    /// (not a future) until it is used as one (awaited, given a done
    /// callback, or cancelled): until then asyncio takes it as the coroutine
    /// it also is, so `ensure_future` and `create_task` wrap it in a task,
    /// as they would an httpx request, and `asyncio.wait` takes that task.
    /// Awaited, it is the future its task waits on, with no other between.
    #[getter]
    fn _asyncio_future_blocking(&self) -> Option<bool> {
        self.exposed
            .load(Ordering::Relaxed)
            .then(|| self.blocking.load(Ordering::Relaxed))
    }

    /// ``FastioFuture[int]`` at runtime, as ``asyncio.Future[int]``.
    #[classmethod]
    fn __class_getitem__(cls: &Bound<'_, PyType>, item: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = cls.py();
        let alias = py
            .import(intern!(py, "types"))?
            .getattr(intern!(py, "GenericAlias"))?;
        Ok(alias.call1((cls, item))?.unbind())
    }

    /// ``async with awaitable as result:`` awaits it on entry (as aiohttp's
    /// ``async with session.get(url) as response``).
    fn __aenter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Leaves the result's own ``async with`` when it has one (a Response
    /// releases its connection); else nothing to do. Exceptions go on.
    #[pyo3(signature = (*exc))]
    fn __aexit__(slf: &Bound<'_, Self>, exc: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if let Some(Settled::Value(result)) = slf.get().settled(py) {
            let result = result.bind(py);
            if result.hasattr(intern!(py, "__aexit__"))? {
                return Ok(result.call_method1(intern!(py, "__aexit__"), exc)?.unbind());
            }
        }
        Ok(Py::new(py, FastioFuture::finished(py.None()))?.into_any())
    }

    /// The coroutine protocol, as ``asyncio.Task`` drives it: one step of
    /// the awaitable (its own ``__next__``). With ``send``, ``throw`` and
    /// ``close`` it is also a ``collections.abc.Coroutine``, so
    /// ``asyncio.create_task``, ``TaskGroup.create_task`` and
    /// ``asyncio.run`` take it.
    #[pyo3(signature = (value, /))]
    fn send(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        if !value.is_none() {
            return Err(PyTypeError::new_err(
                "can't send a value other than None into a fastio awaitable",
            ));
        }
        FastioFuture::__next__(slf)
    }

    /// Raises the exception where the awaitable waits, its work cancelled
    /// first, as a coroutine's ``throw`` does (``asyncio.Task`` throws
    /// ``CancelledError`` in).
    #[pyo3(signature = (typ, val = None, tb = None, /))]
    fn throw(
        slf: &Bound<'_, Self>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Py<PyAny>>> {
        FastioFuture::cancel(slf, None)?;
        let exception = if typ.is_instance_of::<PyBaseException>() {
            typ.clone()
        } else {
            match val {
                Some(val) if val.is_instance_of::<PyBaseException>() => val.clone(),
                Some(val) if !val.is_none() => typ.call1((val,))?,
                _ => typ.call0()?,
            }
        };
        if let Some(tb) = tb.filter(|tb| !tb.is_none()) {
            exception.call_method1("with_traceback", (tb,))?;
        }
        Err(PyErr::from_value(exception))
    }

    /// Cancels the work if it has not finished, as closing a coroutine does.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        FastioFuture::cancel(slf, None).map(|_| ())
    }

    #[setter(_asyncio_future_blocking)]
    fn set_asyncio_future_blocking(&self, value: bool) {
        self.blocking.store(value, Ordering::Relaxed);
    }

    /// Runs ``fn(self)`` on the loop once done; starts the work.
    ///
    /// Callbacks never run inside the call that finishes the future: the
    /// loop callback that delivers fastio's results runs them after its
    /// batch (``loop.call_soon`` where a user's call or a loop in debug mode
    /// finishes it). ``context`` defaults to a copy of the current context,
    /// as for ``asyncio.Future``.
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
        slf.get().exposed.store(true, Ordering::Relaxed);
        let mut inner = slf.get().lock();
        // A future with callbacks has a loop to run them on, even one
        // finished before it was used.
        bound_loop(py, &mut inner)?;
        FastioFuture::start(slf, &mut inner)?;
        inner.callbacks.push(Callback {
            function: r#fn.unbind(),
            context,
        });
        if inner.state.is_finished() {
            let (event_loop, callbacks) = take_callbacks(py, &mut inner);
            drop(inner);
            schedule_callbacks(slf, event_loop, callbacks)?;
        }
        Ok(())
    }

    /// Removes every registration of ``fn`` and returns how many there were.
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
    ///
    /// Returns False if it was already done or cancelled.
    #[pyo3(signature = (msg = None))]
    pub fn cancel(slf: &Bound<'_, Self>, msg: Option<Py<PyAny>>) -> PyResult<bool> {
        slf.get().exposed.store(true, Ordering::Relaxed);
        let mut inner = slf.get().lock();
        // Now a future, so of a loop, as asyncio's own always are.
        let _ = bound_loop(slf.py(), &mut inner);
        if inner.state.is_finished() {
            return Ok(false);
        }
        let tenant = inner.tenant();
        if let Some(tenant) = &tenant {
            drop(inner);
            let message = msg.as_ref().map(|message| message.clone_ref(slf.py()));
            if let Some(cancelled) = tenant.cancel(slf, message) {
                return cancelled;
            }
            inner = slf.get().lock();
            if inner.state.is_finished() {
                return Ok(false);
            }
        }
        let previous = std::mem::replace(&mut inner.state, State::Parked);
        stop(previous);
        FastioFuture::settle(slf, inner, State::Cancelled(msg))?;
        if let Some(tenant) = tenant {
            tenant.stopped();
        }
        Ok(true)
    }

    /// True if it was cancelled.
    fn cancelled(&self) -> bool {
        matches!(self.lock().state, State::Cancelled(_))
    }

    /// True if it has a result, an exception, or was cancelled.
    fn done(&self) -> bool {
        self.lock().state.is_finished()
    }

    /// The result; raises the exception, CancelledError, or InvalidStateError.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &self.lock().state {
            State::Done(Ok(value)) => Ok(value.clone_ref(py)),
            State::Done(Err(exception)) => Err(PyErr::from_value(exception.bind(py).clone())),
            State::Cancelled(message) => Err(cancelled_error(py, message.as_ref())),
            _ => Err(invalid_state(py, "Result is not ready.")),
        }
    }

    /// The exception, or None; raises CancelledError or InvalidStateError.
    fn exception(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match &self.lock().state {
            State::Done(Ok(_)) => Ok(None),
            State::Done(Err(exception)) => Ok(Some(exception.clone_ref(py))),
            State::Cancelled(message) => Err(cancelled_error(py, message.as_ref())),
            _ => Err(invalid_state(py, "Exception is not set.")),
        }
    }

    /// What a task's repr names the awaitable it runs.
    #[getter]
    fn __name__(&self) -> &'static str {
        "FastioFuture"
    }

    /// The event loop this awaitable belongs to (the running one if unstarted).
    fn get_loop(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut inner = self.lock();
        Ok(bound_loop(py, &mut inner)?.unbind())
    }

    /// The message it was cancelled with, or None: asyncio's `gather`
    /// reads it from each cancelled child.
    #[getter]
    fn _cancel_message(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match &self.lock().state {
            State::Cancelled(message) => message.as_ref().map(|message| message.clone_ref(py)),
            _ => None,
        }
    }

    /// The loop it belongs to once used, else None: asyncio's fallback
    /// for futures without `get_loop`.
    #[getter]
    fn _loop(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.lock()
            .event_loop
            .as_ref()
            .map(|event_loop| event_loop.clone_ref(py))
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
            State::Parked | State::Running { .. } | State::Joined { .. } => "pending".to_owned(),
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
        if let Some(extras) = &inner.extras {
            if let Some(tenant) = &extras.tenant {
                tenant.traverse(&visit)?;
            }
            visit.call(&extras.collected)?;
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
            inner.extras.take(),
        );
        drop(inner);
        if let (_, _, _, State::Running { abort, .. } | State::Joined { abort }, _) = &released {
            abort.abort();
        }
        release(released);
    }
}

impl Drop for FastioFuture {
    /// What it holds may hold other awaitables (a gather its children):
    /// released through [`release`] so a deep chain is not freed recursively.
    fn drop(&mut self) {
        let mut inner = self.lock();
        if let State::Running { abort, .. } | State::Joined { abort } = &inner.state {
            abort.abort();
        }
        let held = (
            std::mem::replace(&mut inner.state, State::Parked),
            inner.extras.take(),
            std::mem::take(&mut inner.callbacks),
            inner.preset.take(),
            inner.event_loop.take(),
        );
        drop(inner);
        release(held);
    }
}

/// Aborts the work of a state being left, and lets its queue forget it.
fn stop(previous: State) {
    match previous {
        State::Running {
            token,
            queue,
            abort,
        } => {
            abort.abort();
            if let Some(queue) = queue.upgrade() {
                // Drops a reference to the awaitable: it is alive, the
                // caller holds another.
                queue.forget(token);
            }
        }
        State::Joined { abort } => abort.abort(),
        _ => {}
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

/// The Python result of finished work.
fn convert(py: Python<'_>, inner: &mut Inner, outcome: Outcome) -> Result<Py<PyAny>, Py<PyAny>> {
    match outcome {
        Ok(Value::Preset) => Ok(take_preset(py, inner)),
        Ok(Value::Object(data)) => data
            .to_python(py)
            .map_err(|err| err.into_value(py).into_any()),
        // Only reached if the slices were lost with their loop.
        Ok(Value::Delivered) => Ok(PyList::empty(py).into_any().unbind()),
        Err(failure) => Err(failure.to_exception(py).into_value(py).into_any()),
    }
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
/// own futures do: callbacks never run inline. A drain settling this
/// awaitable runs them itself once its slice is settled (`ready.rs`).
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
        let ready = Ready {
            function: callback.function,
            future: future.clone().into_any().unbind(),
            context: callback.context,
        };
        let Err(ready) = ready::keep(event_loop, ready) else {
            continue;
        };
        if let Err(err) = ready.schedule(event_loop) {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Hands a completion from the loop's queue to the awaitable it is for.
fn deliver(future: &Bound<'_, PyAny>, completion: Completion) -> PyResult<()> {
    let Ok(awaitable) = future.cast::<FastioFuture>() else {
        return Ok(());
    };
    match completion {
        Completion::One { token, outcome } => FastioFuture::complete(awaitable, token, outcome),
        Completion::Items { token, items, last } => {
            FastioFuture::append_items(awaitable, token, items, last)
        }
        Completion::Message { message, .. } => message.handle(future),
    }
}
