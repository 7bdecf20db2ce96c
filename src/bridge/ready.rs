//! Done callbacks of the awaitables a loop's drain settles, run by the drain
//! itself once its slice is converted, instead of one `call_soon` handle
//! each: the drain is already a callback of that loop, so running them there
//! is what the loop would do a moment later, without a Handle per callback
//! (most of the cost of an await that crosses threads).
//!
//! Outside a drain (a user's `cancel()`, `add_done_callback` on a finished
//! awaitable), and on a loop in debug mode (whose handles time slow
//! callbacks), callbacks are scheduled with `call_soon` as asyncio's own
//! futures do.

use std::cell::RefCell;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::asyncio::call_soon_in_context;

/// One done callback to run: `context.run(function, future)`.
pub struct Ready {
    pub function: Py<PyAny>,
    pub future: Py<PyAny>,
    pub context: Py<PyAny>,
}

impl Ready {
    /// `loop.call_soon(function, future, context=context)`.
    pub fn schedule(&self, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = event_loop.py();
        call_soon_in_context(
            event_loop,
            self.function.bind(py),
            self.future.bind(py),
            self.context.bind(py),
        )
    }
}

/// The callbacks gathered while a drain settles its slice, for its loop.
struct Gathering {
    event_loop: usize,
    ready: Vec<Ready>,
}

thread_local! {
    static GATHERING: RefCell<Option<Gathering>> = const { RefCell::new(None) };
}

/// Ends the gathering when the drain's settling ends, however it ends.
struct Gathered;

impl Drop for Gathered {
    fn drop(&mut self) {
        GATHERING.with_borrow_mut(|gathering| gathering.take());
    }
}

/// Runs `settle`, keeping the done callbacks that awaitables of
/// `event_loop` schedule meanwhile (when given) to run afterwards with
/// [`run`], in the order they were scheduled.
pub fn gathered_while<R>(
    event_loop: Option<&Bound<'_, PyAny>>,
    settle: impl FnOnce() -> R,
) -> (R, Vec<Ready>) {
    let Some(event_loop) = event_loop else {
        return (settle(), Vec::new());
    };
    GATHERING.with_borrow_mut(|gathering| {
        *gathering = Some(Gathering {
            event_loop: event_loop.as_ptr() as usize,
            ready: Vec::new(),
        });
    });
    let guard = Gathered;
    let result = settle();
    let ready = GATHERING
        .with_borrow_mut(|gathering| gathering.take())
        .map_or_else(Vec::new, |gathering| gathering.ready);
    drop(guard);
    (result, ready)
}

/// Keeps `ready` for the drain of `event_loop` if one is gathering; else
/// hands it back to be scheduled.
pub fn keep(event_loop: &Bound<'_, PyAny>, ready: Ready) -> Result<(), Ready> {
    GATHERING.with_borrow_mut(|gathering| match gathering {
        Some(gathering) if gathering.event_loop == event_loop.as_ptr() as usize => {
            gathering.ready.push(ready);
            Ok(())
        }
        _ => Err(ready),
    })
}

/// Runs each callback as the loop's Handle would: an exception goes to the
/// loop's exception handler; a KeyboardInterrupt or SystemExit (or an
/// exception handler that fails) propagates, after the callbacks not yet
/// run are scheduled with `call_soon`.
pub fn run(event_loop: &Bound<'_, PyAny>, ready: Vec<Ready>) -> PyResult<()> {
    let py = event_loop.py();
    let mut ready = ready.into_iter();
    while let Some(callback) = ready.next() {
        let context = callback.context.bind(py);
        let function = callback.function.bind(py);
        let future = callback.future.bind(py);
        let Err(err) = context.call_method1(intern!(py, "run"), (function, future)) else {
            continue;
        };
        let stops =
            err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py);
        let unreported = if stops {
            Some(err)
        } else {
            report(event_loop, function, future, err).err()
        };
        if let Some(err) = unreported {
            for rest in ready {
                rest.schedule(event_loop)?;
            }
            return Err(err);
        }
    }
    Ok(())
}

/// `loop.call_exception_handler`, with what asyncio's Handle reports.
fn report(
    event_loop: &Bound<'_, PyAny>,
    function: &Bound<'_, PyAny>,
    future: &Bound<'_, PyAny>,
    err: PyErr,
) -> PyResult<()> {
    let py = event_loop.py();
    let context = PyDict::new(py);
    context.set_item(
        "message",
        format!(
            "Exception in callback {}({})",
            function.repr()?,
            future.repr()?
        ),
    )?;
    context.set_item("exception", err.into_value(py))?;
    event_loop.call_method1(intern!(py, "call_exception_handler"), (context,))?;
    Ok(())
}
