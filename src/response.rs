//! `fastio.Response` and `fastio.Headers`: built on the loop thread from the
//! plain Rust data a request produced.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode, Version};
use pyo3::exceptions::{PyLookupError, PyStopAsyncIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::asyncio::module_attr;
use crate::bridge::{FastioFuture, ToPython, ToPythonItems};
use crate::errors::{exception_class, FastioError};
use crate::headers::{HeaderList, Headers};
use crate::stream::{BodyStream, READ_SIZE};

/// Bodies up to this size are copied into `bytes` when the Response is
/// made; larger ones on first use of `content`.
const EAGER_BODY: usize = 64 * 1024;

/// What one HTTP exchange produced, free of Python.
#[derive(Debug)]
pub struct ResponseData {
    pub method: Method,
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderList,
    /// The URL of this response (after redirects, for the final one).
    pub url: String,
    /// The URL as the caller gave it.
    pub request_url: String,
    pub elapsed: Duration,
    pub body: Bytes,
    /// The redirect responses that led here, oldest first.
    pub history: Vec<ResponseData>,
    /// Its URL's position in the input of `fetch_all`/`fetch_iter`.
    pub index: Option<usize>,
}

impl ResponseData {
    pub fn into_response(self, py: Python<'_>) -> PyResult<Py<Response>> {
        self.into_response_streaming(py, None)
    }

    /// The Response, its body to be read from `stream` when there is one.
    pub fn into_response_streaming(
        self,
        py: Python<'_>,
        stream: Option<BodyStream>,
    ) -> PyResult<Py<Response>> {
        let history = self
            .history
            .into_iter()
            .map(|earlier| earlier.into_response(py))
            .collect::<PyResult<Vec<_>>>()?;
        // A small body becomes `bytes` now, while the results are converted
        // slice by slice between other callbacks, rather than all at once
        // when a caller walks a whole fetch_all result reading `content`.
        let content = PyOnceLock::new();
        let body = if stream.is_none() && self.body.len() <= EAGER_BODY {
            let _ = content.set(py, PyBytes::new(py, &self.body).unbind());
            None
        } else {
            Some(self.body)
        };
        let response = Py::new(
            py,
            Response {
                method: self.method,
                status: self.status,
                version: self.version,
                headers: self.headers,
                url: self.url,
                request_url: self.request_url,
                elapsed: self.elapsed.as_secs_f64(),
                body: Mutex::new(body),
                content,
                history,
                index: self.index,
                stream,
            },
        )?;
        untrack_acyclic(&response);
        Ok(response)
    }
}

/// Takes a Response out of the cycle collector's sight. pyo3 makes every
/// class collectable, but a Response can never be part of a cycle: it
/// refers only to `bytes` and to earlier Responses made before it, never
/// to anything that refers back (CPython untracks tuples of atomic values
/// for the same reason). Tracked, the Responses of a large `fetch_all`
/// were walked by every collection while they were made and by every
/// full collection after (gc was ~6% of the loop thread's time there).
fn untrack_acyclic(response: &Py<Response>) {
    // SAFETY: the pointer is a live object of a GC type (pyo3 sets
    // Py_TPFLAGS_HAVE_GC on every class) and we hold the GIL; untracking an
    // object is always allowed, and its dealloc untracks only if tracked.
    unsafe { pyo3::ffi::PyObject_GC_UnTrack(response.as_ptr().cast()) };
}

impl ToPython for ResponseData {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.into_response(py)?.into_any())
    }
}

/// The response to one request. Immutable; its body is read in full, or
/// streamed when it comes from `Client.stream()`.
#[pyclass(frozen, module = "fastio._fastio")]
pub struct Response {
    method: Method,
    status: StatusCode,
    version: Version,
    headers: HeaderList,
    url: String,
    request_url: String,
    elapsed: f64,
    /// Moved into `content` on first access (large bodies) or at once
    /// (small ones): the bytes are copied once.
    body: Mutex<Option<Bytes>>,
    content: PyOnceLock<Py<PyBytes>>,
    history: Vec<Py<Response>>,
    index: Option<usize>,
    /// The body still to read, for a streamed response.
    stream: Option<BodyStream>,
}

impl Response {
    /// The body, if it is in memory: always, unless streamed and not read.
    fn loaded_content<'py>(&self, py: Python<'py>) -> PyResult<Option<&Bound<'py, PyBytes>>> {
        if self.stream.is_some() {
            return Ok(self.content.get(py).map(|content| content.bind(py)));
        }
        let content = self.content.get_or_try_init(py, || {
            let body = self
                .body
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default();
            // A failed allocation raises MemoryError and keeps the body.
            let copied = crate::large::bytes_object(py, &[&body])?;
            drop(
                self.body
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take(),
            );
            Ok::<_, PyErr>(copied.unbind())
        })?;
        Ok(Some(content.bind(py)))
    }

    fn content_bytes<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyBytes>> {
        self.loaded_content(py)?.ok_or_else(|| {
            stream_error(
                py,
                "ResponseNotRead",
                &format!(
                    "{} {}: the body of a streamed response is not read yet; await response.aread() first",
                    self.method, self.url
                ),
            )
        })
    }

    /// The headers, packed.
    pub fn header_list(&self) -> &HeaderList {
        &self.headers
    }

    /// Keeps `content`, read from the stream, as the body; returns the body.
    pub fn keep_content(&self, py: Python<'_>, content: Bound<'_, PyBytes>) -> Py<PyBytes> {
        // Read twice (two aread() at once): the first one stays.
        let _ = self.content.set(py, content.clone().unbind());
        self.content
            .get(py)
            .map_or_else(|| content.unbind(), |kept| kept.clone_ref(py))
    }

    fn stream_for_reading(&self, py: Python<'_>) -> PyResult<Option<&BodyStream>> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        if self.content.get(py).is_some() {
            return Ok(None);
        }
        if !stream.begin() {
            return Err(stream_error(
                py,
                "StreamConsumed",
                &format!(
                    "{} {}: the body of this streamed response is already being read; it can be read once",
                    self.method, self.url
                ),
            ));
        }
        Ok(Some(stream))
    }

    /// The charset named by Content-Type, if any.
    fn charset(&self) -> Option<String> {
        let value = self.headers.get(CONTENT_TYPE.as_str())?;
        let text = std::str::from_utf8(value).ok()?;
        text.split(';').skip(1).find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    }
}

#[pymethods]
impl Response {
    /// The status code, such as 200.
    #[getter]
    fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The standard reason phrase of the status ("OK", "Not Found"), or "".
    #[getter]
    fn reason(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("")
    }

    #[getter]
    fn headers(slf: Bound<'_, Self>) -> Headers {
        Headers::of(slf.unbind())
    }

    /// The final URL, after redirects.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The URL as it was given.
    #[getter]
    fn request_url(&self) -> &str {
        &self.request_url
    }

    #[getter]
    fn method(&self) -> &str {
        self.method.as_str()
    }

    /// "HTTP/1.1", "HTTP/2", ...
    #[getter]
    fn http_version(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2",
            Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        }
    }

    /// Seconds from sending the request to having the whole body.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.elapsed
    }

    /// The body as bytes.
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(self.content_bytes(py)?.clone())
    }

    /// The body decoded with the charset of Content-Type (UTF-8 when there
    /// is none or it is unknown); undecodable bytes become U+FFFD.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self.content_bytes(py)?;
        if let Some(charset) = self.charset() {
            match content.call_method1("decode", (charset.as_str(), "replace")) {
                Ok(text) => return Ok(text),
                Err(err) if err.is_instance_of::<PyLookupError>(py) => {}
                Err(err) => return Err(err),
            }
        }
        match std::str::from_utf8(content.as_bytes()) {
            Ok(valid) => Ok(PyString::new(py, valid).into_any()),
            Err(_) => content.call_method1("decode", ("utf-8", "replace")),
        }
    }

    /// The body parsed as JSON (by orjson); raises ``json.JSONDecodeError``
    /// (a ValueError) for a body that is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(py, &LOADS, "orjson", "loads")?.call1((self.content_bytes(py)?,))
    }

    /// True for a status below 400.
    #[getter]
    fn ok(&self) -> bool {
        self.status.as_u16() < 400
    }

    /// Returns this response, or raises HTTPStatusError for a status of 400
    /// or more.
    fn raise_for_status(slf: &Bound<'_, Self>) -> PyResult<Py<Response>> {
        let py = slf.py();
        let this = slf.get();
        let status = this.status.as_u16();
        if status < 400 {
            return Ok(slf.clone().unbind());
        }
        let side = if status < 500 { "client" } else { "server" };
        let message = format!(
            "{} {}: {side} error {status} {}",
            this.method,
            this.url,
            this.status.canonical_reason().unwrap_or("")
        );
        let kwargs = PyDict::new(py);
        kwargs.set_item("url", &this.url)?;
        kwargs.set_item("response", slf)?;
        let exception = exception_class(py, "HTTPStatusError")?.call((message,), Some(&kwargs))?;
        Err(PyErr::from_value(exception))
    }

    /// The position of its URL in the input of ``fetch_all`` or
    /// ``fetch_iter``; None for a single request.
    #[getter]
    fn index(&self) -> Option<usize> {
        self.index
    }

    /// The charset the body is decoded with: Content-Type's, else "utf-8".
    #[getter]
    fn encoding(&self) -> String {
        self.charset().unwrap_or_else(|| "utf-8".to_owned())
    }

    /// Async iterator over the body as bytes, in pieces of what has arrived
    /// (up to 256 KiB), or of exactly ``chunk_size`` bytes (the last may be
    /// shorter). A streamed body can be iterated once.
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_bytes(slf: &Bound<'_, Self>, chunk_size: Option<i64>) -> PyResult<ByteIterator> {
        let py = slf.py();
        let chunk_size = match chunk_size {
            None => None,
            Some(size) if size >= 1 => Some(usize::try_from(size).unwrap_or(usize::MAX)),
            Some(size) => {
                return Err(PyValueError::new_err(format!(
                    "chunk_size must be at least 1, not {size}"
                )))
            }
        };
        let streaming = slf.get().stream_for_reading(py)?.is_some();
        Ok(ByteIterator {
            response: slf.clone().unbind(),
            chunk_size,
            streaming,
            offset: Mutex::new(0),
        })
    }

    /// Async iterator over the body as text, decoded incrementally with
    /// :attr:`encoding` (undecodable bytes become U+FFFD).
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_text<'py>(
        slf: &Bound<'py, Self>,
        chunk_size: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        static AITER_TEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(slf.py(), &AITER_TEXT, "fastio._streaming", "aiter_text")?
            .call1((slf, chunk_size))
    }

    /// Async iterator over the body's lines, without their line endings.
    fn aiter_lines<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static AITER_LINES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(slf.py(), &AITER_LINES, "fastio._streaming", "aiter_lines")?.call1((slf,))
    }

    /// Reads the rest of a streamed body and keeps it as :attr:`content`;
    /// returns the body as bytes (at once if it is already in memory).
    fn aread(slf: &Bound<'_, Self>) -> PyResult<FastioFuture> {
        let py = slf.py();
        let this = slf.get();
        match this.stream_for_reading(py)? {
            Some(stream) => Ok(stream.read_all(slf.clone().unbind())),
            None => Ok(FastioFuture::finished(
                this.content_bytes(py)?.clone().into_any().unbind(),
            )),
        }
    }

    /// Closes a streamed body, giving its connection back (a body read to
    /// the end already did). Nothing to do for other responses.
    fn aclose(&self, py: Python<'_>) -> PyResult<FastioFuture> {
        if let Some(stream) = &self.stream {
            stream.close()?;
        }
        Ok(FastioFuture::finished(py.None()))
    }

    /// The redirect responses that led here, oldest first.
    #[getter]
    fn history<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.history.iter().map(|earlier| earlier.clone_ref(py)))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Response [{} {}] {} {}>",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            self.method,
            self.url
        )
    }
}

/// A Python exception of the stream family (`fastio.StreamConsumed`, ...).
fn stream_error(py: Python<'_>, class: &str, message: &str) -> PyErr {
    match exception_class(py, class).and_then(|class| class.call1((message,))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failure) => failure,
    }
}

/// `Response.aiter_bytes()`: each step is one read of the stream, or a
/// slice of a body already in memory.
#[pyclass(frozen, module = "fastio._fastio", name = "_ByteIterator")]
pub struct ByteIterator {
    response: Py<Response>,
    chunk_size: Option<usize>,
    streaming: bool,
    /// How much of an in-memory body was handed out.
    offset: Mutex<usize>,
}

#[pymethods]
impl ByteIterator {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<FastioFuture> {
        let response = self.response.get();
        if self.streaming {
            if let Some(stream) = &response.stream {
                return Ok(match self.chunk_size {
                    Some(size) => stream.read(size, true),
                    None => stream.read(READ_SIZE, false),
                });
            }
        }
        let content = response.content_bytes(py)?.as_bytes();
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        let start = (*offset).min(content.len());
        let end = self.chunk_size.map_or(content.len(), |size| {
            start.saturating_add(size).min(content.len())
        });
        *offset = end;
        if start == end {
            let stop = PyStopAsyncIteration::new_err(()).into_value(py).into_any();
            return Ok(FastioFuture::failed(stop));
        }
        let piece = PyBytes::new(py, &content[start..end]);
        Ok(FastioFuture::finished(piece.into_any().unbind()))
    }
}

/// Results of `fetch_all`, each a Response or the exception of a failure;
/// one slice of the final list.
pub struct ResultSlice(pub Vec<Option<Indexed>>);

/// A result of `fetch_all`/`fetch_iter` with its URL's input position.
pub type Indexed = (usize, Result<ResponseData, FastioError>);

/// The exception of a failed URL, with ``.index`` set to its position.
pub fn indexed_exception(py: Python<'_>, error: FastioError, index: usize) -> PyResult<Py<PyAny>> {
    let exception = error.into_pyerr(py).into_value(py);
    exception.bind(py).setattr("index", index)?;
    Ok(exception.into_any())
}

/// Results of `fetch_iter` as they completed: Responses, and exceptions
/// for failures; with whether more may come and how many URLs the work
/// wants pulled next.
pub struct Batch {
    pub results: Vec<Indexed>,
    pub want: usize,
    pub ended: bool,
}

impl ToPython for Batch {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let items = PyList::empty(py);
        for (index, result) in self.results {
            match result {
                Ok(data) => items.append(data.into_response(py)?)?,
                Err(error) => items.append(indexed_exception(py, error, index)?)?,
            }
        }
        Ok((items, self.want, self.ended)
            .into_pyobject(py)?
            .into_any()
            .unbind())
    }
}

impl ToPythonItems for ResultSlice {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn append_to(self: Box<Self>, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()> {
        for result in self.0 {
            let item = match result {
                Some((_, Ok(data))) => data.into_response(py)?.into_any(),
                Some((index, Err(error))) => indexed_exception(py, error, index)?,
                None => py.None(),
            };
            list.append(item)?;
        }
        Ok(())
    }
}
