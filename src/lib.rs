//! fastio's native module, `fastio._fastio`.

// Tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod asyncio;
mod bridge;
mod client;
mod errors;
mod fetch;
mod fetch_iter;
mod gather;
mod headers;
mod inbox;
mod large;
mod live;
mod probes;
mod progress;
mod queue;
mod request;
mod response;
mod retry;
mod runtime;
mod session;
mod sleep;
mod stream;
mod testing;
mod transport;
mod upload;

use pyo3::prelude::*;

/// mimalloc for every Rust allocation: results are allocated on tokio
/// workers and freed on the loop thread, where glibc's free of another
/// thread's chunks cost ~1 µs per Response dropped from a fetch_all result.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps freed memory for 10 ms by default before giving it back
/// to the OS, and a freed 100 MB body buffer then still counted when the
/// next one arrived (peak RSS 356–364 MiB against 255–262 MiB with
/// immediate purging; same req/s at concurrency 1,000).
fn purge_freed_memory_at_once() {
    // `mi_option_purge_delay` in mimalloc.h's `mi_option_e` (v2 and v3);
    // the -sys crate names only some of the options.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's global options; safe at any time.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

#[pymodule]
mod _fastio {
    use super::*;

    #[pymodule_export]
    use crate::bridge::FastioFuture;
    #[pymodule_export]
    use crate::client::ClientSession;
    #[pymodule_export]
    use crate::fetch::{fetch, fetch_all};
    #[pymodule_export]
    use crate::fetch_iter::{fetch_stream, FetchStream};
    #[pymodule_export]
    use crate::gather::gather;
    #[pymodule_export]
    use crate::headers::Headers;
    #[pymodule_export]
    use crate::live::live_counts;
    #[cfg(feature = "bench-baseline")]
    #[pymodule_export]
    use crate::probes::naive_on_worker;
    #[pymodule_export]
    use crate::probes::{completed, on_worker, panic_on_worker};
    #[pymodule_export]
    use crate::progress::Progress;
    #[pymodule_export]
    use crate::response::{ByteIterator, Response};
    #[pymodule_export]
    use crate::sleep::sleep;
    #[pymodule_export]
    use crate::testing::{start_test_server, Server};
    #[pymodule_export]
    use crate::upload::UploadBody;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::purge_freed_memory_at_once();
        crate::runtime::install_fork_handler()
    }
}
