//! Counters a batch of requests updates as results complete, read from
//! Python by a progress bar on a timer: no wake-up per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;

use crate::response::Indexed;

#[derive(Default)]
pub struct Counts {
    done: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
}

impl Counts {
    /// Counts one finished request: a failure, or a response of so many bytes.
    pub fn record(&self, result: &Indexed) {
        self.done.fetch_add(1, Ordering::Relaxed);
        match &result.1 {
            Ok(data) => {
                self.bytes
                    .fetch_add(data.body.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `fastio._Progress`: what a `fetch_all`/`fetch_iter` given it has done so far.
#[pyclass(frozen, module = "fastio._fastio", name = "_Progress")]
pub struct Progress {
    counts: Arc<Counts>,
}

impl Progress {
    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }
}

#[pymethods]
impl Progress {
    #[new]
    fn new() -> Self {
        Self {
            counts: Arc::new(Counts::default()),
        }
    }

    /// Requests finished, successes and failures.
    #[getter]
    fn done(&self) -> u64 {
        self.counts.done.load(Ordering::Relaxed)
    }

    /// Requests that failed (transport errors, invalid URLs).
    #[getter]
    fn failed(&self) -> u64 {
        self.counts.failed.load(Ordering::Relaxed)
    }

    /// Body bytes received (decoded) by the finished requests.
    #[getter]
    fn bytes(&self) -> u64 {
        self.counts.bytes.load(Ordering::Relaxed)
    }
}
