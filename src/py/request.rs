//! One request's Python arguments turned into a [`RequestSpec`], checked
//! at call time: a bad argument raises at once (TypeError, ValueError,
//! InvalidURL) instead of inside the running work.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyMapping, PyString};
use pyo3::{PyTraverseError, PyVisit};

use super::args::{
    body_bytes, body_size_limit, defaults_with, form_pairs, method_arg, orjson_dumps, pairs,
    parse_headers, retry_count, scalar_text, text_of, type_name, IntArg,
};
use super::headers::Headers;
use super::timeout::TimeoutArg;
use super::upload::UploadBody;
use crate::bridge::asyncio::module_attr;
use crate::http::bulk::Template;
use crate::http::error::{clipped, hide_credentials, ErrorKind, FastioError};
use crate::http::response::HeaderList;
use crate::http::session::{Defaults, Session};
use crate::http::spec::{has_control, multipart, Asked, Part, RequestBody, RequestSpec};

/// Checks a name for a Content-Disposition parameter: no quotes, CR or LF.
fn disposition_text(text: &str, what: &str) -> PyResult<String> {
    if text.contains('"') || has_control(text) {
        return Err(PyValueError::new_err(format!(
            "{what} {text:?} must not contain quotes or control characters (CR, LF, NUL, ...)"
        )));
    }
    Ok(text.to_owned())
}

/// A value written into a multipart part's head, such as its content type.
fn part_head_text(text: String, what: &str) -> PyResult<String> {
    if has_control(&text) {
        return Err(PyValueError::new_err(format!(
            "{what} {text:?} must not contain control characters (CR, LF, NUL, ...)"
        )));
    }
    Ok(text)
}

/// `files=`: name -> content, (filename, content) or (filename, content,
/// content type); content is bytes, str or a readable object.
fn file_parts(files: &Bound<'_, PyAny>) -> PyResult<Vec<Part>> {
    let mut parts = Vec::new();
    for (name, value) in pairs(files, "files")? {
        let name = disposition_text(&scalar_text(&name, "files")?, "a file field name")?;
        let (filename, content, content_type) = match value.cast::<pyo3::types::PyTuple>() {
            Ok(tuple) => {
                let filename = text_of(&tuple.get_item(0)?, "a file name", "")?;
                let content = tuple.get_item(1)?;
                let content_type = match tuple.get_item(2) {
                    Ok(given) if !given.is_none() => {
                        Some(text_of(&given, "a file's content type", "")?)
                    }
                    _ => None,
                };
                (filename, content, content_type)
            }
            Err(_) => (name.clone(), value, None),
        };
        parts.push(Part {
            filename: Some(disposition_text(&filename, "a file name")?),
            content_type: Some(part_head_text(
                content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
                "a file's content type",
            )?),
            body: file_bytes(&content, &name)?,
            name,
        });
    }
    Ok(parts)
}

/// Bytes of one uploaded file: bytes-like, or an object with `read()`.
fn file_bytes(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Bytes> {
    if value.hasattr("read")? && !value.is_instance_of::<PyBytes>() {
        return body_bytes(
            &value.call_method0("read")?,
            &format!("files[{field:?}].read()"),
        );
    }
    body_bytes(value, &format!("files[{field:?}]"))
}

/// The arguments of one request, as Python gave them.
pub struct FetchArgs<'a, 'py> {
    pub url: &'a Bound<'py, PyAny>,
    pub method: &'a str,
    pub params: Option<&'a Bound<'py, PyAny>>,
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub cookies: Option<&'a Bound<'py, PyAny>>,
    pub json: Option<&'a Bound<'py, PyAny>>,
    pub data: Option<&'a Bound<'py, PyAny>>,
    pub files: Option<&'a Bound<'py, PyAny>>,
    pub content: Option<&'a Bound<'py, PyAny>>,
    pub timeout: TimeoutArg,
    /// `None`: the session's.
    pub retries: Option<IntArg>,
    /// `None`: the session's.
    pub max_body_size: Option<IntArg>,
}

/// A URL's text; one holding a lone surrogate (which no UTF-8, and so no
/// URL, can carry) is an invalid URL, not a UnicodeEncodeError.
pub fn url_text<'a>(text: &'a Bound<'_, PyString>, method: &str) -> Result<&'a str, FastioError> {
    text.to_str().map_err(|_| {
        FastioError::for_request(
            ErrorKind::InvalidUrl,
            method,
            &text.to_string_lossy(),
            "invalid URL: it holds a lone surrogate, which no URL can carry",
        )
    })
}

fn given<'a, 'py>(value: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    value.filter(|value| !value.is_none())
}

impl FetchArgs<'_, '_> {
    /// Checks everything and builds the request on `defaults` (the
    /// session's, a bulk call's, or a prepared request's).
    pub fn build_on(&self, defaults: &Defaults, session: &Arc<Session>) -> PyResult<RequestSpec> {
        let method = method_arg(self.method)?;
        let text = self.url.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("a URL must be a str, not {}", type_name(self.url)))
        })?;
        let url = url_text(text, method.as_str())?;
        let params = match given(self.params) {
            Some(given) => form_pairs(given, "params")?,
            None => Vec::new(),
        };
        let cookies = match given(self.cookies) {
            Some(given) => form_pairs(given, "cookies")?,
            None => Vec::new(),
        };
        let timeout = self.timeout;
        let asked = Asked {
            headers: parse_headers(self.headers)?,
            cookies,
            timeout: timeout.total,
            pool_timeout: timeout.pool,
            write_timeout: timeout.write,
            connect_timeout: timeout.connect,
            read_timeout: timeout.read,
            retries: retry_count(self.retries)?,
            retry_methods: None,
            max_body_size: body_size_limit(self.max_body_size)?,
        };
        let defaults = defaults_with(defaults, asked)?;
        let (body, content_type) = self.body()?.unzip();
        Ok(defaults.request(
            session,
            method,
            url,
            &params,
            body,
            content_type.flatten().as_deref(),
        )?)
    }

    /// The body, and the content type it implies, from json=, data=
    /// (with files=) or content=, at most one of them.
    fn body(&self) -> PyResult<Option<(RequestBody, Option<String>)>> {
        let bodies: Vec<&str> = [("json", self.json), ("content", self.content)]
            .into_iter()
            .chain([(
                if given(self.files).is_some() {
                    "data/files"
                } else {
                    "data"
                },
                given(self.data).or(given(self.files)),
            )])
            .filter(|(_, value)| given(*value).is_some())
            .map(|(name, _)| name)
            .collect();
        if bodies.len() > 1 {
            return Err(PyValueError::new_err(format!(
                "give at most one of json=, data= (with files=) and content=, not {}",
                bodies.join(" and ")
            )));
        }
        Ok(if let Some(json) = given(self.json) {
            let encoded = orjson_dumps(json)?;
            Some((
                RequestBody::Bytes(Bytes::copy_from_slice(
                    encoded.cast::<PyBytes>()?.as_bytes(),
                )),
                Some("application/json".to_owned()),
            ))
        } else if let Some(files) = given(self.files) {
            let mut parts = Vec::new();
            if let Some(data) = given(self.data) {
                for (name, value) in form_pairs(data, "data")? {
                    parts.push(Part {
                        name: disposition_text(&name, "a form field name")?,
                        filename: None,
                        content_type: None,
                        body: Bytes::from(value),
                    });
                }
            }
            parts.extend(file_parts(files)?);
            let (encoded, kind) = multipart(parts);
            Some((RequestBody::Bytes(encoded), Some(kind)))
        } else if let Some(data) = given(self.data) {
            if data.cast::<PyMapping>().is_ok() {
                let fields = form_pairs(data, "data")?;
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                Some((
                    RequestBody::Bytes(Bytes::from(encoded)),
                    Some("application/x-www-form-urlencoded".to_owned()),
                ))
            } else {
                Some((RequestBody::Bytes(body_bytes(data, "data")?), None))
            }
        } else if let Some(content) = given(self.content) {
            Some((
                match content.cast::<UploadBody>() {
                    Ok(upload) => RequestBody::Stream(upload.get().source()),
                    Err(_) => RequestBody::Bytes(body_bytes(content, "content")?),
                },
                None,
            ))
        } else {
            None
        })
    }
}

/// One request described as plain data: what :func:`fastio.fetch_all` and
/// :func:`fastio.fetch_iter` take beside URLs (each item keeps its own
/// method, params, headers and body), and what :attr:`Response.request` is.
///
/// Nothing is checked or sent when it is made: a bad URL or body is that
/// item's error when a bulk call reaches it. ``headers`` are merged over
/// the call's and the client's; ``timeout`` replaces the call's (total,
/// write and pool, as for a request). ``repr`` hides credentials.
///
/// Example::
///
///     requests = [fastio.Request("POST", api, json={"q": q}) for q in queries]
///     answers = await client.fetch_all(requests, concurrency=32)
#[pyclass(frozen, module = "fastio._fastio", name = "Request")]
pub struct Request {
    /// The HTTP method, upper-cased.
    #[pyo3(get)]
    method: String,
    /// The URL as given (for a sent request, as sent).
    url: String,
    /// What was given, or None.
    #[pyo3(get)]
    params: Option<Py<PyAny>>,
    headers: RequestHeaders,
    /// `request.headers`, made at its first read; changes to it are sent.
    headers_view: PyOnceLock<Py<Headers>>,
    /// What was given, or None.
    #[pyo3(get)]
    json: Option<Py<PyAny>>,
    /// What was given, or None.
    #[pyo3(get)]
    data: Option<Py<PyAny>>,
    /// What was given, or None.
    #[pyo3(get)]
    content: Option<Py<PyAny>>,
    /// What was given, or None.
    #[pyo3(get)]
    timeout: Option<Py<PyAny>>,
    /// `request.extensions`, made at its first read unless given.
    extensions: OnceLock<Py<PyDict>>,
}

/// The headers as given to `Request(...)`, or as sent.
enum RequestHeaders {
    Given(Option<Py<PyAny>>),
    Sent(HeaderList),
}

impl Request {
    /// The request a response answered, as it went out.
    pub fn sent(method: &str, url: &str, headers: HeaderList) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            params: None,
            headers: RequestHeaders::Sent(headers),
            headers_view: PyOnceLock::new(),
            json: None,
            data: None,
            content: None,
            timeout: None,
            extensions: OnceLock::new(),
        }
    }

    /// A request as a mock transport's handler gets it: as on the wire,
    /// with its body as `content` bytes.
    pub fn received(method: &str, url: &str, headers: HeaderList, content: Py<PyAny>) -> Self {
        Self {
            content: Some(content),
            ..Self::sent(method, url, headers)
        }
    }

    /// The headers to send this request again with: as given, or as sent.
    fn given_headers<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if let Some(view) = self.headers_view.get(py) {
            return Ok(Some(sent_pairs(py, &view.get().list())?));
        }
        Ok(match &self.headers {
            RequestHeaders::Given(given) => bound(py, given),
            RequestHeaders::Sent(list) => Some(sent_pairs(py, list)?),
        })
    }

    /// (method, URL), for messages.
    pub fn identity(&self) -> (&str, &str) {
        (&self.method, &self.url)
    }

    /// This item's request on a bulk call's `template`: its own method,
    /// URL, params, body and headers (over the call's), the call's retry
    /// policy and body limit, its own timeouts where it has them.
    pub fn spec_on(&self, py: Python<'_>, template: &Template) -> PyResult<RequestSpec> {
        let url = PyString::new(py, &self.url);
        let given_headers = self.given_headers(py)?;
        let timeout: TimeoutArg = match &self.timeout {
            Some(timeout) => timeout.bind(py).extract()?,
            None => TimeoutArg::DEFAULT,
        };
        let (params, json, data, content) = (
            bound(py, &self.params),
            bound(py, &self.json),
            bound(py, &self.data),
            bound(py, &self.content),
        );
        FetchArgs {
            url: url.as_any(),
            method: &self.method,
            params: params.as_ref(),
            headers: given_headers.as_ref(),
            cookies: None,
            json: json.as_ref(),
            data: data.as_ref(),
            files: None,
            content: content.as_ref(),
            timeout,
            retries: None,
            max_body_size: None,
        }
        .build_on(&template.defaults, &template.session)
    }
}

fn bound<'py>(py: Python<'py>, value: &Option<Py<PyAny>>) -> Option<Bound<'py, PyAny>> {
    value.as_ref().map(|value| value.bind(py).clone())
}

/// Sent headers as (name, value) pairs, to build a request from again.
fn sent_pairs<'py>(py: Python<'py>, list: &HeaderList) -> PyResult<Bound<'py, PyAny>> {
    let pairs: Vec<(String, String)> = list
        .iter()
        .map(|(name, value)| (name.to_owned(), String::from_utf8_lossy(value).into_owned()))
        .collect();
    Ok(pairs.into_pyobject(py)?.into_any())
}

#[pymethods]
impl Request {
    #[new]
    #[pyo3(signature = (
        method, url, *, params = None, headers = None, json = None, data = None, content = None,
        timeout = None, extensions = None
    ))]
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python keyword arguments"
    )]
    fn new(
        method: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        params: Option<Py<PyAny>>,
        headers: Option<Py<PyAny>>,
        json: Option<Py<PyAny>>,
        data: Option<Py<PyAny>>,
        content: Option<Py<PyAny>>,
        timeout: Option<Py<PyAny>>,
        extensions: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let text = |value: &Bound<'_, PyAny>, what: &str| -> PyResult<String> {
            value
                .cast::<PyString>()
                .map_err(|_| {
                    PyTypeError::new_err(format!("{what} must be a str, not {}", type_name(value)))
                })?
                .to_str()
                .map(str::to_owned)
        };
        let method = text(method, "method")?.to_ascii_uppercase();
        let url = url
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err(format!("url must be a str, not {}", type_name(url))))
            .and_then(|url| Ok(url_text(url, &method)?.to_owned()))?;
        Ok(Self {
            method,
            url,
            params,
            headers: RequestHeaders::Given(headers),
            headers_view: PyOnceLock::new(),
            json,
            data,
            content,
            timeout,
            extensions: match extensions.filter(|given| !given.is_none()) {
                None => OnceLock::new(),
                Some(given) => {
                    let copied = PyDict::new(given.py());
                    copied.update(given.cast::<PyMapping>().map_err(|_| {
                        PyTypeError::new_err(format!(
                            "extensions must be a dict, not {}",
                            type_name(given)
                        ))
                    })?)?;
                    OnceLock::from(copied.unbind())
                }
            },
        })
    }

    /// A dict that travels with the request, for your own use (request
    /// hooks, tracing), copied by ``copy_with``; httpx keeps its timeout
    /// there, fastio's is ``timeout``.
    #[getter]
    fn extensions(&self, py: Python<'_>) -> Py<PyDict> {
        self.extensions
            .get_or_init(|| PyDict::new(py).unbind())
            .clone_ref(py)
    }

    /// The URL as given (for a sent request, as sent): a str with its
    /// parts (``.path``, ``.query``, ``.host``, ``.params``).
    #[getter]
    fn url<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static URL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(py, &URL, "fastio._url", "URL")?.call1((self.url.as_str(),))
    }

    /// The headers as given, or as sent, as :class:`fastio.Headers`;
    /// changes to them (a request hook's ``request.headers["X-Id"] = "1"``)
    /// are what is sent.
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<Py<Headers>> {
        let view = self.headers_view.get_or_try_init(py, || {
            let list = match &self.headers {
                RequestHeaders::Sent(list) => list.clone(),
                RequestHeaders::Given(given) => {
                    HeaderList::pack(&parse_headers(given.as_ref().map(|given| given.bind(py)))?)
                }
            };
            Py::new(py, Headers::changeable(list))
        })?;
        Ok(view.clone_ref(py))
    }

    fn __repr__(&self) -> String {
        format!(
            "<Request {} '{}'>",
            self.method,
            hide_credentials(&clipped(&self.url)).replace('\'', "%27")
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let this = slf.get();
        let state = (
            this.method.as_str(),
            this.url.as_str(),
            bound(py, &this.params),
            this.given_headers(py)?,
            bound(py, &this.json),
            bound(py, &this.data),
            bound(py, &this.content),
            bound(py, &this.timeout),
            this.extensions.get().map(|given| given.bind(py)),
        )
            .into_pyobject(py)?
            .into_any();
        Ok((slf.get_type().getattr("_restore")?, state))
    }

    /// A copy with the given fields replaced, the others kept (a request
    /// hook returns one to change what is sent): ``headers`` replaces all of
    /// them, so merge with ``{**request.headers, "X-Id": "1"}``.
    #[pyo3(signature = (**changes))]
    fn copy_with(slf: &Bound<'_, Self>, changes: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let py = slf.py();
        let this = slf.get();
        let fields = PyDict::new(py);
        fields.set_item("method", this.method.as_str())?;
        fields.set_item("url", this.url.as_str())?;
        fields.set_item("params", bound(py, &this.params))?;
        fields.set_item("headers", this.given_headers(py)?)?;
        fields.set_item("json", bound(py, &this.json))?;
        fields.set_item("data", bound(py, &this.data))?;
        fields.set_item("content", bound(py, &this.content))?;
        fields.set_item("timeout", bound(py, &this.timeout))?;
        fields.set_item(
            "extensions",
            this.extensions.get().map(|given| given.bind(py)),
        )?;
        if let Some(changes) = changes {
            for (name, value) in changes.iter() {
                if !fields.contains(&name)? {
                    return Err(PyTypeError::new_err(format!(
                        "copy_with() got an unexpected keyword argument {}",
                        name.repr()?
                    )));
                }
                fields.set_item(name, value)?;
            }
        }
        let field = |name: &str| -> PyResult<Option<Py<PyAny>>> {
            Ok(fields
                .get_item(name)?
                .filter(|value| !value.is_none())
                .map(Bound::unbind))
        };
        Request::new(
            &fields.as_any().get_item("method")?,
            &fields.as_any().get_item("url")?,
            field("params")?,
            field("headers")?,
            field("json")?,
            field("data")?,
            field("content")?,
            field("timeout")?,
            fields
                .get_item("extensions")?
                .filter(|value| !value.is_none())
                .as_ref(),
        )
    }

    /// Rebuilds a pickled Request.
    #[staticmethod]
    #[allow(clippy::too_many_arguments, reason = "mirrors the pickled fields")]
    fn _restore(
        method: &Bound<'_, PyAny>,
        url: &Bound<'_, PyAny>,
        params: Option<Py<PyAny>>,
        headers: Option<Py<PyAny>>,
        json: Option<Py<PyAny>>,
        data: Option<Py<PyAny>>,
        content: Option<Py<PyAny>>,
        timeout: Option<Py<PyAny>>,
        extensions: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Request::new(
            method, url, params, headers, json, data, content, timeout, extensions,
        )
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for value in [
            &self.params,
            &self.json,
            &self.data,
            &self.content,
            &self.timeout,
        ] {
            visit.call(value)?;
        }
        if let RequestHeaders::Given(given) = &self.headers {
            visit.call(given)?;
        }
        if let Some(extensions) = self.extensions.get() {
            visit.call(extensions)?;
        }
        Ok(())
    }
}
