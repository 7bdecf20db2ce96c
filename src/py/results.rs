//! `fetch_all`'s results handed to the loop thread in slices: each a
//! Response or the exception of a failed URL, put in its place.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyList;

use super::errors::exception_of;
use super::response::IntoResponse;
use crate::bridge::ToPythonItems;
use crate::http::error::FastioError;
use crate::http::response::Indexed;

/// Results of `fetch_all`, each a Response or the exception of a failure,
/// with its place in the final list.
pub struct ResultSlice {
    pub results: Vec<Indexed>,
    /// Budget the work took for these bodies, given back once converted.
    pub release: Option<(Arc<tokio::sync::Semaphore>, u32)>,
}

/// The exception of a failed URL, with ``.index`` set to its position.
pub fn indexed_exception(py: Python<'_>, error: FastioError, index: usize) -> PyResult<Py<PyAny>> {
    Ok(exception_of(py, &error.with_index(index))?.unbind())
}

/// Gives budget back to the work when dropped.
struct Release(Option<(Arc<tokio::sync::Semaphore>, u32)>);

impl Drop for Release {
    fn drop(&mut self) {
        if let Some((budget, permits)) = self.0.take() {
            budget.add_permits(permits as usize);
        }
    }
}

impl ToPythonItems for ResultSlice {
    fn len(&self) -> usize {
        self.results.len()
    }

    fn append_to(self: Box<Self>, py: Python<'_>, list: &Bound<'_, PyList>) -> PyResult<()> {
        let ResultSlice { results, release } = *self;
        // Given back even if a conversion fails: the work must not wait on it.
        let _release = Release(release);
        for (index, result) in results {
            let item = match result {
                // Copied into Python now: freed here, a body received on
                // a worker goes back to that worker's memory for the next.
                Ok(data) => data.into_response_eager(py)?.into_any(),
                Err(error) => indexed_exception(py, error, index)?,
            };
            // Results come as they complete: places before this one that
            // are still to come hold None until theirs arrives.
            while list.len() < index {
                list.append(py.None())?;
            }
            if index < list.len() {
                list.set_item(index, item)?;
            } else {
                list.append(item)?;
            }
        }
        Ok(())
    }
}
