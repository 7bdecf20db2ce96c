//! `fastio.Response`: built on the loop thread from the plain Rust data a
//! request produced, its body read whole or streamed.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Version};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::args::{body_bytes, method_arg, orjson_dumps, parse_headers, shown_int, IntArg};
use super::charset::text_charset;
use super::errors::exception_class;
use super::headers::Headers;
use super::request::Request;
use super::timings::Timings;
use crate::bridge::asyncio::module_attr;
use crate::bridge::ToPython;
use crate::http::error::hide_credentials;
use crate::http::response::{parse_links, HeaderList, ResponseData};
use crate::http::stream::BodyStream;
use crate::http::timing;
use crate::large::{advise_huge_pages, LARGE};

/// Bodies up to this size are copied into `bytes` when the Response is
/// made; larger ones on first use of `content`.
const EAGER_BODY: usize = 64 * 1024;

/// Response data made into a `fastio.Response`, on the loop thread.
pub trait IntoResponse {
    fn into_response(self, py: Python<'_>) -> PyResult<Py<Response>>;

    /// The Response with its body already a Python `bytes`, however large.
    fn into_response_eager(self, py: Python<'_>) -> PyResult<Py<Response>>;

    /// The Response, its body to be read from `stream` when there is one.
    fn into_response_streaming(
        self,
        py: Python<'_>,
        stream: Option<BodyStream>,
    ) -> PyResult<Py<Response>>;
}

impl IntoResponse for ResponseData {
    fn into_response(self, py: Python<'_>) -> PyResult<Py<Response>> {
        self.into_response_streaming(py, None)
    }

    fn into_response_eager(self, py: Python<'_>) -> PyResult<Py<Response>> {
        let response = self.into_response_streaming(py, None)?;
        response.get().loaded_content(py)?;
        Ok(response)
    }

    fn into_response_streaming(
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
        let body = if self.discarded.is_some() {
            None
        } else if stream.is_none() && self.body.len() <= EAGER_BODY {
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
                request_headers: Some(self.request_headers),
                elapsed: self.elapsed.as_secs_f64(),
                body: Mutex::new(body),
                content,
                history,
                index: self.index,
                stream,
                downloaded: self.downloaded,
                discarded: self.discarded,
                timings: Some(self.timings),
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
/// full collection after.
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

/// A response whose awaitable fails with HTTPStatusError (the response
/// attached) for a status of 400 or more: `Client(raise_for_status=True)`.
pub struct StatusChecked<T>(pub T);

impl<T: ToPython> ToPython for StatusChecked<T> {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let response = Box::new(self.0).to_python(py)?;
        Response::raise_for_status(response.bind(py).cast::<Response>()?)?;
        Ok(response)
    }
}

/// The response to one request, with its body read in full, or (from
/// :meth:`fastio.Client.stream`) to be streamed.
///
/// Example::
///
///     response = await fastio.fetch("https://example.com/data.json")
///     if response.ok:
///         data = response.json()
#[pyclass(frozen, module = "fastio._fastio")]
pub struct Response {
    pub(super) method: Method,
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderList,
    pub(super) url: String,
    pub(super) request_url: String,
    /// The headers sent (none for a Response made by hand).
    pub(super) request_headers: Option<Arc<HeaderMap>>,
    pub(super) elapsed: f64,
    /// Moved into `content` on first access (large bodies) or at once
    /// (small ones): the bytes are copied once.
    pub(super) body: Mutex<Option<Bytes>>,
    pub(super) content: PyOnceLock<Py<PyBytes>>,
    pub(super) history: Vec<Py<Response>>,
    pub(super) index: Option<usize>,
    /// The body still to read, for a streamed response.
    pub(super) stream: Option<BodyStream>,
    /// Body bytes received before decoding (a streamed body counts its own).
    pub(super) downloaded: u64,
    /// The decoded length of a body read but not kept (``keep_body=False``).
    pub(super) discarded: Option<u64>,
    /// Where the request's time went (none for a Response made by hand).
    pub(super) timings: Option<timing::Timings>,
}

impl Response {
    /// Status, headers and body, as a mock transport's handler answered;
    /// the body must be in memory.
    pub fn as_sent(&self, py: Python<'_>) -> PyResult<(StatusCode, HeaderList, Bytes)> {
        let Some(content) = self.loaded_content(py)? else {
            return Err(PyValueError::new_err(
                "a mock transport's Response must have its body in memory, not streamed",
            ));
        };
        Ok((
            self.status,
            self.headers.clone(),
            Bytes::copy_from_slice(content.as_bytes()),
        ))
    }

    /// The body, if it is in memory: always, unless streamed and not read.
    fn loaded_content<'py>(&self, py: Python<'py>) -> PyResult<Option<&Bound<'py, PyBytes>>> {
        if self.stream.is_some() || self.discarded.is_some() {
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
            let copied = bytes_object(py, &[&body])?;
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

    pub(super) fn content_bytes<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyBytes>> {
        self.loaded_content(py)?.ok_or_else(|| {
            let why = if self.discarded.is_some() {
                "the body was read but not kept (keep_body=False); body_size has its length"
            } else {
                "the body of a streamed response is not read yet; await response.aread() first"
            };
            stream_error(
                py,
                "ResponseNotRead",
                &format!("{} {}: {why}", self.method, hide_credentials(&self.url)),
            )
        })
    }

    /// Keeps `content`, read from the stream, as the body; returns the body.
    pub fn keep_content(&self, py: Python<'_>, content: Bound<'_, PyBytes>) -> Py<PyBytes> {
        // Read twice (two aread() at once): the first one stays.
        let _ = self.content.set(py, content.clone().unbind());
        self.content
            .get(py)
            .map_or_else(|| content.unbind(), |kept| kept.clone_ref(py))
    }

    /// The stream to read, `raw` (as sent) or decoded; `None` when the body
    /// is in memory.
    pub(super) fn stream_for_reading(
        &self,
        py: Python<'_>,
        raw: bool,
    ) -> PyResult<Option<&BodyStream>> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        if self.content.get(py).is_some() {
            return Ok(None);
        }
        if !stream.begin(raw) {
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
}

/// HTTP versions by the names `http_version` gives them.
const VERSION_NAMES: [(Version, &str); 5] = [
    (Version::HTTP_09, "HTTP/0.9"),
    (Version::HTTP_10, "HTTP/1.0"),
    (Version::HTTP_11, "HTTP/1.1"),
    (Version::HTTP_2, "HTTP/2"),
    (Version::HTTP_3, "HTTP/3"),
];

#[pymethods]
impl Response {
    /// A Response made by hand, for fakes in unit tests.
    #[new]
    #[pyo3(signature = (
        status_code, *, headers = None, content = None, text = None, json = None, url = "",
        method = "GET"
    ))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn new(
        py: Python<'_>,
        status_code: IntArg,
        headers: Option<&Bound<'_, PyAny>>,
        content: Option<&Bound<'_, PyAny>>,
        text: Option<&str>,
        json: Option<&Bound<'_, PyAny>>,
        url: &str,
        method: &str,
    ) -> PyResult<Self> {
        let mut map = parse_headers(headers)?;
        let given = [content.is_some(), text.is_some(), json.is_some()];
        if given.iter().filter(|&&is| is).count() > 1 {
            return Err(PyValueError::new_err(
                "give at most one of content=, text= and json=",
            ));
        }
        let (body, kind) = if let Some(content) = content {
            (body_bytes(content, "content")?, None)
        } else if let Some(text) = text {
            (
                Bytes::copy_from_slice(text.as_bytes()),
                Some("text/plain; charset=utf-8"),
            )
        } else if let Some(json) = json {
            let encoded = orjson_dumps(json)?;
            (
                Bytes::copy_from_slice(encoded.cast::<PyBytes>()?.as_bytes()),
                Some("application/json"),
            )
        } else {
            (Bytes::new(), None)
        };
        if let Some(kind) = kind {
            if !map.contains_key(CONTENT_TYPE) {
                map.insert(CONTENT_TYPE, http::HeaderValue::from_static(kind));
            }
        }
        let content_cell = PyOnceLock::new();
        let _ = content_cell.set(py, PyBytes::new(py, &body).unbind());
        Ok(Response {
            downloaded: body.len() as u64,
            method: method_arg(method)?,
            status: u16::try_from(status_code.0)
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "status_code must be from 100 to 999{}",
                        shown_int(status_code.0)
                    ))
                })?,
            version: Version::HTTP_11,
            headers: HeaderList::pack(&map),
            request_url: url.to_owned(),
            url: url.to_owned(),
            request_headers: None,
            elapsed: 0.0,
            body: Mutex::new(None),
            content: content_cell,
            history: Vec::new(),
            index: None,
            stream: None,
            discarded: None,
            timings: None,
        })
    }

    /// The status code, such as 200.
    #[getter]
    fn status(&self) -> u16 {
        self.status.as_u16()
    }

    /// The status code (httpx's name for :attr:`status`).
    #[getter]
    fn status_code(&self) -> u16 {
        self.status.as_u16()
    }

    /// True for a 2xx status.
    #[getter]
    fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// True for a redirect status (301, 302, 303, 307, 308) with a Location.
    #[getter]
    fn is_redirect(&self) -> bool {
        matches!(self.status.as_u16(), 301 | 302 | 303 | 307 | 308)
            && self.headers.get(http::header::LOCATION.as_str()).is_some()
    }

    /// True for a 4xx or 5xx status.
    #[getter]
    fn is_error(&self) -> bool {
        self.status.is_client_error() || self.status.is_server_error()
    }

    /// The standard reason phrase of the status ("OK", "Not Found"), or "".
    #[getter]
    fn reason(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("")
    }

    /// The standard reason phrase (httpx's name for :attr:`reason`).
    #[getter]
    fn reason_phrase(&self) -> &'static str {
        self.reason()
    }

    /// True for a 4xx status.
    #[getter]
    fn is_client_error(&self) -> bool {
        self.status.is_client_error()
    }

    /// True for a 5xx status.
    #[getter]
    fn is_server_error(&self) -> bool {
        self.status.is_server_error()
    }

    /// The response headers (a new view on them at each read).
    #[getter]
    fn headers(&self) -> Headers {
        Headers::of(self.headers.clone())
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

    /// The method of the request that got this response.
    #[getter]
    fn method(&self) -> &str {
        self.method.as_str()
    }

    /// "HTTP/1.1", "HTTP/2", ...
    #[getter]
    fn http_version(&self) -> &'static str {
        VERSION_NAMES
            .iter()
            .find(|(version, _)| *version == self.version)
            .map_or("HTTP/1.1", |(_, name)| name)
    }

    /// Seconds from sending the request to having the whole body (for a
    /// streamed response: to having its head): a float that also answers
    /// as httpx's timedelta (``total_seconds()``, compared with or added to
    /// a ``timedelta``).
    #[getter]
    fn elapsed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static ELAPSED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(py, &ELAPSED, "fastio._elapsed", "Elapsed")?.call1((self.elapsed,))
    }

    /// Where the request's time went: name resolution, connect and TLS of
    /// the connection it opened, the wait for the head, whether the
    /// connection was reused, the peer's address, the attempts made; see
    /// :class:`fastio.Timings`. ``None`` for a Response made by hand.
    #[getter]
    fn timings(&self) -> Option<Timings> {
        self.timings
            .clone()
            .map(|timings| Timings::new(timings, self.elapsed))
    }

    /// The body; for a streamed response only after ``await aread()``
    /// (else :class:`fastio.ResponseNotRead`).
    #[getter]
    fn content<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(self.content_bytes(py)?.clone())
    }

    /// The body decoded with the charset of Content-Type (UTF-8 if none or
    /// unknown); undecodable bytes become U+FFFD.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self.content_bytes(py)?;
        if let Some(charset) = text_charset(&self.headers, py) {
            return content.call_method1("decode", (charset.as_str(), "replace"));
        }
        match std::str::from_utf8(content.as_bytes()) {
            Ok(valid) => Ok(PyString::new(py, valid).into_any()),
            Err(_) => content.call_method1("decode", ("utf-8", "replace")),
        }
    }

    /// The body parsed as JSON by orjson; raises
    /// :class:`fastio.JSONDecodeError` (a :class:`fastio.DecodeError` and a
    /// ``json.JSONDecodeError``, so a ValueError) if it is not JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static NOT_JSON: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let parsed = module_attr(py, &LOADS, "orjson", "loads")?.call1((self.content_bytes(py)?,));
        let Err(failure) = parsed else {
            return parsed;
        };
        let not_json = module_attr(py, &NOT_JSON, "orjson", "JSONDecodeError")?;
        if !failure.matches(py, not_json)? {
            return Err(failure);
        }
        // orjson's own, turned into fastio's naming the request.
        let orjson = failure.value(py);
        let url = hide_credentials(&self.url);
        let kwargs = PyDict::new(py);
        kwargs.set_item("url", url.as_ref())?;
        let message = format!(
            "{} {url}: the body is not JSON: {}",
            self.method,
            orjson.getattr("msg")?
        );
        let error = exception_class(py, "JSONDecodeError")?.call(
            (message, orjson.getattr("doc")?, orjson.getattr("pos")?),
            Some(&kwargs),
        )?;
        Err(PyErr::from_value(error))
    }

    /// True for a status below 400.
    #[getter]
    fn ok(&self) -> bool {
        self.status.as_u16() < 400
    }

    /// Returns this response, or raises HTTPStatusError (with ``.response``)
    /// for a status of 400 or more.
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

    /// The charset named by Content-Type, else "utf-8".
    #[getter]
    fn encoding(&self, py: Python<'_>) -> String {
        text_charset(&self.headers, py).unwrap_or_else(|| "utf-8".to_owned())
    }

    /// The length of the (decoded) body in bytes, whether it was kept or
    /// not (a bulk call with ``keep_body=False`` counts bodies without
    /// keeping them); None for a streamed body not read yet.
    #[getter]
    fn body_size(&self, py: Python<'_>) -> Option<u64> {
        if let Some(size) = self.discarded {
            return Some(size);
        }
        if let Some(content) = self.content.get(py) {
            return Some(content.as_bytes(py).len() as u64);
        }
        if self.stream.is_some() {
            return None;
        }
        let body = self.body.lock().unwrap_or_else(PoisonError::into_inner);
        Some(body.as_ref().map_or(0, |body| body.len() as u64))
    }

    /// Body bytes received over the wire so far, before decoding: a
    /// compressed body's compressed size, as httpx counts it.
    #[getter]
    fn num_bytes_downloaded(&self) -> u64 {
        self.stream
            .as_ref()
            .map_or(self.downloaded, BodyStream::downloaded)
    }

    /// The cookies this response sets (its ``Set-Cookie`` headers), name to value.
    #[getter]
    fn cookies<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let cookies = PyDict::new(py);
        for value in self.headers.get_all(http::header::SET_COOKIE.as_str()) {
            let parsed = std::str::from_utf8(value)
                .ok()
                .and_then(|text| cookie::Cookie::parse(text).ok());
            if let Some(cookie) = parsed {
                cookies.set_item(cookie.name(), cookie.value())?;
            }
        }
        Ok(cookies)
    }

    /// The ``Link`` headers parsed as httpx does: keyed by ``rel`` (else by
    /// URL), each a dict with ``url`` and the link's parameters.
    #[getter]
    fn links<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let links = PyDict::new(py);
        for value in self.headers.get_all(http::header::LINK.as_str()) {
            let Ok(text) = std::str::from_utf8(value) else {
                continue;
            };
            for link in parse_links(text) {
                let entry = PyDict::new(py);
                for (name, value) in &link {
                    entry.set_item(name, value)?;
                }
                let key = link
                    .iter()
                    .find(|(name, _)| name == "rel")
                    .or_else(|| link.iter().find(|(name, _)| name == "url"))
                    .map(|(_, value)| value.as_str())
                    .unwrap_or_default();
                links.set_item(key, entry)?;
            }
        }
        Ok(links)
    }

    /// The request that got this response (after redirects, the last
    /// one): its method, URL and the headers sent (the jar's cookies aside).
    #[getter]
    fn request(&self) -> Request {
        let headers = self
            .request_headers
            .as_deref()
            .map(HeaderList::pack)
            .unwrap_or_else(|| HeaderList::pack(&HeaderMap::new()));
        Request::sent(self.method.as_str(), &self.url, headers)
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
            hide_credentials(&self.url)
        )
    }

    /// Pickles as its parts (for multiprocessing and Dask); a streamed
    /// Response must have its body read first.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let this = slf.get();
        let headers: Vec<(&str, Bound<'py, PyBytes>)> = this
            .headers
            .iter()
            .map(|(name, value)| (name, PyBytes::new(py, value)))
            .collect();
        let parts = (
            this.method.as_str(),
            this.status.as_u16(),
            Response::http_version(this),
            headers,
            this.url.as_str(),
            this.request_url.as_str(),
            this.elapsed,
            this.content_bytes(py)?.clone(),
            this.history(py)?,
            this.index,
            this.num_bytes_downloaded(),
        );
        Ok((
            slf.get_type().getattr("_restore")?,
            parts.into_pyobject(py)?.into_any(),
        ))
    }

    /// The Response `__reduce__` took apart.
    #[staticmethod]
    #[allow(clippy::too_many_arguments, reason = "the parts __reduce__ gives")]
    fn _restore(
        py: Python<'_>,
        method: &str,
        status: u16,
        http_version: &str,
        headers: Vec<(String, Vec<u8>)>,
        url: String,
        request_url: String,
        elapsed: f64,
        content: Bound<'_, PyBytes>,
        history: Vec<Py<Response>>,
        index: Option<usize>,
        downloaded: Option<u64>,
    ) -> PyResult<Py<Response>> {
        let invalid = |what: &str| PyValueError::new_err(format!("not a pickled Response: {what}"));
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| invalid("header name"))?,
                http::HeaderValue::from_bytes(&value).map_err(|_| invalid("header value"))?,
            );
        }
        let version = VERSION_NAMES
            .iter()
            .find(|(_, name)| *name == http_version)
            .map_or(Version::HTTP_11, |(version, _)| *version);
        let downloaded = downloaded.unwrap_or(content.as_bytes().len() as u64);
        let content_cell = PyOnceLock::new();
        let _ = content_cell.set(py, content.unbind());
        let response = Py::new(
            py,
            Response {
                method: method_arg(method)?,
                status: StatusCode::from_u16(status).map_err(|_| invalid("status"))?,
                version,
                headers: HeaderList::pack(&map),
                url,
                request_url,
                request_headers: None,
                elapsed,
                body: Mutex::new(None),
                content: content_cell,
                history,
                index,
                stream: None,
                downloaded,
                discarded: None,
                timings: None,
            },
        )?;
        untrack_acyclic(&response);
        Ok(response)
    }
}

/// A Python exception of the stream family (`fastio.StreamConsumed`, ...).
pub fn stream_error(py: Python<'_>, class: &str, message: &str) -> PyErr {
    match exception_class(py, class).and_then(|class| class.call1((message,))) {
        Ok(exception) => PyErr::from_value(exception),
        Err(failure) => failure,
    }
}

/// A `bytes` object holding `pieces` one after the other, written once into
/// memory that is huge-page backed when large.
pub fn bytes_object<'py>(py: Python<'py>, pieces: &[&[u8]]) -> PyResult<Bound<'py, PyBytes>> {
    let total: usize = pieces.iter().map(|piece| piece.len()).sum();
    if total < LARGE {
        return PyBytes::new_with(py, total, |target| {
            copy_into(target, pieces);
            Ok(())
        });
    }
    let size = pyo3::ffi::Py_ssize_t::try_from(total)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("body too large for bytes"))?;
    // SAFETY: a NULL source makes an uninitialised bytes object of `size`
    // bytes, which is filled completely below before anything sees it.
    unsafe {
        let object = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let object = Bound::from_owned_ptr_or_err(py, object)?;
        let start = pyo3::ffi::PyBytes_AsString(object.as_ptr()).cast::<u8>();
        advise_huge_pages(start, total);
        copy_into(std::slice::from_raw_parts_mut(start, total), pieces);
        Ok(object.cast_into_unchecked())
    }
}

fn copy_into(target: &mut [u8], pieces: &[&[u8]]) {
    let mut offset = 0;
    for piece in pieces {
        target[offset..offset + piece.len()].copy_from_slice(piece);
        offset += piece.len();
    }
}
