//! One request's Python arguments turned into a [`RequestSpec`], checked
//! at call time: a bad argument raises at once (TypeError, ValueError,
//! InvalidURL) instead of inside the running work.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMapping, PyString};

use super::args::{
    body_bytes, body_size_limit, form_pairs, method_arg, orjson_dumps, pairs, parse_headers,
    request_headers, retry_policy, scalar_text, text_of, type_name, IntArg,
};
use super::timeout::TimeoutArg;
use super::upload::UploadBody;
use crate::http::session::{Defaults, Session};
use crate::http::spec::{
    has_control, multipart, resolve_url, sendable, Part, RequestBody, RequestSpec,
};

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

fn given<'a, 'py>(value: Option<&'a Bound<'py, PyAny>>) -> Option<&'a Bound<'py, PyAny>> {
    value.filter(|value| !value.is_none())
}

impl FetchArgs<'_, '_> {
    /// Checks everything and builds the request, on `session`'s defaults.
    pub fn build(&self, session: &Arc<Session>) -> PyResult<RequestSpec> {
        let defaults = session.defaults();
        let defaults: &Defaults = &defaults;
        let method = method_arg(self.method)?;
        let text = self.url.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!("a URL must be a str, not {}", type_name(self.url)))
        })?;
        let mut url = resolve_url(defaults, text.to_str()?)?;
        if let Some(given) = given(self.params) {
            let params = form_pairs(given, "params")?;
            url.query_pairs_mut().extend_pairs(params);
            sendable(&url)?;
        }
        let cookies = match given(self.cookies) {
            Some(given) => form_pairs(given, "cookies")?,
            None => Vec::new(),
        };
        let mut headers = request_headers(defaults, parse_headers(self.headers)?, &cookies)?;
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
        let mut body = None;
        let mut content_type: Option<String> = None;
        if let Some(json) = given(self.json) {
            let encoded = orjson_dumps(json)?;
            body = Some(RequestBody::Bytes(Bytes::copy_from_slice(
                encoded.cast::<PyBytes>()?.as_bytes(),
            )));
            content_type = Some("application/json".to_owned());
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
            body = Some(RequestBody::Bytes(encoded));
            content_type = Some(kind);
        } else if let Some(data) = given(self.data) {
            if data.cast::<PyMapping>().is_ok() {
                let fields = form_pairs(data, "data")?;
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                body = Some(RequestBody::Bytes(Bytes::from(encoded)));
                content_type = Some("application/x-www-form-urlencoded".to_owned());
            } else {
                body = Some(RequestBody::Bytes(body_bytes(data, "data")?));
            }
        } else if let Some(content) = given(self.content) {
            body = Some(match content.cast::<UploadBody>() {
                Ok(upload) => RequestBody::Stream(upload.get().source()),
                Err(_) => RequestBody::Bytes(body_bytes(content, "content")?),
            });
        }
        if let Some(content_type) = content_type {
            if !headers.contains_key(CONTENT_TYPE) {
                if let Ok(value) = HeaderValue::from_str(&content_type) {
                    headers.insert(CONTENT_TYPE, value);
                }
            }
        }
        let timeout = self.timeout.for_request()?;
        Ok(RequestSpec {
            method,
            url,
            headers,
            body,
            timeout: timeout.or(defaults.timeout),
            pool_timeout: timeout.pool.or(session.settings.pool_timeout),
            retry: retry_policy(session.settings.retry, self.retries)?,
            max_body_size: body_size_limit(self.max_body_size)?,
            follow_redirects: None,
            session: Arc::clone(session),
        })
    }
}
