//! fastio's errors as Python exceptions: each kind maps onto one class of
//! the hierarchy in `fastio/exceptions.py`.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

use super::timings::Timings;
use crate::bridge::asyncio::fastio_exception;
use crate::bridge::{Failure, ToPyException};
use crate::http::error::{hide_credentials, shown_header_value, ErrorKind, FastioError};

impl ErrorKind {
    /// The name of the matching class in `fastio.exceptions`.
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorKind::Internal => "InternalError",
            ErrorKind::Request => "RequestError",
            ErrorKind::Connect => "ConnectError",
            ErrorKind::Tls => "TLSError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::ConnectTimeout => "ConnectTimeout",
            ErrorKind::ReadTimeout => "ReadTimeout",
            ErrorKind::PoolTimeout => "PoolTimeout",
            ErrorKind::WriteTimeout => "WriteTimeout",
            ErrorKind::Proxy => "ProxyError",
            ErrorKind::Dns => "DNSError",
            ErrorKind::NameNotFound => "NameNotFound",
            ErrorKind::Read => "ReadError",
            ErrorKind::Write => "WriteError",
            ErrorKind::Protocol => "ProtocolError",
            ErrorKind::TooManyRedirects => "TooManyRedirects",
            ErrorKind::BodyTooLarge => "BodyTooLarge",
            ErrorKind::Decode => "DecodeError",
            ErrorKind::InvalidUrl => "InvalidURL",
            ErrorKind::ClientClosed => "ClientClosed",
            ErrorKind::StreamClosed => "StreamClosed",
        }
    }
}

/// `fastio._fastio._shown_header`: a header's value as reprs and records
/// show it: `[secure]` for credentials (Authorization, Cookie, Set-Cookie
/// and the like), else as it is.
#[pyfunction]
#[pyo3(name = "_shown_header")]
pub fn shown_header(name: &str, value: &str) -> String {
    shown_header_value(name, value).to_owned()
}

/// `fastio._fastio._shown_url`: a URL as fastio's records show it:
/// normalised as it is sent (when it parses), credentials hidden. The CLI
/// keys `--resume` on it, so an input line and its record always match.
#[pyfunction]
#[pyo3(name = "_shown_url")]
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => hide_credentials(parsed.as_str()).into_owned(),
        Err(_) => hide_credentials(url).into_owned(),
    }
}

/// Looks up one class of the Python hierarchy.
pub fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    fastio_exception(py, name)
}

/// The exception for `error`; needs the GIL, so only the loop thread (or a
/// call from Python) converts.
pub fn exception_of<'py>(py: Python<'py>, error: &FastioError) -> PyResult<Bound<'py, PyAny>> {
    if let Some(raised) = error
        .raised
        .as_ref()
        .and_then(|raised| raised.0.downcast_ref::<Py<PyAny>>())
    {
        // What a mock transport's handler raised, unchanged.
        return Ok(raised.bind(py).clone());
    }
    let class = exception_class(py, error.kind.class_name())?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("url", error.url.as_deref())?;
    let exception = class.call((error.message.as_str(),), Some(&kwargs))?;
    if let Some(index) = error.index {
        exception.setattr("index", index)?;
    }
    if let Some(failed) = &error.timings {
        let timings = Timings::new(failed.timings.clone(), failed.after.as_secs_f64());
        exception.setattr("timings", timings)?;
    }
    Ok(exception)
}

impl From<FastioError> for PyErr {
    fn from(error: FastioError) -> PyErr {
        Python::attach(|py| match exception_of(py, &error) {
            Ok(exception) => PyErr::from_value(exception),
            Err(failure) => failure,
        })
    }
}

impl ToPyException for FastioError {
    fn to_exception(self: Box<Self>, _py: Python<'_>) -> PyErr {
        PyErr::from(*self)
    }
}

impl From<FastioError> for Failure {
    fn from(error: FastioError) -> Failure {
        Box::new(error)
    }
}
