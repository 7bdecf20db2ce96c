//! A streamed body read from Python: `aiter_bytes`/`aiter_raw` and the
//! awaitable reads behind them, each converted on the loop thread.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyTuple};

use super::args::{positive_count, IntArg};
use super::response::{bytes_object, stream_error, IntoResponse, Response};
use crate::bridge::asyncio::module_attr;
use crate::bridge::{FastioFuture, Job, ToPython, Value};
use crate::http::response::ResponseData;
use crate::http::stream::{BodyStream, ReadMode, READ_SIZE};

/// `Response.aiter_bytes()`: each step is one read of the stream, or a
/// slice of a body already in memory.
#[pyclass(frozen, module = "fastio._fastio", name = "_ByteIterator")]
pub struct ByteIterator {
    response: Py<Response>,
    chunk_size: Option<usize>,
    streaming: bool,
    /// How much of an in-memory body was handed out.
    offset: Mutex<usize>,
}

impl ByteIterator {
    /// Iterates `response`'s body, as sent if `raw` else decoded.
    pub fn new(
        response: &Bound<'_, Response>,
        chunk_size: Option<IntArg>,
        raw: bool,
    ) -> PyResult<Self> {
        let py = response.py();
        let chunk_size = positive_count(chunk_size, "chunk_size")?;
        let this = response.get();
        let streaming = this.stream_for_reading(py, raw)?.is_some();
        if raw && !streaming && this.headers.get("content-encoding").is_some() {
            return Err(stream_error(
                py,
                "StreamConsumed",
                &format!(
                    "{} {}: the raw (encoded) body of a response read whole is not kept; \
                     read it with client.stream(...) and aiter_raw()",
                    this.method, this.url
                ),
            ));
        }
        Ok(ByteIterator {
            response: response.clone().unbind(),
            chunk_size,
            streaming,
            offset: Mutex::new(0),
        })
    }
}

#[pymethods]
impl ByteIterator {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __anext__(&self, py: Python<'_>) -> PyResult<FastioFuture> {
        let response = self.response.get();
        if self.streaming {
            if let Some(stream) = &response.stream {
                return Ok(match self.chunk_size {
                    Some(size) => read_future(py, stream, ReadMode::Exactly(size), None),
                    None => read_future(py, stream, ReadMode::UpTo(READ_SIZE), None),
                });
            }
        }
        let content = response.content_bytes(py)?.as_bytes();
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        let start = (*offset).min(content.len());
        let end = self.chunk_size.map_or(content.len(), |size| {
            start.saturating_add(size).min(content.len())
        });
        *offset = end;
        if start == end {
            let stop = PyStopAsyncIteration::new_err(()).into_value(py).into_any();
            return Ok(FastioFuture::failed(stop));
        }
        let piece = PyBytes::new(py, &content[start..end]);
        Ok(FastioFuture::finished(piece.into_any().unbind()))
    }
}

/// What one read produced.
pub struct Pieces {
    pieces: Vec<Bytes>,
    /// The Response whose content this read completes.
    keep_in: Option<Py<Response>>,
    /// A whole-body read: empty means an empty body, not the end.
    whole: bool,
}

impl ToPython for Pieces {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.pieces.is_empty() && !self.whole {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        let pieces: Vec<&[u8]> = self.pieces.iter().map(|piece| &piece[..]).collect();
        let bytes = bytes_object(py, &pieces)?;
        match &self.keep_in {
            Some(response) => Ok(response.get().keep_content(py, bytes).into_any()),
            None => Ok(bytes.into_any().unbind()),
        }
    }
}

/// A streamed body's awaitable read: bytes, StopAsyncIteration at the end,
/// or (to the end, `keep_in`) the whole body, also kept as that Response's
/// content.
pub fn read_future(
    py: Python<'_>,
    stream: &BodyStream,
    mode: ReadMode,
    keep_in: Option<Py<Response>>,
) -> FastioFuture {
    let whole = matches!(mode, ReadMode::ToEnd);
    if let Some(result) = stream.read_now(mode) {
        // Already here: no trip to the runtime and back.
        let done = result.map_err(PyErr::from).and_then(|pieces| {
            Box::new(Pieces {
                pieces,
                keep_in,
                whole,
            })
            .to_python(py)
        });
        return match done {
            Ok(value) => FastioFuture::finished(value),
            Err(error) => FastioFuture::failed(error.into_value(py).into_any()),
        };
    }
    let read = stream.read(mode);
    FastioFuture::new(
        Job::spawn(move || async move {
            let pieces = read.await?;
            Ok(Value::Object(Box::new(Pieces {
                pieces,
                keep_in,
                whole: matches!(mode, ReadMode::ToEnd),
            })))
        }),
        None,
    )
}

/// A Response whose body is still to read.
pub struct StreamedResponse {
    pub head: ResponseData,
    pub body: BodyStream,
}

impl ToPython for StreamedResponse {
    fn to_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .head
            .into_response_streaming(py, Some(self.body))?
            .into_any())
    }
}

/// A Response's body read as a stream: iterators, `aread`, `aclose` and
/// `async with`.
#[pymethods]
impl Response {
    /// Async iterator over the body: pieces of what has arrived (up to
    /// 256 KiB), or of exactly ``chunk_size`` bytes (the last may be
    /// shorter). A streamed body can be iterated once
    /// (:class:`fastio.StreamConsumed` after); an in-memory one any number
    /// of times.
    ///
    /// Example::
    ///
    ///     async with client.stream("GET", url) as response:
    ///         async for piece in response.aiter_bytes():
    ///             sink.write(piece)
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_bytes(slf: &Bound<'_, Self>, chunk_size: Option<IntArg>) -> PyResult<ByteIterator> {
        ByteIterator::new(slf, chunk_size, false)
    }

    /// Async iterator over the body as the server sent it, still
    /// compressed if its Content-Encoding says so. A streamed body is read
    /// this way or decoded, once; the raw bytes of a body already read
    /// whole are not kept, so a compressed one raises
    /// :class:`fastio.StreamConsumed`.
    ///
    /// Example::
    ///
    ///     async with client.stream("GET", url) as response:
    ///         async for piece in response.aiter_raw():
    ///             sink.write(piece)
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_raw(slf: &Bound<'_, Self>, chunk_size: Option<IntArg>) -> PyResult<ByteIterator> {
        ByteIterator::new(slf, chunk_size, true)
    }

    /// Async iterator over the body as text, decoded incrementally with
    /// :attr:`encoding`; undecodable bytes become U+FFFD.
    #[pyo3(signature = (chunk_size = None))]
    fn aiter_text<'py>(
        slf: &Bound<'py, Self>,
        chunk_size: Option<IntArg>,
    ) -> PyResult<Bound<'py, PyAny>> {
        static AITER_TEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(slf.py(), &AITER_TEXT, "fastio._streaming", "aiter_text")?
            .call1((slf, chunk_size.map(|IntArg(size)| size)))
    }

    /// Async iterator over the body's lines, without their endings. A
    /// line longer than 16 MiB characters raises :class:`fastio.BodyTooLarge`.
    ///
    /// Example::
    ///
    ///     async with client.stream("GET", url + "/events.ndjson") as response:
    ///         async for line in response.aiter_lines():
    ///             handle(json.loads(line))
    fn aiter_lines<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        static AITER_LINES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        module_attr(slf.py(), &AITER_LINES, "fastio._streaming", "aiter_lines")?.call1((slf,))
    }

    /// Reads the rest of a streamed body and keeps it as :attr:`content`;
    /// returns the body (at once when it is already in memory).
    ///
    /// Example::
    ///
    ///     async with client.stream("GET", url) as response:
    ///         if response.ok:
    ///             data = (await response.aread(), response.json())[1]
    fn aread(slf: &Bound<'_, Self>) -> PyResult<FastioFuture> {
        let py = slf.py();
        let this = slf.get();
        match this.stream_for_reading(py, false)? {
            Some(stream) => Ok(read_future(
                py,
                stream,
                ReadMode::ToEnd,
                Some(slf.clone().unbind()),
            )),
            None => Ok(FastioFuture::finished(
                this.content_bytes(py)?.clone().into_any().unbind(),
            )),
        }
    }

    /// Closes a streamed body and releases its connection; a no-op for
    /// other responses and for bodies already read to the end.
    fn aclose(&self, py: Python<'_>) -> PyResult<FastioFuture> {
        if let Some(stream) = &self.stream {
            stream
                .close()
                .map_err(|err| pyo3::exceptions::PyOSError::new_err(err.to_string()))?;
        }
        Ok(FastioFuture::finished(py.None()))
    }

    /// ``async with response:`` (aiohttp's idiom); gives the response.
    fn __aenter__(slf: &Bound<'_, Self>) -> FastioFuture {
        FastioFuture::finished(slf.clone().into_any().unbind())
    }

    /// Leaving ``async with`` releases a streamed body's connection, as
    /// :meth:`aclose`; exceptions go on.
    #[pyo3(signature = (*_exc))]
    fn __aexit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<FastioFuture> {
        self.aclose(py)
    }
}
