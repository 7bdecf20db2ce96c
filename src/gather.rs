//! `fastio.gather`: asyncio.gather's contract, with the work of fastio
//! children joined inside Rust.
//!
//! Children that are fastio awaitables whose work has not started become
//! *members*: their work runs in one joined future on the loop's dispatcher,
//! which reports back once for the whole group (and early, for the first
//! failure when exceptions are not returned). Every other child goes through
//! `asyncio.ensure_future` and a done callback, as in asyncio.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::{intern, PyTraverseError, PyVisit};

use crate::bridge::asyncio::{cancelled_error, ensure_future, running_loop};
use crate::bridge::{
    FastioFuture, GuardedWork, Link, Message, Outcome, Settled, Tenant, DRAIN_SLICE,
};

/// One distinct awaitable passed to a gather.
enum Child {
    /// A fastio awaitable whose work runs in the gather's joined future.
    Member(Py<FastioFuture>),
    /// Anything else, watched through a done callback.
    Watched(Py<PyAny>),
}

impl Child {
    fn object(&self) -> &Py<PyAny> {
        match self {
            Child::Member(future) => future.as_any(),
            Child::Watched(future) => future,
        }
    }
}

/// The bookkeeping of a gather, kept on the awaitable it returns.
struct Gathering {
    /// Distinct children, in order of first appearance.
    children: Vec<Child>,
    /// For each argument, the index of its child: the same coroutine passed
    /// twice runs once and its result appears twice.
    positions: Vec<usize>,
    settled: Vec<Option<Settled>>,
    remaining: usize,
    return_exceptions: bool,
    cancel_requested: bool,
}

/// The tenant of a gather's awaitable.
struct Gather(Mutex<Gathering>);

impl Gather {
    fn lock(&self) -> MutexGuard<'_, Gathering> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn of(outer: &Bound<'_, FastioFuture>) -> Option<Arc<Gather>> {
        outer.get().tenant::<Gather>()
    }
}

impl Tenant for Gather {
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Held means this thread is inside a gather call; not visiting only
        // makes the collector keep more alive.
        let Ok(gathering) = self.0.try_lock() else {
            return Ok(());
        };
        for child in &gathering.children {
            visit.call(child.object())?;
        }
        for settled in gathering.settled.iter().flatten() {
            match settled {
                Settled::Value(value) | Settled::Error(value) => visit.call(value)?,
                Settled::Cancelled(message) => visit.call(message)?,
            }
        }
        Ok(())
    }

    /// Cancelling a gather cancels its children; it ends when they have.
    fn cancel(
        &self,
        future: &Bound<'_, FastioFuture>,
        message: Option<Py<PyAny>>,
    ) -> Option<PyResult<bool>> {
        Some(cancel_children(future, message))
    }
}

/// Runs awaitables concurrently; returns their results in argument order.
///
/// A drop-in for ``asyncio.gather``, with the same contract: the first
/// exception propagates (the other children keep running) unless
/// ``return_exceptions`` is true, which puts exceptions in place;
/// cancelling the returned awaitable cancels every child; ``gather()``
/// returns ``[]``; an awaitable passed twice runs once and its result
/// appears twice; any mix of coroutines, tasks, futures and fastio
/// awaitables is accepted, and anything else raises TypeError.
///
/// fastio awaitables whose work has not started are joined inside Rust as
/// one future: the event loop is woken once for the whole group instead of
/// once per child, and each child still finishes as a future of its own.
/// Other children go through ``asyncio.ensure_future`` as usual.
///
/// Must be called with an event loop running.
///
/// Example::
///
///     sleeps = [fastio.sleep(0.01, n) for n in range(100_000)]
///     assert await fastio.gather(*sleeps) == list(range(100_000))
#[pyfunction]
#[pyo3(signature = (*aws, return_exceptions = false))]
pub fn gather(
    py: Python<'_>,
    aws: &Bound<'_, PyTuple>,
    return_exceptions: bool,
) -> PyResult<Py<FastioFuture>> {
    if aws.is_empty() {
        return Py::new(
            py,
            FastioFuture::finished(PyList::empty(py).into_any().unbind()),
        );
    }
    let event_loop = running_loop(py)?;

    let mut index_of: HashMap<usize, usize> = HashMap::with_capacity(aws.len());
    let mut distinct: Vec<Bound<'_, PyAny>> = Vec::new();
    let mut positions = Vec::with_capacity(aws.len());
    for awaitable in aws.iter() {
        let index = *index_of
            .entry(awaitable.as_ptr() as usize)
            .or_insert_with(|| {
                distinct.push(awaitable.clone());
                distinct.len() - 1
            });
        positions.push(index);
    }

    // Everything that is not a fastio awaitable goes through ensure_future
    // first, so a TypeError for a non-awaitable leaves the fastio children
    // untouched. fastio awaitables are joined, or watched as they are (a
    // task around one would only add a step).
    let mut children: Vec<Option<Child>> = Vec::with_capacity(distinct.len());
    for awaitable in &distinct {
        children.push(match awaitable.cast::<FastioFuture>() {
            Ok(future) => {
                if !future.get().is_on(&event_loop) {
                    return Err(PyValueError::new_err(
                        "a fastio awaitable of another event loop was passed to fastio.gather",
                    ));
                }
                None
            }
            Err(_) => Some(Child::Watched(
                ensure_future(awaitable, &event_loop)?.unbind(),
            )),
        });
    }
    let mut members = Vec::new();
    for (index, (awaitable, child)) in distinct.into_iter().zip(children.iter_mut()).enumerate() {
        if child.is_some() {
            continue;
        }
        let future = awaitable.cast_into::<FastioFuture>()?;
        let joined = future.get().join(&event_loop);
        *child = Some(match joined {
            Some(work) => {
                members.push((index, work));
                Child::Member(future.unbind())
            }
            None => Child::Watched(future.into_any().unbind()),
        });
    }
    let children: Vec<Child> = children.into_iter().flatten().collect();

    let count = children.len();
    let outer = Py::new(
        py,
        FastioFuture::parked(
            event_loop.clone().unbind(),
            Some(Arc::new(Gather(Mutex::new(Gathering {
                children,
                positions,
                settled: (0..count).map(|_| None).collect(),
                remaining: count,
                return_exceptions,
                cancel_requested: false,
            })))),
        ),
    )?;

    if !members.is_empty() {
        // Kept alive until the last delivery, so members always finish.
        FastioFuture::attach_work(outer.bind(py), |link| {
            join_members(members, return_exceptions, link)
        })?;
    }
    watch_children(outer.bind(py))?;
    Ok(outer)
}

/// Registers a done callback on each watched child.
fn watch_children(outer: &Bound<'_, FastioFuture>) -> PyResult<()> {
    let py = outer.py();
    let Some(gather) = Gather::of(outer) else {
        return Ok(());
    };
    let watched: Vec<(usize, Py<PyAny>)> = {
        let gathering = gather.lock();
        gathering
            .children
            .iter()
            .enumerate()
            .filter_map(|(index, child)| match child {
                Child::Watched(future) => Some((index, future.clone_ref(py))),
                Child::Member(_) => None,
            })
            .collect()
    };
    for (index, future) in watched {
        let callback = ChildDone {
            outer: outer.clone().unbind(),
            index,
        };
        future
            .bind(py)
            .call_method1(intern!(py, "add_done_callback"), (callback,))?;
    }
    Ok(())
}

/// Runs the members' work as one future and reports their outcomes to the
/// loop: once at the end, plus at once for a failure that the gather must
/// raise. `unconstrained` (via the dispatcher) and `FuturesUnordered` keep
/// this linear: only woken members are polled.
fn join_members(
    members: Vec<(usize, GuardedWork)>,
    return_exceptions: bool,
    link: Link,
) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let total = members.len();
        let mut running: FuturesUnordered<_> = members
            .into_iter()
            .map(|(index, work)| work.map(move |outcome| (index, outcome)))
            .collect();
        let mut finished = Slices::default();
        let mut delivered = 0;
        while let Some((index, outcome)) = running.next().await {
            let failed = !matches!(outcome, Some(Ok(_)));
            finished.push((index, outcome));
            if failed && !return_exceptions {
                delivered += finished.len;
                let report = std::mem::take(&mut finished);
                if !deliver(&link, report, delivered == total) {
                    return;
                }
            }
        }
        if delivered < total {
            deliver(&link, finished, true);
        }
    })
}

/// Member outcomes, kept in slices the drain converts one at a time so a
/// huge group never stalls the loop.
#[derive(Default)]
struct Slices {
    slices: Vec<Vec<(usize, Option<Outcome>)>>,
    len: usize,
}

impl Slices {
    fn push(&mut self, outcome: (usize, Option<Outcome>)) {
        match self.slices.last_mut() {
            Some(slice) if slice.len() < DRAIN_SLICE => slice.push(outcome),
            _ => {
                let mut slice = Vec::with_capacity(DRAIN_SLICE.min(64));
                slice.push(outcome);
                self.slices.push(slice);
            }
        }
        self.len += 1;
    }
}

/// Pushes member outcomes to the loop (one wake-up); false if it is gone.
fn deliver(link: &Link, finished: Slices, last: bool) -> bool {
    let messages = finished
        .slices
        .into_iter()
        .map(|members| Box::new(MembersFinished(members)) as Box<dyn Message>)
        .collect();
    link.send(messages, last)
}

/// Some members finished, by child index; `None` means the member was aborted.
struct MembersFinished(Vec<(usize, Option<Outcome>)>);

impl Message for MembersFinished {
    fn weight(&self) -> usize {
        self.0.len()
    }

    fn handle(self: Box<Self>, outer: &Bound<'_, PyAny>) -> PyResult<()> {
        let outer = outer.cast::<FastioFuture>()?;
        members_finished(outer, self.0)
    }
}

/// On the loop thread: members of `outer` finished (`None`: aborted).
fn members_finished(
    outer: &Bound<'_, FastioFuture>,
    members: Vec<(usize, Option<Outcome>)>,
) -> PyResult<()> {
    let py = outer.py();
    let Some(gather) = Gather::of(outer) else {
        return Ok(());
    };
    let mut first_error = None;
    for (index, outcome) in members {
        let member = match gather.lock().children.get(index) {
            Some(Child::Member(member)) => member.clone_ref(py),
            _ => continue,
        };
        let member = member.bind(py);
        if let Some(outcome) = outcome {
            if let Err(err) = FastioFuture::complete_joined(member, outcome) {
                first_error.get_or_insert(err);
            }
        }
        if let Some(settled) = member.get().settled(py) {
            record(outer, index, settled)?;
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Records how child `index` ended and finishes `outer` when asyncio.gather
/// would: at the first failure unless exceptions are returned, else when
/// every child has ended.
fn record(outer: &Bound<'_, FastioFuture>, index: usize, settled: Settled) -> PyResult<()> {
    let py = outer.py();
    let Some(gather) = Gather::of(outer) else {
        return Ok(());
    };
    let outer_finished = outer.get().is_done();
    let mut gathering = gather.lock();
    if !matches!(gathering.settled.get(index), Some(None)) {
        return Ok(());
    }
    // As asyncio.gather: the error raised for a cancelled child is the one
    // it made, which holds the message a task passed on to what it awaited.
    let cancel_error = match (&settled, gathering.children.get(index)) {
        (Settled::Cancelled(message), Some(child)) => Some(
            child
                .object()
                .bind(py)
                .call_method0(intern!(py, "_make_cancelled_error"))
                .map(Bound::unbind)
                .unwrap_or_else(|_| cancelled_instance(py, message.as_ref(), false)),
        ),
        _ => None,
    };
    let Some(slot) = gathering.settled.get_mut(index) else {
        return Ok(());
    };
    let failure = match &settled {
        Settled::Value(_) => None,
        Settled::Error(exception) => Some(exception.clone_ref(py)),
        Settled::Cancelled(_) => cancel_error.as_ref().map(|error| error.clone_ref(py)),
    };
    *slot = Some(settled);
    gathering.remaining -= 1;
    if outer_finished {
        return Ok(());
    }
    if let (Some(exception), false) = (failure, gathering.return_exceptions) {
        drop(gathering);
        return FastioFuture::finish(outer, Err(exception));
    }
    if gathering.remaining > 0 {
        return Ok(());
    }
    if gathering.cancel_requested {
        let exception = cancel_error.unwrap_or_else(|| cancelled_instance(py, None, false));
        drop(gathering);
        return FastioFuture::finish(outer, Err(exception));
    }
    let results = PyList::empty(py);
    for &position in &gathering.positions {
        let item = match gathering.settled.get(position) {
            Some(Some(Settled::Value(value) | Settled::Error(value))) => value.clone_ref(py),
            Some(Some(Settled::Cancelled(message))) => {
                cancelled_instance(py, message.as_ref(), true)
            }
            _ => py.None(),
        };
        results.append(item)?;
    }
    drop(gathering);
    FastioFuture::finish(outer, Ok(results.into_any().unbind()))
}

/// asyncio puts `CancelledError('')` in the results for a cancelled child
/// with no message, and raises `CancelledError()` for it.
fn cancelled_instance(py: Python<'_>, message: Option<&Py<PyAny>>, in_results: bool) -> Py<PyAny> {
    let empty = pyo3::types::PyString::new(py, "").into_any().unbind();
    let message = match message {
        Some(message) => Some(message),
        None if in_results => Some(&empty),
        None => None,
    };
    cancelled_error(py, message).into_value(py).into_any()
}

/// Cancels every child of `outer`; it finishes once they have ended. As in
/// asyncio, that is noticed later, not inside this call: members report
/// through their joined future, watched children through their callbacks.
///
/// Gathers nested in gathers are walked with a stack on the heap, not by
/// recursion, so a chain 100,000 deep cancels without exhausting the native
/// stack; the result is asyncio's: whether any child, at any depth, was
/// cancelled.
fn cancel_children(outer: &Bound<'_, FastioFuture>, message: Option<Py<PyAny>>) -> PyResult<bool> {
    let py = outer.py();
    let Some(root) = Level::of(outer) else {
        return Ok(false);
    };
    let _nested = CancelDepth::enter();
    let mut levels = vec![root];
    loop {
        let Some(level) = levels.last_mut() else {
            return Ok(false);
        };
        let Some(child) = level.children.next() else {
            let Some(done) = levels.pop() else {
                return Ok(false);
            };
            if done.any_cancelled {
                done.gather.lock().cancel_requested = true;
            }
            match levels.last_mut() {
                Some(parent) => parent.any_cancelled |= done.any_cancelled,
                None => return Ok(done.any_cancelled),
            }
            continue;
        };
        let child = child.bind(py);
        let message = message.as_ref().map(|message| message.clone_ref(py));
        let cancelled = match child.cast::<FastioFuture>() {
            Ok(future) if !future.get().is_done() => match Level::of(future) {
                Some(nested) => {
                    levels.push(nested);
                    continue;
                }
                None => FastioFuture::cancel(future, message)?,
            },
            Ok(_) => false,
            Err(_) => cancel_watched(child, message)?,
        };
        level.any_cancelled |= cancelled;
    }
}

/// A gather being cancelled: its children not yet visited.
struct Level {
    gather: Arc<Gather>,
    children: std::vec::IntoIter<Py<PyAny>>,
    any_cancelled: bool,
}

impl Level {
    fn of(outer: &Bound<'_, FastioFuture>) -> Option<Level> {
        let py = outer.py();
        let gather = Gather::of(outer)?;
        let children: Vec<Py<PyAny>> = gather
            .lock()
            .children
            .iter()
            .map(|child| child.object().clone_ref(py))
            .collect();
        Some(Level {
            gather,
            children: children.into_iter(),
            any_cancelled: false,
        })
    }
}

/// How deep cancels that went through Python (a task awaiting a gather of
/// tasks awaiting gathers) may nest before the next is deferred.
const MAX_CANCEL_DEPTH: usize = 64;

thread_local! {
    static CANCEL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts the cancels in progress on this thread while held.
struct CancelDepth;

impl CancelDepth {
    fn enter() -> CancelDepth {
        CANCEL_DEPTH.with(|depth| depth.set(depth.get() + 1));
        CancelDepth
    }

    fn too_deep() -> bool {
        CANCEL_DEPTH.with(|depth| depth.get() > MAX_CANCEL_DEPTH)
    }
}

impl Drop for CancelDepth {
    fn drop(&mut self) {
        CANCEL_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Cancels a child that is not a fastio awaitable. A task's cancel cancels
/// what it awaits, which may be another gather: past
/// [`MAX_CANCEL_DEPTH`] nested cancels, the call is scheduled on the loop
/// instead (and counts as cancelled if the child is still pending), so a
/// deep chain is cancelled one level per loop turn instead of on the stack.
fn cancel_watched(child: &Bound<'_, PyAny>, message: Option<Py<PyAny>>) -> PyResult<bool> {
    let py = child.py();
    if !CancelDepth::too_deep() {
        return child
            .call_method1(intern!(py, "cancel"), (message,))?
            .is_truthy();
    }
    if child.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(false);
    }
    let cancel = child.getattr(intern!(py, "cancel"))?;
    running_loop(py)?.call_method1(intern!(py, "call_soon"), (cancel, message))?;
    Ok(true)
}

/// The done callback on a watched child.
#[pyclass(frozen, module = "fastio._fastio")]
struct ChildDone {
    outer: Py<FastioFuture>,
    index: usize,
}

#[pymethods]
impl ChildDone {
    fn __call__(&self, py: Python<'_>, child: Bound<'_, PyAny>) -> PyResult<()> {
        let settled = match child.cast::<FastioFuture>() {
            Ok(future) => future.get().settled(py),
            Err(_) => Some(settled_from_python(&child)?),
        };
        match settled {
            Some(settled) => record(self.outer.bind(py), self.index, settled),
            None => Ok(()),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.outer)
    }
}

/// How a finished asyncio future ended.
fn settled_from_python(future: &Bound<'_, PyAny>) -> PyResult<Settled> {
    let py = future.py();
    if future.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
        let message = future
            .getattr(intern!(py, "_cancel_message"))
            .ok()
            .filter(|message| !message.is_none())
            .map(Bound::unbind);
        return Ok(Settled::Cancelled(message));
    }
    let exception = future.call_method0(intern!(py, "exception"))?;
    if !exception.is_none() {
        return Ok(Settled::Error(exception.unbind()));
    }
    Ok(Settled::Value(
        future.call_method0(intern!(py, "result"))?.unbind(),
    ))
}
