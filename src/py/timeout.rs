//! `timeout=` arguments and `fastio.Timeout`: one meaning everywhere. A
//! number is the total time an attempt may spend on the wire, from when it
//! has its connection slot (queueing excluded); waiting for a slot is
//! bounded by `pool` and fails with `PoolTimeout`.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use super::args::type_name;

/// One limit as Python gives it: omitted (`...`) for the default, None
/// for no limit, or a positive number of seconds.
pub use crate::http::defaults::Limit;

impl Limit {
    /// `value` as the limit called `name` in messages.
    fn named(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self> {
        if value.is_none() {
            return Ok(Limit::Disabled);
        }
        if value.is(value.py().Ellipsis()) {
            return Ok(Limit::Default);
        }
        let wrong_type = || {
            PyTypeError::new_err(format!(
                "{name} must be a number of seconds or None, not {}",
                type_name(value)
            ))
        };
        if value.is_instance_of::<PyBool>() || value.is_instance_of::<PyString>() {
            return Err(wrong_type());
        }
        let seconds: f64 = value.extract().map_err(|_| wrong_type())?;
        if seconds.is_nan() || seconds <= 0.0 {
            return Err(PyValueError::new_err(format!(
                "{name} must be a positive number of seconds, not {seconds}"
            )));
        }
        Ok(match Duration::try_from_secs_f64(seconds) {
            Ok(limit) => Limit::Seconds(limit),
            // Longer than any Duration (inf included): no limit.
            Err(_) => Limit::Disabled,
        })
    }

    fn to_python(self, py: Python<'_>) -> Py<PyAny> {
        match self {
            Limit::Default => py.Ellipsis(),
            Limit::Disabled => py.None(),
            Limit::Seconds(limit) => limit
                .as_secs_f64()
                .into_pyobject(py)
                .map_or_else(|_| py.None(), |seconds| seconds.into_any().unbind()),
        }
    }

    fn shown(self) -> String {
        match self {
            Limit::Default => "...".to_owned(),
            Limit::Disabled => "None".to_owned(),
            Limit::Seconds(limit) => format!("{:?}", limit.as_secs_f64()),
        }
    }
}

impl<'py> FromPyObject<'_, 'py> for Limit {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        Limit::named(&value, "timeout")
    }
}

/// A `timeout=` argument: a number (or None, or `...`) is the total; a
/// `fastio.Timeout` sets its parts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeoutArg {
    pub total: Limit,
    pub connect: Limit,
    pub read: Limit,
    pub write: Limit,
    pub pool: Limit,
}

impl TimeoutArg {
    /// Everything as the client (or fastio) sets it.
    pub const DEFAULT: TimeoutArg = TimeoutArg {
        total: Limit::Default,
        connect: Limit::Default,
        read: Limit::Default,
        write: Limit::Default,
        pool: Limit::Default,
    };

    /// The total, given the one "default" stands for.
    pub fn or(self, default: Option<Duration>) -> Option<Duration> {
        self.total.or(default)
    }
}

impl<'py> FromPyObject<'_, 'py> for TimeoutArg {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(timeout) = value.cast::<Timeout>() {
            return Ok(timeout.get().parts);
        }
        Ok(TimeoutArg {
            total: Limit::named(&value, "timeout")?,
            ..TimeoutArg::DEFAULT
        })
    }
}

/// Time limits, accepted wherever ``timeout=`` is; each is seconds, None
/// (no limit) or omitted (the client's, else fastio's default).
///
/// - ``total``: the longest one attempt may spend on the wire, from when
///   it has a connection slot (waiting for one is not counted) to the end
///   of its body; for :meth:`Client.stream`, to the response's head, then
///   each wait for more of the body. A bare number as ``timeout=`` is this.
/// - ``connect``: making a connection (TCP, a proxy, TLS).
/// - ``read``: the longest wait for the server between two reads (the
///   response's head, then each piece of its body).
/// - ``write``: the longest wait for the server to take more of any
///   request body (bytes, form, JSON, files or an async iterator), over
///   HTTP/1.1 and HTTP/2; then :class:`fastio.WriteTimeout`.
/// - ``pool``: the longest wait for a connection slot (``max_connections``,
///   ``per_host``), a ``rate_limit`` turn or an HTTP/2 stream (the
///   server's ``MAX_CONCURRENT_STREAMS``); beyond it the request fails with
///   :class:`fastio.PoolTimeout`.
///
/// A client's Timeout sets its defaults; a request's own replaces any of
/// them for that request (``connect``: a connection it opens; one it
/// reuses is already made).
///
/// Example::
///
///     client = fastio.Client(timeout=fastio.Timeout(30, connect=5, pool=10))
///     await client.get(url, timeout=fastio.Timeout(5, pool=1))
#[pyclass(frozen, module = "fastio._fastio", name = "Timeout")]
pub struct Timeout {
    parts: TimeoutArg,
}

#[pymethods]
impl Timeout {
    #[new]
    #[pyo3(signature = (
        total = Limit::Default, *, connect = Limit::Default, read = Limit::Default,
        write = Limit::Default, pool = Limit::Default
    ))]
    fn new(total: Limit, connect: Limit, read: Limit, write: Limit, pool: Limit) -> Self {
        Self {
            parts: TimeoutArg {
                total,
                connect,
                read,
                write,
                pool,
            },
        }
    }

    /// Seconds, None (no limit) or ``...`` (the default).
    #[getter]
    fn total(&self, py: Python<'_>) -> Py<PyAny> {
        self.parts.total.to_python(py)
    }

    /// Seconds, None (no limit) or ``...`` (the default).
    #[getter]
    fn connect(&self, py: Python<'_>) -> Py<PyAny> {
        self.parts.connect.to_python(py)
    }

    /// Seconds, None (no limit) or ``...`` (the default).
    #[getter]
    fn read(&self, py: Python<'_>) -> Py<PyAny> {
        self.parts.read.to_python(py)
    }

    /// Seconds, None (no limit) or ``...`` (the default).
    #[getter]
    fn write(&self, py: Python<'_>) -> Py<PyAny> {
        self.parts.write.to_python(py)
    }

    /// Seconds, None (no limit) or ``...`` (the default).
    #[getter]
    fn pool(&self, py: Python<'_>) -> Py<PyAny> {
        self.parts.pool.to_python(py)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Timeout>()
            .is_ok_and(|other| other.get().parts == self.parts)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}", self.parts).hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        let parts = [
            ("total", self.parts.total),
            ("connect", self.parts.connect),
            ("read", self.parts.read),
            ("write", self.parts.write),
            ("pool", self.parts.pool),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(_, limit)| !limit.is_default())
            .map(|(name, limit)| format!("{name}={}", limit.shown()))
            .collect();
        format!("Timeout({})", shown.join(", "))
    }
}
