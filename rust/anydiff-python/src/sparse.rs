//! Sparsity patterns, colorings and decompression for Python.
//!
//! Index arrays cross as int64 numpy arrays. Colorings cross as their color arrays plus
//! a kind name; a [`Decompressor`] validates a coloring once and then turns each block of
//! compressed products (one row per color, as the oracles return them) into CSR values.

use std::sync::Arc;

use anydiff::sparse::{
    color_acyclic, color_columns, color_columns_best, color_rows, color_rows_best, color_star,
    color_symmetric_best, decompress_acyclic, decompression_gather_indices, improve, is_valid,
    Coloring, ColoringKind, ImproveOptions, Order, Pattern,
};
use anydiff::Scalar;
use ndarray::{Array1, ArrayView2};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray2, PyUntypedArray};
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

/// Color a pattern.
///
/// `kind` is `column`, `row`, `star` or `acyclic`; `order` one of the orderings or
/// `"best"` (all orderings, then an improvement pass within `time_budget` seconds).
/// A `time_budget` with a single ordering runs the improvement pass after it.
#[pyfunction]
#[pyo3(signature = (pattern, kind, order="natural", time_budget=None, seed=None))]
fn color(
    py: Python<'_>,
    pattern: &PyPattern,
    kind: &str,
    order: &str,
    time_budget: Option<f64>,
    seed: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyArray1<i64>>> {
    guard(|| {
        let kind = parse_kind(kind)?;
        let budget = args::seconds(time_budget.unwrap_or(0.0), "time_budget")?;
        let seed = match seed {
            Some(s) if !s.is_none() => args::seed(s, "seed")?,
            _ => 0,
        };
        let order = if order == "best" {
            None
        } else {
            Some(match order {
                "random" => Order::Random(seed),
                name => name.parse::<Order>().map_err(core_err)?,
            })
        };
        let p = pattern.inner.clone();
        // a search with a budget runs watched, so that Ctrl-C is not lost
        let cost = if order.is_none() || !budget.is_zero() {
            usize::MAX
        } else {
            p.nnz().saturating_mul(16)
        };
        let coloring = runner::run(py, cost, move || {
            let first = match (kind, order) {
                (ColoringKind::Column, None) => return Ok(color_columns_best(&p, &[], budget)),
                (ColoringKind::Row, None) => return Ok(color_rows_best(&p, &[], budget)),
                (k, None) => return color_symmetric_best(&p, k, &[], budget).map_err(core_err),
                (ColoringKind::Column, Some(o)) => color_columns(&p, o),
                (ColoringKind::Row, Some(o)) => color_rows(&p, o),
                (ColoringKind::Star, Some(o)) => color_star(&p, o).map_err(core_err)?,
                (ColoringKind::Acyclic, Some(o)) => color_acyclic(&p, o).map_err(core_err)?,
                (k, Some(_)) => {
                    return Err(core_err(anydiff::Error::invalid(format!(
                        "unsupported coloring {k}"
                    ))))
                }
            };
            if budget.is_zero() {
                return Ok(first);
            }
            let opts = ImproveOptions {
                time_budget: budget,
                seed,
                ..ImproveOptions::default()
            };
            improve(&p, &first, &opts).map_err(core_err)
        })?;
        Ok(to_numpy(py, &coloring.colors).unbind())
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
    /// Flat index into the block for each nonzero (direct recoveries only).
    gather: Option<Vec<usize>>,
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
            let gather = py.detach(|| -> PyResult<Option<Vec<usize>>> {
                match coloring.kind {
                    ColoringKind::Acyclic => {
                        if !p.is_symmetric() || !is_valid(&p, &coloring) {
                            return Err(PyValueError::new_err(
                                "the acyclic coloring is not valid for this pattern (which must be symmetric)",
                            ));
                        }
                        Ok(None) // recovery by substitution needs no index table
                    }
                    kind => {
                        let nc = coloring.ncolors;
                        let rows = p.nrows();
                        let idx = decompression_gather_indices(&p, &coloring).map_err(core_err)?;
                        // The core indexes B = J S (rows x nc) for column and star; the block
                        // is its transpose, so (r, c) moves to c * rows + r. Row blocks are
                        // already S^T J.
                        Ok(Some(match kind {
                            ColoringKind::Row => idx,
                            _ => idx.into_iter().map(|k| (k % nc) * rows + k / nc).collect(),
                        }))
                    }
                }
            })?;
            Ok(Self {
                pattern: p,
                coloring,
                gather,
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
        self.gather.as_ref().map(|g| to_numpy(py, g))
    }

    /// The nonzeros in CSR order from a `(ncolors, m or n)` block of products.
    fn __call__(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        guard(|| self.call(py, block))
    }
}

impl Decompressor {
    fn call(&self, py: Python<'_>, block: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
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
            .detach(|| match &self.gather {
                Some(gather) => Ok(match b.as_slice() {
                    Some(flat) => gather.iter().map(|&k| flat[k]).collect(),
                    None => {
                        let flat: Vec<T> = b.iter().copied().collect();
                        gather.iter().map(|&k| flat[k]).collect()
                    }
                }),
                None => decompress_acyclic(&self.pattern, &self.coloring, b.t()),
            })
            .map_err(core_err)?;
        Ok(Array1::from_vec(values)
            .into_pyarray(py)
            .into_any()
            .unbind())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPattern>()?;
    m.add_class::<Decompressor>()?;
    m.add_function(wrap_pyfunction!(color, m)?)?;
    m.add_function(wrap_pyfunction!(is_valid_py, m)?)?;
    Ok(())
}
