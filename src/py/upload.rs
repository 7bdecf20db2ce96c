//! `content=` given an async iterator of bytes: a Python task (in
//! `fastio/_client.py`) pumps the chunks into an [`UploadBody`].

use std::sync::{Mutex, PoisonError};

use pyo3::prelude::*;
use tokio::sync::mpsc::Sender;

use super::args::body_bytes;
use crate::bridge::{FastioFuture, Job, Value};
use crate::http::upload::{upload_channel, BodyFailed, Piece, UploadSource};

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
        let (sender, source) = upload_channel();
        Self {
            sender: Mutex::new(Some(sender)),
            source,
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
            crate::bridge::spawn(async move {
                let _ = sender.send(BodyFailed::piece(message)).await;
            })?;
        }
        Ok(())
    }
}
