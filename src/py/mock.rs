//! The Python side of a mock transport's handler ([`crate::http::handler`]):
//! requests waiting for an answer reach the loop thread as `_Exchange`s, and
//! the handler's Response (or exception) goes back as a server's answer.

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::errors::exception_class;
use super::request::Request;
use super::response::Response;
use crate::bridge::ToPython;
use crate::http::error::{ErrorKind, FastioError, Raised};
use crate::http::handler::{Answer, Exchange};
use crate::http::response::HeaderList;

/// A batch of requests for the handler, or `None` once it is closed.
pub struct Exchanges(pub Option<Vec<Exchange>>);

impl ToPython for Exchanges {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(batch) = self.0 else {
            return Ok(py.None());
        };
        let list = PyList::empty(py);
        for exchange in batch {
            let request = Request::received(
                exchange.method.as_str(),
                exchange.url.as_str(),
                HeaderList::pack(&exchange.headers),
                PyBytes::new(py, &exchange.body).into_any().unbind(),
            );
            let pending = PendingExchange {
                request: Py::new(py, request)?,
                exchange: Mutex::new(Some(exchange)),
            };
            list.append(Py::new(py, pending)?)?;
        }
        Ok(list.into_any().unbind())
    }
}

/// One request waiting for the handler: answered once, by `answer` or `fail`.
#[pyclass(frozen, module = "fastio._fastio", name = "_Exchange")]
pub struct PendingExchange {
    request: Py<Request>,
    exchange: Mutex<Option<Exchange>>,
}

/// fastio's exception classes a handler may raise to fail a request the
/// way the network would (retried as such), most specific first.
const NETWORK_KINDS: [ErrorKind; 17] = [
    ErrorKind::PoolTimeout,
    ErrorKind::WriteTimeout,
    ErrorKind::ConnectTimeout,
    ErrorKind::ReadTimeout,
    ErrorKind::Tls,
    ErrorKind::Proxy,
    ErrorKind::NameNotFound,
    ErrorKind::Dns,
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::Write,
    ErrorKind::Read,
    ErrorKind::Protocol,
    ErrorKind::TooManyRedirects,
    ErrorKind::BodyTooLarge,
    ErrorKind::Decode,
    ErrorKind::Request,
];

impl PendingExchange {
    fn take(&self) -> PyResult<Exchange> {
        self.exchange
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this request was already answered"))
    }
}

#[pymethods]
impl PendingExchange {
    /// The request as it would have gone on the wire.
    #[getter]
    fn request(&self, py: Python<'_>) -> Py<Request> {
        self.request.clone_ref(py)
    }

    /// Answers with `response`: its status, headers and body, as a server's.
    fn answer(&self, response: &Bound<'_, Response>) -> PyResult<()> {
        let (status, headers, body) = response.get().as_sent(response.py())?;
        self.take()?.reply(Ok(Answer {
            status,
            headers: headers.to_map(),
            body,
        }));
        Ok(())
    }

    /// Fails the request with `exception`: one of fastio's transport errors
    /// fails it as that failure of the network would (and is retried as
    /// one); anything else is raised by the request unchanged.
    fn fail(&self, exception: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = exception.py();
        let exchange = self.take()?;
        let (method, url) = (exchange.method.as_str(), exchange.url.as_str());
        let mut failure = None;
        for kind in NETWORK_KINDS {
            if exception.is_instance(exception_class(py, kind.class_name())?.as_any())? {
                let message = exception.str()?.to_string();
                failure = Some(FastioError::for_request(kind, method, url, &message));
                break;
            }
        }
        let failure = failure.unwrap_or_else(|| {
            FastioError::for_request(ErrorKind::Request, method, url, "the handler raised")
                .with_raised(Raised(Arc::new(exception.clone().unbind())))
        });
        exchange.reply(Err(failure));
        Ok(())
    }
}
