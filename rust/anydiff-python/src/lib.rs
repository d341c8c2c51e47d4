//! `anydiff._core`: the Rust core of anydiff, exposed to Python.
//!
//! Only conversions, callbacks and GIL handling live here; the numerics are in the
//! `anydiff` crate. Every function releases the GIL while Rust works and takes it back
//! only inside Python callbacks.

mod compiled;
mod error;
#[cfg(feature = "gpu")]
mod gpu;
mod ir;
mod oracle;
mod sparse;

use anydiff::{
    jacobian_forward_into, jacobian_reverse_into, pick_mode, symmetrize_in_place, BatchPolicy,
    Error, FiniteDiff, Mode, Scalar, Scheme,
};
use ndarray::{Array2, ArrayView1, ArrayView2};
use numpy::{
    Element, IntoPyArray, PyArrayDescrMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::error::{to_py, ShapeError};
use crate::oracle::{BlockOracle, PrimalOracle};

fn parse_mode(s: &str) -> PyResult<Mode> {
    s.parse::<Mode>().map_err(|e: Error<_>| to_py(e.widen()))
}

fn policy(batch_size: Option<usize>, memory_cap: usize) -> BatchPolicy {
    BatchPolicy {
        max_batch: batch_size,
        memory_cap_bytes: memory_cap,
    }
}

fn assemble_typed<T: Scalar + Element>(
    py: Python<'_>,
    oracle: Py<PyAny>,
    (n, m): (usize, usize),
    mode: Mode,
    symmetrize: bool,
    policy: BatchPolicy,
) -> PyResult<Py<PyAny>> {
    if symmetrize && n != m {
        return Err(ShapeError::new_err(format!(
            "a symmetrised matrix must be square: expected m = n = {n}, got m = {m}"
        )));
    }
    let mut out = Array2::<T>::zeros((m, n));
    py.detach(|| {
        let view = out.view_mut();
        match mode {
            Mode::Forward => {
                jacobian_forward_into(&mut BlockOracle::new(oracle, "jvp"), &policy, view)
            }
            Mode::Reverse => {
                jacobian_reverse_into(&mut BlockOracle::new(oracle, "vjp"), &policy, view)
            }
            other => Err(Error::invalid(format!("unsupported mode {other:?}"))),
        }?;
        if symmetrize {
            symmetrize_in_place(out.view_mut())?;
        }
        Ok(())
    })
    .map_err(to_py)?;
    Ok(out.into_pyarray(py).into_any().unbind())
}

/// Assemble a dense m x n Jacobian from blocks of products.
///
/// `oracle(start, k)` returns the products against basis vectors `start..start+k`: a
/// `(k, m)` array of JVPs (`mode="forward"`) or a `(k, n)` array of VJPs
/// (`mode="reverse"`) of `dtype`. With `symmetrize=True` the square result is replaced
/// by `(J + J^T) / 2` (a Hessian from the Jacobian of a gradient).
// The Python signature mirrors the policy's knobs one to one.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (oracle, n, m, mode, dtype, batch_size=None, memory_cap=anydiff::DEFAULT_MEMORY_CAP_BYTES, symmetrize=false))]
fn assemble(
    py: Python<'_>,
    oracle: Py<PyAny>,
    n: usize,
    m: usize,
    mode: &str,
    dtype: &str,
    batch_size: Option<usize>,
    memory_cap: usize,
    symmetrize: bool,
) -> PyResult<Py<PyAny>> {
    let mode = parse_mode(mode)?;
    let policy = policy(batch_size, memory_cap);
    match dtype {
        "float64" => assemble_typed::<f64>(py, oracle, (n, m), mode, symmetrize, policy),
        "float32" => assemble_typed::<f32>(py, oracle, (n, m), mode, symmetrize, policy),
        other => Err(PyTypeError::new_err(format!(
            "dtype must be 'float32' or 'float64'; got {other:?}"
        ))),
    }
}

/// The blocks `(start, stop)` the batching policy splits `seeds` products into.
#[pyfunction]
#[pyo3(signature = (seeds, length, itemsize, batch_size=None, memory_cap=anydiff::DEFAULT_MEMORY_CAP_BYTES))]
fn block_ranges(
    seeds: usize,
    length: usize,
    itemsize: usize,
    batch_size: Option<usize>,
    memory_cap: usize,
) -> Vec<(usize, usize)> {
    policy(batch_size, memory_cap)
        .blocks(seeds, length, length, itemsize)
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect()
}

/// `"forward"` when n inputs need no more JVPs than m outputs need VJPs, else `"reverse"`.
#[pyfunction(name = "pick_mode")]
fn pick_mode_py(n: usize, m: usize) -> &'static str {
    pick_mode(n, m).as_str()
}

fn fd_jvp_typed<T: Scalar + Element>(
    py: Python<'_>,
    primal: Py<PyAny>,
    x: &Bound<'_, PyAny>,
    tangents: &Bound<'_, PyAny>,
    fx: &Bound<'_, PyAny>,
    fd: FiniteDiff<T>,
) -> PyResult<Py<PyAny>> {
    let x: PyReadonlyArray1<'_, T> = extract_array(x, "x")?;
    let tangents: PyReadonlyArray2<'_, T> = extract_array(tangents, "tangents")?;
    let fx: PyReadonlyArray1<'_, T> = extract_array(fx, "fx")?;
    let (x, tangents, fx): (ArrayView1<'_, T>, ArrayView2<'_, T>, ArrayView1<'_, T>) =
        (x.as_array(), tangents.as_array(), fx.as_array());
    let mut out = Array2::<T>::zeros((tangents.nrows(), fx.len()));
    let (x, tangents, fx) = (x.to_owned(), tangents.to_owned(), fx.to_owned());
    py.detach(|| {
        let mut oracle = PrimalOracle::new(primal);
        fd.jvp(
            &mut oracle,
            x.view(),
            Some(fx.view()),
            tangents.view(),
            out.view_mut(),
        )
    })
    .map_err(to_py)?;
    Ok(out.into_pyarray(py).into_any().unbind())
}

fn extract_array<'py, A: pyo3::conversion::FromPyObjectOwned<'py>>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<A> {
    obj.extract::<A>().map_err(|_| {
        let got = match obj.cast::<PyUntypedArray>() {
            Ok(a) => format!("shape {:?} dtype {}", a.shape(), a.dtype()),
            Err(_) => "a non-array".to_string(),
        };
        PyTypeError::new_err(format!(
            "{name} must be a numpy array of the dtype of x with the documented number of dimensions; got {got}"
        ))
    })
}

/// JVPs by finite differences.
///
/// `primal(points)` evaluates f at a `(p, n)` batch of points and returns `(p, m)`
/// values; all stencil points of all tangents are evaluated in one call. `x` is the flat
/// point (`float32` or `float64`), `tangents` a `(k, n)` array, `fx` the flat value f(x).
/// Returns the `(k, m)` JVPs.
#[pyfunction]
#[pyo3(signature = (primal, x, tangents, *, fx, scheme="central", step=None))]
fn fd_jvp(
    py: Python<'_>,
    primal: Py<PyAny>,
    x: &Bound<'_, PyAny>,
    tangents: &Bound<'_, PyAny>,
    fx: &Bound<'_, PyAny>,
    scheme: &str,
    step: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let scheme: Scheme = scheme.parse().map_err(|e: Error<_>| to_py(e.widen()))?;
    let dtype = x
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err("x must be a numpy array"))?
        .dtype();
    if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let fd = FiniteDiff {
            scheme,
            step: step.map(|s| s as f32),
        };
        fd_jvp_typed::<f32>(py, primal, x, tangents, fx, fd)
    } else if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        fd_jvp_typed::<f64>(py, primal, x, tangents, fx, FiniteDiff { scheme, step })
    } else {
        Err(PyTypeError::new_err(format!(
            "finite differences need float32 or float64 arrays; got dtype {dtype}"
        )))
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ShapeError", m.py().get_type::<ShapeError>())?;
    m.add_function(wrap_pyfunction!(assemble, m)?)?;
    m.add_function(wrap_pyfunction!(block_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(pick_mode_py, m)?)?;
    m.add_function(wrap_pyfunction!(fd_jvp, m)?)?;
    sparse::register(m)?;
    ir::register(m)?;
    #[cfg(feature = "gpu")]
    gpu::register(m)?;
    Ok(())
}
