//! Streamed request bodies: `content=` given an async iterator of bytes.
//!
//! Pulling from an async iterator needs the event loop, so a Python task
//! (in `fastio/_client.py`) pumps the chunks into an [`UploadBody`]; the
//! request reads them from a small bounded channel, so a slow server slows
//! the pump instead of buffering the body.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use pyo3::prelude::*;
use tokio::sync::mpsc::{channel, Receiver, Sender};

use crate::bridge::{FastioFuture, Job, Value};
use crate::request::body_bytes;
use crate::runtime;

/// Chunks in flight between the pump and the request.
const UPLOAD_CHANNEL: usize = 4;

/// A chunk, or why the Python iterator failed.
type Piece = Result<Bytes, std::io::Error>;

/// The request's end of the channel; taken by the one send it allows.
#[derive(Clone)]
pub struct UploadSource(Arc<Mutex<Option<Receiver<Piece>>>>);

impl UploadSource {
    /// The body to hand reqwest, or `None` if it was already sent.
    pub fn take(&self) -> Option<reqwest::Body> {
        let mut receiver = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let chunks = futures::stream::poll_fn(move |context| receiver.poll_recv(context));
        Some(reqwest::Body::wrap_stream(chunks))
    }
}

/// The pump's end of a streamed request body.
#[pyclass(frozen, module = "fastio._fastio", name = "_UploadBody")]
pub struct UploadBody {
    sender: Mutex<Option<Sender<Piece>>>,
    source: UploadSource,
}

impl UploadBody {
    pub fn source(&self) -> UploadSource {
        self.source.clone()
    }

    fn sender(&self) -> Option<Sender<Piece>> {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn take_sender(&self) -> Option<Sender<Piece>> {
        self.sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[pymethods]
impl UploadBody {
    #[new]
    fn new() -> Self {
        let (sender, receiver) = channel(UPLOAD_CHANNEL);
        Self {
            sender: Mutex::new(Some(sender)),
            source: UploadSource(Arc::new(Mutex::new(Some(receiver)))),
        }
    }

    /// Queues one chunk; the awaitable finishes once the request has room
    /// for it, with False if the request no longer reads its body.
    fn send(&self, chunk: &Bound<'_, PyAny>) -> PyResult<FastioFuture> {
        let chunk = body_bytes(chunk, "each chunk of content")?;
        let sender = self.sender();
        Ok(FastioFuture::new(
            Job::spawn(move || async move {
                let accepted = match sender {
                    Some(sender) => sender.send(Ok(chunk)).await.is_ok(),
                    None => false,
                };
                Ok(Value::Object(Box::new(accepted)))
            }),
            None,
        ))
    }

    /// Ends the body after the chunks already queued.
    fn finish(&self) {
        drop(self.take_sender());
    }

    /// Ends the body with an error: the request fails instead of sending
    /// a truncated body as if it were whole.
    fn fail(&self, message: String) -> PyResult<()> {
        if let Some(sender) = self.take_sender() {
            runtime::spawn(async move {
                let _ = sender.send(Err(std::io::Error::other(message))).await;
            })?;
        }
        Ok(())
    }
}
