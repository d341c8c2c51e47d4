//! Partial distance-2 colorings of columns and rows (greedy).

use super::super::graph::{ColumnGraph, RowGraph, NONE};
use super::super::order::{vertex_order, Order};
use super::super::pattern::Pattern;
use super::greedy::greedy;
use super::{Coloring, ColoringKind};

/// Column coloring of `pattern` for JVP compression: columns sharing a row
/// get different colors (greedy partial distance-2 coloring, `O(sum over
/// columns of the nonzeros in the rows they touch)` time).
///
/// ```
/// use anydiff::sparse::{color_columns, is_valid, Order, Pattern};
/// // tridiagonal 5 x 5 needs 3 column colors
/// let (mut r, mut c) = (vec![], vec![]);
/// for i in 0..5usize {
///     for j in i.saturating_sub(1)..(i + 2).min(5) {
///         r.push(i);
///         c.push(j);
///     }
/// }
/// let p = Pattern::from_coo(5, 5, &r, &c).unwrap();
/// let col = color_columns(&p, Order::Natural);
/// assert_eq!(col.colors, vec![0, 1, 2, 0, 1]);
/// assert!(is_valid(&p, &col));
/// ```
pub fn color_columns(pattern: &Pattern, order: Order) -> Coloring {
    let g = ColumnGraph(pattern);
    let (colors, ncolors) = greedy(&g, &vertex_order(&g, order));
    Coloring {
        colors,
        ncolors,
        kind: ColoringKind::Column,
    }
}

/// Row coloring of `pattern` for VJP compression: rows sharing a column get
/// different colors.
///
/// ```
/// use anydiff::sparse::{color_rows, is_valid, ColoringKind, Order, Pattern};
/// // one full column: every row needs its own color
/// let p = Pattern::from_coo(3, 2, &[0, 1, 2], &[1, 1, 1]).unwrap();
/// let c = color_rows(&p, Order::LargestFirst);
/// assert_eq!((c.ncolors, c.kind), (3, ColoringKind::Row));
/// assert!(is_valid(&p, &c));
/// ```
pub fn color_rows(pattern: &Pattern, order: Order) -> Coloring {
    let g = RowGraph(pattern);
    let (colors, ncolors) = greedy(&g, &vertex_order(&g, order));
    Coloring {
        colors,
        ncolors,
        kind: ColoringKind::Row,
    }
}

/// Column validity: within every row (`ptr`/`idx` lines), the colors of the
/// entries are distinct. Works for rows with the CSC arrays.
pub(crate) fn valid_lines(ptr: &[usize], idx: &[usize], coloring: &Coloring) -> bool {
    let mut seen = vec![NONE; coloring.ncolors];
    for (line, w) in ptr.windows(2).enumerate() {
        for &v in &idx[w[0]..w[1]] {
            let c = coloring.colors[v];
            if seen[c] == line {
                return false;
            }
            seen[c] = line;
        }
    }
    true
}

/// Column coloring validity (see [`valid_lines`]).
pub(crate) fn valid_columns(pattern: &Pattern, coloring: &Coloring) -> bool {
    valid_lines(pattern.row_ptr(), pattern.col_idx(), coloring)
}

/// Row coloring validity (see [`valid_lines`]).
pub(crate) fn valid_rows(pattern: &Pattern, coloring: &Coloring) -> bool {
    valid_lines(pattern.col_ptr(), pattern.row_idx(), coloring)
}
