//! fastio's one error type and its mapping onto the Python exception
//! hierarchy defined in `fastio/exceptions.py`.

use std::any::Any;
use std::fmt;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

/// What kind of failure; each maps to one class in `fastio.exceptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bug in fastio itself, such as a panic inside a task.
    Internal,
    /// A transport failure that fits no narrower kind.
    Request,
    Connect,
    Tls,
    Timeout,
    PoolTimeout,
    Read,
    Protocol,
    TooManyRedirects,
    BodyTooLarge,
    /// A content encoding that does not decode.
    Decode,
    InvalidUrl,
    ClientClosed,
    /// A read of a streamed body after it was closed.
    StreamClosed,
}

impl ErrorKind {
    /// The name of the matching class in `fastio.exceptions`.
    fn class_name(self) -> &'static str {
        match self {
            ErrorKind::Internal => "InternalError",
            ErrorKind::Request => "RequestError",
            ErrorKind::Connect => "ConnectError",
            ErrorKind::Tls => "TLSError",
            ErrorKind::Timeout => "TimeoutError",
            ErrorKind::PoolTimeout => "PoolTimeout",
            ErrorKind::Read => "ReadError",
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

/// Every failure the Rust side reports. Tokio tasks produce these as plain
/// data; they become Python exceptions only on the loop thread.
///
/// Boxed: outcomes are held by the hundred thousand (a gather, a
/// fetch_all) and are mostly successes, so the error side stays one pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastioError(Box<ErrorParts>);

/// What a [`FastioError`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorParts {
    pub kind: ErrorKind,
    /// The URL the failure is about, when there is one.
    pub url: Option<String>,
    /// The whole message: for requests, method, URL, what failed and why.
    pub message: String,
}

impl std::ops::Deref for FastioError {
    type Target = ErrorParts;

    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl std::ops::DerefMut for FastioError {
    fn deref_mut(&mut self) -> &mut ErrorParts {
        &mut self.0
    }
}

impl FastioError {
    pub fn new(kind: ErrorKind, url: Option<String>, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorParts {
            kind,
            url,
            message: message.into(),
        }))
    }

    /// An error about `method url`: the message says which request, what
    /// failed and why.
    pub fn for_request(kind: ErrorKind, method: &str, url: &str, what: &str) -> Self {
        Self::new(
            kind,
            Some(url.to_owned()),
            format!("{method} {url}: {what}"),
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, None, message)
    }

    /// Builds the error for a panic payload caught at the task boundary.
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let detail = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        Self::internal(format!("a fastio task panicked: {detail}"))
    }

    /// Converts into the Python exception; needs the GIL, so only the loop
    /// thread calls it.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self.to_exception(py) {
            Ok(exception) => PyErr::from_value(exception),
            Err(failure) => failure,
        }
    }

    fn to_exception<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let class = exception_class(py, self.kind.class_name())?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("url", self.url.as_deref())?;
        class.call((self.message.as_str(),), Some(&kwargs))
    }
}

impl fmt::Display for FastioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FastioError {}

/// Looks up one class of the Python hierarchy; the module is imported once.
pub fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("fastio.exceptions").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_become_readable_messages() {
        let from_str = FastioError::from_panic(Box::new("boom"));
        assert_eq!(from_str.to_string(), "a fastio task panicked: boom");
        assert_eq!(from_str.kind, ErrorKind::Internal);
        let from_string = FastioError::from_panic(Box::new(String::from("bang")));
        assert_eq!(from_string.to_string(), "a fastio task panicked: bang");
        let opaque = FastioError::from_panic(Box::new(7_u8));
        assert!(opaque.to_string().contains("non-string payload"));
    }

    #[test]
    fn request_errors_name_the_method_and_url() {
        let error = FastioError::for_request(
            ErrorKind::Timeout,
            "GET",
            "http://127.0.0.1:1/slow",
            "timed out after 0.2 s",
        );
        assert_eq!(error.url.as_deref(), Some("http://127.0.0.1:1/slow"));
        assert_eq!(
            error.to_string(),
            "GET http://127.0.0.1:1/slow: timed out after 0.2 s"
        );
    }
}
