//! fastio's one error type and its mapping onto the Python exception
//! hierarchy defined in `fastio/exceptions.py`.

use std::any::Any;
use std::borrow::Cow;
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
    /// Its URL's position in the input of `fetch_all`/`fetch_iter`.
    pub index: Option<usize>,
}

impl std::ops::Deref for FastioError {
    type Target = ErrorParts;

    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl FastioError {
    /// The error, with the credentials of every URL in `url` and `message`
    /// hidden: no password or token in a URL is ever shown.
    pub fn new(kind: ErrorKind, url: Option<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self(Box::new(ErrorParts {
            kind,
            url: url.map(without_credentials),
            message: without_credentials(message),
            index: None,
        }))
    }

    /// The error of the input item at `index` of a bulk fetch.
    pub fn with_index(mut self, index: usize) -> Self {
        self.0.index = Some(index);
        self
    }

    /// An error about `method url`: the message says which request, what
    /// failed and why.
    pub fn for_request(kind: ErrorKind, method: &str, url: &str, what: &str) -> Self {
        Self::new(
            kind,
            Some(url.to_owned()),
            format!("{method} {}: {what}", clipped(url)),
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
        let exception = class.call((self.message.as_str(),), Some(&kwargs))?;
        if let Some(index) = self.index {
            exception.setattr("index", index)?;
        }
        Ok(exception)
    }
}

impl fmt::Display for FastioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FastioError {}

/// The most characters of one piece of input (a URL) shown in a message.
const SHOWN_AT_MOST: usize = 300;

/// `text`, cut short with its length said when it is too long to show whole.
pub fn clipped(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(SHOWN_AT_MOST) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}... ({} characters)",
            &text[..end],
            text.chars().count()
        )),
    }
}

/// `text` with the userinfo (`user:password@`) of every URL in it replaced
/// by `***`: the URL's field, wherever the URL stands in a message, so a
/// credential that happens to be a common word garbles nothing else.
pub fn hide_credentials(text: &str) -> Cow<'_, str> {
    if !text.contains("://") || !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let authority_start = start + 3;
        shown.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        // The authority ends where the path, query or fragment begins, or
        // where the URL does inside a message.
        let end = rest
            .find(|c: char| "/?#".contains(c) || c.is_whitespace() || "\"'<>()[]{}`,;".contains(c))
            .unwrap_or(rest.len());
        match rest[..end].rfind('@') {
            Some(at) => {
                shown.push_str("***");
                rest = &rest[at..];
            }
            None => {
                shown.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    shown.push_str(rest);
    Cow::Owned(shown)
}

/// `text` with its URLs' credentials hidden, copied only when there were any.
fn without_credentials(text: String) -> String {
    match hide_credentials(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(hidden) => hidden,
    }
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
    fn credentials_in_urls_are_hidden_field_by_field() {
        assert_eq!(
            hide_credentials("GET http://alice:S3CRET@host:8/x?q=1: failed"),
            "GET http://***@host:8/x?q=1: failed"
        );
        assert_eq!(
            hide_credentials("via (socks5://e:e@127.0.0.1:9) to https://t0ken@h/"),
            "via (socks5://***@127.0.0.1:9) to https://***@h/"
        );
        // An @ in the path or a mail address is not userinfo.
        assert_eq!(
            hide_credentials("GET http://h/a@b: mail e@example.com"),
            "GET http://h/a@b: mail e@example.com"
        );
        let error = FastioError::for_request(
            ErrorKind::Connect,
            "GET",
            "http://e:e@127.0.0.1:1/",
            "connect failed",
        );
        assert_eq!(error.url.as_deref(), Some("http://***@127.0.0.1:1/"));
        assert_eq!(error.message, "GET http://***@127.0.0.1:1/: connect failed");
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
