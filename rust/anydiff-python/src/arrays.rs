//! Result arrays allocated by numpy without aborting: a shape too large to
//! address is `ValueError`, memory numpy cannot get is `MemoryError`, each
//! naming what the array was for and its size (`numpy::PyArray::new` and
//! `zeros` panic on numpy's NULL instead).

use std::ptr;

use numpy::ndarray::{Dimension, IntoDimension};
use numpy::npyffi::{self, PY_ARRAY_API};
use numpy::{Element, PyArray, PyArrayDescrMethods};
use pyo3::exceptions::PyMemoryError;
use pyo3::prelude::*;

use crate::error::core_err;
use anydiff::memory::{checked_len, human_bytes, shape_str};

/// The element count of `dims`, checked, and the dims as numpy wants them.
fn prepare<T, D: Dimension>(what: &str, dims: &D) -> PyResult<Vec<npyffi::npy_intp>> {
    checked_len(what, dims.slice(), std::mem::size_of::<T>()).map_err(core_err)?;
    // every dimension fits `npy_intp` (isize) since their product does
    Ok(dims
        .slice()
        .iter()
        .map(|&d| d as npyffi::npy_intp)
        .collect())
}

/// `MemoryError` for `what` of `dims`, replacing numpy's message with one
/// that names what the array was for.
fn out_of_memory<T>(what: &str, dims: &[usize]) -> PyErr {
    let bytes = dims
        .iter()
        .fold(std::mem::size_of::<T>(), |a, &d| a.saturating_mul(d));
    PyMemoryError::new_err(format!(
        "cannot allocate {} for {what} of shape {}",
        human_bytes(bytes),
        shape_str(dims)
    ))
}

/// A zeroed C-ordered array of `dims` for `what`.
pub fn zeros<'py, T: Element, D: Dimension>(
    py: Python<'py>,
    dims: impl IntoDimension<Dim = D>,
    what: &str,
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    let dims = dims.into_dimension();
    let mut shape = prepare::<T, D>(what, &dims)?;
    // SAFETY: `shape` holds `ndim` valid dimensions; numpy returns a new
    // reference or NULL with an exception set.
    let obj = unsafe {
        let raw = PY_ARRAY_API.PyArray_Zeros(
            py,
            shape.len() as i32,
            shape.as_mut_ptr(),
            T::get_dtype(py).into_dtype_ptr(),
            0,
        );
        Bound::from_owned_ptr_or_err(py, raw)
    };
    match obj {
        // SAFETY: PyArray_Zeros made an array of `T` with `D`'s number of axes
        Ok(a) => Ok(unsafe { a.cast_into_unchecked() }),
        Err(e) if e.is_instance_of::<PyMemoryError>(py) => {
            Err(out_of_memory::<T>(what, dims.slice()))
        }
        Err(e) => Err(e),
    }
}

/// A C-ordered array of `dims` for `what`, not initialised.
///
/// # Safety
/// The caller writes every element before the array reaches Python or is read.
pub unsafe fn uninit<'py, T: Element, D: Dimension>(
    py: Python<'py>,
    dims: impl IntoDimension<Dim = D>,
    what: &str,
) -> PyResult<Bound<'py, PyArray<T, D>>> {
    let dims = dims.into_dimension();
    let mut shape = prepare::<T, D>(what, &dims)?;
    // SAFETY: as in `zeros`; NULL strides and data ask numpy for a new
    // C-ordered buffer.
    let obj = unsafe {
        let raw = PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            T::get_dtype(py).into_dtype_ptr(),
            shape.len() as i32,
            shape.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
            0,
            ptr::null_mut(),
        );
        Bound::from_owned_ptr_or_err(py, raw)
    };
    match obj {
        // SAFETY: as in `zeros`
        Ok(a) => Ok(unsafe { a.cast_into_unchecked() }),
        Err(e) if e.is_instance_of::<PyMemoryError>(py) => {
            Err(out_of_memory::<T>(what, dims.slice()))
        }
        Err(e) => Err(e),
    }
}
