//! Bicolorings: columns colored for JVPs and rows colored for VJPs at once,
//! so that patterns with both dense rows and dense columns (arrowheads) need
//! a few products where a one-sided coloring needs as many as the longest
//! row or column.
//!
//! Found as SparseMatrixColorings.jl and Coleman & Verma do: a star coloring
//! of the bipartite graph of the pattern (the symmetric matrix
//! `[0 J^T; J 0]`), then each nonzero is read on the side where its star
//! reads it, and the vertices no read needs take part in no product.

use ndarray::{Array2, ArrayView2};

use super::super::graph::AdjacencyGraph;
use super::super::order::vertex_order;
use super::super::pattern::Pattern;
use super::best::BEST_ORDERS;
use super::budget::ImproveOptions;
use super::improve::improve;
use super::star::greedy_star;
use super::{Coloring, ColoringKind};
use crate::error::{shape2, Error};
use crate::scalar::Scalar;
use crate::stop::StopFlag;

/// A two-sided coloring of an `m x n` pattern: `p` column colors (the JVPs
/// `B = J S_c`, `S_c` the `n x p` column seed) and `q` row colors (the VJPs
/// `C = S_r^T J`, `S_r` the `m x q` row seed). A column or row without a
/// color takes part in no product. Every nonzero is read directly from `B`
/// or from `C`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bicoloring {
    column_colors: Vec<Option<usize>>,
    row_colors: Vec<Option<usize>>,
    ncolumn_colors: usize,
    nrow_colors: usize,
    nnz: usize,
    /// Flat index of each nonzero (CSR order) in the batch-leading products
    /// `[B^T (p x m); C (q x n)]`, both row-major, one after the other.
    gather: Vec<usize>,
}

impl Bicoloring {
    /// Checks `column_colors` (length `n`) and `row_colors` (length `m`)
    /// against `pattern`: every nonzero `(i, j)` must be readable, either
    /// because column `j` has a color no other column of row `i` has, or
    /// because row `i` has a color no other row of column `j` has. The color
    /// counts are one more than the largest color of each side.
    ///
    /// ```
    /// use anydiff::sparse::{Bicoloring, Pattern};
    /// // arrowhead 3 x 3: full first row and column, and the diagonal
    /// let p = Pattern::from_coo(3, 3, &[0, 0, 0, 1, 2, 1, 2], &[0, 1, 2, 0, 0, 1, 2]).unwrap();
    /// let ok = Bicoloring::new(&p, vec![Some(0), Some(1), Some(1)], vec![Some(0), None, None]);
    /// assert_eq!(ok.unwrap().nproducts(), 3);
    /// // with no row color the first row's entries in columns 1 and 2 collide
    /// assert!(Bicoloring::new(&p, vec![Some(0), Some(1), Some(1)], vec![None; 3]).is_err());
    /// ```
    pub fn new(
        pattern: &Pattern,
        column_colors: Vec<Option<usize>>,
        row_colors: Vec<Option<usize>>,
    ) -> Result<Self, Error> {
        let (m, n) = (pattern.nrows(), pattern.ncols());
        if column_colors.len() != n || row_colors.len() != m {
            return Err(Error::shape(
                "bicoloring",
                format!("{n} column colors and {m} row colors"),
                format!(
                    "{} column colors and {} row colors",
                    column_colors.len(),
                    row_colors.len()
                ),
            ));
        }
        let count = |colors: &[Option<usize>]| -> Result<usize, Error> {
            match colors.iter().flatten().max() {
                None => Ok(0),
                Some(&c) => c
                    .checked_add(1)
                    .filter(|&k| k <= colors.len())
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "color {c} is not below the number of vertices {}",
                            colors.len()
                        ))
                    }),
            }
        };
        let (p, q) = (count(&column_colors)?, count(&row_colors)?);
        let pm = p
            .checked_mul(m)
            .ok_or_else(|| Error::invalid(format!("{p} x {m} products overflow")))?;
        // how many columns of each color a row has, rows of each color a column has
        let mut in_row = vec![0u32; p];
        let mut in_col = vec![0u32; q];
        let mut col_unique = vec![false; pattern.nnz()];
        for i in 0..m {
            let start = pattern.row_ptr()[i];
            for &j in pattern.row(i) {
                if let Some(c) = column_colors[j] {
                    in_row[c] += 1;
                }
            }
            for (k, &j) in pattern.row(i).iter().enumerate() {
                col_unique[start + k] = column_colors[j].is_some_and(|c| in_row[c] == 1);
            }
            for &j in pattern.row(i) {
                if let Some(c) = column_colors[j] {
                    in_row[c] = 0;
                }
            }
        }
        // row-unique flags per CSC position, then mapped to CSR order
        let mut row_unique_csc = vec![false; pattern.nnz()];
        for j in 0..n {
            let start = pattern.col_ptr()[j];
            for &i in pattern.col(j) {
                if let Some(r) = row_colors[i] {
                    in_col[r] += 1;
                }
            }
            for (k, &i) in pattern.col(j).iter().enumerate() {
                row_unique_csc[start + k] = row_colors[i].is_some_and(|r| in_col[r] == 1);
            }
            for &i in pattern.col(j) {
                if let Some(r) = row_colors[i] {
                    in_col[r] = 0;
                }
            }
        }
        let mut next_in_col = pattern.col_ptr().to_vec();
        let mut gather = Vec::with_capacity(pattern.nnz());
        for i in 0..m {
            let start = pattern.row_ptr()[i];
            for (k, &j) in pattern.row(i).iter().enumerate() {
                let csc = next_in_col[j];
                next_in_col[j] += 1;
                if col_unique[start + k] {
                    let c = column_colors[j].unwrap_or(0);
                    gather.push(c * m + i);
                } else if row_unique_csc[csc] {
                    let r = row_colors[i].unwrap_or(0);
                    gather.push(pm + r * n + j);
                } else {
                    return Err(Error::invalid(format!(
                        "the bicoloring cannot recover the nonzero ({i}, {j}): column {j} \
                         shares its color with another column of row {i} (or has none), \
                         and row {i} with another row of column {j} (or has none)"
                    )));
                }
            }
        }
        Ok(Bicoloring {
            column_colors,
            row_colors,
            ncolumn_colors: p,
            nrow_colors: q,
            nnz: pattern.nnz(),
            gather,
        })
    }

    /// The color of each column (`None`: in no JVP).
    pub fn column_colors(&self) -> &[Option<usize>] {
        &self.column_colors
    }

    /// The color of each row (`None`: in no VJP).
    pub fn row_colors(&self) -> &[Option<usize>] {
        &self.row_colors
    }

    /// Number of JVPs `p`.
    pub fn ncolumn_colors(&self) -> usize {
        self.ncolumn_colors
    }

    /// Number of VJPs `q`.
    pub fn nrow_colors(&self) -> usize {
        self.nrow_colors
    }

    /// Products in all, `p + q`.
    pub fn nproducts(&self) -> usize {
        self.ncolumn_colors + self.nrow_colors
    }

    /// For each nonzero (CSR order), its flat index in the batch-leading
    /// products laid one after the other: `B^T` (`p x m`, row `c` the JVP of
    /// column color `c`), then `C` (`q x n`, row `r` the VJP of row color `r`).
    pub fn gather_indices(&self) -> &[usize] {
        &self.gather
    }

    /// The column seed `S_c` (`n x p`).
    pub fn column_seed<T: Scalar>(&self) -> Array2<T> {
        seed(&self.column_colors, self.ncolumn_colors)
    }

    /// The row seed `S_r` (`m x q`).
    pub fn row_seed<T: Scalar>(&self) -> Array2<T> {
        seed(&self.row_colors, self.nrow_colors)
    }

    /// The nonzeros (CSR order) from `B = J S_c` (`m x p`) and `C = S_r^T J`
    /// (`q x n`), any strides.
    ///
    /// ```
    /// use anydiff::sparse::{bicolor, ImproveOptions, Pattern};
    /// use anydiff::StopFlag;
    /// use ndarray::Array2;
    /// let n = 8usize;
    /// let (mut r, mut c) = (vec![], vec![]);
    /// for i in 0..n {
    ///     r.extend([0, i, i]);
    ///     c.extend([i, 0, i]);
    /// }
    /// let p = Pattern::from_coo(n, n, &r, &c).unwrap();
    /// let bi = bicolor(&p, &ImproveOptions::default(), &StopFlag::new()).unwrap();
    /// assert!(bi.nproducts() <= 3);
    /// let values: Vec<f64> = (1..=p.nnz()).map(|v| v as f64).collect();
    /// let j = p.to_dense(&values).unwrap();
    /// let b = j.dot(&bi.column_seed::<f64>());
    /// let cc = bi.row_seed::<f64>().t().dot(&j);
    /// assert_eq!(bi.decompress(b.view(), cc.view()).unwrap(), values);
    /// ```
    pub fn decompress<T: Scalar>(
        &self,
        b: ArrayView2<'_, T>,
        c: ArrayView2<'_, T>,
    ) -> Result<Vec<T>, Error> {
        let (m, n) = (self.row_colors.len(), self.column_colors.len());
        let (p, q) = (self.ncolumn_colors, self.nrow_colors);
        if b.dim() != (m, p) {
            return Err(Error::shape(
                "JVPs B = J S_c",
                shape2(m, p),
                shape2(b.nrows(), b.ncols()),
            ));
        }
        if c.dim() != (q, n) {
            return Err(Error::shape(
                "VJPs C = S_r^T J",
                shape2(q, n),
                shape2(c.nrows(), c.ncols()),
            ));
        }
        let pm = p * m;
        Ok(self
            .gather
            .iter()
            .map(|&k| {
                if k < pm {
                    b[[k % m, k / m]]
                } else {
                    let k = k - pm;
                    c[[k / n, k % n]]
                }
            })
            .collect())
    }

    /// Number of nonzeros of the pattern it was made for.
    pub fn nnz(&self) -> usize {
        self.nnz
    }
}

fn seed<T: Scalar>(colors: &[Option<usize>], k: usize) -> Array2<T> {
    let mut s = Array2::zeros((colors.len(), k));
    for (v, c) in colors.iter().enumerate() {
        if let Some(x) = c.and_then(|c| s.get_mut((v, c))) {
            *x = T::one();
        }
    }
    s
}

/// A bicoloring of `pattern` with few products: star colorings of the
/// bipartite graph `[0 J^T; J 0]` (columns first, then rows) over
/// [`BEST_ORDERS`], the best improved within the budget of `opts`, each
/// turned into a bicoloring by reading every nonzero where its star reads
/// it; the one with the fewest products `p + q` is kept. One-sided
/// colorings are not tried here: compare with
/// [`color_columns_best`](super::color_columns_best) and
/// [`color_rows_best`](super::color_rows_best).
pub fn bicolor(
    pattern: &Pattern,
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Bicoloring, Error> {
    let (m, n) = (pattern.nrows(), pattern.ncols());
    let size = m
        .checked_add(n)
        .ok_or_else(|| Error::invalid(format!("pattern shape {} overflows", shape2(m, n))))?;
    let (rows, cols) = pattern.to_coo();
    let mut ar = Vec::new();
    let mut ac = Vec::new();
    ar.try_reserve_exact(2 * rows.len())
        .map_err(|_| Error::invalid("bicoloring: not enough memory for the bipartite graph"))?;
    ac.try_reserve_exact(2 * rows.len())
        .map_err(|_| Error::invalid("bicoloring: not enough memory for the bipartite graph"))?;
    for (&i, &j) in rows.iter().zip(&cols) {
        ar.extend([j, n + i]);
        ac.extend([n + i, j]);
    }
    let bipartite = Pattern::from_coo(size, size, &ar, &ac)?;
    let adjacency = AdjacencyGraph(&bipartite);
    let mut best: Option<(Bicoloring, Vec<usize>, usize)> = None;
    for &o in &BEST_ORDERS {
        if stop.is_raised() {
            return Err(Error::Interrupted);
        }
        let (colors, k) = greedy_star(&bipartite, &vertex_order(&adjacency, o));
        let bi = from_star(pattern, &bipartite, &colors, k)?;
        if best
            .as_ref()
            .map_or(true, |(b, _, _)| bi.nproducts() < b.nproducts())
        {
            best = Some((bi, colors, k));
        }
    }
    let Some((mut bi, colors, k)) = best else {
        return Bicoloring::new(pattern, vec![None; n], vec![None; m]);
    };
    let star = Coloring {
        colors,
        ncolors: k,
        kind: ColoringKind::Star,
    };
    let better = improve(&bipartite, &star, opts, stop)?;
    if better.ncolors < k {
        let candidate = from_star(pattern, &bipartite, &better.colors, better.ncolors)?;
        if candidate.nproducts() < bi.nproducts() {
            bi = candidate;
        }
    }
    Ok(bi)
}

/// The bicoloring read off a star coloring of the bipartite graph: a vertex
/// keeps its color only where some nonzero is read through it (a star's hub,
/// or one end of a two-vertex star, preferring a side and color already in
/// use), then each side's colors are renumbered from 0.
fn from_star(
    pattern: &Pattern,
    bipartite: &Pattern,
    colors: &[usize],
    ncolors: usize,
) -> Result<Bicoloring, Error> {
    let (m, n) = (pattern.nrows(), pattern.ncols());
    // how many neighbours of each color every vertex has (flags per edge)
    let mut stamp = vec![usize::MAX; ncolors];
    let mut count = vec![0u32; ncolors];
    let unique_at = |v: usize, stamp: &mut [usize], count: &mut [u32]| -> Vec<bool> {
        for &w in bipartite.row(v) {
            let c = colors[w];
            if stamp[c] != v {
                stamp[c] = v;
                count[c] = 0;
            }
            count[c] += 1;
        }
        bipartite
            .row(v)
            .iter()
            .map(|&w| count[colors[w]] == 1)
            .collect()
    };
    // for nonzero (i, j): readable from the JVP of column j's color (unique
    // among row i's columns), from the VJP of row i's color (unique among
    // column j's rows)
    let mut by_jvp = Vec::with_capacity(pattern.nnz());
    for i in 0..m {
        let flags = unique_at(n + i, &mut stamp, &mut count);
        by_jvp.extend(flags); // row n + i of the bipartite graph lists columns j in order
    }
    let mut by_vjp_csc = Vec::with_capacity(pattern.nnz());
    for j in 0..n {
        let flags = unique_at(j, &mut stamp, &mut count);
        by_vjp_csc.extend(flags); // row j lists n + i, rows in order: CSC order
    }
    let mut need_col = vec![false; n];
    let mut need_row = vec![false; m];
    let mut col_class = vec![false; ncolors];
    let mut row_class = vec![false; ncolors];
    // entries with one way to read them fix their vertex
    let mut csc_pos = pattern.col_ptr().to_vec();
    let mut both = Vec::new();
    let mut k = 0usize;
    for i in 0..m {
        for &j in pattern.row(i) {
            let (a, b) = (by_jvp[k], by_vjp_csc[csc_pos[j]]);
            csc_pos[j] += 1;
            k += 1;
            match (a, b) {
                (true, false) => {
                    need_col[j] = true;
                    col_class[colors[j]] = true;
                }
                (false, true) => {
                    need_row[i] = true;
                    row_class[colors[n + i]] = true;
                }
                (true, true) => both.push((i, j)),
                (false, false) => {
                    return Err(Error::invalid(
                        "internal: the star coloring of the bipartite graph misses a nonzero",
                    ))
                }
            }
        }
    }
    for (i, j) in both {
        if need_col[j] || need_row[i] {
            continue;
        }
        let (cj, ri) = (colors[j], colors[n + i]);
        if col_class[cj] || !row_class[ri] {
            need_col[j] = true;
            col_class[cj] = true;
        } else {
            need_row[i] = true;
        }
    }
    let renumber = |need: &[bool], offset: usize| -> Vec<Option<usize>> {
        let mut map = vec![usize::MAX; ncolors];
        let mut next = 0usize;
        need.iter()
            .enumerate()
            .map(|(v, &needed)| {
                needed.then(|| {
                    let c = colors[offset + v];
                    if map[c] == usize::MAX {
                        map[c] = next;
                        next += 1;
                    }
                    map[c]
                })
            })
            .collect()
    };
    Bicoloring::new(pattern, renumber(&need_col, 0), renumber(&need_row, n))
}
