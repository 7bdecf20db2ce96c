//! The write timeout: how long the server may leave a request body untaken.
//!
//! hyper asks a body for its next piece only once it has room to send it
//! (HTTP/1.1: its write buffer drained into the socket; HTTP/2: flow-control
//! window), so the time from handing a piece over to being asked for the
//! next is the server's. A [`WriteWatch`] notes each hand-over, and
//! [`WriteWatch::expired`] ends when one has waited too long. Time the body
//! itself takes to produce a piece (a slow async iterator) is not counted.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::time::Instant;

/// Pieces a whole body is handed over in, so a stall shows between them
/// (and a body not yet all handed over shows that a failure came while
/// sending it).
const PIECE: usize = 64 * 1024;

/// No piece is waiting for the server.
const NOT_OWED: u64 = u64::MAX;

/// Shared by a body and the request sending it.
pub struct WriteWatch {
    /// When the clock started, so the atomic holds an offset.
    origin: Instant,
    /// Milliseconds after `origin` when the piece the server owes us a
    /// request for was handed over; [`NOT_OWED`] while it owes none.
    owed_since: AtomicU64,
    limit: Duration,
}

impl WriteWatch {
    /// A watch for a body the server must take within `limit` a piece;
    /// the first request for a piece is owed within `limit + grace` (the
    /// connection may still be being made).
    pub fn new(limit: Duration, grace: Duration) -> Arc<Self> {
        let origin = Instant::now();
        Arc::new(Self {
            origin,
            owed_since: AtomicU64::new(millis(grace)),
            limit,
        })
    }

    fn handed_over(&self) {
        let now = millis(self.origin.elapsed());
        self.owed_since.store(now, Ordering::Relaxed);
    }

    fn asked(&self) {
        self.owed_since.store(NOT_OWED, Ordering::Relaxed);
    }

    /// Ends once the server has left a piece untaken for longer than the
    /// limit; never while it owes none.
    pub async fn expired(&self) {
        loop {
            let owed = self.owed_since.load(Ordering::Relaxed);
            let wait = if owed == NOT_OWED {
                self.limit
            } else {
                let deadline = self.origin + Duration::from_millis(owed) + self.limit;
                if Instant::now() >= deadline {
                    return;
                }
                deadline - Instant::now()
            };
            // Looked at again a few times a limit: a piece handed over
            // meanwhile moves the deadline, earlier (the grace) or later.
            let granule = (self.limit / 4).max(Duration::from_millis(1));
            tokio::time::sleep(wait.min(granule)).await;
        }
    }

    /// The limit, for messages.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(NOT_OWED - 1)
}

/// A body whose pieces are watched by `watch`.
pub struct Watched<S> {
    inner: S,
    watch: Arc<WriteWatch>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, watch: &Arc<WriteWatch>) -> Self {
        Self {
            inner,
            watch: Arc::clone(watch),
        }
    }
}

impl<S, E> Stream for Watched<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.watch.asked();
        let next = Pin::new(&mut self.inner).poll_next(context);
        if let Poll::Ready(Some(Ok(_))) = &next {
            self.watch.handed_over();
        }
        next
    }
}

/// `body` in pieces of at most [`PIECE`] bytes.
pub fn pieces(body: Bytes) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin + Send {
    let mut rest = Some(body);
    futures::stream::poll_fn(move |_| Poll::Ready(next_piece(&mut rest).map(Ok)))
}

/// The next piece of at most [`PIECE`] bytes of `rest`, which is `None`
/// once all of it is taken; an empty body has no pieces.
pub fn next_piece(rest: &mut Option<Bytes>) -> Option<Bytes> {
    let body = rest.as_mut().filter(|body| !body.is_empty())?;
    if body.len() <= PIECE {
        return rest.take();
    }
    Some(body.split_to(PIECE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    // Real time, scaled down: tokio's paused clock (its test-util feature)
    // would build tokio and everything on it a second time for the tests.
    const LIMIT: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_piece_left_untaken_past_the_limit_expires() {
        let watch = WriteWatch::new(LIMIT, Duration::ZERO);
        let mut body = Watched::new(pieces(Bytes::from(vec![0_u8; 3 * PIECE])), &watch);
        assert!(body.next().await.is_some());
        let started = Instant::now();
        watch.expired().await;
        assert!(started.elapsed() >= LIMIT);
    }

    #[tokio::test]
    async fn a_body_taken_in_time_never_expires() {
        let watch = WriteWatch::new(LIMIT * 2, Duration::ZERO);
        let mut body = Watched::new(pieces(Bytes::from(vec![0_u8; 3 * PIECE])), &watch);
        let taking = async {
            while body.next().await.is_some() {
                tokio::time::sleep(LIMIT / 5).await;
            }
        };
        tokio::select! {
            () = taking => {}
            () = watch.expired() => panic!("expired while taken in time"),
        }
        // Everything taken: nothing is owed, so it never expires.
        let waited = tokio::time::timeout(LIMIT * 4, watch.expired()).await;
        assert!(waited.is_err());
    }

    #[tokio::test]
    async fn the_first_piece_is_owed_within_the_limit_and_the_grace() {
        let watch = WriteWatch::new(LIMIT, LIMIT * 2);
        let started = Instant::now();
        watch.expired().await;
        assert!(started.elapsed() >= LIMIT * 3);
    }
}
