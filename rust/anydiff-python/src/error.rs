//! The one place where core errors become Python exceptions, and where a
//! panic that escaped every check becomes one that `except Exception` catches.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use anydiff::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::{PyErr, PyResult};

create_exception!(
    anydiff._core,
    ShapeError,
    PyValueError,
    "An array had the wrong shape: the message says what was expected and what came."
);

create_exception!(
    anydiff._core,
    InternalError,
    PyRuntimeError,
    "A bug in anydiff's Rust code (a panic), reported instead of crashing: the process \
     stays usable. Please report it with the message."
);

/// Map a core error to Python: an oracle's own exception passes through unchanged,
/// shape problems become `ShapeError`, invalid arguments `ValueError`, memory that
/// cannot be had `MemoryError`, an interruption `KeyboardInterrupt`.
pub fn to_py(err: Error<PyErr>) -> PyErr {
    match err {
        Error::Oracle(e) => e,
        e @ Error::Shape { .. } => ShapeError::new_err(e.to_string()),
        Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        e @ Error::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// [`to_py`] for errors that hold no oracle error.
pub fn core_err(e: Error) -> PyErr {
    to_py(e.widen())
}

/// The panic's message as `InternalError`.
pub fn panic_err(payload: Box<dyn Any + Send>) -> PyErr {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    InternalError::new_err(format!("internal error in anydiff (a Rust panic): {msg}"))
}

/// Runs the body of a binding entry point, turning a panic into
/// `InternalError` (pyo3 would raise `PanicException`, which derives from
/// `BaseException` and escapes `except Exception`).
pub fn guard<R>(body: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panic_err(payload)))
}
