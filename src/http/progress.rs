//! Counters a batch of requests updates as results complete, read from
//! Python by a progress bar on a timer: no wake-up per request.

use std::sync::atomic::{AtomicU64, Ordering};

use super::response::Indexed;

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

impl Counts {
    /// Requests finished, successes and failures.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Body bytes received (decoded).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}
