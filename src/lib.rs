//! fastio's native module, `fastio._fastio`.

// Tests may unwrap: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod alloc;
mod bridge;
mod gather;
mod http;
mod large;
mod probes;
mod py;
mod runtime;
mod sleep;
mod testing;

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
    use crate::bridge::live::live_counts;
    #[pymodule_export]
    use crate::bridge::FastioFuture;
    #[pymodule_export]
    use crate::gather::gather;
    #[cfg(feature = "bench-baseline")]
    #[pymodule_export]
    use crate::probes::naive_on_worker;
    #[pymodule_export]
    use crate::probes::{completed, on_worker, panic_on_worker};
    #[pymodule_export]
    use crate::py::bulk::FetchStream;
    #[pymodule_export]
    use crate::py::client::ClientSession;
    #[pymodule_export]
    use crate::py::errors::{shown_header, shown_url};
    #[pymodule_export]
    use crate::py::headers::Headers;
    #[pymodule_export]
    use crate::py::mock::PendingExchange;
    #[pymodule_export]
    use crate::py::progress::Progress;
    #[pymodule_export]
    use crate::py::reading::ByteIterator;
    #[pymodule_export]
    use crate::py::request::Request;
    #[pymodule_export]
    use crate::py::response::Response;
    #[pymodule_export]
    use crate::py::runtime::{busiest_task_share, configure_runtime};
    #[pymodule_export]
    use crate::py::timeout::Timeout;
    #[pymodule_export]
    use crate::py::timings::Timings;
    #[pymodule_export]
    use crate::py::upload::UploadBody;
    #[pymodule_export]
    use crate::sleep::sleep;
    #[pymodule_export]
    use crate::testing::{start_dns_server, start_test_server, DnsServer, Server};

    /// The engine's defaults, for the Python API's signatures.
    fn add_defaults(module: &Bound<'_, PyModule>) -> PyResult<()> {
        use crate::http::defaults;
        module.add("DEFAULT_TIMEOUT", defaults::TIMEOUT.as_secs_f64())?;
        module.add(
            "DEFAULT_CONNECT_TIMEOUT",
            defaults::CONNECT_TIMEOUT.as_secs_f64(),
        )?;
        module.add("DEFAULT_MAX_CONNECTIONS", defaults::MAX_CONNECTIONS)?;
        module.add(
            "DEFAULT_KEEPALIVE_EXPIRY",
            defaults::IDLE_EXPIRY.as_secs_f64(),
        )?;
        module.add("DEFAULT_MAX_REDIRECTS", defaults::MAX_REDIRECTS)?;
        module.add(
            "DEFAULT_RETRY_BACKOFF",
            defaults::RETRY_BACKOFF.as_secs_f64(),
        )?;
        module.add(
            "DEFAULT_MAX_RETRY_AFTER",
            defaults::MAX_RETRY_AFTER.as_secs_f64(),
        )?;
        module.add("DEFAULT_CONCURRENCY", defaults::CONCURRENCY)?;
        module.add("DEFAULT_BYTES_IN_FLIGHT", defaults::BYTES_IN_FLIGHT)?;
        Ok(())
    }

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        add_defaults(module)?;
        crate::runtime::install_fork_handler()
            .map_err(|err| pyo3::exceptions::PyOSError::new_err(err.to_string()))
    }
}
