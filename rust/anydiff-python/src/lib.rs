//! `anydiff._core`: the Rust core of anydiff, exposed to Python.
//!
//! Only conversions, callbacks and GIL handling live here; the numerics are in the
//! `anydiff` crate. Every function releases the GIL while Rust works and takes it back
//! only inside Python callbacks. Every entry point checks its arguments at the boundary
//! (`args`), allocates its results fallibly (`arrays`), runs long work interruptibly and
//! fork-safely (`runner`) and turns a panic into `InternalError` (`error::guard`).

mod args;
mod arrays;
mod compiled;
mod error;
#[cfg(feature = "gpu")]
mod gpu;
mod ir;
mod oracle;
mod runner;
mod sparse;

use anydiff::memory::reserve;
use anydiff::{
    jacobian_forward_into, jacobian_reverse_into, pick_mode, symmetrize_in_place, BatchPolicy,
    Error, FiniteDiff, Mode, Scalar, Scheme,
};
use ndarray::{ArrayView1, ArrayView2};
use numpy::{
    Element, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::error::{core_err, guard, to_py, InternalError, ShapeError};
use crate::oracle::{BlockOracle, PrimalOracle};

fn parse_mode(s: &str) -> PyResult<Mode> {
    s.parse::<Mode>().map_err(core_err)
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
    // allocated before any oracle call: a Jacobian that cannot fit fails first
    let out = arrays::zeros::<T, _>(py, (m, n), "the Jacobian")?;
    {
        // SAFETY: made just above and held by nothing else until it is returned
        let mut view = unsafe { out.as_array_mut() };
        // The oracle runs on this thread (see runner.rs) and checks for signals
        // each time it takes the GIL back.
        py.detach(|| {
            match mode {
                Mode::Forward => jacobian_forward_into(
                    &mut BlockOracle::new(oracle, "jvp"),
                    &policy,
                    view.view_mut(),
                ),
                Mode::Reverse => jacobian_reverse_into(
                    &mut BlockOracle::new(oracle, "vjp"),
                    &policy,
                    view.view_mut(),
                ),
                other => Err(Error::invalid(format!("unsupported mode {other:?}"))),
            }?;
            if symmetrize {
                symmetrize_in_place(view.view_mut())?;
            }
            Ok(())
        })
        .map_err(to_py)?;
    }
    Ok(out.into_any().unbind())
}

/// Assemble a dense m x n Jacobian from blocks of products.
///
/// `oracle(start, k)` returns the products against basis vectors `start..start+k`: a
/// `(k, m)` array of JVPs (`mode="forward"`) or a `(k, n)` array of VJPs
/// (`mode="reverse"`) of `dtype`. With `symmetrize=True` the square result is replaced
/// by `(J + J^T) / 2` (a Hessian from the Jacobian of a gradient). The result is
/// allocated before the first call (`MemoryError` naming its size when it cannot be).
// The Python signature mirrors the policy's knobs one to one.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (oracle, n, m, mode, dtype, batch_size=None, memory_cap=None, symmetrize=false))]
fn assemble(
    py: Python<'_>,
    oracle: Py<PyAny>,
    n: &Bound<'_, PyAny>,
    m: &Bound<'_, PyAny>,
    mode: &str,
    dtype: &str,
    batch_size: Option<&Bound<'_, PyAny>>,
    memory_cap: Option<&Bound<'_, PyAny>>,
    symmetrize: bool,
) -> PyResult<Py<PyAny>> {
    guard(|| {
        let (n, m) = (args::size(n, "n")?, args::size(m, "m")?);
        let mode = parse_mode(mode)?;
        let policy = policy(
            args::opt_size(batch_size, "batch_size")?,
            args::opt_size(memory_cap, "memory_cap")?.unwrap_or(anydiff::DEFAULT_MEMORY_CAP_BYTES),
        );
        match dtype {
            "float64" => assemble_typed::<f64>(py, oracle, (n, m), mode, symmetrize, policy),
            "float32" => assemble_typed::<f32>(py, oracle, (n, m), mode, symmetrize, policy),
            other => Err(PyTypeError::new_err(format!(
                "dtype must be 'float32' or 'float64'; got {other:?}"
            ))),
        }
    })
}

/// The blocks `(start, stop)` the batching policy splits `seeds` products of
/// `length` numbers of `itemsize` bytes into.
///
/// The whole `seeds x length` result must be allocatable: this is where every
/// backend's dense Jacobian is sized, so one that cannot fit is `MemoryError` (or
/// `ValueError` past the address space) before any work, naming its size.
#[pyfunction]
#[pyo3(signature = (seeds, length, itemsize, batch_size=None, memory_cap=None))]
fn block_ranges(
    seeds: &Bound<'_, PyAny>,
    length: &Bound<'_, PyAny>,
    itemsize: &Bound<'_, PyAny>,
    batch_size: Option<&Bound<'_, PyAny>>,
    memory_cap: Option<&Bound<'_, PyAny>>,
) -> PyResult<Vec<(usize, usize)>> {
    guard(|| {
        let seeds = args::size(seeds, "seeds")?;
        let length = args::size(length, "length")?;
        let itemsize = args::size(itemsize, "itemsize")?;
        let policy = policy(
            args::opt_size(batch_size, "batch_size")?,
            args::opt_size(memory_cap, "memory_cap")?.unwrap_or(anydiff::DEFAULT_MEMORY_CAP_BYTES),
        );
        anydiff::memory::ensure_allocatable(
            "the dense Jacobian (seeds x length)",
            &[seeds, length],
            itemsize,
        )
        .map_err(core_err)?;
        let k = policy.block_size(seeds, length, length, itemsize);
        let mut ranges = Vec::new();
        if k > 0 {
            reserve(&mut ranges, seeds.div_ceil(k), "the list of blocks").map_err(core_err)?;
            ranges.extend((0..seeds).step_by(k).map(|s| (s, (s + k).min(seeds))));
        }
        Ok(ranges)
    })
}

/// Raises `MemoryError` (or `ValueError` past the address space) naming `what` and
/// its size unless an array of `shape` with `itemsize`-byte elements can be allocated
/// now: for results that a framework allocates itself (a batch of Jacobians), where a
/// failure aborts the process instead.
#[pyfunction]
fn ensure_allocatable(
    what: &str,
    shape: &Bound<'_, PyAny>,
    itemsize: &Bound<'_, PyAny>,
) -> PyResult<()> {
    guard(|| {
        let shape = args::sizes(shape, "shape")?;
        let itemsize = args::size(itemsize, "itemsize")?;
        anydiff::memory::ensure_allocatable(what, &shape, itemsize).map_err(core_err)
    })
}

/// `"forward"` when n inputs need no more JVPs than m outputs need VJPs, else `"reverse"`.
#[pyfunction(name = "pick_mode")]
fn pick_mode_py(n: &Bound<'_, PyAny>, m: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    guard(|| Ok(pick_mode(args::size(n, "n")?, args::size(m, "m")?).as_str()))
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
    let out = arrays::zeros::<T, _>(py, (tangents.nrows(), fx.len()), "the JVPs")?;
    {
        // SAFETY: made just above and held by nothing else until it is returned
        let view = unsafe { out.as_array_mut() };
        // the primal runs on this thread and checks for signals (see runner.rs)
        py.detach(|| {
            let mut oracle = PrimalOracle::new(primal);
            fd.jvp(&mut oracle, x, Some(fx), tangents, view)
        })
        .map_err(to_py)?;
    }
    Ok(out.into_any().unbind())
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
/// `step` is the relative step in `[eps, 1]` for the dtype (`ValueError`
/// otherwise); steps are per coordinate (`step * max(1, |x_j|)` along `e_j`).
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
    guard(|| fd_jvp_impl(py, primal, (x, tangents, fx), scheme, step))
}

fn fd_jvp_impl(
    py: Python<'_>,
    primal: Py<PyAny>,
    (x, tangents, fx): (&Bound<'_, PyAny>, &Bound<'_, PyAny>, &Bound<'_, PyAny>),
    scheme: &str,
    step: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let scheme: Scheme = scheme.parse().map_err(core_err)?;
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
    m.add("InternalError", m.py().get_type::<InternalError>())?;
    runner::register_fork_handler()?;
    m.add_function(wrap_pyfunction!(assemble, m)?)?;
    m.add_function(wrap_pyfunction!(block_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(ensure_allocatable, m)?)?;
    m.add_function(wrap_pyfunction!(pick_mode_py, m)?)?;
    m.add_function(wrap_pyfunction!(fd_jvp, m)?)?;
    sparse::register(m)?;
    ir::register(m)?;
    #[cfg(feature = "gpu")]
    gpu::register(m)?;
    Ok(())
}
