//! The process's one tokio runtime: started on first use, replaced in a
//! child after `fork()` (the parent's worker threads do not exist there).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// Bumped in the child of every `fork()`; anything tagged with an older
/// value belongs to the parent and must not be used.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

static RUNTIME: Mutex<Option<OwnedRuntime>> = Mutex::new(None);

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
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("fastio-worker")
        .build()
        .map_err(|err| PyOSError::new_err(format!("cannot start the tokio runtime: {err}")))?;
    runtime.spawn(task);
    *slot = Some(OwnedRuntime {
        generation: current,
        runtime,
    });
    Ok(())
}
