//! The allocator for everything fastio allocates in Rust: mimalloc for the
//! many small allocations each request makes, the system allocator for
//! body data and other large blocks.
//!
//! Why mimalloc: a request allocates and frees dozens of small objects
//! (its future, its node in `FuturesUnordered`, headers, channel nodes) on
//! tokio workers, and its results are freed later on the event loop's
//! thread; glibc's malloc was a tenth of the workers' time there.
//!
//! Why not for large blocks: mimalloc keeps freed memory a while before
//! giving it back, so a freed large body still counts when the next one
//! arrives. glibc maps large blocks on their own and unmaps them when
//! freed, and `crate::large` asks for huge pages there. The numbers:
//! `bench/decisions.md`.

use std::alloc::{GlobalAlloc, Layout, System};

use libmimalloc_sys::{mi_malloc, mi_realloc, mi_zalloc};
use mimalloc::MiMalloc;

/// Allocations of at least this many bytes go to the system allocator:
/// body data and connection buffers, as before mimalloc, while every piece
/// of a request's bookkeeping is smaller (its future ~1.5 KiB); a higher
/// line slowed large bodies (`bench/decisions.md`).
pub const LARGE_ALLOCATION: usize = 8 * 1024;

/// mimalloc below [`LARGE_ALLOCATION`], the system allocator from there on.
/// A block is freed by the allocator that made it: `dealloc` and `realloc`
/// get the block's layout, so its size says which one that was.
pub struct SplitAllocator;

fn is_large(size: usize) -> bool {
    size >= LARGE_ALLOCATION
}

/// mimalloc's plain entry points align every block to at least a word (a
/// 24-byte block is not 16-aligned), so a layout asking no more skips the
/// aligned path, which the `mimalloc` crate always takes.
const MIMALLOC_ALIGNMENT: usize = std::mem::size_of::<usize>();

fn is_plain(layout: Layout) -> bool {
    layout.align() <= MIMALLOC_ALIGNMENT
}

// SAFETY: every call is forwarded to one of two sound allocators, and a
// block is always returned to the one its size chose when it was made.
unsafe impl GlobalAlloc for SplitAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on unchanged.
        unsafe {
            if is_large(layout.size()) {
                System.alloc(layout)
            } else if is_plain(layout) {
                mi_malloc(layout.size()).cast()
            } else {
                MiMalloc.alloc(layout)
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on unchanged.
        unsafe {
            if is_large(layout.size()) {
                System.alloc_zeroed(layout)
            } else if is_plain(layout) {
                mi_zalloc(layout.size()).cast()
            } else {
                MiMalloc.alloc_zeroed(layout)
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: `layout` is the one `block` was made with, so its size
        // picks the allocator that made it.
        unsafe {
            if is_large(layout.size()) {
                System.dealloc(block, layout);
            } else {
                MiMalloc.dealloc(block, layout);
            }
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            // SAFETY: the block stays with the allocator that made it.
            (false, false) if is_plain(layout) => unsafe {
                mi_realloc(block.cast(), new_size).cast()
            },
            // SAFETY: as above.
            (false, false) => unsafe { MiMalloc.realloc(block, layout, new_size) },
            // SAFETY: as above.
            (true, true) => unsafe { System.realloc(block, layout, new_size) },
            // Crossing the line: a new block from the other allocator.
            _ => {
                // SAFETY: `realloc`'s contract makes `new_size`, rounded up
                // to the alignment, a valid size for `layout`'s alignment.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: `new_layout` has a non-zero size (it is large, or
                // the old one was and `new_size` is non-zero by contract).
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least
                    // this long; the old one is then freed as it was made.
                    unsafe {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

/// mimalloc commits its arenas as it uses them, not at once: committed at
/// once, the resident set stayed higher (`bench/decisions.md`).
///
/// Runs before anything is allocated in this library (an ELF initializer,
/// run when the library is loaded): an arena is reserved with the setting
/// of the moment, on the first allocation.
#[cfg(target_os = "linux")]
extern "C" fn commit_arenas_on_demand() {
    // SAFETY: sets one of mimalloc's global options; safe at any time.
    unsafe { libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0) };
}

/// `mi_option_arena_eager_commit` in mimalloc v2's `mi_option_e`; the -sys
/// crate names only some of the options.
#[cfg(target_os = "linux")]
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static COMMIT_ARENAS_ON_DEMAND: extern "C" fn() = commit_arenas_on_demand;

#[cfg(test)]
mod tests {
    use super::*;

    /// Grows a vector from small to large and back through `realloc`, so a
    /// block crosses between the two allocators both ways with its bytes.
    #[test]
    fn blocks_keep_their_bytes_across_the_line() {
        let small = LARGE_ALLOCATION / 2;
        let mut bytes: Vec<u8> = (0..small).map(|at| (at % 251) as u8).collect();
        bytes.reserve_exact(LARGE_ALLOCATION * 2 - bytes.len());
        assert!(bytes.capacity() >= LARGE_ALLOCATION * 2);
        bytes.extend((small..LARGE_ALLOCATION * 2).map(|at| (at % 251) as u8));
        bytes.truncate(small);
        bytes.shrink_to_fit();
        assert!(bytes.capacity() < LARGE_ALLOCATION);
        assert!(bytes
            .iter()
            .enumerate()
            .all(|(at, &byte)| byte == (at % 251) as u8));
    }

    /// The initializer ran before the test harness started.
    #[cfg(target_os = "linux")]
    #[test]
    fn arenas_are_committed_on_demand() {
        // SAFETY: reads one of mimalloc's global options.
        let eager = unsafe { libmimalloc_sys::mi_option_get(ARENA_EAGER_COMMIT) };
        assert_eq!(eager, 0);
    }

    #[test]
    fn zeroed_blocks_are_zero_on_both_sides() {
        for size in [64, LARGE_ALLOCATION + 1] {
            let zeros = vec![0_u8; size];
            assert!(zeros.iter().all(|&byte| byte == 0));
        }
    }
}
