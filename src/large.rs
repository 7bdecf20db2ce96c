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
