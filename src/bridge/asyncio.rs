//! The Python calls made from Rust (asyncio, contextvars, orjson), each looked up
//! once and called as directly as CPython allows.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

/// `event_loop.call_soon(function, argument, context=context)` through one
/// vectorcall: no argument tuple, no keyword dict, no bound method.
pub fn call_soon_in_context(
    event_loop: &Bound<'_, PyAny>,
    function: &Bound<'_, PyAny>,
    argument: &Bound<'_, PyAny>,
    context: &Bound<'_, PyAny>,
) -> PyResult<()> {
    static CONTEXT_KEYWORD: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = event_loop.py();
    let keywords =
        CONTEXT_KEYWORD.get_or_try_init(py, || PyTuple::new(py, ["context"]).map(Bound::unbind))?;
    let method = intern!(py, "call_soon");
    let args = [
        event_loop.as_ptr(),
        function.as_ptr(),
        argument.as_ptr(),
        context.as_ptr(),
    ];
    // SAFETY: every pointer in `args` is borrowed from a live Bound for the
    // whole call; three are positional (self included), the last is the
    // value of the one keyword named in `keywords`.
    unsafe {
        let result = pyo3::ffi::PyObject_VectorcallMethod(
            method.as_ptr(),
            args.as_ptr(),
            3,
            keywords.as_ptr(),
        );
        Bound::from_owned_ptr_or_err(py, result).map(drop)
    }
}

/// `module.name`, imported and looked up once per process (`cell` holds it).
pub fn module_attr<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let value = cell.get_or_try_init(py, || py.import(module)?.getattr(name).map(Bound::unbind))?;
    Ok(value.bind(py).clone())
}

pub fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    module_attr(py, &GET_RUNNING_LOOP, "asyncio", "get_running_loop")?.call0()
}

pub fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    static COPY_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(
        module_attr(py, &COPY_CONTEXT, "contextvars", "copy_context")?
            .call0()?
            .unbind(),
    )
}

pub fn cancelled_error(py: Python<'_>, message: Option<&Py<PyAny>>) -> PyErr {
    static CANCELLED_ERROR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = match module_attr(py, &CANCELLED_ERROR, "asyncio", "CancelledError") {
        Ok(class) => class,
        Err(err) => return err,
    };
    let instance = match message {
        Some(message) => class.call1((message.bind(py),)),
        None => class.call0(),
    };
    match instance {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

pub fn invalid_state(py: Python<'_>, message: &str) -> PyErr {
    static INVALID_STATE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    match module_attr(py, &INVALID_STATE, "asyncio", "InvalidStateError")
        .and_then(|class| class.call1((message,)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// `asyncio.ensure_future(awaitable, loop=event_loop)`: a TypeError for
/// anything that is not awaitable, as asyncio raises it.
pub fn ensure_future<'py>(
    awaitable: &Bound<'py, PyAny>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    static ENSURE_FUTURE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = awaitable.py();
    let kwargs = pyo3::types::PyDict::new(py);
    kwargs.set_item(intern!(py, "loop"), event_loop)?;
    module_attr(py, &ENSURE_FUTURE, "asyncio", "ensure_future")?.call((awaitable,), Some(&kwargs))
}

/// The class `name` of `fastio.exceptions`.
pub fn fastio_exception<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        MODULE.get_or_try_init(py, || py.import("fastio.exceptions").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}
