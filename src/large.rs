//! Large bodies in memory: fresh buffers of many megabytes, asked to be
//! backed by transparent huge pages where the kernel offers them on
//! request (Linux `madvise` mode), so filling one takes a page fault per
//! 2 MiB instead of one per 4 KiB. On this virtual machine the faults of
//! a fresh 100 MB buffer cost about as much as receiving it.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

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

/// A `bytes` object holding `pieces` one after the other, written once into
/// memory that is huge-page backed when large.
pub fn bytes_object<'py>(py: Python<'py>, pieces: &[&[u8]]) -> PyResult<Bound<'py, PyBytes>> {
    let total: usize = pieces.iter().map(|piece| piece.len()).sum();
    if total < LARGE {
        return PyBytes::new_with(py, total, |target| {
            copy_into(target, pieces);
            Ok(())
        });
    }
    let size = pyo3::ffi::Py_ssize_t::try_from(total)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("body too large for bytes"))?;
    // SAFETY: a NULL source makes an uninitialised bytes object of `size`
    // bytes, which is filled completely below before anything sees it.
    unsafe {
        let object = pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), size);
        let object = Bound::from_owned_ptr_or_err(py, object)?;
        let start = pyo3::ffi::PyBytes_AsString(object.as_ptr()).cast::<u8>();
        advise_huge_pages(start, total);
        copy_into(std::slice::from_raw_parts_mut(start, total), pieces);
        Ok(object.cast_into_unchecked())
    }
}

fn copy_into(target: &mut [u8], pieces: &[&[u8]]) {
    let mut offset = 0;
    for piece in pieces {
        target[offset..offset + piece.len()].copy_from_slice(piece);
        offset += piece.len();
    }
}
