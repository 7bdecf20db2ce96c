//! The process's one tokio runtime: started on first use, replaced in a
//! child after `fork()` (the parent's worker threads do not exist there),
//! both times as `configure_runtime` asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// Bumped in the child of every `fork()`; anything tagged with an older
/// value belongs to the parent and must not be used.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

static RUNTIME: Mutex<Option<OwnedRuntime>> = Mutex::new(None);

/// How the next runtime is built.
static CONFIG: Mutex<RuntimeConfig> = Mutex::new(RuntimeConfig {
    worker_threads: None,
    idle_priority: false,
});

#[derive(Clone, Copy)]
struct RuntimeConfig {
    /// `None`: one per CPU (tokio's default).
    worker_threads: Option<usize>,
    /// Run fastio's threads under `SCHED_IDLE`.
    idle_priority: bool,
}

/// More worker threads than this is a mistake, not a configuration.
const MAX_WORKER_THREADS: usize = 1024;

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
    let slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if slot
        .as_ref()
        .is_some_and(|owned| owned.generation == generation())
    {
        return Err(PyRuntimeError::new_err(
            "fastio's runtime is already running: call configure_runtime() before the first fastio call",
        ));
    }
    *CONFIG.lock().unwrap_or_else(PoisonError::into_inner) = RuntimeConfig {
        worker_threads,
        idle_priority,
    };
    Ok(())
}

fn thread_count(value: &Bound<'_, PyAny>) -> PyResult<usize> {
    if !crate::request::is_plain_int(value) {
        return Err(PyTypeError::new_err(format!(
            "worker_threads must be an int or None, not {}",
            crate::request::type_name(value)
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
            crate::request::type_name(value)
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

/// Moves the calling thread to `SCHED_IDLE`: it runs only when no normal
/// thread of any process wants its CPU, and a normal thread waking up
/// takes the CPU from it at once (the event loop's thread among them).
#[cfg(target_os = "linux")]
fn lower_to_idle_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` outlives the call. A
    // refusal (a seccomp filter) leaves the thread at normal priority,
    // which is only slower to yield, so the result is not checked.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
}

#[cfg(not(target_os = "linux"))]
fn lower_to_idle_priority() {}

struct OwnedRuntime {
    generation: u64,
    runtime: Runtime,
}

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Registers the fork handler; safe to call more than once.
pub fn install_fork_handler() -> PyResult<()> {
    static INSTALL: Once = Once::new();
    let mut status = 0;
    INSTALL.call_once(|| {
        // SAFETY: the handler only touches an atomic, which is async-signal-safe.
        status = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    if status == 0 {
        Ok(())
    } else {
        Err(PyOSError::new_err(format!(
            "pthread_atfork failed with code {status}"
        )))
    }
}

/// The current fork generation of this process.
pub fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::SeqCst)
}

/// Runs `task` on the runtime, starting it (again, after a fork) if needed.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> PyResult<()> {
    let current = generation();
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(owned) = slot.as_ref() {
        if owned.generation == current {
            owned.runtime.spawn(task);
            return Ok(());
        }
    }
    if let Some(stale) = slot.take() {
        // Dropping would wait for worker threads that only the parent has.
        std::mem::forget(stale);
    }
    let config = *CONFIG.lock().unwrap_or_else(PoisonError::into_inner);
    let mut builder = Builder::new_multi_thread();
    builder.enable_all().thread_name("fastio-worker");
    if let Some(count) = config.worker_threads {
        builder.worker_threads(count);
    }
    if config.idle_priority {
        builder.on_thread_start(lower_to_idle_priority);
    }
    let runtime = builder
        .build()
        .map_err(|err| PyOSError::new_err(format!("cannot start the tokio runtime: {err}")))?;
    runtime.spawn(task);
    *slot = Some(OwnedRuntime {
        generation: current,
        runtime,
    });
    Ok(())
}
