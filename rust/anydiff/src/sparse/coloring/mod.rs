//! Colorings of a sparsity pattern: column and row (partial distance-2),
//! star and acyclic (symmetric), bicolorings (two-sided), their validity
//! checks, an improvement pass and the "best" strategies.
//!
//! Layers, each using only those above it: `budget` (work metering) and
//! `greedy` (the greedy primitive); the colorings of one kind (`column`,
//! `star`, `acyclic`); `improve` (searches that lower a coloring's count);
//! `best` and `bicoloring` (strategies combining orderings and searches).

mod acyclic;
mod best;
mod bicoloring;
mod budget;
mod column;
mod greedy;
mod improve;
mod star;

use std::fmt;

use crate::error::Error;

pub use acyclic::color_acyclic;
pub use best::{
    color_columns_best, color_hessian, color_rows_best, color_symmetric_best, BEST_ORDERS,
};
pub use bicoloring::{bicolor, Bicoloring};
pub use budget::{ImproveOptions, DEFAULT_WORK};
pub use column::{color_columns, color_rows};
pub use improve::improve;
pub use star::color_star;
pub(crate) use star::star_recovery;

use super::pattern::Pattern;

/// What a [`Coloring`] colors and which recovery it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ColoringKind {
    /// Columns; same-colored columns share no row (compress `J S`, JVPs).
    Column,
    /// Rows; same-colored rows share no column (compress `S^T J`, VJPs).
    Row,
    /// Vertices of a symmetric pattern; no two-colored path on 4 vertices
    /// (direct recovery of `H` from `H S`).
    Star,
    /// Vertices of a symmetric pattern; no two-colored cycle (recovery of
    /// `H` from `H S` by substitution).
    Acyclic,
}

impl fmt::Display for ColoringKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColoringKind::Column => "column",
            ColoringKind::Row => "row",
            ColoringKind::Star => "star",
            ColoringKind::Acyclic => "acyclic",
        })
    }
}

/// A coloring: `colors[v]` in `0..ncolors` for every column (kind
/// [`ColoringKind::Column`]), row ([`ColoringKind::Row`]) or vertex of a
/// symmetric pattern ([`ColoringKind::Star`], [`ColoringKind::Acyclic`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Coloring {
    /// The color of each vertex.
    pub colors: Vec<usize>,
    /// The number of colors (every color is `< ncolors`).
    pub ncolors: usize,
    /// What is colored.
    pub kind: ColoringKind,
}

impl Coloring {
    /// A coloring of `kind` with `ncolors = max(colors) + 1` (0 when empty).
    pub fn new(colors: Vec<usize>, kind: ColoringKind) -> Self {
        let ncolors = colors
            .iter()
            .map(|&c| c.saturating_add(1))
            .max()
            .unwrap_or(0);
        Coloring {
            colors,
            ncolors,
            kind,
        }
    }

    /// The vertices of each color, by color, in increasing vertex order.
    pub fn classes(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.ncolors];
        for (v, &c) in self.colors.iter().enumerate() {
            if let Some(class) = out.get_mut(c) {
                class.push(v);
            }
        }
        out
    }

    /// Number of vertices the coloring must cover for `pattern`.
    pub(crate) fn expected_len(&self, pattern: &Pattern) -> usize {
        match self.kind {
            ColoringKind::Row => pattern.nrows(),
            _ => pattern.ncols(),
        }
    }

    /// The same classes with ids `0..k` in order of first appearance (`k`
    /// the number of distinct ids, at most the number of vertices).
    fn relabeled(&self) -> Coloring {
        let mut ids: Vec<usize> = self.colors.clone();
        ids.sort_unstable();
        ids.dedup();
        let colors = self
            .colors
            .iter()
            .map(|c| ids.binary_search(c).unwrap_or(0))
            .collect();
        Coloring::new(colors, self.kind)
    }

    /// Checks length and color range against `pattern`.
    pub(crate) fn check_shape(&self, pattern: &Pattern) -> Result<(), Error> {
        let len = self.expected_len(pattern);
        if self.colors.len() != len {
            return Err(Error::shape(
                format!("{} coloring", self.kind),
                format!("{len} colors"),
                format!("{} colors", self.colors.len()),
            ));
        }
        if let Some((v, &c)) = self
            .colors
            .iter()
            .enumerate()
            .find(|(_, &c)| c >= self.ncolors)
        {
            return Err(Error::invalid(format!(
                "color {c} of vertex {v} is not below ncolors = {}",
                self.ncolors
            )));
        }
        Ok(())
    }
}

/// Whether `coloring` is valid for `pattern` according to its kind; `O(nnz)`
/// time for column, row and star, `O(nnz + n * ncolors)` for acyclic.
///
/// - column: no two columns of one color share a row;
/// - row: no two rows of one color share a column;
/// - star: the pattern is symmetric, the coloring proper on its adjacency
///   graph (diagonal ignored) and no path on 4 vertices uses only 2 colors;
/// - acyclic: symmetric pattern, proper, and no cycle uses only 2 colors.
///
/// A wrong length or a color `>= ncolors` makes it invalid. Color ids may
/// have gaps: only which vertices share a color matters, and ids past the
/// number of vertices are relabeled first, so no table grows with them.
///
/// ```
/// use anydiff::sparse::{color_columns, is_valid, Coloring, ColoringKind, Order, Pattern};
/// // arrow-head: row 0 is full, then a diagonal
/// let p = Pattern::from_coo(3, 3, &[0, 0, 0, 1, 2], &[0, 1, 2, 1, 2]).unwrap();
/// let c = color_columns(&p, Order::Natural);
/// assert_eq!(c.ncolors, 3);
/// assert!(is_valid(&p, &c));
/// assert!(!is_valid(&p, &Coloring::new(vec![0, 0, 1], ColoringKind::Column)));
/// ```
pub fn is_valid(pattern: &Pattern, coloring: &Coloring) -> bool {
    if coloring.check_shape(pattern).is_err() {
        return false;
    }
    if coloring.ncolors > coloring.colors.len() {
        return is_valid(pattern, &coloring.relabeled());
    }
    match coloring.kind {
        ColoringKind::Column => column::valid_columns(pattern, coloring),
        ColoringKind::Row => column::valid_rows(pattern, coloring),
        ColoringKind::Star => {
            pattern.is_symmetric() && star::star_recovery(pattern, coloring).is_some()
        }
        ColoringKind::Acyclic => {
            pattern.is_symmetric() && acyclic::valid_acyclic(pattern, coloring)
        }
    }
}

/// Error unless `pattern` is square and symmetric.
pub(crate) fn require_symmetric(pattern: &Pattern, what: &str) -> Result<(), Error> {
    if !pattern.is_square() {
        return Err(Error::shape(
            format!("{what} pattern"),
            "a square pattern",
            format!("({}, {})", pattern.nrows(), pattern.ncols()),
        ));
    }
    if !pattern.is_symmetric() {
        return Err(Error::invalid(format!(
            "{what} needs a symmetric pattern; this one differs from its transpose"
        )));
    }
    Ok(())
}
