//! How the worker threads' polling time divides among tasks, for
//! `fastio.testing.busiest_task_share()`: one task polled for most of it
//! caps a process at about one core however many it has (Amdahl's bound).
//! tokio's task-poll hooks time each poll once someone has asked; before
//! that they only read a flag. Polls are timed in the thread's CPU time
//! (a system call each, while timing): in wall time, a long poll the
//! kernel preempted would count the other threads' work as its own.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::TaskMeta;
use tokio::task::Id;

/// Set by the first reading: polls are timed from then on.
static TIMING: AtomicBool = AtomicBool::new(false);

/// Each worker thread's polling time per task since the last reading.
type Times = Arc<Mutex<HashMap<Id, u64>>>;

/// Every worker thread's [`Times`], for the reading to sum.
static THREADS: Mutex<Vec<Times>> = Mutex::new(Vec::new());

thread_local! {
    /// When the poll running on this thread began.
    static STARTED: Cell<Option<u64>> = const { Cell::new(None) };
    static MINE: Times = {
        let times = Times::default();
        THREADS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&times));
        times
    };
}

/// tokio's hook before each task poll.
pub fn before_poll(_: &TaskMeta<'_>) {
    if TIMING.load(Ordering::Relaxed) {
        STARTED.set(Some(thread_nanos()));
    }
}

/// tokio's hook after each task poll.
pub fn after_poll(task: &TaskMeta<'_>) {
    let Some(started) = STARTED.take() else {
        return;
    };
    let nanos = thread_nanos().saturating_sub(started);
    MINE.with(|times| {
        let mut times = times.lock().unwrap_or_else(PoisonError::into_inner);
        let spent = times.entry(task.id()).or_insert(0);
        *spent = spent.saturating_add(nanos);
    });
}

/// This thread's CPU time in nanoseconds.
#[cfg(unix)]
fn thread_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let failed = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0;
    if failed {
        return 0;
    }
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Wall time where no thread CPU clock is at hand.
#[cfg(not(unix))]
fn thread_nanos() -> u64 {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The largest share of the workers' CPU time spent polling one task since
/// the previous call (0.0 when none was timed); the first call starts the
/// timing. `None` in a build without tokio's task hooks.
pub fn busiest_task_share() -> Option<f64> {
    TIMING.store(true, Ordering::Relaxed);
    let mut per_task: HashMap<Id, u64> = HashMap::new();
    for times in THREADS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        let drained = std::mem::take(&mut *times.lock().unwrap_or_else(PoisonError::into_inner));
        for (task, nanos) in drained {
            let spent = per_task.entry(task).or_insert(0);
            *spent = spent.saturating_add(nanos);
        }
    }
    let total: u64 = per_task.values().fold(0, |sum, &n| sum.saturating_add(n));
    let busiest = per_task.values().copied().max().unwrap_or(0);
    Some(if total == 0 {
        0.0
    } else {
        busiest as f64 / total as f64
    })
}
