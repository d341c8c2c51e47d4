//! Structural nonzeros of a sparse matrix ([`Pattern`]).

use ndarray::Array2;

use crate::error::{shape2, Error, NoOracle};
use crate::memory::{checked_len, try_vec, try_zeros};
use crate::scalar::Scalar;

type Result<T> = std::result::Result<T, Error>;

/// A zeroed pointer array over `len` rows or columns (`len + 1` entries) of
/// an `m x n` pattern, or an error naming the shape when it cannot be had.
fn ptr_array(what: &str, len: usize, (m, n): (usize, usize)) -> Result<Vec<usize>> {
    let pattern = format!("a {} pattern", shape2(m, n));
    let too_large = || {
        Error::invalid(format!(
            "{pattern} is too large: {what} would need {len} + 1 entries of {} bytes, more \
             than the largest possible allocation",
            std::mem::size_of::<usize>()
        ))
    };
    let entries = len.checked_add(1).ok_or_else(too_large)?;
    checked_len::<NoOracle>("", &[entries], std::mem::size_of::<usize>())
        .map_err(|_| too_large())?;
    try_vec(&format!("{what} of {pattern}"), entries, 0)
}

/// The structural nonzeros of an `m x n` matrix.
///
/// Stored in CSR form (row pointers plus sorted, deduplicated column indices)
/// together with the matching CSC view (column pointers plus sorted row
/// indices), both built once by the constructors. The position of a nonzero
/// in the CSR arrays is its index in every value vector of this module.
///
/// ```
/// use anydiff::sparse::Pattern;
/// let p = Pattern::from_coo(2, 3, &[0, 1, 0, 0], &[2, 0, 0, 2]).unwrap();
/// assert_eq!(p.nnz(), 3); // the duplicate (0, 2) is merged
/// assert_eq!(p.row(0), &[0, 2]);
/// assert_eq!(p.col(0), &[0, 1]);
/// assert!(p.contains(1, 0) && !p.contains(1, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    nrows: usize,
    ncols: usize,
    row_ptr: Vec<usize>,
    col_idx: Vec<usize>,
    col_ptr: Vec<usize>,
    row_idx: Vec<usize>,
}

/// Counting-sort transpose of a CSR structure with `minor` minor indices.
fn transpose_csr(minor: usize, ptr: &[usize], idx: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut tptr = ptr_array(
        "the transposed pointers",
        minor,
        (ptr.len().saturating_sub(1), minor),
    )?;
    for &j in idx {
        tptr[j + 1] += 1;
    }
    for k in 0..minor {
        tptr[k + 1] += tptr[k];
    }
    let mut next = try_vec("the column pointers", tptr.len(), 0)?;
    next.copy_from_slice(&tptr);
    let mut tidx = try_vec("the row indices", idx.len(), 0)?;
    for (i, w) in ptr.windows(2).enumerate() {
        for &j in &idx[w[0]..w[1]] {
            tidx[next[j]] = i;
            next[j] += 1;
        }
    }
    Ok((tptr, tidx))
}

impl Pattern {
    /// Builds from trusted, sorted and deduplicated CSR arrays.
    fn from_parts(
        nrows: usize,
        ncols: usize,
        row_ptr: Vec<usize>,
        col_idx: Vec<usize>,
    ) -> Result<Self> {
        let (col_ptr, row_idx) = transpose_csr(ncols, &row_ptr, &col_idx)?;
        Ok(Pattern {
            nrows,
            ncols,
            row_ptr,
            col_idx,
            col_ptr,
            row_idx,
        })
    }

    /// The empty `m x n` pattern (no nonzeros); it holds `m + n + 2` words,
    /// so `m` and `n` must be sizes that fit in memory.
    pub fn empty(m: usize, n: usize) -> Self {
        Pattern {
            nrows: m,
            ncols: n,
            row_ptr: vec![0; m + 1],
            col_idx: Vec::new(),
            col_ptr: vec![0; n + 1],
            row_idx: Vec::new(),
        }
    }

    /// Builds from coordinate lists: `(rows[k], cols[k])` is a nonzero.
    /// Duplicates are merged; an index out of range or lists of different
    /// lengths are an error, and so is a shape whose pointer arrays
    /// (`m + 1` and `n + 1` words) cannot be allocated.
    pub fn from_coo(m: usize, n: usize, rows: &[usize], cols: &[usize]) -> Result<Pattern> {
        if rows.len() != cols.len() {
            return Err(Error::shape(
                "cols",
                format!("length {} (as rows)", rows.len()),
                format!("length {}", cols.len()),
            ));
        }
        for (k, (&i, &j)) in rows.iter().zip(cols).enumerate() {
            if i >= m || j >= n {
                return Err(Error::invalid(format!(
                    "nonzero {k} at ({i}, {j}) is outside the pattern shape {}",
                    shape2(m, n)
                )));
            }
        }
        // Visit the nonzeros in column order (stable counting sort) so that
        // every row receives its column indices sorted.
        let by_col = coo_order(cols, (m, n))?;
        let row_ptr = coo_ptr("the row pointers", m, rows, (m, n))?;
        let mut next = try_vec("the row pointers", row_ptr.len(), 0)?;
        next.copy_from_slice(&row_ptr);
        let mut col_idx = try_vec("the column indices", rows.len(), 0)?;
        for &k in &by_col {
            let i = rows[k];
            col_idx[next[i]] = cols[k];
            next[i] += 1;
        }
        Self::dedup_sorted(m, n, &row_ptr, &col_idx)
    }

    /// Removes repeated indices from sorted CSR rows.
    fn dedup_sorted(m: usize, n: usize, ptr: &[usize], idx: &[usize]) -> Result<Pattern> {
        let mut row_ptr = ptr_array("the row pointers", m, (m, n))?;
        row_ptr.clear();
        let mut col_idx = try_vec("the column indices", idx.len(), 0)?;
        col_idx.clear();
        row_ptr.push(0);
        for w in ptr.windows(2) {
            let start = col_idx.len();
            for &j in &idx[w[0]..w[1]] {
                if col_idx.len() == start || col_idx.last() != Some(&j) {
                    col_idx.push(j);
                }
            }
            row_ptr.push(col_idx.len());
        }
        Self::from_parts(m, n, row_ptr, col_idx)
    }

    /// Builds from CSR arrays (`indptr` of length `m + 1`, non-decreasing,
    /// starting at 0 and ending at `indices.len()`; every index `< n`).
    /// Column indices within a row may be unsorted or repeated: they are
    /// sorted and merged.
    pub fn from_csr(m: usize, n: usize, indptr: &[usize], indices: &[usize]) -> Result<Pattern> {
        if m.checked_add(1) != Some(indptr.len()) {
            return Err(Error::shape(
                "indptr",
                format!("length m + 1 for m = {m}"),
                format!("length {}", indptr.len()),
            ));
        }
        if indptr[0] != 0 || indptr[m] != indices.len() {
            return Err(Error::invalid(format!(
                "indptr must start at 0 and end at indices.len() = {}, got {} .. {}",
                indices.len(),
                indptr[0],
                indptr[m]
            )));
        }
        if let Some(i) = indptr.windows(2).position(|w| w[0] > w[1]) {
            return Err(Error::invalid(format!(
                "indptr decreases at row {i}: {} > {}",
                indptr[i],
                indptr[i + 1]
            )));
        }
        let mut rows = try_vec("the row of each nonzero", indices.len(), 0)?;
        rows.clear();
        for (i, w) in indptr.windows(2).enumerate() {
            rows.extend(std::iter::repeat(i).take(w[1] - w[0]));
        }
        Self::from_coo(m, n, &rows, indices)
    }

    /// Builds from a row-major `m x n` boolean mask (`true` = nonzero).
    pub fn from_dense(m: usize, n: usize, mask: &[bool]) -> Result<Pattern> {
        let expected = m
            .checked_mul(n)
            .ok_or_else(|| Error::invalid(format!("pattern shape {} overflows", shape2(m, n))))?;
        if mask.len() != expected {
            return Err(Error::shape(
                "mask",
                format!("length {expected} = {}", shape2(m, n)),
                format!("length {}", mask.len()),
            ));
        }
        let mut row_ptr = ptr_array("the row pointers", m, (m, n))?;
        row_ptr.truncate(1);
        let mut col_idx = Vec::new();
        if n > 0 {
            for row in mask.chunks(n) {
                col_idx.extend(row.iter().enumerate().filter(|(_, &b)| b).map(|(j, _)| j));
                row_ptr.push(col_idx.len());
            }
        } else {
            row_ptr.resize(m + 1, 0);
        }
        Self::from_parts(m, n, row_ptr, col_idx)
    }

    /// Number of rows `m`.
    pub fn nrows(&self) -> usize {
        self.nrows
    }

    /// Number of columns `n`.
    pub fn ncols(&self) -> usize {
        self.ncols
    }

    /// Number of structural nonzeros.
    pub fn nnz(&self) -> usize {
        self.col_idx.len()
    }

    /// Whether `m == n`.
    pub fn is_square(&self) -> bool {
        self.nrows == self.ncols
    }

    /// Sorted column indices of row `i` (empty when `i` is out of range).
    pub fn row(&self, i: usize) -> &[usize] {
        match (self.row_ptr.get(i), self.row_ptr.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.col_idx[a..b],
            _ => &[],
        }
    }

    /// Sorted row indices of column `j` (empty when `j` is out of range).
    pub fn col(&self, j: usize) -> &[usize] {
        match (self.col_ptr.get(j), self.col_ptr.get(j + 1)) {
            (Some(&a), Some(&b)) => &self.row_idx[a..b],
            _ => &[],
        }
    }

    /// CSR row pointers (length `m + 1`).
    pub fn row_ptr(&self) -> &[usize] {
        &self.row_ptr
    }

    /// CSR column indices (length `nnz`), sorted within each row.
    pub fn col_idx(&self) -> &[usize] {
        &self.col_idx
    }

    /// CSC column pointers (length `n + 1`).
    pub fn col_ptr(&self) -> &[usize] {
        &self.col_ptr
    }

    /// CSC row indices (length `nnz`), sorted within each column.
    pub fn row_idx(&self) -> &[usize] {
        &self.row_idx
    }

    /// Whether `(i, j)` is a structural nonzero (binary search in row `i`).
    pub fn contains(&self, i: usize, j: usize) -> bool {
        self.row(i).binary_search(&j).is_ok()
    }

    /// CSR position of `(i, j)`, if it is a nonzero.
    pub fn position(&self, i: usize, j: usize) -> Option<usize> {
        let start = *self.row_ptr.get(i)?;
        self.row(i).binary_search(&j).ok().map(|k| start + k)
    }

    /// The `n x m` transposed pattern.
    pub fn transpose(&self) -> Pattern {
        Pattern {
            nrows: self.ncols,
            ncols: self.nrows,
            row_ptr: self.col_ptr.clone(),
            col_idx: self.row_idx.clone(),
            col_ptr: self.row_ptr.clone(),
            row_idx: self.col_idx.clone(),
        }
    }

    /// Whether the pattern is square and equal to its transpose.
    pub fn is_symmetric(&self) -> bool {
        self.is_square() && self.row_ptr == self.col_ptr && self.col_idx == self.row_idx
    }

    /// The nonzeros as `(rows, cols)` coordinate lists, in CSR order.
    pub fn to_coo(&self) -> (Vec<usize>, Vec<usize>) {
        let mut rows = Vec::with_capacity(self.nnz());
        for (i, w) in self.row_ptr.windows(2).enumerate() {
            rows.extend(std::iter::repeat(i).take(w[1] - w[0]));
        }
        (rows, self.col_idx.clone())
    }

    /// Scatters `values` (one per nonzero, CSR order) into a dense `m x n`
    /// array; a length other than `nnz` is an error.
    pub fn to_dense<T: Scalar>(&self, values: &[T]) -> Result<Array2<T>> {
        if values.len() != self.nnz() {
            return Err(Error::shape(
                "values",
                format!("length {} (nnz)", self.nnz()),
                format!("length {}", values.len()),
            ));
        }
        let mut out = try_zeros("the dense matrix", (self.nrows, self.ncols))?;
        for (i, w) in self.row_ptr.windows(2).enumerate() {
            for p in w[0]..w[1] {
                out[[i, self.col_idx[p]]] = values[p];
            }
        }
        Ok(out)
    }

    /// The pattern with every diagonal entry `(i, i)`, `i < min(m, n)`, added.
    pub(crate) fn with_diagonal(&self) -> Pattern {
        let (mut rows, mut cols) = self.to_coo();
        let d = self.nrows.min(self.ncols);
        rows.extend(0..d);
        cols.extend(0..d);
        // indices are in range by construction
        Self::from_coo(self.nrows, self.ncols, &rows, &cols).unwrap_or_else(|_| self.clone())
    }

    /// For a square pattern, the CSR position of `(j, i)` for each position
    /// of `(i, j)`; `usize::MAX` where the mirrored entry is absent.
    pub(crate) fn mirror_positions(&self) -> Vec<usize> {
        let mut mirror = vec![usize::MAX; self.nnz()];
        // CSC position q of (i, j) corresponds, in the transposed order, to
        // the CSR position of (j, i) in a symmetric pattern; find it per row.
        for (i, w) in self.row_ptr.windows(2).enumerate() {
            for p in w[0]..w[1] {
                if let Some(q) = self.position(self.col_idx[p], i) {
                    mirror[p] = q;
                }
            }
        }
        mirror
    }
}

/// Pointers of a COO list bucketed by `keys` (values `< len`) in an `m x n`
/// pattern.
fn coo_ptr(what: &str, len: usize, keys: &[usize], shape: (usize, usize)) -> Result<Vec<usize>> {
    let mut ptr = ptr_array(what, len, shape)?;
    for &k in keys {
        ptr[k + 1] += 1;
    }
    for k in 0..len {
        ptr[k + 1] += ptr[k];
    }
    Ok(ptr)
}

/// The positions `0..cols.len()` stably reordered by column (counting sort)
/// in an `m x n` pattern.
fn coo_order(cols: &[usize], (m, n): (usize, usize)) -> Result<Vec<usize>> {
    let mut next = coo_ptr("the column pointers", n, cols, (m, n))?;
    let keys = cols;
    let mut out = try_vec("the order of the nonzeros", keys.len(), 0)?;
    for (k, &key) in keys.iter().enumerate() {
        out[next[key]] = k;
        next[key] += 1;
    }
    Ok(out)
}
