//! The IR engine for Python: `_core.Program` built from `Graph.instructions()`.
//!
//! Points cross as `(P, n)` numpy arrays; float32 points evaluate in f32, anything
//! else in f64. Parameters are a list of arrays (flattened, cast to the points'
//! dtype). The GIL is released while Rust computes.

use std::sync::Arc;

use anydiff::ir::{
    BinaryFn, CompareFn, Curvature, IrReal, LinalgFn, Op, Program, ReduceFn, SparseJacobian,
    UnaryFn,
};
use anydiff::sparse::Pattern;
use anydiff::{Elementary, Error};
use ndarray::{Array1, Array2};
use numpy::{
    AllowTypeChange, Element, IntoPyArray, PyArray1, PyArrayDescrMethods, PyArrayLike2,
    PyArrayLikeDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::args;
use crate::arrays;
use crate::compiled::{Compiled, Engine, Want};
use crate::error::{core_err, guard, ShapeError};
use crate::runner;
use crate::sparse::PyPattern;

/// `ValueError` naming instruction `i`.
fn bad(i: usize, op: &str, msg: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("instruction {i} ({op}): {msg}"))
}

fn attr<'py>(
    attrs: &Bound<'py, PyDict>,
    key: &str,
    i: usize,
    op: &str,
) -> PyResult<Bound<'py, PyAny>> {
    attrs
        .get_item(key)?
        .ok_or_else(|| bad(i, op, format!("missing attribute {key:?}")))
}

fn attr_usize(attrs: &Bound<'_, PyDict>, key: &str, i: usize, op: &str) -> PyResult<usize> {
    attr(attrs, key, i, op)?.extract::<usize>().map_err(|_| {
        bad(
            i,
            op,
            format!("attribute {key:?} must be a non-negative integer"),
        )
    })
}

fn attr_str(attrs: &Bound<'_, PyDict>, key: &str, i: usize, op: &str) -> PyResult<String> {
    attr(attrs, key, i, op)?
        .extract::<String>()
        .map_err(|_| bad(i, op, format!("attribute {key:?} must be a string")))
}

fn attr_f64s(attrs: &Bound<'_, PyDict>, key: &str, i: usize, op: &str) -> PyResult<Vec<f64>> {
    let v = attr(attrs, key, i, op)?;
    if let Ok(a) = v.extract::<PyArrayLikeDyn<'_, f64, AllowTypeChange>>() {
        return Ok(a.as_array().iter().copied().collect());
    }
    v.extract::<Vec<f64>>().map_err(|_| {
        bad(
            i,
            op,
            format!("attribute {key:?} must be an array of numbers"),
        )
    })
}

fn attr_i64s(attrs: &Bound<'_, PyDict>, key: &str, i: usize, op: &str) -> PyResult<Vec<i64>> {
    let v = attr(attrs, key, i, op)?;
    if let Ok(a) = v.extract::<PyReadonlyArray1<'_, i64>>() {
        return Ok(a.as_array().to_vec());
    }
    v.extract::<Vec<i64>>().map_err(|_| {
        bad(
            i,
            op,
            format!("attribute {key:?} must be a 1-d integer array"),
        )
    })
}

fn attr_usizes(attrs: &Bound<'_, PyDict>, key: &str, i: usize, op: &str) -> PyResult<Vec<usize>> {
    attr_i64s(attrs, key, i, op)?
        .into_iter()
        .map(|x| {
            usize::try_from(x).map_err(|_| {
                bad(
                    i,
                    op,
                    format!("attribute {key:?} holds a negative value {x}"),
                )
            })
        })
        .collect()
}

fn parse_fn<F: std::str::FromStr<Err = Error>>(
    attrs: &Bound<'_, PyDict>,
    i: usize,
    op: &str,
) -> PyResult<F> {
    attr_str(attrs, "fn", i, op)?
        .parse::<F>()
        .map_err(|e| bad(i, op, e))
}

/// The instructions' names (`Graph.instructions()`'s first items).
const OPS: [&str; 14] = [
    "input", "param", "const", "unary", "binary", "powi", "compare", "select", "gather", "concat",
    "reduce", "sort", "linalg", "dot",
];

/// One `(op, args, attrs)` tuple as an [`Op`].
fn parse_instruction(i: usize, item: &Bound<'_, PyAny>) -> PyResult<Op> {
    let tuple = item.cast::<PyTuple>().map_err(|_| {
        PyValueError::new_err(format!(
            "instruction {i}: expected a tuple (op, args, attrs)"
        ))
    })?;
    if tuple.len() != 3 {
        return Err(PyValueError::new_err(format!(
            "instruction {i}: expected a tuple (op, args, attrs) of 3 items; got {}",
            tuple.len()
        )));
    }
    let op: String = tuple
        .get_item(0)?
        .extract()
        .map_err(|_| PyValueError::new_err(format!("instruction {i}: op must be a string")))?;
    let op = op.as_str();
    let args: Vec<usize> = tuple
        .get_item(1)?
        .extract()
        .map_err(|_| bad(i, op, "args must be a tuple of non-negative integers"))?;
    let attrs_obj = tuple.get_item(2)?;
    let attrs = attrs_obj
        .cast::<PyDict>()
        .map_err(|_| bad(i, op, "attrs must be a dict"))?;
    let want = |k: usize| -> PyResult<()> {
        if args.len() != k {
            return Err(bad(
                i,
                op,
                format!("expected {k} arguments, got {}", args.len()),
            ));
        }
        Ok(())
    };
    Ok(match op {
        "input" | "param" => {
            want(0)?;
            let index = attr_usize(attrs, "index", i, op)?;
            let len = attr_usize(attrs, "len", i, op)?;
            if op == "input" {
                Op::Input { index, len }
            } else {
                Op::Param { index, len }
            }
        }
        "const" => {
            want(0)?;
            Op::Const(attr_f64s(attrs, "values", i, op)?)
        }
        "unary" => {
            want(1)?;
            Op::Unary {
                func: parse_fn(attrs, i, op)?,
                a: args[0],
            }
        }
        "binary" => {
            want(2)?;
            Op::Binary {
                func: parse_fn(attrs, i, op)?,
                a: args[0],
                b: args[1],
            }
        }
        "compare" => {
            want(2)?;
            Op::Compare {
                func: parse_fn(attrs, i, op)?,
                a: args[0],
                b: args[1],
            }
        }
        "powi" => {
            want(1)?;
            let n: i64 = attr(attrs, "n", i, op)?
                .extract()
                .map_err(|_| bad(i, op, "attribute \"n\" must be an integer"))?;
            let n = i32::try_from(n)
                .map_err(|_| bad(i, op, format!("exponent {n} is out of range")))?;
            Op::Powi { a: args[0], n }
        }
        "select" => {
            want(3)?;
            Op::Select {
                c: args[0],
                t: args[1],
                f: args[2],
            }
        }
        "gather" => {
            want(1)?;
            Op::Gather {
                a: args[0],
                indices: attr_i64s(attrs, "indices", i, op)?,
            }
        }
        "concat" => Op::Concat(args),
        "reduce" => {
            want(1)?;
            Op::Reduce {
                func: parse_fn(attrs, i, op)?,
                a: args[0],
                offsets: attr_usizes(attrs, "offsets", i, op)?,
                indices: attr_usizes(attrs, "indices", i, op)?,
            }
        }
        "sort" => {
            want(2)?;
            Op::Sort {
                keys: args[0],
                a: args[1],
                segment: attr_usize(attrs, "segment", i, op)?,
            }
        }
        "linalg" => Op::Linalg {
            func: parse_fn(attrs, i, op)?,
            args,
            batch: attr_usize(attrs, "batch", i, op)?,
            m: attr_usize(attrs, "m", i, op)?,
            n: attr_usize(attrs, "n", i, op)?,
            k: attr_usize(attrs, "k", i, op)?,
        },
        "dot" => {
            want(2)?;
            Op::Dot {
                a: args[0],
                b: args[1],
                batch: attr_usize(attrs, "batch", i, op)?,
                m: attr_usize(attrs, "m", i, op)?,
                k: attr_usize(attrs, "k", i, op)?,
                n: attr_usize(attrs, "n", i, op)?,
            }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "instruction {i}: unknown op {other:?} (expected one of: {})",
                OPS.join(", ")
            )))
        }
    })
}

/// A pattern as `(rows, cols, indptr, indices)`.
type CsrOut = (usize, usize, Py<PyArray1<i64>>, Py<PyArray1<i64>>);

/// Points as a `(P, n)` array in the engine's real type.
enum Points<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64Exact(PyReadonlyArray2<'py, f64>),
    F64(PyArrayLike2<'py, f64, AllowTypeChange>),
}

fn points<'py>(obj: &Bound<'py, PyAny>, n: usize) -> PyResult<Points<'py>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        if a.ndim() != 2 {
            return Err(ShapeError::new_err(format!(
                "points: expected (P, {n}), got {:?}",
                a.shape()
            )));
        }
        // float64 arrays, the usual case, without a conversion attempt
        if let Ok(exact) = obj.extract::<PyReadonlyArray2<'py, f64>>() {
            return Ok(Points::F64Exact(exact));
        }
        if a.dtype().is_equiv_to(&numpy::dtype::<f32>(obj.py())) {
            return Ok(Points::F32(obj.extract()?));
        }
    }
    let arr: PyArrayLike2<'py, f64, AllowTypeChange> = obj.extract().map_err(|_| {
        PyTypeError::new_err("points must be a 2-d array of numbers (float32 or float64)")
    })?;
    Ok(Points::F64(arr))
}

fn params_as<T: IrReal + Element>(list: &Bound<'_, PyAny>, lens: &[usize]) -> PyResult<Vec<T>> {
    let items: Vec<Bound<'_, PyAny>> = if list.is_none() {
        Vec::new()
    } else {
        list.try_iter()?.collect::<PyResult<_>>()?
    };
    if items.len() != lens.len() {
        return Err(ShapeError::new_err(format!(
            "params: expected {} arrays, got {}",
            lens.len(),
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(lens.iter().sum());
    for (k, (item, &len)) in items.iter().zip(lens).enumerate() {
        let a: PyArrayLikeDyn<'_, f64, AllowTypeChange> = item.extract().map_err(|_| {
            PyTypeError::new_err(format!("params[{k}] must be an array of numbers"))
        })?;
        let view = a.as_array();
        if view.len() != len {
            return Err(ShapeError::new_err(format!(
                "params[{k}]: expected {len} numbers, got shape {:?}",
                view.shape()
            )));
        }
        out.extend(view.iter().map(|&v| <T as Elementary>::from_f64(v)));
    }
    Ok(out)
}

/// An expression graph compiled for evaluation with dual numbers over many points.
#[pyclass(frozen, name = "Program", module = "anydiff._core")]
pub struct PyProgram {
    pub(crate) inner: Arc<Program>,
    /// Machine-code kernels for `eval` / `jacobian` at many points.
    compiled: Compiled,
}

/// `(values, jacobians)` from a compiled kernel, each where asked for.
type CompiledOut = (Option<Py<PyAny>>, Option<Py<PyAny>>);

impl PyProgram {
    /// About how many scalar operations `np` points with `lanes` tangent
    /// lanes take (what decides how the runner runs them).
    fn cost(&self, np: usize, lanes: usize) -> usize {
        let elements: usize = self.inner.node_lens().iter().sum();
        np.saturating_mul(elements.max(1))
            .saturating_mul(lanes.saturating_add(1))
    }

    /// Runs `want` with a compiled kernel where `engine` and the points allow
    /// one; `None` leaves the call to the interpreter (which also reports
    /// points and parameters of the wrong shape).
    fn run_compiled(
        &self,
        py: Python<'_>,
        (points_obj, params): (&Bound<'_, PyAny>, &Bound<'_, PyAny>),
        engine: Engine,
        want: Want,
    ) -> PyResult<Option<CompiledOut>> {
        if engine == Engine::Interpreter {
            return Ok(None);
        }
        if let Ok(a) = points_obj.cast::<PyUntypedArray>() {
            if a.ndim() == 2 && !Compiled::may_compile(engine, a.shape()[0]) {
                return Ok(None);
            }
        }
        let prog = &self.inner;
        let (n, m) = (prog.n_inputs(), prog.n_outputs());
        let pts = points(points_obj, n)?;
        let x = match &pts {
            Points::F32(a) => {
                // no float32 kernels: `engine="compiled"` raises here, "auto" interprets
                let np = a.as_array().nrows();
                self.compiled.get(py, prog, (engine, want), (np, false))?;
                return Ok(None);
            }
            Points::F64Exact(a) => a.as_array(),
            Points::F64(a) => a.as_array(),
        };
        let par = params_as::<f64>(params, prog.param_lens())?;
        let np = x.nrows();
        if x.ncols() != n || par.len() != prog.param_lens().iter().sum::<usize>() {
            return Ok(None);
        }
        let Some(kernel) = self.compiled.get(py, prog, (engine, want), (np, true))? else {
            return Ok(None);
        };
        let x = x.as_standard_layout();
        let Some(pts) = x.as_slice() else {
            return Ok(None);
        };
        let with_values = !matches!(want, Want::Jacobian);
        let with_jac = !matches!(want, Want::Values);
        let vals = with_values
            .then(|| filled_later::<f64, _>(py, [np, m], "the values"))
            .transpose()?;
        let jac = with_jac
            .then(|| filled_later::<f64, _>(py, [np, m, n], "the Jacobians"))
            .transpose()?;
        // SAFETY: both arrays were made just above and nothing else holds them;
        // the kernel writes every element before they reach Python.
        let mut v = vals.as_ref().map(|a| unsafe { a.as_array_mut() });
        let mut j = jac.as_ref().map(|a| unsafe { a.as_array_mut() });
        let (mut no_v, mut no_j) = ([0.0f64; 0], [0.0f64; 0]);
        let v_slice = match v.as_mut() {
            Some(a) => a
                .as_slice_mut()
                .ok_or_else(|| PyValueError::new_err("values: not contiguous"))?,
            None => &mut no_v[..],
        };
        let j_slice = match j.as_mut() {
            Some(a) => a
                .as_slice_mut()
                .ok_or_else(|| PyValueError::new_err("jacobian: not contiguous"))?,
            None => &mut no_j[..],
        };
        let cost = self.cost(np, if with_jac { n } else { 0 });
        runner::run(py, cost, || {
            kernel
                .run(np, pts, &par, v_slice, j_slice)
                .map_err(|e| ShapeError::new_err(e.to_string()))
        })?;
        Ok(Some((
            vals.map(|a| a.into_any().unbind()),
            jac.map(|a| a.into_any().unbind()),
        )))
    }
}

macro_rules! dispatch {
    ($self:ident, $py:ident, $pts:expr, $params:expr, |$t:ident, $arr:ident, $par:ident| $body:expr) => {{
        match points($pts, $self.inner.n_inputs())? {
            Points::F32(a) => {
                let $par = params_as::<f32>($params, $self.inner.param_lens())?;
                let $arr = a.as_array();
                type $t = f32;
                $body
            }
            Points::F64Exact(a) => {
                let $par = params_as::<f64>($params, $self.inner.param_lens())?;
                let $arr = a.as_array();
                type $t = f64;
                $body
            }
            Points::F64(a) => {
                let $par = params_as::<f64>($params, $self.inner.param_lens())?;
                let $arr = a.as_array();
                type $t = f64;
                $body
            }
        }
    }};
}

/// A new C-ordered array for a result that the engine writes in full before
/// anyone reads it (values and Jacobians of the forward engine), so it is not
/// zeroed first: at 10^5 points the zeroing cost a sixth of the call.
/// `MemoryError` (or `ValueError` past the address space) naming `what` when it
/// cannot be allocated.
fn filled_later<'py, T: Element, D: numpy::ndarray::Dimension>(
    py: Python<'py>,
    dims: impl numpy::ndarray::IntoDimension<Dim = D>,
    what: &str,
) -> PyResult<Bound<'py, numpy::PyArray<T, D>>> {
    // SAFETY: the elements are plain floats; every caller hands the array to an
    // engine routine that writes each element before the array reaches Python,
    // and drops it unread if that routine fails.
    unsafe { arrays::uninit::<T, D>(py, dims, what) }
}

fn check_cols(what: &str, got: &[usize], n: usize) -> PyResult<()> {
    if got.len() != 2 || got[1] != n {
        return Err(ShapeError::new_err(format!(
            "{what}: expected (L, {n}), got {got:?}"
        )));
    }
    Ok(())
}

/// Directions (seeds, cotangents) as rows: borrowed when they are already a
/// C-ordered array of the engine's dtype, else converted.
enum Directions<'py, T: Element> {
    Borrowed(PyReadonlyArray2<'py, T>),
    Converted(Array2<T>),
}

impl<T: Element> Directions<'_, T> {
    fn view(&self) -> ndarray::ArrayView2<'_, T> {
        match self {
            Directions::Borrowed(a) => a.as_array(),
            Directions::Converted(a) => a.view(),
        }
    }
}

fn directions<'py, T: IrReal + Element>(
    obj: &Bound<'py, PyAny>,
    n: usize,
    what: &str,
) -> PyResult<Directions<'py, T>> {
    if let Ok(a) = obj.cast::<PyUntypedArray>() {
        check_cols(what, a.shape(), n)?;
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'py, T>>() {
        if a.is_c_contiguous() {
            return Ok(Directions::Borrowed(a));
        }
    }
    let a: PyArrayLike2<'_, f64, AllowTypeChange> = obj
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a 2-d array of numbers")))?;
    let view = a.as_array();
    check_cols(what, view.shape(), n)?;
    Ok(Directions::Converted(
        view.mapv(|v| <T as Elementary>::from_f64(v)),
    ))
}

fn pattern_out(py: Python<'_>, p: &Pattern) -> CsrOut {
    let conv = |v: &[usize]| {
        Array1::from_iter(v.iter().map(|&i| i as i64))
            .into_pyarray(py)
            .unbind()
    };
    (p.nrows(), p.ncols(), conv(p.row_ptr()), conv(p.col_idx()))
}

#[pymethods]
impl PyProgram {
    /// Validates `instructions` (as `Graph.instructions()` returns them) and builds
    /// the program. `input_lens` / `param_lens` are the lengths of the inputs and
    /// parameters; `outputs` the output node ids. Raises ValueError naming the
    /// offending instruction.
    #[new]
    fn new(
        py: Python<'_>,
        instructions: &Bound<'_, PyList>,
        input_lens: &Bound<'_, PyAny>,
        param_lens: &Bound<'_, PyAny>,
        outputs: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| {
            let input_lens = args::sizes(input_lens, "input_lens")?;
            let param_lens = args::sizes(param_lens, "param_lens")?;
            let outputs = args::sizes(outputs, "outputs")?;
            let ops: Vec<Op> = instructions
                .iter()
                .enumerate()
                .map(|(i, item)| parse_instruction(i, &item))
                .collect::<PyResult<_>>()?;
            let prog = py
                .detach(|| Program::new(ops, &input_lens, &param_lens, &outputs))
                .map_err(core_err)?;
            Ok(Self {
                inner: Arc::new(prog),
                compiled: Compiled::default(),
            })
        })
    }

    /// Total length of the inputs (n).
    #[getter]
    fn n_inputs(&self) -> usize {
        self.inner.n_inputs()
    }

    /// Total length of the outputs (m).
    #[getter]
    fn n_outputs(&self) -> usize {
        self.inner.n_outputs()
    }

    /// Total length of all live nodes (the scalars of one point's evaluation).
    #[getter]
    fn n_elements(&self) -> usize {
        self.inner.node_lens().iter().sum()
    }

    /// What one VJP (reverse sweep) costs in JVP lanes at one point, products
    /// counted by their multiply-adds: the `vjp_cost` of `pick_mode`.
    #[getter]
    fn vjp_cost(&self) -> f64 {
        self.inner.vjp_cost()
    }

    /// Number of live nodes (after dead-code removal).
    #[getter]
    fn n_nodes(&self) -> usize {
        self.inner.n_nodes()
    }

    /// Outputs `(P, m)` at `points` `(P, n)`. `engine`: `"auto"` (a compiled
    /// kernel for float64 batches where the program allows one), `"compiled"`
    /// or `"interpreter"`.
    #[pyo3(signature = (points, params=None, engine="auto"))]
    fn eval(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        engine: &str,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let engine = Engine::parse(engine)?;
            let compiled = self.run_compiled(py, (points, params), engine, Want::Values)?;
            if let Some((Some(v), _)) = compiled {
                return Ok(v);
            }
            let prog = self.inner.clone();
            dispatch!(self, py, points, params, |T, x, par| {
                let out = filled_later::<T, _>(py, [x.nrows(), prog.n_outputs()], "the values")?;
                // SAFETY: made just above and held by nothing else
                let o = unsafe { out.as_array_mut() };
                runner::run(py, self.cost(x.nrows(), 0), || {
                    prog.eval_points(x.view(), &par, o).map_err(core_err)
                })?;
                Ok(out.into_any().unbind())
            })
        })
    }

    /// `(values (P, m), tangents (P, L, m))` for the tangents `seeds` `(L, n)`.
    #[pyo3(signature = (points, params, seeds))]
    fn jvp(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: &Bound<'_, PyAny>,
        seeds: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let prog = self.inner.clone();
            let (n, m) = (prog.n_inputs(), prog.n_outputs());
            dispatch!(self, py, points, params, |T, x, par| {
                let s_rows = directions::<T>(seeds, n, "seeds")?;
                let s = s_rows.view();
                let np = x.nrows();
                let vals = filled_later::<T, _>(py, [np, m], "the values")?;
                let tan = filled_later::<T, _>(py, [np, s.nrows(), m], "the tangents")?;
                // SAFETY: both arrays were made just above and nothing else holds them
                let (v, t) = unsafe { (vals.as_array_mut(), tan.as_array_mut()) };
                runner::run(py, self.cost(np, s.nrows()), || {
                    prog.jvp_points(x.view(), &par, s.view(), v, t)
                        .map_err(core_err)
                })?;
                Ok((vals.into_any().unbind(), tan.into_any().unbind()))
            })
        })
    }

    /// `(values (P, m), jacobians (P, m, n))`; with `values=False`, `(None, jacobians)`
    /// (the values are then not computed). `engine` as for `eval`.
    #[pyo3(signature = (points, params=None, values=true, engine="auto"))]
    fn jacobian(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        values: bool,
        engine: &str,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let engine = Engine::parse(engine)?;
            let want = if values {
                Want::ValuesAndJacobian
            } else {
                Want::Jacobian
            };
            if let Some((v, Some(j))) = self.run_compiled(py, (points, params), engine, want)? {
                return Ok((v.unwrap_or_else(|| py.None()), j));
            }
            let prog = self.inner.clone();
            let (n, m) = (prog.n_inputs(), prog.n_outputs());
            dispatch!(self, py, points, params, |T, x, par| {
                let np = x.nrows();
                let cost = self.cost(np, n);
                let jac = filled_later::<T, _>(py, [np, m, n], "the Jacobians")?;
                if !values {
                    // SAFETY: made just above and held by nothing else
                    let j = unsafe { jac.as_array_mut() };
                    runner::run(py, cost, || {
                        prog.jacobian_points(x.view(), &par, j).map_err(core_err)
                    })?;
                    return Ok((py.None(), jac.into_any().unbind()));
                }
                let vals = filled_later::<T, _>(py, [np, m], "the values")?;
                // SAFETY: both arrays were made just above and nothing else holds them
                // (no borrow bookkeeping needed, which costs a small call a tenth).
                let (v, j) = unsafe { (vals.as_array_mut(), jac.as_array_mut()) };
                runner::run(py, cost, || {
                    prog.value_and_jacobian_points(x.view(), &par, v, j)
                        .map_err(core_err)
                })?;
                Ok((vals.into_any().unbind(), jac.into_any().unbind()))
            })
        })
    }

    /// `(values (P,), gradients (P, n), hessians (P, n, n))` of a scalar program.
    #[pyo3(signature = (points, params=None))]
    fn hessian(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let prog = self.inner.clone();
            let n = prog.n_inputs();
            dispatch!(self, py, points, params, |T, x, par| {
                let np = x.nrows();
                let vals = arrays::zeros::<T, _>(py, [np], "the values")?;
                let grad = arrays::zeros::<T, _>(py, [np, n], "the gradients")?;
                let hess = arrays::zeros::<T, _>(py, [np, n, n], "the Hessians")?;
                // SAFETY: the arrays were made just above and nothing else holds them
                let (v, g, h) = unsafe {
                    (
                        vals.as_array_mut(),
                        grad.as_array_mut(),
                        hess.as_array_mut(),
                    )
                };
                let cost = self.cost(np, n.saturating_mul(n).saturating_add(n));
                runner::run(py, cost, || {
                    prog.value_grad_hessian_points(x.view(), &par, v, g, h)
                        .map_err(core_err)
                })?;
                Ok((
                    vals.into_any().unbind(),
                    grad.into_any().unbind(),
                    hess.into_any().unbind(),
                ))
            })
        })
    }

    /// Hessian-vector products `(P, L, n)` of a scalar program for `v` `(L, n)`.
    #[pyo3(signature = (points, params, v))]
    fn hvp(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: &Bound<'_, PyAny>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let prog = self.inner.clone();
            let n = prog.n_inputs();
            dispatch!(self, py, points, params, |T, x, par| {
                let v_rows = directions::<T>(v, n, "v")?;
                let v = v_rows.view();
                let np = x.nrows();
                let out = arrays::zeros::<T, _>(py, [np, v.nrows(), n], "the HVPs")?;
                // SAFETY: made just above and held by nothing else
                let o = unsafe { out.as_array_mut() };
                runner::run(py, self.cost(np, 2 * v.nrows()), || {
                    prog.hvp_points(x.view(), &par, v.view(), o)
                        .map_err(core_err)
                })?;
                Ok(out.into_any().unbind())
            })
        })
    }

    /// `(values (P, m), vjps (P, L, n))` for the cotangents `(L, m)` (the same
    /// at every point), by reverse mode: one reverse sweep per cotangent.
    #[pyo3(signature = (points, params, cotangents))]
    fn vjp(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        cotangents: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let prog = self.inner.clone();
            let (n, m) = (prog.n_inputs(), prog.n_outputs());
            dispatch!(self, py, points, params, |T, x, par| {
                let w_rows = directions::<T>(cotangents, m, "cotangents")?;
                let w = w_rows.view();
                let np = x.nrows();
                let vals = arrays::zeros::<T, _>(py, [np, m], "the values")?;
                let out = arrays::zeros::<T, _>(py, [np, w.nrows(), n], "the VJPs")?;
                // SAFETY: both arrays were made just above and nothing else holds them
                let (v, o) = unsafe { (vals.as_array_mut(), out.as_array_mut()) };
                runner::run(py, self.cost(np, 2 * w.nrows()), || {
                    prog.vjp_points(x.view(), &par, w.view(), v, o)
                        .map_err(core_err)
                })?;
                Ok((vals.into_any().unbind(), out.into_any().unbind()))
            })
        })
    }

    /// `(values (P,), gradients (P, n))` of a scalar program by one reverse sweep.
    #[pyo3(signature = (points, params=None))]
    fn gradient(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let prog = self.inner.clone();
            let n = prog.n_inputs();
            dispatch!(self, py, points, params, |T, x, par| {
                let np = x.nrows();
                let vals = filled_later::<T, _>(py, [np], "the values")?;
                // zeroed: an input the program never reads has no adjoint to write
                let grad = arrays::zeros::<T, _>(py, [np, n], "the gradients")?;
                // SAFETY: both arrays were made just above and nothing else holds them
                let (v, g) = unsafe { (vals.as_array_mut(), grad.as_array_mut()) };
                // one point is a sub-microsecond sweep: the runner keeps the GIL for it
                runner::run(py, self.cost(np, 2), || {
                    prog.gradient_points(x.view(), &par, v, g).map_err(core_err)
                })?;
                Ok((vals.into_any().unbind(), grad.into_any().unbind()))
            })
        })
    }

    /// The gradient `(n,)` of a scalar program without parameters at one float64 point
    /// `x` `(n,)`: the hot path of a prepared gradient (no batch axis, no values).
    fn gradient1(&self, py: Python<'_>, x: PyReadonlyArray1<'_, f64>) -> PyResult<Py<PyAny>> {
        guard(|| {
            let n = self.inner.n_inputs();
            let x = x.as_array();
            let point = x.into_shape_with_order((1, n)).map_err(|_| {
                ShapeError::new_err(format!("x: expected ({n},), got {:?}", x.shape()))
            })?;
            let grad = arrays::zeros::<f64, _>(py, [n], "the gradient")?;
            let mut value = [0.0];
            // SAFETY: the array was made just above and nothing else holds it
            let g = unsafe { grad.as_array_mut() };
            let g = g
                .into_shape_with_order((1, n))
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            let v = ndarray::ArrayViewMut1::from(&mut value[..]);
            let prog = &self.inner;
            runner::run(py, self.cost(1, 2), || {
                prog.gradient_points(point, &[], v, g).map_err(core_err)
            })?;
            Ok(grad.into_any().unbind())
        })
    }

    /// `(gradients (P, n), hvps (P, L, n))` of a scalar program for `v` `(L, n)`,
    /// by forward over reverse (one pass per block of 16 directions).
    #[pyo3(signature = (points, params, v))]
    fn hvp_reverse(
        &self,
        py: Python<'_>,
        points: &Bound<'_, PyAny>,
        params: Option<&Bound<'_, PyAny>>,
        v: &Bound<'_, PyAny>,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        guard(|| {
            let none = py.None().into_bound(py);
            let params = params.unwrap_or(&none);
            let prog = self.inner.clone();
            let n = prog.n_inputs();
            dispatch!(self, py, points, params, |T, x, par| {
                let v_rows = directions::<T>(v, n, "v")?;
                let v = v_rows.view();
                let np = x.nrows();
                let grad = arrays::zeros::<T, _>(py, [np, n], "the gradients")?;
                let out = arrays::zeros::<T, _>(py, [np, v.nrows(), n], "the HVPs")?;
                // SAFETY: both arrays were made just above and nothing else holds them
                let (g, o) = unsafe { (grad.as_array_mut(), out.as_array_mut()) };
                runner::run(py, self.cost(np, 4 * v.nrows()), || {
                    prog.hvp_reverse_points(x.view(), &par, v.view(), g, o)
                        .map_err(core_err)
                })?;
                Ok((grad.into_any().unbind(), out.into_any().unbind()))
            })
        })
    }

    /// The global Jacobian pattern as `(m, n, indptr, indices)` (CSR, int64).
    fn jacobian_sparsity(&self, py: Python<'_>) -> PyResult<CsrOut> {
        guard(|| {
            let prog = self.inner.clone();
            let p = py.detach(|| prog.jacobian_sparsity());
            Ok(pattern_out(py, &p))
        })
    }

    /// The sparse Jacobian at one point compiled entry by entry for `pattern`
    /// (which must hold the program's own pattern): constant entries are
    /// worked out once, the rest computed per call, no coloring. Raises
    /// ValueError for programs it does not support (max/min reductions, matrix
    /// products).
    fn sparse_jacobian(&self, py: Python<'_>, pattern: &PyPattern) -> PyResult<PySparseJacobian> {
        guard(|| {
            let (prog, pat) = (self.inner.clone(), pattern.inner.clone());
            let inner = py
                .detach(|| SparseJacobian::new(prog, &pat))
                .map_err(core_err)?;
            Ok(PySparseJacobian {
                inner,
                nnz: pattern.inner.nnz(),
                param_lens: self.inner.param_lens().to_vec(),
            })
        })
    }

    /// The global Jacobian pattern as a `Pattern` (no copy through index arrays).
    fn jacobian_pattern(&self, py: Python<'_>) -> PyResult<PyPattern> {
        guard(|| {
            let prog = self.inner.clone();
            Ok(PyPattern {
                inner: Arc::new(py.detach(|| prog.jacobian_sparsity())),
            })
        })
    }

    /// The global Hessian pattern of the sum of the outputs as a `Pattern`.
    fn hessian_pattern(&self, py: Python<'_>) -> PyResult<PyPattern> {
        guard(|| {
            let prog = self.inner.clone();
            let p = py.detach(|| prog.hessian_sparsity()).map_err(core_err)?;
            Ok(PyPattern { inner: Arc::new(p) })
        })
    }

    /// The global Hessian pattern of the sum of the outputs as `(n, n, indptr, indices)`.
    fn hessian_sparsity(&self, py: Python<'_>) -> PyResult<CsrOut> {
        guard(|| {
            let prog = self.inner.clone();
            let p = py.detach(|| prog.hessian_sparsity()).map_err(core_err)?;
            Ok(pattern_out(py, &p))
        })
    }
}

/// A program's sparse Jacobian compiled entry by entry (`Program.sparse_jacobian`).
#[pyclass(frozen, name = "SparseJacobian", module = "anydiff._core")]
pub struct PySparseJacobian {
    inner: SparseJacobian,
    nnz: usize,
    param_lens: Vec<usize>,
}

#[pymethods]
impl PySparseJacobian {
    /// The Jacobian's values `(nnz,)` in the pattern's CSR order at the float64
    /// point `x` `(n,)`, with the program's parameters `params` (a list of arrays).
    #[pyo3(signature = (x, params=None))]
    fn __call__(
        &self,
        py: Python<'_>,
        x: PyReadonlyArray1<'_, f64>,
        params: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        guard(|| {
            let par = match params {
                Some(p) => params_as::<f64>(p, &self.param_lens)?,
                None => params_as::<f64>(&py.None().into_bound(py), &self.param_lens)?,
            };
            let x = x.as_array();
            let x = x.as_standard_layout();
            let x = x
                .as_slice()
                .ok_or_else(|| PyValueError::new_err("x: not contiguous"))?;
            let data = filled_later::<f64, _>(py, [self.nnz], "the Jacobian's nonzeros")?;
            // SAFETY: made just above and held by nothing else; `run` writes every element
            let mut d = unsafe { data.as_array_mut() };
            let d = d
                .as_slice_mut()
                .ok_or_else(|| PyValueError::new_err("data: not contiguous"))?;
            let inner = &self.inner;
            let cost = self.nnz.saturating_mul(self.inner.n_steps().max(1));
            runner::run(py, cost, || inner.run(x, &par, d).map_err(core_err))?;
            Ok(data.into_any().unbind())
        })
    }

    /// Number of runtime passes per call (the entries not known in advance).
    #[getter]
    fn n_steps(&self) -> usize {
        self.inner.n_steps()
    }
}

/// The names of a table's entries, in order, as a Python tuple.
fn names<T: Copy>(py: Python<'_>, all: &[T], name: fn(T) -> &'static str) -> PyResult<Py<PyTuple>> {
    Ok(PyTuple::new(py, all.iter().map(|&f| name(f)))?.unbind())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyProgram>()?;
    m.add_class::<PySparseJacobian>()?;
    // the engine's op tables, the one source of the front ends' names
    let py = m.py();
    m.add("INSTRUCTIONS", PyTuple::new(py, OPS)?)?;
    m.add("UNARY_FUNCTIONS", names(py, UnaryFn::ALL, UnaryFn::as_str)?)?;
    m.add(
        "BINARY_FUNCTIONS",
        names(py, BinaryFn::ALL, BinaryFn::as_str)?,
    )?;
    m.add("COMPARISONS", names(py, CompareFn::ALL, CompareFn::as_str)?)?;
    m.add("REDUCTIONS", names(py, ReduceFn::ALL, ReduceFn::as_str)?)?;
    m.add(
        "LINALG_FUNCTIONS",
        names(py, LinalgFn::ALL, LinalgFn::as_str)?,
    )?;
    let zero_derivative: Vec<&str> = UnaryFn::ALL
        .iter()
        .filter(|f| f.curvature() == Curvature::Constant)
        .map(|f| f.as_str())
        .collect();
    m.add(
        "ZERO_DERIVATIVE_FUNCTIONS",
        PyTuple::new(py, zero_derivative)?,
    )?;
    Ok(())
}
