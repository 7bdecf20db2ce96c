//! Python arguments checked and converted, in one place: every "positive
//! int", "seconds", "timeout" and body argument, and a request's arguments
//! turned into a [`RequestSpec`] at call time, so a bad argument raises at
//! once (TypeError, ValueError, InvalidURL) instead of inside running work.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyMapping, PyString};

use crate::bridge::asyncio::module_attr;
use crate::http::error::clipped;
use crate::http::retry::Methods;
use crate::http::session::Defaults;
use crate::http::spec::{parse_method, Asked};

/// A `max_body_size=` argument: 0 or more bytes; `None` leaves the default.
pub fn body_size_limit(value: Option<IntArg>) -> PyResult<Option<u64>> {
    value
        .map(|IntArg(size)| {
            u64::try_from(size).map_err(|_| {
                PyValueError::new_err(format!(
                    "max_body_size must be 0 or more{}",
                    shown_int(size)
                ))
            })
        })
        .transpose()
}

/// A `retries=` argument: `None` keeps what the request starts from.
pub fn retry_count(retries: Option<IntArg>) -> PyResult<Option<u32>> {
    retries
        .map(|IntArg(count)| {
            u32::try_from(count).map_err(|_| {
                PyValueError::new_err(format!(
                    "retries must be an int from 0 to {}{}",
                    u32::MAX,
                    shown_int(count)
                ))
            })
        })
        .transpose()
}

/// A `retry_methods=` argument: an iterable of method names; `None` keeps
/// what the request starts from.
pub fn retry_methods(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Methods>> {
    let Some(value) = value.filter(|value| !value.is_none()) else {
        return Ok(None);
    };
    let wrong = || {
        PyTypeError::new_err(format!(
            "retry_methods must be an iterable of method names, not {}",
            type_name(value)
        ))
    };
    if value.is_instance_of::<PyString>() {
        return Err(wrong());
    }
    let mut names = Vec::new();
    for name in value.try_iter().map_err(|_| wrong())? {
        names.push(name?.extract::<String>().map_err(|_| wrong())?);
    }
    Methods::of(names.iter().map(String::as_str))
        .map(Some)
        .map_err(PyValueError::new_err)
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// An int that is not a bool (bool is an int subclass in Python).
pub fn is_plain_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<pyo3::types::PyInt>() && !value.is_instance_of::<pyo3::types::PyBool>()
}

/// An int argument (a bool is refused). One beyond i64 reads as i64's
/// largest or smallest: a huge count means "as many as you like", and a
/// huge negative one is refused by the check that follows, never an
/// OverflowError.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntArg(pub i64);

impl<'py> FromPyObject<'_, 'py> for IntArg {
    type Error = PyErr;

    fn extract(value: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if !is_plain_int(&value) {
            return Err(PyTypeError::new_err(format!(
                "'{}' object cannot be interpreted as an integer",
                type_name(&value)
            )));
        }
        match value.extract::<i64>() {
            Ok(number) => Ok(IntArg(number)),
            Err(_) if value.gt(0)? => Ok(IntArg(i64::MAX)),
            Err(_) => Ok(IntArg(i64::MIN)),
        }
    }
}

/// A count of at least 1 (`max_connections=`, `chunk_size=`), or `None`.
pub fn positive_count(value: Option<IntArg>, name: &str) -> PyResult<Option<usize>> {
    match value.map(|IntArg(count)| count) {
        None => Ok(None),
        // Capped at what a semaphore can count: more is "no limit" anyway.
        Some(count) if count >= 1 => Ok(Some(
            usize::try_from(count)
                .unwrap_or(usize::MAX)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
        Some(count) => Err(PyValueError::new_err(format!(
            "{name} must be at least 1{}",
            shown_int(count)
        ))),
    }
}

/// ", not N" for a message, unless N is where a huge int was clipped.
pub fn shown_int(number: i64) -> String {
    if number == i64::MAX || number == i64::MIN {
        String::new()
    } else {
        format!(", not {number}")
    }
}

/// Items of a mapping, or of an iterable of pairs, as Python objects.
pub fn pairs<'py>(
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
        let name = text_of(&name, "header names", "")?;
        let content = text_of(&content, "header values", &format!(" (for {name:?})"))?;
        let (header_name, header_value) = header_pair(&name, &content)?;
        headers.append(header_name, header_value);
    }
    Ok(headers)
}

/// One header as sent: a ValueError for a name that is not a token or a
/// value holding CR, LF or NUL.
pub fn header_pair(name: &str, value: &str) -> PyResult<(HeaderName, HeaderValue)> {
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| PyValueError::new_err(format!("invalid header name {name:?}")))?;
    let header_value = HeaderValue::from_str(value).map_err(|_| {
        PyValueError::new_err(format!("invalid value for header {name:?}: {value:?}"))
    })?;
    Ok((header_name, header_value))
}

/// A str argument's text: TypeError for another type, ValueError for a str
/// that is not text (a lone surrogate cannot be sent).
pub fn text_of(value: &Bound<'_, PyAny>, what: &str, context: &str) -> PyResult<String> {
    let text = value.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be str, not {}{context}",
            type_name(value)
        ))
    })?;
    match text.to_str() {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(PyValueError::new_err(format!(
            "{what} must be text that can be encoded as UTF-8, not {} (a lone surrogate){context}",
            value.repr().map_or_else(
                |_| "a str".to_owned(),
                |repr| clipped(&repr.to_string()).into_owned()
            )
        ))),
    }
}

/// One query or form value: str, int or float as text; True and False as
/// "true" and "false", None as "" (as httpx sends them).
pub fn scalar_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if value.is_none() {
        return Ok(String::new());
    }
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Ok(if value.is_truthy()? { "true" } else { "false" }.to_owned());
    }
    if value.is_instance_of::<PyString>() {
        return text_of(value, &format!("{what} values"), "");
    }
    if value.is_instance_of::<pyo3::types::PyInt>()
        || value.is_instance_of::<pyo3::types::PyFloat>()
    {
        return Ok(value.str()?.to_str()?.to_owned());
    }
    Err(PyTypeError::new_err(format!(
        "{what} values must be str, int, float, bool or None, not {}",
        type_name(value)
    )))
}

/// Name/value pairs of `params=` or `data=`; a list or tuple value repeats
/// the name once per item.
pub fn form_pairs(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<(String, String)>> {
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
pub fn body_bytes(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Bytes> {
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

pub fn orjson_dumps<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    module_attr(value.py(), &DUMPS, "orjson", "dumps")?.call1((value,))
}

/// A non-negative, finite number of seconds.
pub fn seconds(value: f64, name: &str) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a finite number of seconds, 0 or more, not {value}"
        ))
    })
}

/// A `method=` argument: an HTTP method name, upper-cased.
pub fn method_arg(method: &str) -> PyResult<Method> {
    parse_method(method)
        .ok_or_else(|| PyValueError::new_err(format!("invalid HTTP method {method:?}")))
}

/// `asked` over `defaults` (see [`Defaults::with`]); a bad cookie is a ValueError.
pub fn defaults_with(defaults: &Defaults, asked: Asked) -> PyResult<Defaults> {
    defaults.with(asked).map_err(PyValueError::new_err)
}
