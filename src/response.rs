//! `fastio.Response` and `fastio.Headers`: built on the loop thread from the
//! plain Rust data a request produced.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Version};
use pyo3::exceptions::{PyKeyError, PyLookupError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::asyncio::module_attr;
use crate::bridge::{ToPython, ToPythonItems};
use crate::errors::exception_class;

/// What one HTTP exchange produced, free of Python.
#[derive(Debug)]
pub struct ResponseData {
    pub method: Method,
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    /// The URL of this response (after redirects, for the final one).
    pub url: String,
    /// The URL as the caller gave it.
    pub request_url: String,
    pub elapsed: Duration,
    pub body: Bytes,
    /// The redirect responses that led here, oldest first.
    pub history: Vec<ResponseData>,
}

impl ResponseData {
    pub fn into_response(self, py: Python<'_>) -> PyResult<Py<Response>> {
        let history = self
            .history
            .into_iter()
            .map(|earlier| earlier.into_response(py))
            .collect::<PyResult<Vec<_>>>()?;
        Py::new(
            py,
            Response {
                method: self.method.to_string(),
                status: self.status,
                version: self.version,
                headers: Py::new(py, Headers { map: self.headers })?,
                url: self.url,
                request_url: self.request_url,
                elapsed: self.elapsed.as_secs_f64(),
                body: Mutex::new(Some(self.body)),
                content: PyOnceLock::new(),
                history,
            },
        )
    }
}

impl ToPython for ResponseData {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.into_response(py)?.into_any())
    }
}

/// The response to one request. Immutable; the body is read in full.
#[pyclass(frozen, module = "fastio._fastio")]
pub struct Response {
    method: String,
    status: StatusCode,
    version: Version,
    headers: Py<Headers>,
    url: String,
    request_url: String,
    elapsed: f64,
    /// Moved into `content` on first access: the bytes are copied once.
    body: Mutex<Option<Bytes>>,
    content: PyOnceLock<Py<PyBytes>>,
    history: Vec<Py<Response>>,
}

impl Response {
    fn content_bytes<'py>(&self, py: Python<'py>) -> &Bound<'py, PyBytes> {
        self.content
            .get_or_init(py, || {
                let body = self
                    .body
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                    .unwrap_or_default();
                PyBytes::new(py, &body).unbind()
            })
            .bind(py)
    }

    /// The charset named by Content-Type, if any.
    fn charset(&self) -> Option<String> {
        let headers = self.headers.get().map.get(CONTENT_TYPE)?;
        let text = headers.to_str().ok()?;
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
    fn headers(&self, py: Python<'_>) -> Py<Headers> {
        self.headers.clone_ref(py)
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
        &self.method
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
    fn content<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.content_bytes(py).clone()
    }

    /// The body decoded with the charset of Content-Type (UTF-8 when there
    /// is none or it is unknown); undecodable bytes become U+FFFD.
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self.content_bytes(py);
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
        module_attr(py, &LOADS, "orjson", "loads")?.call1((self.content_bytes(py),))
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

/// Response headers: a read-only, case-insensitive mapping. A name sent
/// several times maps to its values joined with ", "; ``get_list`` gives
/// them apart and ``multi_items`` gives every pair as sent.
#[pyclass(frozen, mapping, module = "fastio._fastio")]
pub struct Headers {
    map: HeaderMap,
}

/// Header bytes as text: UTF-8 where valid, else Latin-1 (HTTP's own).
fn header_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|&byte| char::from(byte)).collect(),
    }
}

impl Headers {
    fn joined(&self, name: &str) -> Option<String> {
        let mut values = self.map.get_all(name).iter().peekable();
        values.peek()?;
        Some(
            values
                .map(|value| header_text(value.as_bytes()))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    fn names(&self) -> Vec<&str> {
        self.map.keys().map(http::HeaderName::as_str).collect()
    }
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.joined(name)
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .is_ok_and(|name| self.map.contains_key(name.as_str()))
    }

    fn __len__(&self) -> usize {
        self.map.keys_len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.names())?
            .try_iter()?
            .into_any()
            .unbind())
    }

    /// The value of `name` (values sent several times joined with ", "), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.joined(name) {
            Some(value) => Ok(PyString::new(py, &value).into_any().unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every value of `name`, in the order sent; [] if it was not sent.
    fn get_list(&self, name: &str) -> Vec<String> {
        self.map
            .get_all(name)
            .iter()
            .map(|value| header_text(value.as_bytes()))
            .collect()
    }

    /// The distinct names, lower-case.
    fn keys(&self) -> Vec<&str> {
        self.names()
    }

    fn values(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter_map(|name| self.joined(name))
            .collect()
    }

    /// (name, joined value) for each distinct name.
    fn items(&self) -> Vec<(&str, String)> {
        self.names()
            .into_iter()
            .filter_map(|name| Some((name, self.joined(name)?)))
            .collect()
    }

    /// Every (name, value) pair as sent, repeated names included.
    fn multi_items(&self) -> Vec<(&str, String)> {
        self.map
            .iter()
            .map(|(name, value)| (name.as_str(), header_text(value.as_bytes())))
            .collect()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = other.py();
        let mine = PyDict::new(py);
        for (name, value) in self.items() {
            mine.set_item(name, value)?;
        }
        let theirs = match other.cast::<Headers>() {
            Ok(headers) => {
                let dict = PyDict::new(py);
                for (name, value) in headers.get().items() {
                    dict.set_item(name, value)?;
                }
                dict.into_any()
            }
            Err(_) => match other.cast::<PyDict>() {
                Ok(dict) => {
                    let lowered = PyDict::new(py);
                    for (name, value) in dict.iter() {
                        let name: String = name.extract()?;
                        lowered.set_item(name.to_ascii_lowercase(), value)?;
                    }
                    lowered.into_any()
                }
                Err(_) => return Ok(false),
            },
        };
        mine.eq(theirs)
    }

    fn __repr__(&self) -> String {
        let pairs: Vec<String> = self
            .multi_items()
            .into_iter()
            .map(|(name, value)| format!("({name:?}, {value:?})"))
            .collect();
        format!("Headers([{}])", pairs.join(", "))
    }
}

/// Results of `fetch_all`, each a Response or the exception of a failure;
/// one slice of the final list.
pub struct ResultSlice(pub Vec<Option<Result<ResponseData, crate::errors::FastioError>>>);

impl ToPythonItems for ResultSlice {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn append_to(self: Box<Self>, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()> {
        for result in self.0 {
            let item = match result {
                Some(Ok(data)) => data.into_response(py)?.into_any(),
                Some(Err(error)) => error.into_pyerr(py).into_value(py).into_any(),
                None => py.None(),
            };
            list.append(item)?;
        }
        Ok(())
    }
}
