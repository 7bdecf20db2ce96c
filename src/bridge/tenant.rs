//! How users of the bridge attach their own state and behaviour to an
//! awaitable without the bridge knowing them.

use std::any::Any;

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use super::FastioFuture;

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

/// Sent by running work through its [`super::Link`] and handled on the loop
/// thread, in order with the awaitable's other deliveries.
pub trait Message: Send {
    /// How many results it carries, for slicing the loop's drain.
    fn weight(&self) -> usize {
        1
    }

    /// Acts on the awaitable it was sent to (usually through its tenant).
    fn handle(self: Box<Self>, future: &Bound<'_, FastioFuture>) -> PyResult<()>;
}
