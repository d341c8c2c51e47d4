//! Sparsity patterns, colorings and decompression for Python.
//!
//! Index arrays cross as int64 numpy arrays. Colorings cross as their color arrays plus
//! a kind name; a [`Decompressor`] validates a coloring once and then turns each block of
//! compressed products (one row per color, as the oracles return them) into CSR values.

use std::sync::Arc;

use anydiff::sparse::{
    bicolor, color_acyclic, color_columns, color_columns_best, color_hessian, color_rows,
    color_rows_best, color_star, color_symmetric_best, decompression_gather_indices, improve,
    is_valid, AcyclicSubstitution, Bicoloring, Coloring, ColoringKind, ImproveOptions, Order,
    Pattern, DEFAULT_WORK,
};
use anydiff::{Scalar, StopFlag};
use ndarray::{Array1, ArrayView2};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray};
use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::args::{self, IndexArray};
use crate::error::{core_err, guard, ShapeError};
use crate::runner;

fn to_numpy<'py>(py: Python<'py>, v: &[usize]) -> Bound<'py, PyArray1<i64>> {
    // Indices of in-memory arrays always fit in i64.
    Array1::from_iter(v.iter().map(|&i| i as i64)).into_pyarray(py)
}

/// The indices of `array` as `usize`, converted with the GIL released.
fn indices(py: Python<'_>, array: &IndexArray<'_>, name: &str) -> PyResult<Vec<usize>> {
    let view = array.view();
    py.detach(|| view.to_indices(name))
        .map_err(PyValueError::new_err)
}

/// Structural nonzeros of an m x n matrix (CSR, with a CSC view).
#[pyclass(frozen, name = "Pattern", module = "anydiff._core")]
pub struct PyPattern {
    pub inner: Arc<Pattern>,
}

#[pymethods]
impl PyPattern {
    /// A pattern from CSR arrays (integer `indptr` of length m + 1 and `indices`).
    #[new]
    fn new(
        py: Python<'_>,
        m: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        indptr: &Bound<'_, PyAny>,
        indices_: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| {
            let (m, n) = (args::size(m, "m")?, args::size(n, "n")?);
            let indptr = args::index_array(indptr, "indptr")?;
            let idx = args::index_array(indices_, "indices")?;
            let (indptr, idx) = (
                indices(py, &indptr, "indptr")?,
                indices(py, &idx, "indices")?,
            );
            let inner = py
                .detach(|| Pattern::from_csr(m, n, &indptr, &idx))
                .map_err(core_err)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
    }

    /// A pattern from coordinate arrays (duplicates merged).
    #[staticmethod]
    fn from_coo(
        py: Python<'_>,
        m: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
        rows: &Bound<'_, PyAny>,
        cols: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| {
            let (m, n) = (args::size(m, "m")?, args::size(n, "n")?);
            let (rows, cols) = (
                args::index_array(rows, "rows")?,
                args::index_array(cols, "cols")?,
            );
            if rows.len() != cols.len() {
                return Err(ShapeError::new_err(format!(
                    "rows and cols must have the same length; got {} and {}",
                    rows.len(),
                    cols.len()
                )));
            }
            let (rows, cols) = (indices(py, &rows, "rows")?, indices(py, &cols, "cols")?);
            let inner = py
                .detach(|| Pattern::from_coo(m, n, &rows, &cols))
                .map_err(core_err)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
    }

    /// `(m, n)`.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.inner.nrows(), self.inner.ncols())
    }

    /// Number of structural nonzeros.
    #[getter]
    fn nnz(&self) -> usize {
        self.inner.nnz()
    }

    /// CSR row pointers (int64).
    #[getter]
    fn indptr<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        to_numpy(py, self.inner.row_ptr())
    }

    /// CSR column indices (int64), sorted within each row.
    #[getter]
    fn indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        to_numpy(py, self.inner.col_idx())
    }

    /// The transposed pattern.
    fn transpose(&self, py: Python<'_>) -> PyResult<Self> {
        guard(|| {
            let p = &self.inner;
            Ok(Self {
                inner: Arc::new(py.detach(|| p.transpose())),
            })
        })
    }

    /// Whether the pattern equals its transpose.
    fn is_symmetric(&self, py: Python<'_>) -> PyResult<bool> {
        guard(|| {
            let p = &self.inner;
            Ok(py.detach(|| p.is_symmetric()))
        })
    }
}

fn parse_kind(kind: &str) -> PyResult<ColoringKind> {
    match kind {
        "column" => Ok(ColoringKind::Column),
        "row" => Ok(ColoringKind::Row),
        "star" => Ok(ColoringKind::Star),
        "acyclic" => Ok(ColoringKind::Acyclic),
        other => Err(PyValueError::new_err(format!(
            "coloring kind must be 'column', 'row', 'star' or 'acyclic'; got {other:?}"
        ))),
    }
}

fn coloring_of(
    py: Python<'_>,
    pattern: &Pattern,
    colors: &IndexArray<'_>,
    kind: &str,
) -> PyResult<Coloring> {
    let kind = parse_kind(kind)?;
    let colors = indices(py, colors, "colors")?;
    let expected = match kind {
        ColoringKind::Row => pattern.nrows(),
        _ => pattern.ncols(),
    };
    if colors.len() != expected {
        return Err(ShapeError::new_err(format!(
            "a {kind} coloring of a {} x {} pattern needs {expected} colors; got {}",
            pattern.nrows(),
            pattern.ncols(),
            colors.len()
        )));
    }
    Ok(Coloring::new(colors, kind))
}

/// The search settings from the Python arguments: `work_budget` work units (the default
/// budget when neither limit is given), `time_budget` seconds of wall clock (then no work
/// limit unless one is given too), `seed` (0 when None).
fn improve_options(
    time_budget: Option<f64>,
    work_budget: Option<&Bound<'_, PyAny>>,
    seed: Option<&Bound<'_, PyAny>>,
) -> PyResult<ImproveOptions> {
    let time_limit = time_budget
        .map(|t| args::seconds(t, "time_budget"))
        .transpose()?;
    let work = match work_budget {
        Some(w) if !w.is_none() => Some(args::seed(w, "work_budget")?),
        _ => None,
    };
    let seed = match seed {
        Some(s) if !s.is_none() => args::seed(s, "seed")?,
        _ => 0,
    };
    let work = match (work, time_limit) {
        (Some(w), _) => w,
        (None, Some(_)) => u64::MAX,
        (None, None) => DEFAULT_WORK,
    };
    Ok(ImproveOptions {
        work,
        time_limit,
        seed,
    })
}

/// Runs a coloring search watched for Ctrl-C: the search polls the runner's stop flag.
fn search<R: Send>(
    py: Python<'_>,
    work: impl FnOnce(&StopFlag) -> Result<R, anydiff::Error> + Send,
) -> PyResult<R> {
    runner::run(py, usize::MAX, move || {
        let stop = StopFlag::current().unwrap_or_default();
        work(&stop).map_err(core_err)
    })
}

/// Color a pattern.
///
/// `kind` is `column`, `row`, `star` or `acyclic`; `order` one of the orderings or
/// `"best"` (all strong orderings, then an improvement pass). The search is bounded by
/// `work_budget` work units (a deterministic default) and, optionally, by `time_budget`
/// seconds. With a single ordering the improvement runs only when a budget is given.
/// Ctrl-C stops it.
#[pyfunction]
#[pyo3(signature = (pattern, kind, order="natural", time_budget=None, seed=None, work_budget=None))]
fn color(
    py: Python<'_>,
    pattern: &PyPattern,
    kind: &str,
    order: &str,
    time_budget: Option<f64>,
    seed: Option<&Bound<'_, PyAny>>,
    work_budget: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyArray1<i64>>> {
    guard(|| {
        let kind = parse_kind(kind)?;
        let improve_after = time_budget.is_some() || work_budget.is_some_and(|w| !w.is_none());
        let opts = improve_options(time_budget, work_budget, seed)?;
        let order = if order == "best" {
            None
        } else {
            Some(match order {
                "random" => Order::Random(opts.seed),
                name => name.parse::<Order>().map_err(core_err)?,
            })
        };
        let p = pattern.inner.clone();
        let greedy_only = order.is_some() && !improve_after;
        let run = move |stop: &StopFlag| -> Result<Coloring, anydiff::Error> {
            let first = match (kind, order) {
                (ColoringKind::Column, None) => return color_columns_best(&p, &[], &opts, stop),
                (ColoringKind::Row, None) => return color_rows_best(&p, &[], &opts, stop),
                (k, None) => return color_symmetric_best(&p, k, &[], &opts, stop),
                (ColoringKind::Column, Some(o)) => color_columns(&p, o),
                (ColoringKind::Row, Some(o)) => color_rows(&p, o),
                (ColoringKind::Star, Some(o)) => color_star(&p, o)?,
                (ColoringKind::Acyclic, Some(o)) => color_acyclic(&p, o)?,
                (k, Some(_)) => {
                    return Err(anydiff::Error::invalid(format!("unsupported coloring {k}")))
                }
            };
            if !improve_after {
                return Ok(first);
            }
            improve(&p, &first, &opts, stop)
        };
        let coloring = if greedy_only {
            // one greedy pass: short, not watched
            let cost = pattern.inner.nnz().saturating_mul(16);
            runner::run(py, cost, move || run(&StopFlag::new()).map_err(core_err))?
        } else {
            search(py, run)?
        };
        Ok(to_numpy(py, &coloring.colors).unbind())
    })
}

/// The Hessian coloring with the fewest products among `schemes` (names of `star`,
/// `column`, `acyclic`; all when empty): returns the colors and the scheme's name.
#[pyfunction]
#[pyo3(signature = (pattern, schemes, time_budget=None, seed=None, work_budget=None))]
fn color_hessian_cheapest(
    py: Python<'_>,
    pattern: &PyPattern,
    schemes: Vec<String>,
    time_budget: Option<f64>,
    seed: Option<&Bound<'_, PyAny>>,
    work_budget: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Py<PyArray1<i64>>, String)> {
    guard(|| {
        let kinds = schemes
            .iter()
            .map(|s| match parse_kind(s)? {
                ColoringKind::Row => Err(PyValueError::new_err(
                    "a Hessian scheme is 'star', 'column' or 'acyclic'; got 'row'",
                )),
                k => Ok(k),
            })
            .collect::<PyResult<Vec<_>>>()?;
        let opts = improve_options(time_budget, work_budget, seed)?;
        let p = pattern.inner.clone();
        let c = search(py, move |stop| color_hessian(&p, &kinds, &opts, stop))?;
        Ok((to_numpy(py, &c.colors).unbind(), c.kind.to_string()))
    })
}

/// Whether `colors` is a valid coloring of `kind` for `pattern` (false for a wrong
/// length or more colors than vertices).
#[pyfunction(name = "is_valid")]
fn is_valid_py(
    py: Python<'_>,
    pattern: &PyPattern,
    colors: &Bound<'_, PyAny>,
    kind: &str,
) -> PyResult<bool> {
    guard(|| {
        let p = &pattern.inner;
        let expected = match parse_kind(kind)? {
            ColoringKind::Row => p.nrows(),
            _ => p.ncols(),
        };
        let colors = args::index_array(colors, "colors")?;
        if colors.len() != expected {
            return Ok(false);
        }
        let coloring = coloring_of(py, p, &colors, kind)?;
        Ok(py.detach(|| is_valid(p, &coloring)))
    })
}

/// Recovers the nonzeros (CSR order) from blocks of compressed products.
///
/// The block has one row per color, as batch-leading oracles return it: JVPs `(J S)^T`
/// for column colorings, VJPs `S^T J` for row colorings, HVPs `(H S)^T` for star and
/// acyclic colorings. The coloring is validated once, at construction.
#[pyclass(frozen, module = "anydiff._core")]
pub struct Decompressor {
    pattern: Arc<Pattern>,
    coloring: Coloring,
    recovery: Recovery,
}

/// How a decompressor recovers the nonzeros, found at construction.
enum Recovery {
    /// Direct: the flat index into the block of each nonzero.
    Gather(Vec<usize>),
    /// Acyclic colorings: by substitution, in an order fixed in advance.
    Substitution(AcyclicSubstitution),
}

#[pymethods]
impl Decompressor {
    #[new]
    fn new(
        py: Python<'_>,
        pattern: &PyPattern,
        colors: &Bound<'_, PyAny>,
        kind: &str,
    ) -> PyResult<Self> {
        guard(|| {
            let p = pattern.inner.clone();
            let colors = args::index_array(colors, "colors")?;
            let coloring = coloring_of(py, &p, &colors, kind)?;
            let recovery = py.detach(|| -> PyResult<Recovery> {
                match coloring.kind {
                    // validates: a symmetric pattern, a valid acyclic coloring
                    ColoringKind::Acyclic => AcyclicSubstitution::new(&p, &coloring)
                        .map(Recovery::Substitution)
                        .map_err(core_err),
                    kind => {
                        let nc = coloring.ncolors;
                        let rows = p.nrows();
                        let idx = decompression_gather_indices(&p, &coloring).map_err(core_err)?;
                        // The core indexes B = J S (rows x nc) for column and star; the block
                        // is its transpose, so (r, c) moves to c * rows + r. Row blocks are
                        // already S^T J.
                        Ok(Recovery::Gather(match kind {
                            ColoringKind::Row => idx,
                            _ => idx.into_iter().map(|k| (k % nc) * rows + k / nc).collect(),
                        }))
                    }
                }
            })?;
            Ok(Self {
                pattern: p,
                coloring,
                recovery,
            })
        })
    }

    /// Number of colors (rows of the blocks this decompressor takes).
    #[getter]
    fn ncolors(&self) -> usize {
        self.coloring.ncolors
    }

    /// For each nonzero, its flat index in the block (None for acyclic colorings).
    #[getter]
    fn gather_indices<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i64>>> {
        match &self.recovery {
            Recovery::Gather(g) => Some(to_numpy(py, g)),
            Recovery::Substitution(_) => None,
        }
    }

    /// The nonzeros in CSR order from a `(ncolors, m or n)` block of products.
    fn __call__(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        guard(|| self.call(py, block))
    }
}

/// Whether `block` (what the message calls `what`) is a float64 numpy array
/// (true) or a float32 one (false); a TypeError for anything else.
fn is_float64(py: Python<'_>, block: &Bound<'_, PyAny>, what: &str) -> PyResult<bool> {
    let dtype = block
        .cast::<PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a numpy array")))?
        .dtype();
    if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        Ok(true)
    } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        Ok(false)
    } else {
        Err(PyTypeError::new_err(format!(
            "{what} must be float32 or float64; got {dtype}"
        )))
    }
}

/// `values` as a numpy array owned by Python.
fn into_numpy<T: Element>(py: Python<'_>, values: Vec<T>) -> Py<PyAny> {
    Array1::from_vec(values)
        .into_pyarray(py)
        .into_any()
        .unbind()
}

impl Decompressor {
    fn call(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if is_float64(py, block, "the compressed block")? {
            self.run::<f64>(py, block.extract()?)
        } else {
            self.run::<f32>(py, block.extract()?)
        }
    }

    fn run<T: Scalar + Element>(
        &self,
        py: Python<'_>,
        block: PyReadonlyArray2<'_, T>,
    ) -> PyResult<Py<PyAny>> {
        let b: ArrayView2<'_, T> = block.as_array();
        let width = match self.coloring.kind {
            ColoringKind::Row => self.pattern.ncols(),
            _ => self.pattern.nrows(),
        };
        if b.dim() != (self.coloring.ncolors, width) {
            return Err(ShapeError::new_err(format!(
                "compressed block: expected shape ({}, {width}), got {:?}",
                self.coloring.ncolors,
                b.shape()
            )));
        }
        let values: Vec<T> = py
            .detach(|| match &self.recovery {
                Recovery::Gather(gather) => Ok(match b.as_slice() {
                    Some(flat) => gather.iter().map(|&k| flat[k]).collect(),
                    None => {
                        let flat: Vec<T> = b.iter().copied().collect();
                        gather.iter().map(|&k| flat[k]).collect()
                    }
                }),
                Recovery::Substitution(order) => order.apply(b.t()),
            })
            .map_err(core_err)?;
        Ok(into_numpy(py, values))
    }
}

fn optional_colors(v: &[Option<usize>]) -> Vec<i64> {
    // colors are below the vertex count, so they fit in i64
    v.iter().map(|c| c.map_or(-1, |c| c as i64)).collect()
}

fn parse_optional(array: PyReadonlyArray1<'_, i64>, name: &str) -> PyResult<Vec<Option<usize>>> {
    array
        .as_array()
        .iter()
        .map(|&c| match c {
            -1 => Ok(None),
            c => usize::try_from(c).map(Some).map_err(|_| {
                PyValueError::new_err(format!(
                    "{name} must hold colors >= 0, or -1 for no color; got {c}"
                ))
            }),
        })
        .collect()
}

/// A two-sided coloring: column colors for JVPs, row colors for VJPs (-1: none). Called
/// on the flat products `[JVPs (p, m) row-major, VJPs (q, n) row-major]`, it returns the
/// nonzeros in CSR order.
#[pyclass(frozen, name = "Bicoloring", module = "anydiff._core")]
pub struct PyBicoloring {
    inner: Bicoloring,
}

#[pymethods]
impl PyBicoloring {
    /// Validates `column_colors` (length n) and `row_colors` (length m) for `pattern`.
    #[new]
    fn new(
        pattern: &PyPattern,
        column_colors: PyReadonlyArray1<'_, i64>,
        row_colors: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<Self> {
        guard(|| {
            let cols = parse_optional(column_colors, "column_colors")?;
            let rows = parse_optional(row_colors, "row_colors")?;
            let inner = Bicoloring::new(&pattern.inner, cols, rows).map_err(core_err)?;
            Ok(Self { inner })
        })
    }

    /// Column colors (int64, -1 where a column is in no JVP).
    #[getter]
    fn column_colors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        Array1::from_vec(optional_colors(self.inner.column_colors())).into_pyarray(py)
    }

    /// Row colors (int64, -1 where a row is in no VJP).
    #[getter]
    fn row_colors<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        Array1::from_vec(optional_colors(self.inner.row_colors())).into_pyarray(py)
    }

    /// Number of JVPs.
    #[getter]
    fn ncolumn_colors(&self) -> usize {
        self.inner.ncolumn_colors()
    }

    /// Number of VJPs.
    #[getter]
    fn nrow_colors(&self) -> usize {
        self.inner.nrow_colors()
    }

    /// For each nonzero, its flat index in the concatenated products.
    #[getter]
    fn gather_indices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        to_numpy(py, self.inner.gather_indices())
    }

    /// The nonzeros (CSR order) from the flat products (length p m + q n).
    fn __call__(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        guard(|| self.call(py, block))
    }
}

impl PyBicoloring {
    fn call(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if is_float64(py, block, "the products")? {
            self.run::<f64>(py, block.extract()?)
        } else {
            self.run::<f32>(py, block.extract()?)
        }
    }
    fn run<T: Scalar + Element>(
        &self,
        py: Python<'_>,
        block: PyReadonlyArray1<'_, T>,
    ) -> PyResult<Py<PyAny>> {
        let b = block.as_array();
        let (m, n) = (
            self.inner.row_colors().len(),
            self.inner.column_colors().len(),
        );
        let len = self.inner.ncolumn_colors() * m + self.inner.nrow_colors() * n;
        if b.len() != len {
            return Err(ShapeError::new_err(format!(
                "bicolored products: expected {len} values ({} JVPs of length {m} and {} VJPs \
                 of length {n}), got {}",
                self.inner.ncolumn_colors(),
                self.inner.nrow_colors(),
                b.len()
            )));
        }
        let values: Vec<T> = self.inner.gather_indices().iter().map(|&k| b[k]).collect();
        Ok(into_numpy(py, values))
    }
}

/// A bicoloring with few products (see the Rust `bicolor`); Ctrl-C stops the search.
#[pyfunction(name = "bicolor")]
#[pyo3(signature = (pattern, time_budget=None, seed=None, work_budget=None))]
fn bicolor_py(
    py: Python<'_>,
    pattern: &PyPattern,
    time_budget: Option<f64>,
    seed: Option<&Bound<'_, PyAny>>,
    work_budget: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyBicoloring> {
    guard(|| {
        let opts = improve_options(time_budget, work_budget, seed)?;
        let p = pattern.inner.clone();
        let inner = search(py, move |stop| bicolor(&p, &opts, stop))?;
        Ok(PyBicoloring { inner })
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPattern>()?;
    m.add_class::<Decompressor>()?;
    m.add_class::<PyBicoloring>()?;
    m.add_function(wrap_pyfunction!(color, m)?)?;
    m.add_function(wrap_pyfunction!(color_hessian_cheapest, m)?)?;
    m.add_function(wrap_pyfunction!(bicolor_py, m)?)?;
    m.add_function(wrap_pyfunction!(is_valid_py, m)?)?;
    Ok(())
}
