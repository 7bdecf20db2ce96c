//! Streamed response bodies: `Client.stream()` hands back a Response whose
//! body is read piece by piece (`aiter_bytes`, `aread`) while the connection
//! and its slots stay held; reading to the end, closing, or dropping the
//! Response gives them back.
//!
//! Each read is one awaitable. It takes whatever is ready (up to a size),
//! so a fast download costs one loop wake-up per few hundred KiB, and the
//! reader holds at most one read's worth: memory stays flat.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::Mutex;

use crate::runtime;

use super::body::{within_limit, Collector};
use super::classify::classify;
use super::decode::{self, Coding, Decoder};
use super::error::{ErrorKind, FastioError};
use super::response::ResponseData;
use super::session::Slots;
use super::spec::BodyLimits;
use super::transport::{body_refused, decoding_failed, Opened};
use super::wire::WireResponse;

/// How much one read without a size gathers of what is ready.
pub const READ_SIZE: usize = 256 * 1024;

/// The open end of a streamed body.
struct BodyReader {
    source: Source,
    /// The codings to undo, until the first read decides raw or decoded.
    codings: Vec<Coding>,
    _slots: Slots,
    /// Read from the network but not yet handed out (past an exact size).
    pending: Bytes,
    /// A failure met while gathering ready data, reported by the next read.
    failed: Option<FastioError>,
    ended: bool,
    /// Bytes handed out (decoded unless raw), counted against `limit`.
    received: u64,
    limit: Option<u64>,
    /// The limit on reading the rest whole (`aread`).
    whole_limit: u64,
    method: String,
    url: String,
    /// The longest wait for the next piece of the body.
    idle_timeout: Option<Duration>,
    /// Bytes received over the wire, shared with the Response.
    downloaded: Arc<AtomicU64>,
}

/// Where the pieces come from.
enum Source {
    /// The bytes as sent: no coding to undo, or read raw.
    Wire(WireResponse),
    Decoded(Box<Decoder>),
    /// Only while switching from one to the other.
    Switching,
}

impl BodyReader {
    /// Reads the body as sent if `raw`, else decoded: once, before the
    /// first read.
    fn choose(&mut self, raw: bool) {
        let codings = std::mem::take(&mut self.codings);
        if raw || codings.is_empty() {
            return;
        }
        if let Source::Wire(response) = std::mem::replace(&mut self.source, Source::Switching) {
            self.source = Source::Decoded(Box::new(Decoder::new(
                response,
                codings,
                Arc::clone(&self.downloaded),
            )));
        }
    }

    /// One piece from the source, as it comes.
    async fn pull(&mut self) -> Result<Option<Bytes>, FastioError> {
        match &mut self.source {
            Source::Wire(response) => {
                let piece = response
                    .chunk()
                    .await
                    .map_err(|err| classify(&err, &self.method, &self.url))?;
                if let Some(piece) = &piece {
                    self.downloaded
                        .fetch_add(piece.len() as u64, Ordering::Relaxed);
                }
                Ok(piece)
            }
            Source::Decoded(decoder) => decoder
                .next()
                .await
                .map_err(|err| decoding_failed(&err, &self.method, &self.url)),
            Source::Switching => Ok(None),
        }
    }

    fn accept(
        &mut self,
        chunk: Result<Option<Bytes>, FastioError>,
    ) -> Result<Option<Bytes>, FastioError> {
        let chunk = chunk?;
        match &chunk {
            Some(piece) => {
                self.received = self.received.saturating_add(piece.len() as u64);
                within_limit(self.received, self.limit)
                    .map_err(|refusal| body_refused(&self.method, &self.url, refusal))?;
            }
            None => self.ended = true,
        }
        Ok(chunk)
    }

    /// The next piece, waiting for it; `None` at the end.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, FastioError> {
        if !self.pending.is_empty() {
            return Ok(Some(std::mem::take(&mut self.pending)));
        }
        if let Some(failure) = self.failed.take() {
            return Err(failure);
        }
        if self.ended {
            return Ok(None);
        }
        let chunk = match self.idle_timeout {
            None => self.pull().await,
            Some(limit) => match tokio::time::timeout(limit, self.pull()).await {
                Ok(chunk) => chunk,
                Err(_) => {
                    return Err(FastioError::for_request(
                        ErrorKind::Timeout,
                        &self.method,
                        &self.url,
                        &format!(
                            "timed out after {} s waiting for more of the body",
                            limit.as_secs_f64()
                        ),
                    ))
                }
            },
        };
        self.accept(chunk)
    }

    /// The next piece if one is ready now, without waiting.
    fn ready_piece(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return Some(std::mem::take(&mut self.pending));
        }
        if self.ended || self.failed.is_some() {
            return None;
        }
        let chunk = self.pull().now_or_never()?;
        match self.accept(chunk) {
            Ok(piece) => piece,
            Err(failure) => {
                self.failed = Some(failure);
                None
            }
        }
    }

    /// One piece that has already arrived (or the end), taken without
    /// waiting or decoding; `None` if it must be waited for.
    fn arrived_piece(&mut self) -> Option<Result<Option<Bytes>, FastioError>> {
        let Source::Wire(response) = &mut self.source else {
            return None;
        };
        let piece = response.take_arrived()?;
        if let Some(piece) = &piece {
            self.downloaded
                .fetch_add(piece.len() as u64, Ordering::Relaxed);
        }
        Some(self.accept(Ok(piece)))
    }

    /// `mode`'s read served from what has already arrived, without waiting
    /// and without decoding, so any thread may run it; `None` when it
    /// would have to wait.
    fn read_arrived(&mut self, mode: ReadMode) -> Option<Result<Vec<Bytes>, FastioError>> {
        if self.failed.is_some() || !self.pending.is_empty() {
            return None;
        }
        match mode {
            ReadMode::UpTo(size) => {
                let mut pieces = Vec::new();
                let mut total = 0;
                while total < size {
                    let piece = match self.arrived_piece() {
                        Some(Ok(Some(piece))) => piece,
                        Some(Err(failure)) => return Some(Err(failure)),
                        Some(Ok(None)) | None => break,
                    };
                    self.keep(&mut pieces, &mut total, size, piece);
                }
                (!pieces.is_empty() || self.ended).then_some(Ok(pieces))
            }
            ReadMode::ToEnd => match &self.source {
                Source::Wire(response) if response.all_arrived() => {
                    let declared = response.content_length();
                    Some(self.collect_arrived(declared))
                }
                _ => None,
            },
            ReadMode::Exactly(_) => None,
        }
    }

    /// The rest of a body that has all arrived, as one piece.
    fn collect_arrived(&mut self, declared: Option<u64>) -> Result<Vec<Bytes>, FastioError> {
        let refused = |reader: &Self, refusal| body_refused(&reader.method, &reader.url, refusal);
        let mut whole =
            Collector::new(declared, Some(self.whole_limit)).map_err(|r| refused(self, r))?;
        while let Some(piece) = self.arrived_piece().transpose()?.flatten() {
            whole.push(piece).map_err(|r| refused(self, r))?;
        }
        Ok(vec![whole.finish()])
    }

    /// Adds `piece` to a read of `size` bytes that has `total` so far; what
    /// is past `size` waits for the next read.
    fn keep(&mut self, pieces: &mut Vec<Bytes>, total: &mut usize, size: usize, mut piece: Bytes) {
        if *total + piece.len() > size {
            self.pending = piece.split_off(size - *total);
        }
        *total += piece.len();
        pieces.push(piece);
    }

    /// Up to `size` bytes: exactly `size` unless the body ends first when
    /// `exact`, else what is ready once the first piece has arrived. Empty
    /// at the end of the body.
    async fn read(&mut self, size: usize, exact: bool) -> Result<Vec<Bytes>, FastioError> {
        let mut pieces = Vec::new();
        let mut total = 0;
        while total < size {
            let piece = if pieces.is_empty() || exact {
                self.next_piece().await?
            } else {
                self.ready_piece()
            };
            let Some(piece) = piece else {
                break;
            };
            if !piece.is_empty() {
                self.keep(&mut pieces, &mut total, size, piece);
            }
        }
        Ok(pieces)
    }

    async fn read_to_end(&mut self) -> Result<Vec<Bytes>, FastioError> {
        let declared = match &self.source {
            Source::Wire(response) => response.content_length(),
            _ => None,
        };
        let mut whole = Collector::new(declared, Some(self.whole_limit))
            .map_err(|refusal| body_refused(&self.method, &self.url, refusal))?;
        while let Some(piece) = self.next_piece().await? {
            whole
                .push(piece)
                .map_err(|refusal| body_refused(&self.method, &self.url, refusal))?;
            // A bomb decodes in many steps: let the worker's other tasks run.
            tokio::task::consume_budget().await;
        }
        Ok(vec![whole.finish()])
    }

    fn done(&self) -> bool {
        self.ended && self.pending.is_empty() && self.failed.is_none()
    }
}

/// What a read asks for.
#[derive(Clone, Copy)]
pub enum ReadMode {
    UpTo(usize),
    Exactly(usize),
    ToEnd,
}

struct Shared {
    /// `None` once read to the end or closed.
    reader: Mutex<Option<BodyReader>>,
    closed: AtomicBool,
    /// The body is read as sent, not decoded (`aiter_raw`).
    raw: AtomicBool,
}

/// A Response's streamed body.
pub struct BodyStream {
    shared: Arc<Shared>,
    /// Set on the loop thread once reading has begun.
    consumed: AtomicBool,
    method: String,
    url: String,
    downloaded: Arc<AtomicU64>,
}

impl BodyStream {
    /// The head of `opened` as Response data, and its body to stream.
    /// `idle_timeout` bounds each wait for more of the body.
    pub fn open(
        mut opened: Opened,
        idle_timeout: Option<Duration>,
        limits: BodyLimits,
    ) -> (ResponseData, BodyStream) {
        let head = opened.take_head();
        let limit = limits.streamed;
        // A declared length over the limit fails the first read, at once,
        // as do too many codings.
        let declared_too_long = opened
            .response
            .content_length()
            .and_then(|declared| within_limit(declared, limit).err())
            .map(|refusal| body_refused(head.method.as_str(), &head.url, refusal));
        let (codings, failed) =
            match decode::codings(&head.method, &head.url, opened.response.headers()) {
                Ok(codings) => (codings, declared_too_long),
                Err(too_many) => (Vec::new(), Some(too_many)),
            };
        let downloaded = Arc::new(AtomicU64::new(0));
        // A small body is usually here with its head: gathered now, its
        // reads need no trip to the runtime (see `read_now`).
        opened.response.gather_arrived(READ_SIZE);
        let reader = BodyReader {
            source: Source::Wire(opened.response),
            codings,
            _slots: opened.slots,
            pending: Bytes::new(),
            failed,
            ended: false,
            received: 0,
            limit,
            whole_limit: limits.whole,
            method: head.method.to_string(),
            url: head.url.clone(),
            idle_timeout,
            downloaded: Arc::clone(&downloaded),
        };
        let stream = BodyStream {
            shared: Arc::new(Shared {
                reader: Mutex::new(Some(reader)),
                closed: AtomicBool::new(false),
                raw: AtomicBool::new(false),
            }),
            consumed: AtomicBool::new(false),
            method: head.method.to_string(),
            url: head.url.clone(),
            downloaded,
        };
        (head, stream)
    }

    /// Marks the body as being read, as sent if `raw` else decoded;
    /// false if it already was.
    pub fn begin(&self, raw: bool) -> bool {
        if self.consumed.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.shared.raw.store(raw, Ordering::SeqCst);
        true
    }

    /// Bytes received over the wire so far (before decoding).
    pub fn downloaded(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }

    /// One read, as `mode` asks: the pieces read; none at the end (unless
    /// reading to the end, where none means an empty body).
    pub fn read(
        &self,
        mode: ReadMode,
    ) -> impl std::future::Future<Output = Result<Vec<Bytes>, FastioError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        let (method, url) = (self.method.clone(), self.url.clone());
        async move { read_shared(&shared, mode, &method, &url).await }
    }

    /// One read, as `mode` asks, served at once from what has already
    /// arrived, on the calling thread: no waiting, no decoding. `None` when
    /// it would have to wait; then [`Self::read`] does it.
    pub fn read_now(&self, mode: ReadMode) -> Option<Result<Vec<Bytes>, FastioError>> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return None;
        }
        let mut slot = self.shared.reader.try_lock().ok()?;
        let reader = slot.as_mut()?;
        reader.choose(self.shared.raw.load(Ordering::SeqCst));
        let result = reader.read_arrived(mode)?;
        // As `read_shared` does at the end or after an error.
        if result.is_err() {
            self.shared.closed.store(true, Ordering::SeqCst);
            drop(slot.take());
        } else if reader.done() {
            drop(slot.take());
        }
        Some(result)
    }

    /// Gives the connection back: at once unless a read holds the body, in
    /// which case as soon as that read ends (it is cancelled with its task).
    pub fn close(&self) -> std::io::Result<()> {
        self.shared.closed.store(true, Ordering::SeqCst);
        if let Ok(mut reader) = self.shared.reader.try_lock() {
            drop(reader.take());
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        runtime::spawn(async move {
            drop(shared.reader.lock().await.take());
        })
    }
}

async fn read_shared(
    shared: &Shared,
    mode: ReadMode,
    method: &str,
    url: &str,
) -> Result<Vec<Bytes>, FastioError> {
    let mut slot = shared.reader.lock().await;
    if shared.closed.load(Ordering::SeqCst) {
        drop(slot.take());
        return Err(FastioError::for_request(
            ErrorKind::StreamClosed,
            method,
            url,
            "the response is closed; read its body inside the `async with` block",
        ));
    }
    let Some(reader) = slot.as_mut() else {
        // Already read to the end (or failed, which was reported).
        return Ok(Vec::new());
    };
    reader.choose(shared.raw.load(Ordering::SeqCst));
    let result = match mode {
        ReadMode::UpTo(size) => reader.read(size, false).await,
        ReadMode::Exactly(size) => reader.read(size, true).await,
        ReadMode::ToEnd => reader.read_to_end().await,
    };
    // At the end the connection goes back to the pool; after an error it
    // is closed (an over-long body too), and later reads say so.
    if result.is_err() {
        shared.closed.store(true, Ordering::SeqCst);
        drop(slot.take());
    } else if reader.done() {
        drop(slot.take());
    }
    result
}
