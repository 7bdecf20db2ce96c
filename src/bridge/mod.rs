//! Rust futures as asyncio awaitables.
//!
//! A [`FastioFuture`] is duck-typed as an `asyncio.Future`. Its Rust work runs
//! on the tokio runtime and finishes by pushing plain Rust data into the
//! [`queue::LoopQueue`] of the event loop it started on; the loop thread
//! drains the queue in batches, converts to Python objects and schedules the
//! callbacks. No tokio thread ever takes the GIL or touches a Python object.
//!
//! The bridge knows none of its users: `gather`, the bulk fetches and the
//! rest attach through a [`Tenant`] and the [`Message`]s their work sends.

pub mod asyncio;
mod future;
mod inbox;
pub mod live;
mod queue;
mod ready;
mod release;
mod work;

pub use future::{FastioFuture, Job, Link, Settled, Tenant};
pub use queue::DRAIN_SLICE;
pub use work::{
    Failure, GuardedWork, Message, Outcome, ToPyException, ToPython, ToPythonItems, Value,
};

use std::future::Future;

use pyo3::exceptions::PyOSError;
use pyo3::PyResult;

/// Runs `task` on the runtime, detached from any awaitable (a server, a
/// body being fed); an OSError if the runtime cannot start.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> PyResult<()> {
    crate::runtime::spawn(task)
        .map_err(|err| PyOSError::new_err(format!("cannot start the tokio runtime: {err}")))
}
