//! `fastio._Progress`: the counters of a bulk fetch, as Python reads them.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::http::progress::Counts;

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
        self.counts.done()
    }

    /// Requests that failed (transport errors, invalid URLs).
    #[getter]
    fn failed(&self) -> u64 {
        self.counts.failed()
    }

    /// Body bytes received (decoded) by the finished requests.
    #[getter]
    fn bytes(&self) -> u64 {
        self.counts.bytes()
    }
}
