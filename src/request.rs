//! Turning the arguments of `fetch`/`fetch_all` into a [`RequestSpec`]:
//! every check happens here, at call time, so a bad argument raises at once
//! (TypeError, ValueError, InvalidURL) instead of inside the running work.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyMapping, PyString};
use url::Url;

use crate::errors::{ErrorKind, FastioError};

/// The default total deadline of one request, as httpx's default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One request, as plain Rust data a tokio task can own.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// Total deadline; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Verify TLS certificates (on unless asked otherwise).
    pub verify: bool,
}

/// The `timeout=` argument: omitted means the default, `None` disables.
#[derive(Clone, Copy, Debug, Default)]
pub enum TimeoutArg {
    #[default]
    Default,
    Disabled,
    Seconds(Duration),
}

impl TimeoutArg {
    pub fn resolve(self) -> Option<Duration> {
        match self {
            TimeoutArg::Default => Some(DEFAULT_TIMEOUT),
            TimeoutArg::Disabled => None,
            TimeoutArg::Seconds(limit) => Some(limit),
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for TimeoutArg {
    type Error = PyErr;

    fn extract(value: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if value.is_none() {
            return Ok(TimeoutArg::Disabled);
        }
        if value.is_instance_of::<pyo3::types::PyBool>() || value.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "timeout must be a number of seconds or None",
            ));
        }
        let seconds: f64 = value.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "timeout must be a number of seconds or None, not {}",
                type_name(&value)
            ))
        })?;
        if seconds.is_nan() || seconds <= 0.0 {
            return Err(PyValueError::new_err(format!(
                "timeout must be a positive number of seconds, not {seconds}"
            )));
        }
        Ok(match Duration::try_from_secs_f64(seconds) {
            Ok(limit) => TimeoutArg::Seconds(limit),
            // Longer than any Duration (inf included): no deadline.
            Err(_) => TimeoutArg::Disabled,
        })
    }
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// Parses an absolute http or https URL given as `str`.
pub fn parse_url(value: &Bound<'_, PyAny>) -> PyResult<Url> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("a URL must be a str, not {}", type_name(value)))
    })?;
    let text = text.to_str()?;
    parse_url_text(text).map_err(|err| err.into_pyerr(value.py()))
}

/// Parses an absolute http or https URL.
pub fn parse_url_text(text: &str) -> Result<Url, FastioError> {
    let invalid = |why: String| {
        FastioError::new(
            ErrorKind::InvalidUrl,
            Some(text.to_owned()),
            format!("invalid URL {text:?}: {why}"),
        )
    };
    let url = Url::parse(text).map_err(|err| invalid(err.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(invalid(format!("scheme {other:?} is not http or https"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(url)
}

/// Validates an HTTP method name; returned upper-cased.
pub fn parse_method(method: &str) -> PyResult<Method> {
    let upper = method.to_ascii_uppercase();
    Method::from_bytes(upper.as_bytes())
        .map_err(|_| PyValueError::new_err(format!("invalid HTTP method {method:?}")))
}

/// Items of a mapping, or of an iterable of pairs, as Python objects.
fn pairs<'py>(
    value: &Bound<'py, PyAny>,
    what: &str,
) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let items = match value.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) => value.clone(),
    };
    let mut result = Vec::new();
    for item in items.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a mapping or an iterable of pairs, not {}",
            type_name(value)
        ))
    })? {
        let item = item?;
        let pair: (Bound<'py, PyAny>, Bound<'py, PyAny>) = item.extract().map_err(|_| {
            PyTypeError::new_err(format!("{what} items must be (name, value) pairs"))
        })?;
        result.push(pair);
    }
    Ok(result)
}

/// `headers=`: names and values must be str; CR, LF and NUL are refused
/// (header injection).
pub fn parse_headers(value: Option<&Bound<'_, PyAny>>) -> PyResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(headers);
    };
    for (name, content) in pairs(value, "headers")? {
        let name: String = name.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "header names must be str, not {}",
                type_name(&name)
            ))
        })?;
        let content: String = content.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "header values must be str, not {} (for {name:?})",
                type_name(&content)
            ))
        })?;
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| PyValueError::new_err(format!("invalid header name {name:?}")))?;
        let header_value = HeaderValue::from_str(&content).map_err(|_| {
            PyValueError::new_err(format!("invalid value for header {name:?}: {content:?}"))
        })?;
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// One query or form value: str, int, float (bool is refused: ambiguous).
fn scalar_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} values must be str, int or float, not bool"
        )));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    if value.is_instance_of::<pyo3::types::PyInt>()
        || value.is_instance_of::<pyo3::types::PyFloat>()
    {
        return Ok(value.str()?.to_str()?.to_owned());
    }
    Err(PyTypeError::new_err(format!(
        "{what} values must be str, int or float, not {}",
        type_name(value)
    )))
}

/// Name/value pairs of `params=` or `data=`; a list or tuple value repeats
/// the name once per item.
fn form_pairs(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, String)>> {
    let mut result = Vec::new();
    for (name, content) in pairs(value, what)? {
        let name = scalar_text(&name, what)?;
        let many = content.is_instance_of::<pyo3::types::PyList>()
            || content.is_instance_of::<pyo3::types::PyTuple>();
        if many {
            for item in content.try_iter()? {
                result.push((name.clone(), scalar_text(&item?, what)?));
            }
        } else {
            result.push((name, scalar_text(&content, what)?));
        }
    }
    Ok(result)
}

/// Bytes of a `content=` or raw `data=` body.
fn body_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Bytes> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(bytes.as_bytes()));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Bytes::copy_from_slice(text.to_str()?.as_bytes()));
    }
    let buffer_like = value.is_instance_of::<pyo3::types::PyByteArray>()
        || value.is_instance_of::<pyo3::types::PyMemoryView>();
    if buffer_like {
        let copied = value.py().get_type::<PyBytes>().call1((value,))?;
        return Ok(Bytes::copy_from_slice(copied.cast::<PyBytes>()?.as_bytes()));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or str, not {}",
        type_name(value)
    )))
}

fn orjson_dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = value.py();
    let dumps = DUMPS.get_or_try_init(py, || {
        py.import("orjson")?.getattr("dumps").map(Bound::unbind)
    })?;
    dumps.bind(py).call1((value,))
}

/// The arguments of one `fetch`, as Python gave them.
pub struct FetchArgs<'a, 'py> {
    pub url: &'a Bound<'py, PyAny>,
    pub method: &'a str,
    pub params: Option<&'a Bound<'py, PyAny>>,
    pub headers: Option<&'a Bound<'py, PyAny>>,
    pub json: Option<&'a Bound<'py, PyAny>>,
    pub data: Option<&'a Bound<'py, PyAny>>,
    pub content: Option<&'a Bound<'py, PyAny>>,
    pub timeout: TimeoutArg,
    pub verify: bool,
}

impl FetchArgs<'_, '_> {
    /// Checks everything and builds the request.
    pub fn build(&self) -> PyResult<RequestSpec> {
        let method = parse_method(self.method)?;
        let mut url = parse_url(self.url)?;
        if let Some(params) = self.params.filter(|params| !params.is_none()) {
            let params = form_pairs(params, "params")?;
            url.query_pairs_mut().extend_pairs(params);
        }
        let mut headers = parse_headers(self.headers)?;
        let given: Vec<&str> = [
            ("json", self.json),
            ("data", self.data),
            ("content", self.content),
        ]
        .into_iter()
        .filter(|(_, value)| value.is_some_and(|value| !value.is_none()))
        .map(|(name, _)| name)
        .collect();
        if given.len() > 1 {
            return Err(PyValueError::new_err(format!(
                "give at most one of json=, data= and content=, not {}",
                given.join(" and ")
            )));
        }
        let mut body = None;
        let mut content_type = None;
        if let Some(json) = self.json.filter(|json| !json.is_none()) {
            let encoded = orjson_dumps(json)?;
            body = Some(Bytes::copy_from_slice(
                encoded.cast::<PyBytes>()?.as_bytes(),
            ));
            content_type = Some("application/json");
        } else if let Some(data) = self.data.filter(|data| !data.is_none()) {
            if data.cast::<PyDict>().is_ok() || data.cast::<PyMapping>().is_ok() {
                let fields = form_pairs(data, "data")?;
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                body = Some(Bytes::from(encoded));
                content_type = Some("application/x-www-form-urlencoded");
            } else {
                body = Some(body_bytes(data, "data")?);
            }
        } else if let Some(content) = self.content.filter(|content| !content.is_none()) {
            body = Some(body_bytes(content, "content")?);
        }
        if let Some(content_type) = content_type {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            }
        }
        Ok(RequestSpec {
            method,
            url,
            headers,
            body,
            timeout: self.timeout.resolve(),
            verify: self.verify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_or_https() {
        assert!(parse_url_text("http://127.0.0.1:8080/path?q=1").is_ok());
        assert!(parse_url_text("https://example.com").is_ok());
        for bad in [
            "",
            "not a url",
            "/relative",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://",
        ] {
            let error = parse_url_text(bad).err();
            assert!(
                matches!(&error, Some(error) if error.kind == ErrorKind::InvalidUrl),
                "{bad:?} gave {error:?}"
            );
        }
    }

    #[test]
    fn methods_are_validated_and_upper_cased() {
        assert!(matches!(parse_method("get"), Ok(method) if method == Method::GET));
        assert!(matches!(parse_method("PURGE"), Ok(method) if method.as_str() == "PURGE"));
    }
}
