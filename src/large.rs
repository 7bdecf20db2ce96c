//! Large bodies in memory: fresh buffers of many megabytes, asked to be
//! backed by transparent huge pages where the kernel offers them on
//! request (Linux `madvise` mode), so filling one takes a page fault per
//! 2 MiB instead of one per 4 KiB (the faults can cost as much as
//! receiving the body: `bench/decisions.md`).

/// Buffers at least this large are advised to use huge pages.
pub const LARGE: usize = 4 * 1024 * 1024;

/// Advises the kernel to back the whole 2 MiB pages inside `[start, start + len)`
/// with huge pages. Only a hint: without it, or elsewhere, nothing changes.
pub fn advise_huge_pages(start: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 * 1024 * 1024;
        let first = (start as usize).next_multiple_of(HUGE);
        let end = (start as usize).saturating_add(len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies inside one live allocation of ours;
            // MADV_HUGEPAGE changes how it is backed, never its contents.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// A buffer of its own pages, grown in place or moved by the kernel
/// (`mremap`), never copied: growing a heap block copies it when the
/// allocator placed it in its arena (glibc does, up to 32 MiB, once large
/// blocks have been freed), and then holds the old and the new at once.
#[cfg(target_os = "linux")]
pub struct MappedBuffer {
    start: std::ptr::NonNull<u8>,
    len: usize,
    capacity: usize,
}

// SAFETY: the pages are owned by this value alone, and only read through
// `&self` once shared.
#[cfg(target_os = "linux")]
unsafe impl Send for MappedBuffer {}
// SAFETY: as above.
#[cfg(target_os = "linux")]
unsafe impl Sync for MappedBuffer {}

#[cfg(target_os = "linux")]
impl MappedBuffer {
    /// Fresh pages for `capacity` bytes (rounded up to a page); `None` if
    /// the kernel refuses them.
    pub fn with_capacity(capacity: usize) -> Option<Self> {
        let capacity = page_rounded(capacity.max(1))?;
        // SAFETY: a new private anonymous mapping; no existing memory is named.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return None;
        }
        // The whole mapping, not only its whole huge pages: advising part of
        // it would split it in two or three, and `mremap` moves only one.
        // SAFETY: exactly the mapping just made.
        unsafe {
            libc::madvise(start, capacity, libc::MADV_HUGEPAGE);
        }
        let start = std::ptr::NonNull::new(start.cast::<u8>())?;
        Some(Self {
            start,
            len: 0,
            capacity,
        })
    }

    /// Room for `capacity` bytes in all; false if the kernel refuses it.
    pub fn grow(&mut self, capacity: usize) -> bool {
        let Some(capacity) = page_rounded(capacity) else {
            return false;
        };
        if capacity <= self.capacity {
            return true;
        }
        // SAFETY: `start` and `self.capacity` are this mapping's; MAYMOVE
        // lets the kernel move the pages, and `start` is updated to where.
        let moved = unsafe {
            libc::mremap(
                self.start.as_ptr().cast(),
                self.capacity,
                capacity,
                libc::MREMAP_MAYMOVE,
            )
        };
        if moved == libc::MAP_FAILED {
            return false;
        }
        let Some(start) = std::ptr::NonNull::new(moved.cast::<u8>()) else {
            return false;
        };
        // What it grew by keeps the mapping's advice.
        self.start = start;
        self.capacity = capacity;
        true
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Appends `piece`, which must fit in the capacity left (else nothing
    /// is appended and it returns false).
    pub fn push(&mut self, piece: &[u8]) -> bool {
        if self.capacity - self.len < piece.len() {
            return false;
        }
        // SAFETY: the destination lies inside this mapping (checked above)
        // and cannot overlap `piece`, which is not ours to write.
        unsafe {
            std::ptr::copy_nonoverlapping(
                piece.as_ptr(),
                self.start.as_ptr().add(self.len),
                piece.len(),
            );
        }
        self.len += piece.len();
        true
    }
}

#[cfg(target_os = "linux")]
impl std::fmt::Debug for MappedBuffer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MappedBuffer")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(target_os = "linux")]
impl AsRef<[u8]> for MappedBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping were written by `push`.
        unsafe { std::slice::from_raw_parts(self.start.as_ptr(), self.len) }
    }
}

#[cfg(target_os = "linux")]
impl Drop for MappedBuffer {
    fn drop(&mut self) {
        // SAFETY: the whole mapping, unmapped once; nothing borrows it now.
        unsafe {
            libc::munmap(self.start.as_ptr().cast(), self.capacity);
        }
    }
}

#[cfg(target_os = "linux")]
fn page_rounded(size: usize) -> Option<usize> {
    const PAGE: usize = 4096;
    size.checked_next_multiple_of(PAGE)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::MappedBuffer;

    #[test]
    fn a_mapped_buffer_grows_and_keeps_what_it_holds() {
        let mut buffer = MappedBuffer::with_capacity(10).expect("pages");
        assert_eq!(buffer.capacity(), 4096);
        assert!(buffer.push(b"hello"));
        assert!(!buffer.push(&[0; 4096]));
        assert!(buffer.grow(20 * 1024 * 1024));
        let piece = vec![7_u8; 1024 * 1024];
        for _ in 0..19 {
            assert!(buffer.push(&piece));
        }
        assert_eq!(buffer.len(), 5 + 19 * 1024 * 1024);
        assert_eq!(&buffer.as_ref()[..5], b"hello");
        assert!(buffer.as_ref()[5..].iter().all(|&byte| byte == 7));
        let shared = bytes::Bytes::from_owner(buffer);
        assert_eq!(shared.len(), 5 + 19 * 1024 * 1024);
    }
}
