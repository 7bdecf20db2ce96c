//! `fastio.Headers`: the case-insensitive mapping Python sees over packed
//! headers: read-only for a response, changeable for a request (a request
//! hook sets `request.headers[...]`).

use std::sync::{PoisonError, RwLock};

use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use super::args::{header_pair, parse_headers};
use crate::http::error::shown_header_value;
use crate::http::response::HeaderList;

/// Header bytes as text: UTF-8 where valid, else Latin-1 (HTTP's own).
fn header_text(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => value.iter().map(|&byte| char::from(byte)).collect(),
    }
}

/// HTTP headers: a case-insensitive mapping.
///
/// A name sent several times maps to its values joined with ``", "``;
/// :meth:`get_list` gives them apart and :meth:`multi_items` gives every
/// pair as sent (a name's values together, names in the order first
/// received). Names come back lower-case. A response's are read-only (a
/// view made each time ``response.headers`` is read); a request's can be
/// changed (``request.headers["X-Id"] = "1"``, ``del``, ``update``), as a
/// request hook does.
///
/// Example::
///
///     response.headers["Content-Type"]      # 'application/json'
///     response.headers.get_list("set-cookie")  # ['a=1', 'b=2']
#[pyclass(frozen, mapping, module = "fastio._fastio")]
pub struct Headers {
    list: RwLock<HeaderList>,
    changeable: bool,
}

impl Headers {
    /// Read-only headers (a response's).
    pub fn of(list: HeaderList) -> Self {
        Self {
            list: RwLock::new(list),
            changeable: false,
        }
    }

    /// Headers that can be changed (a request's).
    pub fn changeable(list: HeaderList) -> Self {
        Self {
            list: RwLock::new(list),
            changeable: true,
        }
    }

    /// The pairs now (a clone shares the buffers).
    pub fn list(&self) -> HeaderList {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies `change` to the pairs, if these headers may change.
    fn change(&self, change: impl FnOnce(&mut http::HeaderMap)) -> PyResult<()> {
        if !self.changeable {
            return Err(PyTypeError::new_err(
                "a response's headers are read-only (a request's can be changed)",
            ));
        }
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let mut map = list.to_map();
        change(&mut map);
        *list = HeaderList::pack(&map);
        Ok(())
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
        let list = self.list();
        let mut values = list.get_all(name).peekable();
        values.peek()?;
        Some(values.map(header_text).collect::<Vec<_>>().join(", "))
    }
}

#[pymethods]
impl Headers {
    /// Headers made by hand (a mapping or pairs), for fakes in unit
    /// tests; they can be changed.
    #[new]
    #[pyo3(signature = (headers = None))]
    fn new(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Headers::changeable(HeaderList::pack(&parse_headers(
            headers,
        )?)))
    }

    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.joined(name)
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __setitem__(&self, name: &str, value: &str) -> PyResult<()> {
        let (name, value) = header_pair(name, value)?;
        self.change(|map| {
            map.insert(name, value);
        })
    }

    fn __delitem__(&self, name: &str) -> PyResult<()> {
        let mut found = false;
        self.change(|map| found = map.remove(name.to_ascii_lowercase().as_str()).is_some())?;
        if found {
            Ok(())
        } else {
            Err(PyKeyError::new_err(name.to_owned()))
        }
    }

    /// Sets each (name, value) of a mapping or pairs, replacing that name's
    /// values (a request's headers only).
    #[pyo3(signature = (headers = None))]
    fn update(&self, headers: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let given = parse_headers(headers)?;
        self.change(|map| {
            for name in given.keys() {
                map.remove(name);
            }
            for (name, value) in &given {
                map.append(name, value.clone());
            }
        })
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
    fn keys(&self) -> Vec<String> {
        self.list().names().into_iter().map(str::to_owned).collect()
    }

    /// The (joined) value of each distinct name.
    fn values(&self) -> Vec<String> {
        let list = self.list();
        list.names()
            .into_iter()
            .filter_map(|name| self.joined(name))
            .collect()
    }

    /// (name, joined value) for each distinct name.
    fn items(&self) -> Vec<(String, String)> {
        let list = self.list();
        list.names()
            .into_iter()
            .filter_map(|name| Some((name.to_owned(), self.joined(name)?)))
            .collect()
    }

    /// Every (name, value) pair as sent, repeated names included.
    fn multi_items(&self) -> Vec<(String, String)> {
        self.list()
            .iter()
            .map(|(name, value)| (name.to_owned(), header_text(value)))
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
            .map(|(name, value)| format!("({name:?}, {:?})", shown_header_value(&name, &value)))
            .collect();
        format!("Headers([{}])", pairs.join(", "))
    }
}
