//! The process's one tokio runtime: started on first use, replaced in a
//! child after `fork()` (the parent's worker threads do not exist there),
//! both times as `configure_runtime` asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError};

use std::future::Future;
use std::io;

use tokio::runtime::{Builder, Runtime};

// tokio's task-poll hooks exist only with `--cfg tokio_unstable`, which
// .cargo/config.toml sets; a build without them cannot time tasks.
#[cfg(tokio_unstable)]
mod task_time;
#[cfg(tokio_unstable)]
pub use task_time::busiest_task_share;

/// Without tokio's task hooks, tasks are not timed.
#[cfg(not(tokio_unstable))]
pub fn busiest_task_share() -> Option<f64> {
    None
}

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
pub const MAX_WORKER_THREADS: usize = 1024;

/// `configure` was called after the runtime started.
#[derive(Debug)]
pub struct AlreadyRunning;

/// Sets how the runtime is built; only before it starts (in this process,
/// or in a child after `fork()`).
pub fn configure(worker_threads: Option<usize>, idle_priority: bool) -> Result<(), AlreadyRunning> {
    let slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    if slot
        .as_ref()
        .is_some_and(|owned| owned.generation == generation())
    {
        return Err(AlreadyRunning);
    }
    *CONFIG.lock().unwrap_or_else(PoisonError::into_inner) = RuntimeConfig {
        worker_threads,
        idle_priority,
    };
    Ok(())
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
pub fn install_fork_handler() -> io::Result<()> {
    static INSTALL: Once = Once::new();
    let mut status = 0;
    INSTALL.call_once(|| {
        // SAFETY: the handler only touches an atomic, which is async-signal-safe.
        status = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    if status == 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "pthread_atfork failed with code {status}"
        )))
    }
}

/// The current fork generation of this process.
pub fn generation() -> u64 {
    FORK_GENERATION.load(Ordering::SeqCst)
}

/// What a caught panic says, for the InternalError it becomes.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let detail = if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    format!("a fastio task panicked: {detail}")
}

/// Runs `task` on the runtime, starting it (again, after a fork) if needed.
pub fn spawn(task: impl Future<Output = ()> + Send + 'static) -> io::Result<()> {
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
    #[cfg(tokio_unstable)]
    builder
        .on_before_task_poll(task_time::before_poll)
        .on_after_task_poll(task_time::after_poll);
    let runtime = builder.build()?;
    runtime.spawn(task);
    *slot = Some(OwnedRuntime {
        generation: current,
        runtime,
    });
    Ok(())
}
