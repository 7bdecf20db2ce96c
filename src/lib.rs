//! fastio's native module, `fastio._fastio`.

// Tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod alloc;
mod asyncio;
mod body;
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
mod pacing;
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

#[global_allocator]
static ALLOCATOR: alloc::SplitAllocator = alloc::SplitAllocator;

/// Declared as needing the GIL: on a free-threaded CPython (3.13t) the
/// import turns the GIL back on. The Rust state is behind its own locks,
/// but the suite has never run without the GIL (no such CPython here), so
/// fastio does not claim it is safe there.
#[pymodule(gil_used = true)]
mod _fastio {
    use super::*;

    #[pymodule_export]
    use crate::bridge::FastioFuture;
    #[pymodule_export]
    use crate::client::ClientSession;
    #[pymodule_export]
    use crate::errors::shown_url;
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
    use crate::runtime::configure_runtime;
    #[pymodule_export]
    use crate::sleep::sleep;
    #[pymodule_export]
    use crate::testing::{start_test_server, Server};
    #[pymodule_export]
    use crate::upload::UploadBody;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::runtime::install_fork_handler()
    }
}
