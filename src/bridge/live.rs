//! Counters of what is alive, for tests and debugging: fastio awaitables
//! (Python objects) and pieces of Rust work (futures on the runtime). After
//! everything is awaited, cancelled or dropped, both return to where they
//! were; a leak shows as a count that does not.

use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::prelude::*;

static FUTURES: AtomicUsize = AtomicUsize::new(0);
static WORK: AtomicUsize = AtomicUsize::new(0);

/// Held by each fastio awaitable for as long as it exists.
pub struct LiveFuture(());

impl LiveFuture {
    pub fn new() -> Self {
        FUTURES.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for LiveFuture {
    fn drop(&mut self) {
        FUTURES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Held by a piece of Rust work from when it is made until it is dropped,
/// finished or aborted. Zero-sized: held in the closure of a `map` around
/// the work, it adds nothing to the work's size (an `async` block around
/// the work would hold it twice).
pub struct LiveWork(());

impl LiveWork {
    pub fn new() -> Self {
        WORK.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for LiveWork {
    fn drop(&mut self) {
        WORK.fetch_sub(1, Ordering::Relaxed);
    }
}

/// (fastio awaitables alive, pieces of Rust work alive).
#[pyfunction]
#[pyo3(name = "_live_counts")]
pub fn live_counts() -> (usize, usize) {
    (
        FUTURES.load(Ordering::Relaxed),
        WORK.load(Ordering::Relaxed),
    )
}
