//! Private hooks that let tests and benchmarks reach one path of the bridge
//! at a time. Exported with a leading underscore; not part of the API.

use pyo3::prelude::*;

use crate::bridge::{FastioFuture, Job, Value};

/// An awaitable that is already finished with `value`: the no-hop path.
#[pyfunction]
#[pyo3(name = "_completed")]
pub fn completed(value: Py<PyAny>) -> FastioFuture {
    FastioFuture::finished(value)
}

/// An awaitable whose work finishes at once on a tokio worker with `value`:
/// one full round trip through the loop's completion queue.
#[pyfunction]
#[pyo3(name = "_on_worker")]
pub fn on_worker(value: Py<PyAny>) -> FastioFuture {
    FastioFuture::new(Job::spawn(|| async { Ok(Value::Preset) }), Some(value))
}

/// An awaitable whose work panics on a tokio worker with `message`.
#[pyfunction]
#[pyo3(name = "_panic_on_worker")]
#[allow(
    clippy::panic,
    reason = "this probe exists to prove panics are contained"
)]
pub fn panic_on_worker(message: String) -> FastioFuture {
    FastioFuture::new(Job::spawn(move || async move { panic!("{message}") }), None)
}

/// The naive bridge, for the benchmark only: pyo3-async-runtimes'
/// `future_into_py`, which makes an `asyncio.Future` and calls
/// `call_soon_threadsafe` with the GIL taken on a tokio thread.
#[cfg(feature = "bench-baseline")]
#[pyfunction]
#[pyo3(name = "_naive_on_worker")]
pub fn naive_on_worker(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(value) })
}
