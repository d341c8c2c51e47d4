//! Python callables as the core's oracles.
//!
//! Block oracles are called as `oracle(start, k)` and return the products against the
//! basis vectors `e_start .. e_{start+k}` as a `(k, width)` numpy array; primal oracles
//! are called with a `(p, n)` array of points and return `(p, m)` values. Results are
//! copied once, straight into the core's output (which may be a transposed view).
//!
//! Callbacks run on the calling thread; after each one, pending signals are handled
//! (`PyErr_CheckSignals`), so that Ctrl-C stops an assembly between blocks even when the
//! callable is compiled code that runs no bytecode (its `KeyboardInterrupt` comes back
//! as the oracle's error).

use anydiff::{Hvp, Jvp, Primal, Scalar, Vjp};
use ndarray::{ArrayView2, ArrayViewMut2};
use numpy::{Element, IntoPyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::error::ShapeError;

/// A Python callable answering basis blocks: `callable(start, k) -> (k, width) array`.
pub struct BlockOracle {
    callable: Py<PyAny>,
    name: &'static str,
}

impl BlockOracle {
    pub fn new(callable: Py<PyAny>, name: &'static str) -> Self {
        Self { callable, name }
    }

    fn fill<T: Scalar + Element>(
        &self,
        start: usize,
        mut out: ArrayViewMut2<'_, T>,
    ) -> PyResult<()> {
        Python::attach(|py| {
            let result = self.callable.bind(py).call1((start, out.nrows()))?;
            // a callable that runs no bytecode (a jitted function) leaves a Ctrl-C pending
            py.check_signals()?;
            copy_result(&result, &mut out, self.name)
        })
    }

    fn dense_unsupported(&self) -> PyErr {
        PyTypeError::new_err(format!(
            "{} oracle answers basis blocks only (called as oracle(start, k))",
            self.name
        ))
    }
}

/// Copy a callable's result into `out`, checking it is a float array of `out`'s shape.
fn copy_result<T: Scalar + Element>(
    result: &Bound<'_, PyAny>,
    out: &mut ArrayViewMut2<'_, T>,
    name: &str,
) -> PyResult<()> {
    let (rows, cols) = out.dim();
    let array = result.extract::<PyReadonlyArray2<'_, T>>().map_err(|_| {
        let got = describe(result);
        PyTypeError::new_err(format!(
            "{name} oracle returned {got}, expected a 2-d {} numpy array of shape ({rows}, {cols})",
            std::any::type_name::<T>()
        ))
    })?;
    let view = array.as_array();
    if view.dim() != (rows, cols) {
        return Err(ShapeError::new_err(format!(
            "{name} oracle returned shape {:?}, expected ({rows}, {cols})",
            view.shape()
        )));
    }
    out.assign(&view);
    Ok(())
}

fn describe(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<numpy::PyUntypedArray>() {
        Ok(a) => format!("an array of shape {:?} and dtype {}", a.shape(), a.dtype()),
        Err(_) => format!(
            "an object of type {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into())
        ),
    }
}

impl<T: Scalar + Element> Jvp<T> for BlockOracle {
    type Error = PyErr;
    fn jvp(&mut self, _: ArrayView2<'_, T>, _: ArrayViewMut2<'_, T>) -> PyResult<()> {
        Err(self.dense_unsupported())
    }
    fn jvp_basis(&mut self, _n: usize, start: usize, out: ArrayViewMut2<'_, T>) -> PyResult<()> {
        self.fill(start, out)
    }
}

impl<T: Scalar + Element> Vjp<T> for BlockOracle {
    type Error = PyErr;
    fn vjp(&mut self, _: ArrayView2<'_, T>, _: ArrayViewMut2<'_, T>) -> PyResult<()> {
        Err(self.dense_unsupported())
    }
    fn vjp_basis(&mut self, _m: usize, start: usize, out: ArrayViewMut2<'_, T>) -> PyResult<()> {
        self.fill(start, out)
    }
}

impl<T: Scalar + Element> Hvp<T> for BlockOracle {
    type Error = PyErr;
    fn hvp(&mut self, _: ArrayView2<'_, T>, _: ArrayViewMut2<'_, T>) -> PyResult<()> {
        Err(self.dense_unsupported())
    }
    fn hvp_basis(&mut self, _n: usize, start: usize, out: ArrayViewMut2<'_, T>) -> PyResult<()> {
        self.fill(start, out)
    }
}

/// A Python callable evaluating f at a batch of points: `callable(points) -> values`.
pub struct PrimalOracle {
    callable: Py<PyAny>,
}

impl PrimalOracle {
    pub fn new(callable: Py<PyAny>) -> Self {
        Self { callable }
    }
}

impl<T: Scalar + Element> Primal<T> for PrimalOracle {
    type Error = PyErr;
    fn eval(&mut self, points: ArrayView2<'_, T>, mut out: ArrayViewMut2<'_, T>) -> PyResult<()> {
        Python::attach(|py| {
            let points = points.to_owned().into_pyarray(py);
            let result = self.callable.bind(py).call1((points,))?;
            py.check_signals()?;
            copy_result(&result, &mut out, "primal")
        })
    }
}
