//! Sparsity patterns, colorings and decompression for Python.
//!
//! Index arrays cross as int64 numpy arrays. Colorings cross as their color arrays plus
//! a kind name; a [`Decompressor`] validates a coloring once and then turns each block of
//! compressed products (one row per color, as the oracles return them) into CSR values.

use std::sync::Arc;
use std::time::Duration;

use anydiff::sparse::{
    bicolor, color_acyclic, color_columns, color_columns_best, color_hessian, color_rows,
    color_rows_best, color_star, color_symmetric_best, decompress_acyclic,
    decompression_gather_indices, improve, is_valid, Bicoloring, Coloring, ColoringKind,
    ImproveOptions, Order, Pattern, DEFAULT_WORK,
};
use anydiff::{Error, Scalar, StopFlag};
use ndarray::{Array1, ArrayView2};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray};
use numpy::{PyArrayDescrMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::{to_py, ShapeError};

fn core_err(e: Error<std::convert::Infallible>) -> PyErr {
    to_py(e.widen())
}

fn indices(array: PyReadonlyArray1<'_, i64>, name: &str) -> PyResult<Vec<usize>> {
    array
        .as_array()
        .iter()
        .map(|&i| {
            usize::try_from(i).map_err(|_| {
                PyValueError::new_err(format!("{name} must hold non-negative indices; got {i}"))
            })
        })
        .collect()
}

fn to_numpy<'py>(py: Python<'py>, v: &[usize]) -> Bound<'py, PyArray1<i64>> {
    // Indices of in-memory arrays always fit in i64.
    Array1::from_iter(v.iter().map(|&i| i as i64)).into_pyarray(py)
}

/// Structural nonzeros of an m x n matrix (CSR, with a CSC view).
#[pyclass(frozen, name = "Pattern", module = "anydiff._core")]
pub struct PyPattern {
    pub inner: Arc<Pattern>,
}

#[pymethods]
impl PyPattern {
    /// A pattern from CSR arrays (int64 `indptr` of length m + 1 and `indices`).
    #[new]
    fn new(
        m: usize,
        n: usize,
        indptr: PyReadonlyArray1<'_, i64>,
        indices_: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<Self> {
        let (indptr, idx) = (indices(indptr, "indptr")?, indices(indices_, "indices")?);
        let inner = Pattern::from_csr(m, n, &indptr, &idx).map_err(core_err)?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// A pattern from coordinate arrays (duplicates merged).
    #[staticmethod]
    fn from_coo(
        m: usize,
        n: usize,
        rows: PyReadonlyArray1<'_, i64>,
        cols: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<Self> {
        let (rows, cols) = (indices(rows, "rows")?, indices(cols, "cols")?);
        if rows.len() != cols.len() {
            return Err(ShapeError::new_err(format!(
                "rows and cols must have the same length; got {} and {}",
                rows.len(),
                cols.len()
            )));
        }
        let inner = Pattern::from_coo(m, n, &rows, &cols).map_err(core_err)?;
        Ok(Self {
            inner: Arc::new(inner),
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
    fn transpose(&self) -> Self {
        Self {
            inner: Arc::new(self.inner.transpose()),
        }
    }

    /// Whether the pattern equals its transpose.
    fn is_symmetric(&self) -> bool {
        self.inner.is_symmetric()
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
    pattern: &Pattern,
    colors: PyReadonlyArray1<'_, i64>,
    kind: &str,
) -> PyResult<Coloring> {
    let kind = parse_kind(kind)?;
    let colors = indices(colors, "colors")?;
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
/// limit unless one is given too).
fn improve_options(
    time_budget: Option<f64>,
    work_budget: Option<u64>,
    seed: u64,
) -> PyResult<ImproveOptions> {
    let time_limit = match time_budget {
        None => None,
        Some(t) => Some(
            Duration::try_from_secs_f64(t)
                .ok()
                .filter(|_| t.is_finite())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "time_budget must be a finite, non-negative number of seconds; got {t}"
                    ))
                })?,
        ),
    };
    let work = match (work_budget, time_limit) {
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

/// Color a pattern.
///
/// `kind` is `column`, `row`, `star` or `acyclic`; `order` one of the orderings or
/// `"best"` (all strong orderings, then an improvement pass). The search is bounded by
/// `work_budget` work units (a deterministic default) and, optionally, by `time_budget`
/// seconds. With a single ordering the improvement runs only when a budget is given.
#[pyfunction]
#[pyo3(signature = (pattern, kind, order="natural", time_budget=None, seed=0, work_budget=None))]
fn color(
    py: Python<'_>,
    pattern: &PyPattern,
    kind: &str,
    order: &str,
    time_budget: Option<f64>,
    seed: u64,
    work_budget: Option<u64>,
) -> PyResult<Py<PyArray1<i64>>> {
    let kind = parse_kind(kind)?;
    let opts = improve_options(time_budget, work_budget, seed)?;
    let search = time_budget.is_some() || work_budget.is_some();
    let order = if order == "best" {
        None
    } else {
        Some(match order {
            "random" => Order::Random(seed),
            name => name.parse::<Order>().map_err(core_err)?,
        })
    };
    let p = pattern.inner.clone();
    // a fresh flag per call; the bindings' Ctrl-C runner is to raise it
    let stop = StopFlag::new();
    let coloring = py
        .detach(
            move || -> Result<Coloring, Error<std::convert::Infallible>> {
                let first = match (kind, order) {
                    (ColoringKind::Column, None) => {
                        return color_columns_best(&p, &[], &opts, &stop)
                    }
                    (ColoringKind::Row, None) => return color_rows_best(&p, &[], &opts, &stop),
                    (k, None) => return color_symmetric_best(&p, k, &[], &opts, &stop),
                    (ColoringKind::Column, Some(o)) => color_columns(&p, o),
                    (ColoringKind::Row, Some(o)) => color_rows(&p, o),
                    (ColoringKind::Star, Some(o)) => color_star(&p, o)?,
                    (ColoringKind::Acyclic, Some(o)) => color_acyclic(&p, o)?,
                };
                if !search {
                    return Ok(first);
                }
                improve(&p, &first, &opts, &stop)
            },
        )
        .map_err(core_err)?;
    Ok(to_numpy(py, &coloring.colors).unbind())
}

/// The Hessian coloring with the fewest products among `schemes` (names of `star`,
/// `column`, `acyclic`; all when empty): returns the colors and the scheme's name.
#[pyfunction]
#[pyo3(signature = (pattern, schemes, time_budget=None, seed=0, work_budget=None))]
fn color_hessian_cheapest(
    py: Python<'_>,
    pattern: &PyPattern,
    schemes: Vec<String>,
    time_budget: Option<f64>,
    seed: u64,
    work_budget: Option<u64>,
) -> PyResult<(Py<PyArray1<i64>>, String)> {
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
    let stop = StopFlag::new();
    let c = py
        .detach(move || color_hessian(&p, &kinds, &opts, &stop))
        .map_err(core_err)?;
    Ok((to_numpy(py, &c.colors).unbind(), c.kind.to_string()))
}

/// Whether `colors` is a valid coloring of `kind` for `pattern` (false for a wrong length).
#[pyfunction(name = "is_valid")]
fn is_valid_py(
    pattern: &PyPattern,
    colors: PyReadonlyArray1<'_, i64>,
    kind: &str,
) -> PyResult<bool> {
    let p = &pattern.inner;
    let expected = match parse_kind(kind)? {
        ColoringKind::Row => p.nrows(),
        _ => p.ncols(),
    };
    if colors.len() != expected {
        return Ok(false);
    }
    Ok(is_valid(p, &coloring_of(p, colors, kind)?))
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
    /// Flat index into the block for each nonzero (direct recoveries only).
    gather: Option<Vec<usize>>,
}

#[pymethods]
impl Decompressor {
    #[new]
    fn new(pattern: &PyPattern, colors: PyReadonlyArray1<'_, i64>, kind: &str) -> PyResult<Self> {
        let p = pattern.inner.clone();
        let coloring = coloring_of(&p, colors, kind)?;
        let gather = match coloring.kind {
            ColoringKind::Acyclic => {
                if !p.is_symmetric() || !is_valid(&p, &coloring) {
                    return Err(PyValueError::new_err(
                        "the acyclic coloring is not valid for this pattern (which must be symmetric)",
                    ));
                }
                None // recovery by substitution needs no index table
            }
            kind => {
                let nc = coloring.ncolors;
                let rows = p.nrows();
                let idx = decompression_gather_indices(&p, &coloring).map_err(core_err)?;
                // The core indexes B = J S (rows x nc) for column and star; the block is its
                // transpose, so (r, c) moves to c * rows + r. Row blocks are already S^T J.
                Some(match kind {
                    ColoringKind::Row => idx,
                    _ => idx.into_iter().map(|k| (k % nc) * rows + k / nc).collect(),
                })
            }
        };
        Ok(Self {
            pattern: p,
            coloring,
            gather,
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
        self.gather.as_ref().map(|g| to_numpy(py, g))
    }

    /// The nonzeros in CSR order from a `(ncolors, m or n)` block of products.
    fn __call__(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let dtype = block
            .cast::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err("the compressed block must be a numpy array"))?
            .dtype();
        if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
            self.run::<f64>(py, block.extract()?)
        } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
            self.run::<f32>(py, block.extract()?)
        } else {
            Err(PyTypeError::new_err(format!(
                "the compressed block must be float32 or float64; got {dtype}"
            )))
        }
    }
}

impl Decompressor {
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
        let values: Vec<T> = match &self.gather {
            Some(gather) => match b.as_slice() {
                Some(flat) => gather.iter().map(|&k| flat[k]).collect(),
                None => {
                    let flat: Vec<T> = b.iter().copied().collect();
                    gather.iter().map(|&k| flat[k]).collect()
                }
            },
            None => decompress_acyclic(&self.pattern, &self.coloring, b.t()).map_err(core_err)?,
        };
        Ok(Array1::from_vec(values)
            .into_pyarray(py)
            .into_any()
            .unbind())
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
        let cols = parse_optional(column_colors, "column_colors")?;
        let rows = parse_optional(row_colors, "row_colors")?;
        let inner = Bicoloring::new(&pattern.inner, cols, rows).map_err(core_err)?;
        Ok(Self { inner })
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
        let dtype = block
            .cast::<PyUntypedArray>()
            .map_err(|_| PyTypeError::new_err("the products must be a numpy array"))?
            .dtype();
        if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
            self.run::<f64>(py, block.extract()?)
        } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
            self.run::<f32>(py, block.extract()?)
        } else {
            Err(PyTypeError::new_err(format!(
                "the products must be float32 or float64; got {dtype}"
            )))
        }
    }
}

impl PyBicoloring {
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
        Ok(Array1::from_vec(values)
            .into_pyarray(py)
            .into_any()
            .unbind())
    }
}

/// A bicoloring with few products (see the Rust `bicolor`).
#[pyfunction(name = "bicolor")]
#[pyo3(signature = (pattern, time_budget=None, seed=0, work_budget=None))]
fn bicolor_py(
    py: Python<'_>,
    pattern: &PyPattern,
    time_budget: Option<f64>,
    seed: u64,
    work_budget: Option<u64>,
) -> PyResult<PyBicoloring> {
    let opts = improve_options(time_budget, work_budget, seed)?;
    let p = pattern.inner.clone();
    let stop = StopFlag::new();
    let inner = py
        .detach(move || bicolor(&p, &opts, &stop))
        .map_err(core_err)?;
    Ok(PyBicoloring { inner })
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
