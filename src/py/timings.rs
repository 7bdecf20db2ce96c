//! `fastio.Timings`: where one request's time went, as `Response.timings`
//! gives it (made when asked for, from the plain Rust data the Response
//! keeps).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::http::timing;

/// Where one request's time went, in seconds.
///
/// ``dns``, ``connect`` and ``tls`` are the phases of the connection the
/// request opened (``None`` when it reused one, or when the phase did not
/// happen: an IP address or ``resolve=`` needs no lookup, plain HTTP no
/// TLS); ``first_byte`` runs from sending the request (its connection
/// slot held, a new connection's phases included) to the response's head;
/// ``total`` to the end of the body (as ``Response.elapsed``). ``reused``
/// says whether the connection was there already; ``peer`` is the address
/// connected to (``"ip:port"``; the proxy's through one); ``attempts``
/// counts the tries (after retries, the final attempt's timings).
///
/// A failed request's error has them too (``FastioError.timings``): the
/// phases its own connect reached (a connect that failed: ``dns`` and the
/// time ``connect`` took to fail), ``first_byte`` None, ``total`` from
/// sending its last attempt to the failure, ``reused`` True when it
/// started no connect of its own.
#[pyclass(frozen, module = "fastio", name = "Timings")]
pub struct Timings {
    timings: timing::Timings,
    total: f64,
}

impl Timings {
    pub fn new(timings: timing::Timings, total: f64) -> Self {
        Self { timings, total }
    }
}

fn seconds(phase: Option<Duration>) -> Option<f64> {
    phase.map(|phase| phase.as_secs_f64())
}

#[pymethods]
impl Timings {
    /// Name resolution, when the request's connection needed one.
    #[getter]
    fn dns(&self) -> Option<f64> {
        seconds(self.timings.dns())
    }

    /// TCP connect (and a proxy's handshake), when the request opened the
    /// connection.
    #[getter]
    fn connect(&self) -> Option<f64> {
        seconds(self.timings.connect())
    }

    /// The TLS handshake, when the request opened an https connection.
    #[getter]
    fn tls(&self) -> Option<f64> {
        seconds(self.timings.tls())
    }

    /// From sending the request to the response's head; ``None`` for a
    /// failure's.
    #[getter]
    fn first_byte(&self) -> Option<f64> {
        seconds(self.timings.first_byte())
    }

    /// From the start to the end of the body (``Response.elapsed``).
    #[getter]
    fn total(&self) -> f64 {
        self.total
    }

    /// Whether the request went over a connection already open.
    #[getter]
    fn reused(&self) -> bool {
        self.timings.reused
    }

    /// The address connected to, ``"ip:port"``; ``None`` if not known.
    #[getter]
    fn peer(&self) -> Option<String> {
        self.timings.peer().map(|peer| peer.to_string())
    }

    /// Attempts made: 1 unless retried.
    #[getter]
    fn attempts(&self) -> u16 {
        self.timings.attempts
    }

    /// Everything as a dict (seconds), for records and logs.
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("dns", self.dns())?;
        dict.set_item("connect", self.connect())?;
        dict.set_item("tls", self.tls())?;
        dict.set_item("first_byte", self.first_byte())?;
        dict.set_item("total", self.total)?;
        dict.set_item("reused", self.reused())?;
        dict.set_item("peer", self.peer())?;
        dict.set_item("attempts", self.attempts())?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        let phase = |name: &str, value: Option<f64>| {
            value.map_or(String::new(), |value| {
                format!(" {name}={:.1}ms", value * 1e3)
            })
        };
        format!(
            "<Timings{}{}{}{} total={:.1}ms reused={} attempts={}>",
            phase("dns", self.dns()),
            phase("connect", self.connect()),
            phase("tls", self.tls()),
            phase("first_byte", self.first_byte()),
            self.total * 1e3,
            if self.reused() { "True" } else { "False" },
            self.attempts()
        )
    }
}
