//! fastio's one error enum and its mapping onto the Python exception
//! hierarchy defined in `fastio/exceptions.py`.

use std::any::Any;
use std::fmt;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Every failure the Rust side can report. Tokio tasks produce these as
/// plain data; they become Python exceptions only on the loop thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FastioError {
    /// A bug in fastio itself, such as a panic inside a task.
    Internal(String),
}

impl FastioError {
    /// Builds the error for a panic payload caught at the task boundary.
    pub fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let detail = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        FastioError::Internal(format!("a fastio task panicked: {detail}"))
    }

    /// The name of the matching class in `fastio.exceptions`.
    fn class_name(&self) -> &'static str {
        match self {
            FastioError::Internal(_) => "InternalError",
        }
    }

    /// Converts into the Python exception; needs the GIL, so only the loop
    /// thread calls it.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match exception_class(py, self.class_name()) {
            Ok(class) => PyErr::from_type(class, self.to_string()),
            Err(import_failure) => import_failure,
        }
    }
}

impl fmt::Display for FastioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FastioError::Internal(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for FastioError {}

/// Looks up one class of the Python hierarchy; the module is imported once.
fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("fastio.exceptions").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_become_readable_messages() {
        let from_str = FastioError::from_panic(Box::new("boom"));
        assert_eq!(from_str.to_string(), "a fastio task panicked: boom");
        let from_string = FastioError::from_panic(Box::new(String::from("bang")));
        assert_eq!(from_string.to_string(), "a fastio task panicked: bang");
        let opaque = FastioError::from_panic(Box::new(7_u8));
        assert!(opaque.to_string().contains("non-string payload"));
    }
}
