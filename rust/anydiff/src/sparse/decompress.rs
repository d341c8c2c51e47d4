//! Seed matrices and recovery of the nonzeros from compressed products.
//!
//! Every routine validates its inputs first (shape, kind and the coloring's
//! validity, `O(nnz)` — `O(nnz + n * ncolors)` for acyclic) and returns the
//! nonzeros in the pattern's CSR order.

use ndarray::{Array2, ArrayView2};

use super::coloring::{is_valid, require_symmetric, star_recovery, Coloring, ColoringKind};
use super::pattern::Pattern;
use crate::error::{shape2, Error, NoOracle};
use crate::memory::{checked_len, ensure_allocatable, reserve, try_vec};
use crate::scalar::Scalar;

/// The seed matrix `S` of a coloring: `len x ncolors` with `S[v, color[v]]
/// = 1` and zeros elsewhere (`len` = number of colored vertices: columns,
/// rows or vertices). Compress with `B = J S` (column, star, acyclic) or
/// `C = S^T J` (row); with batch-leading oracles pass `S^T` (`ncolors x
/// len`, e.g. `seed.t()`) as the block of tangents.
///
/// ```
/// use anydiff::sparse::{seed_matrix, Coloring, ColoringKind};
/// let s = seed_matrix::<f64>(&Coloring::new(vec![0, 1, 0], ColoringKind::Column));
/// assert_eq!(s, ndarray::array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
/// ```
pub fn seed_matrix<T: Scalar>(coloring: &Coloring) -> Array2<T> {
    let mut s = Array2::zeros((coloring.colors.len(), coloring.ncolors));
    for (v, &c) in coloring.colors.iter().enumerate() {
        if let Some(x) = s.get_mut((v, c)) {
            *x = T::one();
        }
    }
    s
}

/// Errors unless `coloring` has `kind` and is valid for `pattern`.
fn check(pattern: &Pattern, coloring: &Coloring, kind: ColoringKind) -> Result<(), Error> {
    if coloring.kind != kind {
        return Err(Error::invalid(format!(
            "expected a {kind} coloring, got a {} coloring",
            coloring.kind
        )));
    }
    if matches!(kind, ColoringKind::Star | ColoringKind::Acyclic) {
        require_symmetric(pattern, &format!("{kind} decompression"))?;
    }
    coloring.check_shape(pattern)?;
    if !is_valid(pattern, coloring) {
        return Err(Error::invalid(format!(
            "the {kind} coloring is not valid for this pattern"
        )));
    }
    Ok(())
}

/// Errors unless `a` has shape `(rows, cols)`.
fn check_dim<T>(what: &str, a: &ArrayView2<'_, T>, rows: usize, cols: usize) -> Result<(), Error> {
    if a.dim() != (rows, cols) {
        return Err(Error::shape(
            what,
            shape2(rows, cols),
            shape2(a.nrows(), a.ncols()),
        ));
    }
    Ok(())
}

/// Nonzeros of `J` (CSR order) from `B = J S` (`m x ncolors`, any strides,
/// so `out.t()` of a batch-leading JVP block works) and a column coloring.
///
/// ```
/// use anydiff::sparse::{color_columns, decompress_columns, seed_matrix, Order, Pattern};
/// use ndarray::array;
/// let j = array![[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]];
/// let p = Pattern::from_dense(2, 3, &[true, false, true, false, true, false]).unwrap();
/// let c = color_columns(&p, Order::Natural);
/// assert_eq!(c.ncolors, 2);
/// let b = j.dot(&seed_matrix::<f64>(&c));
/// assert_eq!(decompress_columns(&p, &c, b.view()).unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub fn decompress_columns<T: Scalar>(
    pattern: &Pattern,
    coloring: &Coloring,
    b: ArrayView2<'_, T>,
) -> Result<Vec<T>, Error> {
    check(pattern, coloring, ColoringKind::Column)?;
    check_dim(
        "compressed matrix B = J S",
        &b,
        pattern.nrows(),
        coloring.ncolors,
    )?;
    let mut out = Vec::with_capacity(pattern.nnz());
    for i in 0..pattern.nrows() {
        for &j in pattern.row(i) {
            out.push(b[[i, coloring.colors[j]]]);
        }
    }
    Ok(out)
}

/// Nonzeros of `J` (CSR order) from `C = S^T J` (`ncolors x n`) and a row
/// coloring.
///
/// ```
/// use anydiff::sparse::{color_rows, decompress_rows, seed_matrix, Order, Pattern};
/// use ndarray::array;
/// let j = array![[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]];
/// let p = Pattern::from_dense(3, 2, &[true, false, false, true, true, false]).unwrap();
/// let r = color_rows(&p, Order::Natural);
/// let c = seed_matrix::<f64>(&r).t().dot(&j);
/// assert_eq!(decompress_rows(&p, &r, c.view()).unwrap(), vec![1.0, 2.0, 3.0]);
/// ```
pub fn decompress_rows<T: Scalar>(
    pattern: &Pattern,
    coloring: &Coloring,
    c: ArrayView2<'_, T>,
) -> Result<Vec<T>, Error> {
    check(pattern, coloring, ColoringKind::Row)?;
    check_dim(
        "compressed matrix C = S^T J",
        &c,
        coloring.ncolors,
        pattern.ncols(),
    )?;
    let mut out = Vec::with_capacity(pattern.nnz());
    for i in 0..pattern.nrows() {
        let ci = coloring.colors[i];
        for &j in pattern.row(i) {
            out.push(c[[ci, j]]);
        }
    }
    Ok(out)
}

/// Nonzeros of a symmetric `H` (CSR order, both triangles) from `B = H S`
/// (`n x ncolors`) and a star coloring, read directly.
///
/// ```
/// use anydiff::sparse::{color_star, decompress_star, seed_matrix, Order, Pattern};
/// use ndarray::array;
/// let h = array![[2.0, 1.0, 0.0], [1.0, 4.0, 5.0], [0.0, 5.0, 6.0]];
/// let p = Pattern::from_dense(3, 3, &h.iter().map(|&x| x != 0.0).collect::<Vec<_>>()).unwrap();
/// let s = color_star(&p, Order::Natural).unwrap();
/// let b = h.dot(&seed_matrix::<f64>(&s));
/// let vals = decompress_star(&p, &s, b.view()).unwrap();
/// assert_eq!(p.to_dense(&vals).unwrap(), h);
/// ```
pub fn decompress_star<T: Scalar>(
    pattern: &Pattern,
    coloring: &Coloring,
    b: ArrayView2<'_, T>,
) -> Result<Vec<T>, Error> {
    check(pattern, coloring, ColoringKind::Star)?;
    check_dim(
        "compressed matrix B = H S",
        &b,
        pattern.nrows(),
        coloring.ncolors,
    )?;
    let nc = coloring.ncolors;
    let idx = star_recovery(pattern, coloring)
        .ok_or_else(|| Error::invalid("the star coloring is not valid for this pattern"))?;
    Ok(idx.iter().map(|&f| b[[f / nc, f % nc]]).collect())
}

/// Nonzeros of a symmetric `H` (CSR order, both triangles) from `B = H S`
/// (`n x ncolors`) and an acyclic coloring, by substitution: within each
/// two-colored tree, a leaf's entry of `B` holds exactly its one remaining
/// edge, which is then subtracted at the other end.
///
/// ```
/// use anydiff::sparse::{color_acyclic, decompress_acyclic, seed_matrix, Order, Pattern};
/// use ndarray::array;
/// let h = array![[1.0, 2.0, 0.0, 3.0], [2.0, 0.0, 4.0, 0.0], [0.0, 4.0, 5.0, 6.0], [3.0, 0.0, 6.0, 7.0]];
/// let p = Pattern::from_dense(4, 4, &h.iter().map(|&x| x != 0.0).collect::<Vec<_>>()).unwrap();
/// let a = color_acyclic(&p, Order::Natural).unwrap();
/// let b = h.dot(&seed_matrix::<f64>(&a));
/// let vals = decompress_acyclic(&p, &a, b.view()).unwrap();
/// assert_eq!(p.to_dense(&vals).unwrap(), h);
/// ```
pub fn decompress_acyclic<T: Scalar>(
    pattern: &Pattern,
    coloring: &Coloring,
    b: ArrayView2<'_, T>,
) -> Result<Vec<T>, Error> {
    AcyclicSubstitution::new(pattern, coloring)?.apply(b)
}

/// The recovery of an acyclic coloring by substitution, which depends on the
/// pattern and the coloring only: found once (validating the coloring), then
/// applied to each `B = H S` in one pass over the nonzeros, with no search.
///
/// ```
/// use anydiff::sparse::{color_acyclic, seed_matrix, AcyclicSubstitution, Order, Pattern};
/// use ndarray::array;
/// let h = array![[1.0, 2.0, 0.0], [2.0, 3.0, 4.0], [0.0, 4.0, 5.0]];
/// let p = Pattern::from_dense(3, 3, &h.iter().map(|&x| x != 0.0).collect::<Vec<_>>()).unwrap();
/// let a = color_acyclic(&p, Order::Natural).unwrap();
/// let recover = AcyclicSubstitution::new(&p, &a).unwrap();
/// let vals = recover.apply(h.dot(&seed_matrix::<f64>(&a)).view()).unwrap();
/// assert_eq!(p.to_dense(&vals).unwrap(), h);
/// ```
#[derive(Clone, Debug)]
pub struct AcyclicSubstitution {
    n: usize,
    ncolors: usize,
    nnz: usize,
    /// `(position, cell)`: a diagonal entry (CSR position) is its row's cell
    /// of its own color (`i * ncolors + color[i]`) of `B`.
    diagonal: Vec<(usize, usize)>,
    /// `[cell, position, mirror, target]` in order: the cell holds exactly
    /// the entry at `position` (and at `mirror`, `usize::MAX` for none),
    /// which is then subtracted from the cell `target` at the edge's other end.
    steps: Vec<[usize; 4]>,
}

impl AcyclicSubstitution {
    /// The substitution order of `coloring` (acyclic, valid for the
    /// symmetric `pattern`): within each two-colored tree, a leaf's cell of
    /// `B` holds exactly its one remaining edge.
    pub fn new(pattern: &Pattern, coloring: &Coloring) -> Result<Self, Error> {
        check(pattern, coloring, ColoringKind::Acyclic)?;
        let n = pattern.nrows();
        let nc = coloring.ncolors;
        let color = &coloring.colors;
        let ptr = pattern.row_ptr();
        let idx = pattern.col_idx();
        let mirror = pattern.mirror_positions();
        // degree and xor of the unrecovered neighbours of i with color c
        let what = "the acyclic substitution's table";
        let cells = checked_len(what, &[n, nc], std::mem::size_of::<usize>())?;
        let mut degree = try_vec(what, cells, 0usize)?;
        let mut xor = try_vec(what, cells, 0usize)?;
        let mut diagonal = Vec::new();
        for i in 0..n {
            for p in ptr[i]..ptr[i + 1] {
                let j = idx[p];
                if j == i {
                    diagonal.push((p, i * nc + color[i]));
                } else {
                    degree[i * nc + color[j]] += 1;
                    xor[i * nc + color[j]] ^= j;
                }
            }
        }
        let edges = (idx.len() - diagonal.len()) / 2;
        let mut steps = Vec::new();
        reserve(&mut steps, edges, what)?;
        let mut leaves: Vec<usize> = (0..n * nc).filter(|&k| degree[k] == 1).collect();
        while let Some(k) = leaves.pop() {
            if degree[k] != 1 {
                continue;
            }
            let (i, j) = (k / nc, xor[k]);
            let Some(p) = pattern.position(i, j) else {
                return Err(Error::invalid("inconsistent acyclic substitution"));
            };
            degree[k] = 0;
            xor[k] = 0;
            let target = j * nc + color[i];
            steps.push([k, p, mirror[p], target]);
            degree[target] -= 1;
            xor[target] ^= i;
            if degree[target] == 1 {
                leaves.push(target);
            }
        }
        if steps.len() != edges {
            return Err(Error::invalid(
                "acyclic substitution left edges unresolved (coloring not acyclic)",
            ));
        }
        Ok(AcyclicSubstitution {
            n,
            ncolors: nc,
            nnz: idx.len(),
            diagonal,
            steps,
        })
    }

    /// The nonzeros (CSR order, both triangles) from `B = H S` (`n x ncolors`).
    pub fn apply<T: Scalar>(&self, b: ArrayView2<'_, T>) -> Result<Vec<T>, Error> {
        check_dim("compressed matrix B = H S", &b, self.n, self.ncolors)?;
        let what = "the acyclic substitution's residuals";
        let mut residual: Vec<T> = Vec::new();
        reserve(&mut residual, self.n * self.ncolors, what)?;
        for row in b.rows() {
            residual.extend(row.iter().copied());
        }
        let mut out = try_vec("the recovered nonzeros", self.nnz, T::zero())?;
        for &(p, k) in &self.diagonal {
            out[p] = residual[k];
        }
        for &[k, p, mirror, target] in &self.steps {
            let value = residual[k];
            out[p] = value;
            if let Some(o) = out.get_mut(mirror) {
                *o = value;
            }
            residual[target] = residual[target] - value;
        }
        Ok(out)
    }
}

/// Flat indices for decompression by one gather: nonzero `k` (CSR order)
/// equals `compressed.flat[indices[k]]`, where `compressed` is row-major
/// `B = J S` (`m x ncolors`, index `i * ncolors + color[j]`) for a column
/// coloring, `C = S^T J` (`ncolors x n`, index `color[i] * n + j`) for a
/// row coloring, and `B = H S` (`n x ncolors`) for a star coloring (index
/// `i * ncolors + color[j]` or `j * ncolors + color[i]`, whichever reads the
/// entry directly). Acyclic colorings need substitution and are an error,
/// as is a coloring not valid for `pattern`.
///
/// ```
/// use anydiff::sparse::{color_columns, decompression_gather_indices, Order, Pattern};
/// let p = Pattern::from_dense(2, 3, &[true, false, true, false, true, false]).unwrap();
/// let c = color_columns(&p, Order::Natural); // colors [0, 0, 1]
/// assert_eq!(decompression_gather_indices(&p, &c).unwrap(), vec![0, 1, 2]);
/// ```
pub fn decompression_gather_indices(
    pattern: &Pattern,
    coloring: &Coloring,
) -> Result<Vec<usize>, Error> {
    check(pattern, coloring, coloring.kind)?;
    let nc = coloring.ncolors;
    let color = &coloring.colors;
    let block = match coloring.kind {
        ColoringKind::Row => [nc, pattern.ncols()],
        _ => [pattern.nrows(), nc],
    };
    // blocks of this shape must exist for the indices to serve (and they bound
    // every table sized by ncolors below)
    ensure_allocatable::<NoOracle>("the compressed block", &block, 8)?;
    match coloring.kind {
        ColoringKind::Column => {
            let mut out = Vec::with_capacity(pattern.nnz());
            for i in 0..pattern.nrows() {
                out.extend(pattern.row(i).iter().map(|&j| i * nc + color[j]));
            }
            Ok(out)
        }
        ColoringKind::Row => {
            let n = pattern.ncols();
            let mut out = Vec::with_capacity(pattern.nnz());
            for i in 0..pattern.nrows() {
                out.extend(pattern.row(i).iter().map(|&j| color[i] * n + j));
            }
            Ok(out)
        }
        ColoringKind::Star => star_recovery(pattern, coloring)
            .ok_or_else(|| Error::invalid("the star coloring is not valid for this pattern")),
        ColoringKind::Acyclic => Err(Error::invalid(
            "acyclic colorings are decompressed by substitution, not by a gather",
        )),
    }
}
