//! The one place where core errors become Python exceptions.

use anydiff::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyKeyboardInterrupt, PyValueError};
use pyo3::PyErr;

create_exception!(
    anydiff._core,
    ShapeError,
    PyValueError,
    "An array had the wrong shape: the message says what was expected and what came."
);

/// Map a core error to Python: an oracle's own exception passes through unchanged,
/// shape problems become `ShapeError`, invalid arguments `ValueError`.
pub fn to_py(err: Error<PyErr>) -> PyErr {
    match err {
        Error::Oracle(e) => e,
        e @ Error::Shape { .. } => ShapeError::new_err(e.to_string()),
        Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        other => PyValueError::new_err(other.to_string()),
    }
}
