//! A whole body gathered in memory under fastio's bounds: the length a
//! server declares is checked against the limit before anything is read,
//! and never sizes more than [`PREALLOCATE_AT_MOST`] of memory up front;
//! growing past that happens as bytes arrive, and an allocation that fails
//! is an error, not an abort.

use bytes::Bytes;

/// The most memory reserved from a declared Content-Length before any of
/// the body has arrived. Larger bodies grow as they come in (glibc grows
/// such buffers with mremap, without copying).
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
    buffer: Option<Vec<u8>>,
    received: u64,
    declared: u64,
    limit: Option<u64>,
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
        })
    }

    /// Adds the next piece; refuses it past the limit or without memory.
    pub fn push(&mut self, piece: Bytes) -> Result<(), Refusal> {
        self.received = self.received.saturating_add(piece.len() as u64);
        within_limit(self.received, self.limit)?;
        match (&mut self.buffer, self.first.take()) {
            (Some(buffer), _) => append(buffer, &piece)?,
            (None, None) => self.first = Some(piece),
            (None, Some(earlier)) => {
                let mut joined = Vec::new();
                reserve(&mut joined, initial_capacity(self.declared, self.received))?;
                append(&mut joined, &earlier)?;
                append(&mut joined, &piece)?;
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
            (Some(buffer), _) => Bytes::from(buffer),
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

fn reserve(buffer: &mut Vec<u8>, capacity: usize) -> Result<(), Refusal> {
    let more = capacity.saturating_sub(buffer.len());
    buffer.try_reserve(more).map_err(|_| Refusal::OutOfMemory {
        wanted: capacity as u64,
    })?;
    if capacity >= crate::large::LARGE {
        crate::large::advise_huge_pages(buffer.as_mut_ptr(), buffer.capacity());
    }
    Ok(())
}

fn append(buffer: &mut Vec<u8>, piece: &[u8]) -> Result<(), Refusal> {
    if buffer.capacity() - buffer.len() < piece.len() {
        // Grow by doubling, as extend would, but report a failure.
        let wanted = buffer
            .len()
            .saturating_add(piece.len())
            .max(buffer.capacity().saturating_mul(2));
        reserve(buffer, wanted)?;
    }
    buffer.extend_from_slice(piece);
    Ok(())
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
        let capacity = body.buffer.as_ref().map_or(0, Vec::capacity);
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
    fn an_impossible_allocation_is_an_error() {
        let mut buffer = Vec::new();
        assert_eq!(
            reserve(&mut buffer, usize::MAX / 2),
            Err(Refusal::OutOfMemory {
                wanted: (usize::MAX / 2) as u64
            })
        );
    }
}
