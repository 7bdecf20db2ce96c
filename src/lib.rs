//! fastio's native module, `fastio._fastio`.

mod asyncio;
mod bridge;
mod errors;
mod gather;
mod inbox;
mod probes;
mod queue;
mod runtime;
mod sleep;

use pyo3::prelude::*;

#[pymodule]
mod _fastio {
    use super::*;

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
    use crate::sleep::sleep;

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        crate::runtime::install_fork_handler()
    }
}
