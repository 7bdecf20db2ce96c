//! Streamed request bodies: chunks handed in from outside (a Python task
//! pumping an async iterator) through a small bounded channel, so a slow
//! server slows the pump instead of buffering the body.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::mpsc::{channel, Receiver, Sender};

/// Chunks in flight between the pump and the request.
const UPLOAD_CHANNEL: usize = 4;

/// A chunk, or why the Python iterator failed.
pub type Piece = Result<Bytes, std::io::Error>;

/// Why a streamed request body stopped before it was whole: its source
/// failed, or it broke the Content-Length the caller declared. Told apart
/// from a failure of the connection.
#[derive(Debug)]
pub struct BodyFailed(pub String);

impl std::fmt::Display for BodyFailed {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for BodyFailed {}

impl BodyFailed {
    /// As the error a body stream yields.
    pub fn piece(message: String) -> Piece {
        Err(std::io::Error::other(BodyFailed(message)))
    }
}

/// The request's end of the channel; taken by the one send it allows.
#[derive(Clone)]
pub struct UploadSource(Arc<Mutex<Option<Receiver<Piece>>>>);

impl UploadSource {
    /// The chunks to send, or `None` if they were already sent.
    pub fn take(
        &self,
    ) -> Option<impl futures::Stream<Item = Piece> + Unpin + Send + Sync + 'static> {
        let mut receiver = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        Some(futures::stream::poll_fn(move |context| {
            receiver.poll_recv(context)
        }))
    }
}

/// A new streamed body: the end chunks are pushed into, and the request's.
pub fn upload_channel() -> (Sender<Piece>, UploadSource) {
    let (sender, receiver) = channel(UPLOAD_CHANNEL);
    (sender, UploadSource(Arc::new(Mutex::new(Some(receiver)))))
}
