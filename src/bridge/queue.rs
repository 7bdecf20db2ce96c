//! The completion queue of each event loop, and the dispatcher task that
//! runs that loop's Rust work.
//!
//! Starting work is a channel send to the loop's dispatcher, which wakes it
//! only when it is idle: a spawn per awaitable from the loop thread would
//! wake a parked tokio worker every time. Finished work pushes plain Rust
//! data into the loop's [`Inbox`]; the loop thread drains it in slices.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;

use futures::future::{poll_fn, BoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::{intern, PyTraverseError, PyVisit};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::asyncio::running_loop;
use super::inbox::Inbox;
use super::ready;
use super::work::{GuardedWork, Message, Outcome, ToPythonItems};
use crate::runtime;

/// Results converted per loop callback; the rest wait for the next callback
/// so one huge batch never stalls the loop. Each result usually wakes a task
/// that runs before anything queued after it (a 1 ms timer included), so
/// this also bounds the loop's lag (larger slices raised it, at the same
/// throughput: `bench/decisions.md`).
pub const DRAIN_SLICE: usize = 64;

/// What tokio hands back to the loop thread: Rust data only.
pub enum Completion {
    /// The work of one awaitable finished.
    One { token: u64, outcome: Outcome },
    /// A message for the awaitable under `token`; `last` ends its
    /// registration (work attached beside it has finished).
    Message {
        token: u64,
        message: Box<dyn Message>,
        last: bool,
    },
    /// A slice of the list result of the work under `token`.
    Items {
        token: u64,
        items: Box<dyn ToPythonItems>,
        last: bool,
    },
}

impl Completion {
    /// How many results this carries, for slicing the drain.
    fn weight(&self) -> usize {
        match self {
            Completion::One { .. } => 1,
            Completion::Message { message, .. } => message.weight().max(1),
            Completion::Items { items, .. } => items.len().max(1),
        }
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

type PendingMap = HashMap<u64, Py<PyAny>, BuildHasherDefault<TokenHasher>>;

/// Hands a completion to the awaitable it is for, on the loop thread.
pub type Deliver = fn(&Bound<'_, PyAny>, Completion) -> PyResult<()>;

/// The completion queue of one event loop.
///
/// Owned by the [`LoopDrain`] registered as the loop's reader, so it lives and
/// dies with the loop (closing the loop drops its readers and so closes the
/// fd); everything else holds it weakly.
pub struct LoopQueue {
    generation: u64,
    deliver: Deliver,
    dispatcher: UnboundedSender<BoxFuture<'static, ()>>,
    inbox: Inbox<Completion>,
    /// Awaitables with work in flight, touched only on the loop thread.
    pending: Mutex<PendingMap>,
    next_token: AtomicU64,
    /// False once the loop's reader is gone. A dead queue can outlive its
    /// loop for a moment (a tokio task pushing into it), and a new loop can
    /// be allocated at the dead one's address: it must get a queue of its own.
    attached: AtomicBool,
}

/// Event loops by address; entries are weak and dead ones are swept on insert.
static LOOP_QUEUES: Mutex<Option<HashMap<usize, Weak<LoopQueue>>>> = Mutex::new(None);

impl LoopQueue {
    /// The queue of `event_loop`, created and registered with the loop's
    /// reader on first use.
    /// `deliver` hands each completion to its awaitable (the first caller's
    /// is kept with the queue).
    pub fn for_loop(
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        deliver: Deliver,
    ) -> PyResult<Arc<LoopQueue>> {
        let key = event_loop.as_ptr() as usize;
        let generation = runtime::generation();
        let known = {
            let registry = LOOP_QUEUES.lock().unwrap_or_else(PoisonError::into_inner);
            registry
                .as_ref()
                .and_then(|queues| queues.get(&key))
                .and_then(Weak::upgrade)
        };
        let usable = |queue: &Arc<LoopQueue>| {
            queue.generation == generation && queue.attached.load(Ordering::Acquire)
        };
        if let Some(queue) = known.filter(usable) {
            return Ok(queue);
        }
        let (dispatcher, incoming) = unbounded_channel();
        super::spawn(dispatch(incoming))?;
        let queue = Arc::new(LoopQueue {
            generation,
            deliver,
            dispatcher,
            inbox: Inbox::new().map_err(|err| {
                PyOSError::new_err(format!("cannot create the wake-up fd: {err}"))
            })?,
            pending: Mutex::new(PendingMap::default()),
            next_token: AtomicU64::new(0),
            attached: AtomicBool::new(true),
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
    pub(super) fn register(&self, future: Py<PyAny>) -> u64 {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.pending().insert(token, future);
        token
    }

    pub(super) fn forget(&self, token: u64) {
        let released = self.pending().remove(&token);
        drop(released);
    }

    /// Pushes completions from a tokio thread (one wake-up for all).
    pub fn deliver(&self, completions: impl IntoIterator<Item = Completion>) {
        self.inbox.push_all(completions);
    }

    /// Hands a task to this loop's dispatcher.
    pub(super) fn submit(&self, task: BoxFuture<'static, ()>) -> PyResult<()> {
        self.dispatcher
            .send(task)
            .map_err(|_| PyOSError::new_err("the fastio runtime has stopped"))
    }

    /// Runs the work of the awaitable registered under `token`; its outcome
    /// comes back through the inbox.
    pub fn run(self: &Arc<Self>, guarded: GuardedWork, token: u64) -> PyResult<()> {
        let queue = Arc::downgrade(self);
        self.submit(Box::pin(async move {
            let Some(outcome) = guarded.await else {
                return;
            };
            if let Some(queue) = queue.upgrade() {
                queue.deliver([Completion::One { token, outcome }]);
            }
        }))
    }

    /// Converts up to one slice of completions; schedules itself again
    /// through `call_soon` while more are waiting.
    fn drain(&self, drain: &Bound<'_, LoopDrain>) -> PyResult<()> {
        let py = drain.py();
        let event_loop = running_loop(py)?;
        if self.generation != runtime::generation() {
            // A forked child still running its parent's loop: the parent's
            // tokio threads will never fill this inbox here.
            event_loop.call_method1(intern!(py, "remove_reader"), (self.inbox.fd(),))?;
            return Ok(());
        }
        // A loop in debug mode times each callback's handle: schedule them.
        let debug = event_loop
            .call_method0(intern!(py, "get_debug"))?
            .is_truthy()?;
        let (batch, more) = self.inbox.take_batch(DRAIN_SLICE, Completion::weight);
        let (first_error, callbacks) =
            ready::gathered_while((!debug).then_some(&event_loop), || {
                let mut first_error = None;
                for completion in batch {
                    if let Err(err) = self.complete(py, completion) {
                        first_error.get_or_insert(err);
                    }
                }
                first_error
            });
        if more {
            event_loop.call_method1(intern!(py, "call_soon"), (drain,))?;
        }
        ready::run(&event_loop, callbacks)?;
        first_error.map_or(Ok(()), Err)
    }

    /// The awaitable registered under `token`; with `finished`, its
    /// registration ends here (its last delivery has come).
    fn take_pending(&self, py: Python<'_>, token: u64, finished: bool) -> Option<Py<PyAny>> {
        let mut pending = self.pending();
        if finished {
            pending.remove(&token)
        } else {
            pending.get(&token).map(|future| future.clone_ref(py))
        }
    }

    fn complete(&self, py: Python<'_>, completion: Completion) -> PyResult<()> {
        let (token, finished) = match &completion {
            Completion::One { token, .. } => (*token, true),
            Completion::Items { token, last, .. } | Completion::Message { token, last, .. } => {
                (*token, *last)
            }
        };
        match self.take_pending(py, token, finished) {
            Some(future) => (self.deliver)(future.bind(py), completion),
            None => Ok(()), // cancelled meanwhile
        }
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
        self.queue.attached.store(false, Ordering::Release);
        let released = std::mem::take(&mut *self.queue.pending());
        drop(released);
    }
}

impl Drop for LoopDrain {
    fn drop(&mut self) {
        self.queue.attached.store(false, Ordering::Release);
        // Release the awaitables here, with the GIL held, rather than on
        // whichever tokio thread drops the queue last.
        let released = std::mem::take(&mut *self.queue.pending());
        drop(released);
    }
}
