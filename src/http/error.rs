//! fastio's one error type: what failed, as plain data, with every URL's
//! credentials hidden.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use std::time::Instant;

use super::timing::{FailedTimings, Timings};

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
    /// No connection within the connect timeout (nothing was sent).
    ConnectTimeout,
    /// Nothing more from the server within the read timeout.
    ReadTimeout,
    PoolTimeout,
    /// The server took none of the request body within the write timeout.
    WriteTimeout,
    /// The proxy could not be reached, or refused the request.
    Proxy,
    /// The DNS servers did not answer in time, or failed.
    Dns,
    /// The host's name does not exist (or has no address).
    NameNotFound,
    /// The connection failed while the response was awaited or read.
    Read,
    /// The connection failed before the request body was all sent.
    Write,
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

/// Something a mock transport's handler raised that is not one of fastio's own errors: the
/// request fails with it unchanged (the engine only carries it).
#[derive(Clone)]
pub struct Raised(pub Arc<dyn Any + Send + Sync>);

impl std::fmt::Debug for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Raised(..)")
    }
}

impl PartialEq for Raised {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Raised {}

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
    /// What a mock transport's handler raised, to be raised unchanged.
    pub raised: Option<Raised>,
    /// Where a failed request's time went: its last attempt's.
    pub timings: Option<FailedTimings>,
}

impl std::ops::Deref for FastioError {
    type Target = ErrorParts;

    fn deref(&self) -> &ErrorParts {
        &self.0
    }
}

impl FastioError {
    /// The error, with the credentials of every URL in `url` and `message`
    /// hidden: no password or token in a URL is ever shown. Control
    /// characters in the message (a CR/LF in a caller's method, a server's
    /// text) are escaped, so a message is always one line of a log.
    pub fn new(kind: ErrorKind, url: Option<String>, message: impl Into<String>) -> Self {
        let message = escape_controls(message.into());
        Self(Box::new(ErrorParts {
            kind,
            url: url.map(without_credentials),
            message: without_credentials(message),
            index: None,
            raised: None,
            timings: None,
        }))
    }

    /// The error that carries what a handler raised (see [`Raised`]).
    pub fn with_raised(mut self, raised: Raised) -> Self {
        self.0.raised = Some(raised);
        self
    }

    /// The error of an attempt that got as far as `timings` say (the
    /// connect it started, the head that came).
    #[must_use]
    pub fn over(mut self, timings: Timings) -> Self {
        self.0.timings = Some(FailedTimings {
            timings,
            after: std::time::Duration::ZERO,
        });
        self
    }

    /// Notes, once the request has failed for good, its attempts and the
    /// time from sending the last one (at `sent`) to now.
    pub fn time_failure(&mut self, sent: Instant, attempts: u16) {
        let mut timings = self
            .0
            .timings
            .take()
            .map_or_else(|| Timings::tried(None), |failed| failed.timings);
        timings.attempts = attempts;
        self.0.timings = Some(FailedTimings {
            timings,
            after: sent.elapsed(),
        });
    }

    /// This error with `other`'s timings (an error made again from it).
    #[must_use]
    pub fn timed_as(mut self, other: &FastioError) -> Self {
        self.0.timings.clone_from(&other.timings);
        self
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
}

impl fmt::Display for FastioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FastioError {}

/// Each cause's message once, outermost first, skipping any that only
/// repeats the one before it.
pub fn cause_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = current {
        let text = cause.to_string();
        if !text.is_empty() && !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        current = cause.source();
    }
    parts.join(": ")
}

/// What a request that found no file descriptor for its connection says.
pub const NO_DESCRIPTORS: &str = "the process has no file descriptor left for a connection \
     (raise `ulimit -n`, or lower the client's max_connections)";

/// Whether `error` comes from the process (or the system) running out of
/// file descriptors.
pub fn out_of_descriptors(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |&cause| cause.source()).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| code == libc::EMFILE || code == libc::ENFILE)
    })
}

/// Whether the process can open no file now: for failures whose error
/// lost its cause (the TLS roots could not be read).
pub fn no_descriptor_left() -> bool {
    std::fs::File::open("/dev/null").is_err_and(|error| {
        error
            .raw_os_error()
            .is_some_and(|code| code == libc::EMFILE || code == libc::ENFILE)
    })
}

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

/// `text` with every control character written as its escape (`\\r`,
/// `\\n`, `\\u{1b}`): nothing in it can start a new line of a log or
/// drive a terminal.
pub fn escape_controls(text: String) -> String {
    if !text.chars().any(char::is_control) {
        return text;
    }
    text.chars()
        .map(|character| {
            if character.is_control() {
                character.escape_debug().to_string()
            } else {
                character.to_string()
            }
        })
        .collect()
}

/// Headers whose values are credentials: every repr, record and message
/// shows [`HIDDEN`] in their place.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// What stands for a secret header's value.
pub const HIDDEN: &str = "[secure]";

/// Whether `name`'s value is a credential, never to be shown.
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS
        .iter()
        .any(|secret| secret.eq_ignore_ascii_case(name))
}

/// `value`, or [`HIDDEN`] for a secret header.
pub fn shown_header_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_header(name) {
        HIDDEN
    } else {
        value
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

#[cfg(test)]
mod control_tests {
    use super::*;

    #[test]
    fn control_characters_in_a_message_are_escaped() {
        let error = FastioError::for_request(
            ErrorKind::Request,
            "GET\r\nX-Injected: 1",
            "http://example.test/",
            "bad\x1b[31m",
        );
        assert_eq!(
            error.message,
            "GET\\r\\nX-Injected: 1 http://example.test/: bad\\u{1b}[31m"
        );
        assert!(!error.message.contains('\n'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
