//! Response headers: packed in two allocations when the response arrives,
//! and `fastio.Headers`, the read-only mapping Python sees.
//!
//! Why packed: a bulk fetch keeps thousands of Responses, and freeing each
//! one's `HeaderMap` (its entries, its index and one buffer per value) was
//! most of the time the loop thread spent dropping a `fetch_all` result
//! (measured with perf: 61% of ~1.5 µs per Response).

use http::HeaderMap;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::response::Response;

/// Every (name, value) pair of a response as `HeaderMap` holds them: names
/// lower-case and in the order first received, each name's values together
/// and in order.
#[derive(Debug)]
pub struct HeaderList {
    /// name₀ value₀ name₁ value₁ … back to back.
    text: Box<[u8]>,
    /// For pair i: where its name ends (`ends[2i]`) and its value ends
    /// (`ends[2i+1]`) in `text`.
    ends: Box<[usize]>,
}

impl HeaderList {
    pub fn pack(headers: &HeaderMap) -> Self {
        let size: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let mut text = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(headers.len() * 2);
        for (name, value) in headers {
            text.extend_from_slice(name.as_str().as_bytes());
            ends.push(text.len());
            text.extend_from_slice(value.as_bytes());
            ends.push(text.len());
        }
        Self {
            text: text.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Every (name, value) pair, repeated names included, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let mut start = 0;
        self.ends.chunks_exact(2).map(move |pair| {
            let (name_end, value_end) = (pair[0], pair[1]);
            let name = &self.text[start..name_end];
            let value = &self.text[name_end..value_end];
            start = value_end;
            // Names come from `http::HeaderName`: ASCII, so UTF-8.
            (std::str::from_utf8(name).unwrap_or_default(), value)
        })
    }

    /// The values of `name` (any case), in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(sent, _)| sent.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.get_all(name).next()
    }

    /// The distinct names, in the order first received.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.iter().map(|(name, _)| name).collect();
        // A name's pairs are together (see the type).
        names.dedup();
        names
    }
}

/// Header bytes as text: UTF-8 where valid, else Latin-1 (HTTP's own).
fn header_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|&byte| char::from(byte)).collect(),
    }
}

/// Response headers: a read-only, case-insensitive mapping.
///
/// A name sent several times maps to its values joined with ``", "``;
/// :meth:`get_list` gives them apart and :meth:`multi_items` gives every
/// pair as sent (a name's values together, names in the order first
/// received). Names come back lower-case. It is a view on its Response,
/// made each time ``response.headers`` is read.
///
/// Example::
///
///     response.headers["Content-Type"]      # 'application/json'
///     response.headers.get_list("set-cookie")  # ['a=1', 'b=2']
#[pyclass(frozen, mapping, module = "fastio._fastio")]
pub struct Headers {
    response: Py<Response>,
}

impl Headers {
    pub fn of(response: Py<Response>) -> Self {
        Self { response }
    }

    fn list(&self) -> &HeaderList {
        self.response.get().header_list()
    }

    /// {name: joined value}, as `dict(headers)` gives.
    fn joined_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in self.items() {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn joined(&self, name: &str) -> Option<String> {
        let mut values = self.list().get_all(name).peekable();
        values.peek()?;
        Some(values.map(header_text).collect::<Vec<_>>().join(", "))
    }
}

#[pymethods]
impl Headers {
    /// Headers made by hand (a mapping or pairs), for fakes in unit tests.
    #[new]
    #[pyo3(signature = (headers = None))]
    fn new(py: Python<'_>, headers: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let response = Bound::new(py, Response::with_headers(py, headers)?)?;
        Ok(Headers::of(response.unbind()))
    }

    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.joined(name)
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .is_ok_and(|name| self.list().get(&name).is_some())
    }

    fn __len__(&self) -> usize {
        self.list().names().len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.list().names())?
            .try_iter()?
            .into_any()
            .unbind())
    }

    /// The value of ``name``, or ``default``.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.joined(name) {
            Some(value) => Ok(PyString::new(py, &value).into_any().unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every value of ``name``, in the order sent; [] if it was not sent.
    fn get_list(&self, name: &str) -> Vec<String> {
        self.list().get_all(name).map(header_text).collect()
    }

    /// The distinct names, lower-case.
    fn keys(&self) -> Vec<&str> {
        self.list().names()
    }

    /// The (joined) value of each distinct name.
    fn values(&self) -> Vec<String> {
        self.list()
            .names()
            .into_iter()
            .filter_map(|name| self.joined(name))
            .collect()
    }

    /// (name, joined value) for each distinct name.
    fn items(&self) -> Vec<(&str, String)> {
        self.list()
            .names()
            .into_iter()
            .filter_map(|name| Some((name, self.joined(name)?)))
            .collect()
    }

    /// Every (name, value) pair as sent, repeated names included.
    fn multi_items(&self) -> Vec<(&str, String)> {
        self.list()
            .iter()
            .map(|(name, value)| (name, header_text(value)))
            .collect()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = other.py();
        let mine = self.joined_dict(py)?;
        let theirs = match other.cast::<Headers>() {
            Ok(headers) => headers.get().joined_dict(py)?.into_any(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};
    use proptest::prelude::*;

    proptest! {
        /// Packing keeps every pair, in order, and lookups agree with
        /// `HeaderMap`'s.
        #[test]
        fn packed_headers_match_the_header_map(
            pairs in proptest::collection::vec(("[a-z][a-z0-9-]{0,12}", proptest::collection::vec(32_u8..=255, 0..40)), 0..20)
        ) {
            let mut map = HeaderMap::new();
            for (name, value) in &pairs {
                let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) else {
                    continue;
                };
                map.append(name, value);
            }
            let list = HeaderList::pack(&map);
            let packed: Vec<(String, Vec<u8>)> = list.iter().map(|(n, v)| (n.to_owned(), v.to_vec())).collect();
            let expected: Vec<(String, Vec<u8>)> = map.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect();
            prop_assert_eq!(packed, expected);
            for name in map.keys() {
                let upper = name.as_str().to_ascii_uppercase();
                let values: Vec<&[u8]> = list.get_all(&upper).collect();
                let expected: Vec<&[u8]> = map.get_all(name).iter().map(HeaderValue::as_bytes).collect();
                prop_assert_eq!(values, expected);
            }
            let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
            prop_assert_eq!(list.names(), names);
        }
    }

    #[test]
    fn a_name_not_sent_has_no_values() {
        let mut map = HeaderMap::new();
        map.insert("content-type", HeaderValue::from_static("text/plain"));
        let list = HeaderList::pack(&map);
        assert_eq!(list.get("Content-Type"), Some(&b"text/plain"[..]));
        assert_eq!(list.get("content-length"), None);
        assert_eq!(
            HeaderList::pack(&HeaderMap::new()).names(),
            Vec::<&str>::new()
        );
    }
}
