//! `fastio.sleep`: asyncio.sleep's contract on a tokio timer.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::bridge::{FastioFuture, Job, Value};

/// Waits ``delay`` seconds on a tokio timer, then returns ``result``.
///
/// Behaves like ``asyncio.sleep``: the timer starts at the first await (or
/// when handed to ``gather``/``ensure_future``); ``sleep(0)`` and negative
/// delays yield to the event loop exactly once; ``math.inf`` (or a delay too
/// large for a timer) sleeps until cancelled; cancelling stops the timer at
/// once. The timer's resolution is one millisecond.
///
/// Raises TypeError if ``delay`` is not a real number and ValueError if it
/// is NaN.
///
/// Example::
///
///     assert await fastio.sleep(0.5, "ready") == "ready"
#[pyfunction]
#[pyo3(signature = (delay, result = None))]
pub fn sleep(delay: f64, result: Option<Py<PyAny>>) -> PyResult<FastioFuture> {
    Ok(FastioFuture::new(sleep_job(delay)?, result))
}

/// Chooses how a sleep of `delay` seconds runs.
fn sleep_job(delay: f64) -> PyResult<Job> {
    if delay.is_nan() {
        return Err(PyValueError::new_err("sleep delay must not be NaN"));
    }
    if delay <= 0.0 {
        return Ok(Job::YieldOnce);
    }
    // Beyond what a Duration holds (inf included) the sleep can only end by
    // cancellation, so no timer is armed at all.
    let Ok(duration) = Duration::try_from_secs_f64(delay) else {
        return Ok(Job::Never);
    };
    Ok(Job::spawn(move || async move {
        tokio::time::sleep(duration).await;
        Ok(Value::Preset)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_map_to_the_right_job() {
        assert!(matches!(sleep_job(0.0), Ok(Job::YieldOnce)));
        assert!(matches!(sleep_job(-3.0), Ok(Job::YieldOnce)));
        assert!(matches!(sleep_job(f64::INFINITY), Ok(Job::Never)));
        assert!(matches!(sleep_job(1e300), Ok(Job::Never)));
        assert!(matches!(sleep_job(0.25), Ok(Job::Spawn(_))));
        assert!(sleep_job(f64::NAN).is_err());
    }
}
