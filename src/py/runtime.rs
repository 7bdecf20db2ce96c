//! `configure_runtime`: how fastio's tokio runtime is built.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::args::{is_plain_int, type_name};
use crate::runtime::{self, MAX_WORKER_THREADS};

/// Sets how fastio's tokio runtime is built; call it before the first
/// fastio call of the process (the runtime starts then), else RuntimeError.
///
/// Each call replaces the whole configuration. A child after ``os.fork()``
/// builds its own runtime with the configuration it inherited, and may call
/// this again before its first fastio call.
///
/// ``worker_threads``: tokio worker threads, 1 to 1024; ``None`` (the
/// default) is one per CPU this process may use.
///
/// ``worker_priority``: ``"normal"`` (the default, also ``None``) or
/// ``"idle"`` (Linux only): fastio's threads run under ``SCHED_IDLE``, so
/// the event loop's thread, or any other normal thread that wakes up, takes
/// a CPU from them at once. On a machine whose CPUs are all busy this keeps
/// the event loop's lag low while fastio works. The price: fastio's threads
/// get almost no CPU while other processes keep every CPU busy, so requests
/// then slow down, or time out (both measured in ``bench/http-results.md``).
/// Best effort: a sandbox that refuses ``SCHED_IDLE`` leaves the threads at
/// normal priority.
///
/// Raises TypeError for arguments of the wrong type and ValueError for
/// values out of range.
///
/// Example::
///
///     fastio.configure_runtime(worker_threads=2, worker_priority="idle")
///     asyncio.run(main())
#[pyfunction]
#[pyo3(signature = (*, worker_threads = None, worker_priority = None))]
pub fn configure_runtime(
    worker_threads: Option<&Bound<'_, PyAny>>,
    worker_priority: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let worker_threads = worker_threads.map(thread_count).transpose()?;
    let idle_priority = match worker_priority {
        None => false,
        Some(priority) => is_idle_priority(priority)?,
    };
    runtime::configure(worker_threads, idle_priority).map_err(|_| {
        PyRuntimeError::new_err(
            "fastio's runtime is already running: call configure_runtime() before the first fastio call",
        )
    })
}

fn thread_count(value: &Bound<'_, PyAny>) -> PyResult<usize> {
    if !is_plain_int(value) {
        return Err(PyTypeError::new_err(format!(
            "worker_threads must be an int or None, not {}",
            type_name(value)
        )));
    }
    match value.extract::<i64>() {
        Ok(count) if (1..=MAX_WORKER_THREADS as i64).contains(&count) => {
            Ok(usize::try_from(count).unwrap_or(1))
        }
        _ => Err(PyValueError::new_err(format!(
            "worker_threads must be between 1 and {MAX_WORKER_THREADS}, not {value}"
        ))),
    }
}

fn is_idle_priority(value: &Bound<'_, PyAny>) -> PyResult<bool> {
    let Ok(name) = value.extract::<&str>() else {
        return Err(PyTypeError::new_err(format!(
            "worker_priority must be a str, not {}",
            type_name(value)
        )));
    };
    match name {
        "normal" => Ok(false),
        "idle" if cfg!(target_os = "linux") => Ok(true),
        "idle" => Err(PyValueError::new_err(
            "worker_priority='idle' is available only on Linux (SCHED_IDLE)",
        )),
        other => Err(PyValueError::new_err(format!(
            "worker_priority must be 'normal' or 'idle', not {other:?}"
        ))),
    }
}

/// The largest share of the worker threads' CPU time spent polling one task
/// since the previous call; the first call starts the timing and returns
/// 0.0. RuntimeError in a build without tokio's task hooks.
#[pyfunction]
#[pyo3(name = "_busiest_task_share")]
pub fn busiest_task_share() -> PyResult<f64> {
    runtime::busiest_task_share().ok_or_else(|| {
        PyRuntimeError::new_err(
            "this build of fastio cannot time tasks (built without --cfg tokio_unstable)",
        )
    })
}
