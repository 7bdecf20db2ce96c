//! What running work hands back to the loop thread, still free of Python:
//! its outcome, and the messages it sends on the way.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::future::{AbortRegistration, Abortable, BoxFuture};
use futures::FutureExt;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::asyncio::fastio_exception;
use super::live::LiveWork;

/// What a finished piece of Rust work hands back, still free of Python.
pub type Outcome = Result<Value, Failure>;

/// Why work failed, as plain data; it becomes an exception on the loop thread.
pub type Failure = Box<dyn ToPyException>;

/// A failure that knows its Python exception.
pub trait ToPyException: Send {
    /// Converts on the loop thread, where the GIL is held.
    fn to_exception(self: Box<Self>, py: Python<'_>) -> PyErr;
}

/// Started work, abortable and panic-safe; `None` means it was aborted.
pub type GuardedWork = BoxFuture<'static, Option<Outcome>>;

/// A successful result, converted to Python on the loop thread.
pub enum Value {
    /// The object the awaitable was created with (`sleep`'s `result`).
    Preset,
    /// Rust data with its own conversion.
    Object(Box<dyn ToPython>),
    /// A list already handed over in slices through [`Link::deliver_items`].
    Delivered,
}

/// Part of a list result, converted on the loop thread one slice at a time
/// so that a huge result never stalls the loop.
pub trait ToPythonItems: Send {
    /// How many items this slice holds.
    fn len(&self) -> usize;
    /// Converts the items and appends them to `list`.
    fn append_to(self: Box<Self>, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()>;
}

/// Rust data that becomes a Python object on the loop thread.
pub trait ToPython: Send {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl ToPython for bool {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(pyo3::types::PyBool::new(py, *self)
            .to_owned()
            .into_any()
            .unbind())
    }
}

/// Wraps `work` so it can be aborted from the loop thread at once and so a
/// panic inside becomes an internal error; `None` means it was aborted.
pub fn guard<Work>(work: Work, registration: AbortRegistration) -> GuardedWork
where
    Work: Future<Output = Outcome> + Send + 'static,
{
    let guarded = Abortable::new(AssertUnwindSafe(work).catch_unwind(), registration);
    let live = LiveWork::new();
    Box::pin(guarded.map(move |result| {
        drop(live);
        match result {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(payload)) => Some(Err(Box::new(Panicked::from(payload)) as Failure)),
            Err(_aborted) => None,
        }
    }))
}

/// A panic caught at the task boundary: a bug in fastio, raised in Python
/// as `fastio.InternalError`.
pub struct Panicked(String);

impl From<Box<dyn std::any::Any + Send>> for Panicked {
    fn from(payload: Box<dyn std::any::Any + Send>) -> Self {
        Self(crate::runtime::panic_message(payload.as_ref()))
    }
}

impl ToPyException for Panicked {
    fn to_exception(self: Box<Self>, py: Python<'_>) -> PyErr {
        match fastio_exception(py, "InternalError").and_then(|class| class.call1((self.0,))) {
            Ok(exception) => PyErr::from_value(exception),
            Err(failure) => failure,
        }
    }
}

/// Sent by running work through its `Link` and handled on the loop
/// thread, in order with the awaitable's other deliveries.
pub trait Message: Send {
    /// How many results it carries, for slicing the loop's drain.
    fn weight(&self) -> usize {
        1
    }

    /// Acts on the awaitable it was sent to (a `FastioFuture`, usually
    /// through its tenant).
    fn handle(self: Box<Self>, future: &Bound<'_, PyAny>) -> PyResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panicked(payload: Box<dyn std::any::Any + Send>) -> String {
        Panicked::from(payload).0
    }

    #[test]
    fn panic_payloads_become_readable_messages() {
        assert_eq!(panicked(Box::new("boom")), "a fastio task panicked: boom");
        assert_eq!(
            panicked(Box::new(String::from("bang"))),
            "a fastio task panicked: bang"
        );
        assert!(panicked(Box::new(7_u8)).contains("non-string payload"));
    }
}
