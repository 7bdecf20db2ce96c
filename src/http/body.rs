//! A whole body gathered in memory under fastio's bounds: the length a
//! server declares is checked against the limit before anything is read,
//! and never sizes more than [`PREALLOCATE_AT_MOST`] of memory up front;
//! growing past that happens as bytes arrive, and an allocation that fails
//! is an error, not an abort.

use bytes::Bytes;

use super::budget::Share;
#[cfg(target_os = "linux")]
use crate::large::MappedBuffer;
use crate::large::{advise_huge_pages, LARGE};

/// The most memory reserved from a declared Content-Length before any of
/// the body has arrived. Larger bodies grow as they come in (in pages of
/// their own, moved by the kernel rather than copied: see [`MappedBuffer`]).
pub const PREALLOCATE_AT_MOST: usize = 16 * 1024 * 1024;

/// Bodies below this size are copied out of the buffer they arrived in: a
/// small body is usually a slice of hyper's read buffer, which it would
/// keep alive whole.
const SMALL_BODY: usize = 16 * 1024;

/// Why a body was not gathered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than the limit was declared or received.
    TooLarge { limit: u64 },
    /// The memory for this many bytes could not be had.
    OutOfMemory { wanted: u64 },
}

/// Collects the pieces of one body. A body that arrives in one piece is
/// kept as it is; otherwise one buffer is filled.
#[derive(Debug)]
pub struct Collector {
    first: Option<Bytes>,
    buffer: Option<Buffer>,
    received: u64,
    declared: u64,
    limit: Option<u64>,
    /// This body's part of its bulk call's budget, if it has one.
    share: Option<Share>,
    /// False: pieces are counted and dropped.
    keep: bool,
}

impl Collector {
    /// Refuses at once a body whose `declared` length is over `limit`.
    pub fn new(declared: Option<u64>, limit: Option<u64>) -> Result<Self, Refusal> {
        if let Some(declared) = declared {
            within_limit(declared, limit)?;
        }
        Ok(Self {
            first: None,
            buffer: None,
            received: 0,
            declared: declared.unwrap_or(0),
            limit,
            share: None,
            keep: true,
        })
    }

    /// With `keep` false, pieces are only counted (and held to the limit):
    /// [`Self::finish`] gives an empty body.
    pub fn keeping(mut self, keep: bool) -> Self {
        self.keep = keep;
        self
    }

    /// Counts what it holds against `share` too (see [`Self::push_within_budget`]).
    pub fn within(mut self, share: Option<Share>) -> Self {
        self.share = share;
        self
    }

    /// [`Self::push`], then waits until its budget has room for the piece:
    /// a body waiting here reads no more from its connection.
    pub async fn push_within_budget(&mut self, piece: Bytes) -> Result<(), Refusal> {
        let size = piece.len() as u64;
        self.push(piece)?;
        if let (Some(share), true) = (&mut self.share, self.keep) {
            share.take(size).await;
        }
        Ok(())
    }

    /// Adds the next piece; refuses it past the limit or without memory.
    pub fn push(&mut self, piece: Bytes) -> Result<(), Refusal> {
        self.received = self.received.saturating_add(piece.len() as u64);
        within_limit(self.received, self.limit)?;
        if !self.keep {
            return Ok(());
        }
        match (&mut self.buffer, self.first.take()) {
            (Some(buffer), _) => buffer.append(&piece, self.limit)?,
            (None, None) => self.first = Some(piece),
            (None, Some(earlier)) => {
                let mut joined =
                    Buffer::with_capacity(initial_capacity(self.declared, self.received))?;
                joined.append(&earlier, self.limit)?;
                joined.append(&piece, self.limit)?;
                self.buffer = Some(joined);
            }
        }
        Ok(())
    }

    /// The bytes pushed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The whole body.
    pub fn finish(self) -> Bytes {
        match (self.buffer, self.first) {
            (Some(buffer), _) => buffer.into_bytes(),
            (None, Some(only)) if only.len() < SMALL_BODY => Bytes::copy_from_slice(&only),
            (None, Some(only)) => only,
            (None, None) => Bytes::new(),
        }
    }
}

/// Refuses `amount` bytes (declared or received) over `limit`.
pub fn within_limit(amount: u64, limit: Option<u64>) -> Result<(), Refusal> {
    match limit {
        Some(limit) if amount > limit => Err(Refusal::TooLarge { limit }),
        _ => Ok(()),
    }
}

/// What to reserve before filling: what has arrived, or the declared
/// length up to [`PREALLOCATE_AT_MOST`], whichever is more.
fn initial_capacity(declared: u64, received: u64) -> usize {
    let trusted = declared.min(PREALLOCATE_AT_MOST as u64).max(received);
    usize::try_from(trusted).unwrap_or(usize::MAX)
}

/// Where a body of several pieces is joined: the heap while small, pages
/// of its own once large (on Linux), which grow without being copied.
#[derive(Debug)]
enum Buffer {
    Heap(Vec<u8>),
    #[cfg(target_os = "linux")]
    Mapped(MappedBuffer),
}

impl Buffer {
    fn with_capacity(capacity: usize) -> Result<Self, Refusal> {
        let mut buffer = Buffer::Heap(Vec::new());
        buffer.reserve(capacity)?;
        Ok(buffer)
    }

    fn capacity(&self) -> usize {
        match self {
            Buffer::Heap(vec) => vec.capacity(),
            #[cfg(target_os = "linux")]
            Buffer::Mapped(mapped) => mapped.capacity(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Heap(vec) => vec.len(),
            #[cfg(target_os = "linux")]
            Buffer::Mapped(mapped) => mapped.len(),
        }
    }

    /// Appends `piece`, growing by doubling as `extend` would, but never
    /// past `limit` (a body refused at its limit reserved no more than it),
    /// and reporting a failed allocation.
    fn append(&mut self, piece: &[u8], limit: Option<u64>) -> Result<(), Refusal> {
        let capacity = self.capacity();
        if capacity - self.len() < piece.len() {
            let needed = self.len().saturating_add(piece.len());
            let ceiling = limit.map_or(usize::MAX, |limit| {
                usize::try_from(limit).unwrap_or(usize::MAX)
            });
            self.reserve(capacity.saturating_mul(2).min(ceiling).max(needed))?;
        }
        match self {
            Buffer::Heap(vec) => vec.extend_from_slice(piece),
            #[cfg(target_os = "linux")]
            Buffer::Mapped(mapped) => {
                if !mapped.push(piece) {
                    return Err(Refusal::OutOfMemory {
                        wanted: mapped.len().saturating_add(piece.len()) as u64,
                    });
                }
            }
        }
        Ok(())
    }

    /// Room for `capacity` bytes in all.
    fn reserve(&mut self, capacity: usize) -> Result<(), Refusal> {
        let refused = Refusal::OutOfMemory {
            wanted: capacity as u64,
        };
        match self {
            #[cfg(target_os = "linux")]
            Buffer::Heap(vec) if capacity >= LARGE => {
                let mut mapped = MappedBuffer::with_capacity(capacity).ok_or(refused)?;
                mapped.push(vec);
                *self = Buffer::Mapped(mapped);
            }
            Buffer::Heap(vec) => {
                let more = capacity.saturating_sub(vec.len());
                vec.try_reserve_exact(more).map_err(|_| refused)?;
                if capacity >= LARGE {
                    advise_huge_pages(vec.as_mut_ptr(), vec.capacity());
                }
            }
            #[cfg(target_os = "linux")]
            Buffer::Mapped(mapped) => {
                if !mapped.grow(capacity) {
                    return Err(refused);
                }
            }
        }
        Ok(())
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Buffer::Heap(vec) => Bytes::from(vec),
            #[cfg(target_os = "linux")]
            Buffer::Mapped(mapped) => Bytes::from_owner(mapped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_limit_is_refused_before_reading() {
        assert_eq!(
            Collector::new(Some(1 << 40), Some(10_000_000)).err(),
            Some(Refusal::TooLarge { limit: 10_000_000 })
        );
        assert!(Collector::new(Some(100), Some(100)).is_ok());
        assert!(Collector::new(None, Some(1)).is_ok());
    }

    #[test]
    fn a_huge_declared_length_reserves_a_bounded_buffer() {
        let mut body = Collector::new(Some(1 << 40), None).expect("no limit");
        body.push(Bytes::from_static(b"ab")).expect("small");
        body.push(Bytes::from_static(b"cd")).expect("small");
        let capacity = body.buffer.as_ref().map_or(0, Buffer::capacity);
        assert!(capacity <= PREALLOCATE_AT_MOST, "{capacity}");
        assert_eq!(body.finish(), Bytes::from_static(b"abcd"));
    }

    #[test]
    fn the_limit_counts_bytes_received() {
        let mut body = Collector::new(None, Some(5)).expect("no declared length");
        body.push(Bytes::from_static(b"abc")).expect("under");
        assert_eq!(
            body.push(Bytes::from_static(b"def")),
            Err(Refusal::TooLarge { limit: 5 })
        );
    }

    #[test]
    fn pieces_are_joined_in_order_past_the_preallocation() {
        let mut body = Collector::new(Some(10), None).expect("no limit");
        let mut expected = Vec::new();
        for round in 0..50_u8 {
            let piece = vec![round; 1000];
            expected.extend_from_slice(&piece);
            body.push(Bytes::from(piece)).expect("fits");
        }
        assert_eq!(body.received, 50_000);
        assert_eq!(body.finish(), Bytes::from(expected));
    }

    #[test]
    fn the_buffer_never_grows_past_the_limit() {
        let limit = 3 * 1024 * 1024 + 17;
        let mut body = Collector::new(None, Some(limit)).expect("no declared length");
        let piece = Bytes::from(vec![1_u8; 64 * 1024]);
        while body.push(piece.clone()).is_ok() {}
        let capacity = body.buffer.as_ref().map_or(0, Buffer::capacity) as u64;
        assert!(capacity <= limit, "{capacity} > {limit}");
    }

    #[test]
    fn a_body_not_kept_is_counted_and_held_to_the_limit() {
        let mut body = Collector::new(None, Some(10))
            .expect("no declared length")
            .keeping(false);
        body.push(Bytes::from_static(b"abcdef")).expect("under");
        assert!(body.buffer.is_none() && body.first.is_none());
        assert_eq!(body.received(), 6);
        assert!(body.push(Bytes::from_static(b"ghijk")).is_err());
        assert!(body.finish().is_empty());
    }

    #[test]
    fn pieces_of_every_size_grow_a_large_body() {
        let mut body = Collector::new(None, Some(256 << 20)).expect("no declared length");
        let mut expected = 0_usize;
        for round in 0..5000_usize {
            let size = 1 + (round * 7919) % 30000;
            expected += size;
            let piece = Bytes::from(vec![(round % 251) as u8; size]);
            body.push(piece).expect("under the limit");
        }
        let whole = body.finish();
        assert_eq!(whole.len(), expected);
        assert_eq!(whole[whole.len() - 1], (4999 % 251) as u8);
    }

    #[test]
    fn an_impossible_allocation_is_an_error() {
        assert_eq!(
            Buffer::with_capacity(usize::MAX / 2).err(),
            Some(Refusal::OutOfMemory {
                wanted: (usize::MAX / 2) as u64
            })
        );
    }
}
