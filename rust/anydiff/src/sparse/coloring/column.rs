//! Partial distance-2 colorings of columns and rows (greedy).

use std::time::{Duration, Instant};

use super::super::graph::{ColumnGraph, Graph, RowGraph, NONE};
use super::super::order::{vertex_order, Order};
use super::super::pattern::Pattern;
use super::improve::{improve_graph, ImproveOptions};
use super::{Coloring, ColoringKind};

/// Greedy coloring of `g` visiting `order`: each vertex takes the smallest
/// color not used by an already-colored neighbour. Returns the colors (of
/// every vertex in `order`; others stay [`NONE`]) and the color count.
///
/// The forbidden-color marker is indexed by color and stamped with the
/// vertex being colored, so no per-vertex clearing or allocation happens.
pub(crate) fn greedy<G: Graph>(g: &G, order: &[usize]) -> (Vec<usize>, usize) {
    let mut colors = vec![NONE; g.len()];
    let mut forbidden: Vec<usize> = Vec::new();
    for &v in order {
        g.for_each_raw(v, |u| {
            let c = colors[u];
            if c != NONE {
                forbidden[c] = v;
            }
        });
        let c = forbidden
            .iter()
            .position(|&s| s != v)
            .unwrap_or(forbidden.len());
        if c == forbidden.len() {
            forbidden.push(NONE);
        }
        colors[v] = c;
    }
    let ncolors = forbidden.len();
    (colors, ncolors)
}

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

/// Tries each of `orders` ([`Order::ALL`] when empty), keeps the coloring
/// with the fewest colors, then runs [`improve`](super::improve) for what
/// is left of `time_budget` (seed 0). The result is never worse than the
/// best greedy coloring.
///
/// ```
/// use anydiff::sparse::{color_columns, color_columns_best, is_valid, Order, Pattern};
/// use std::time::Duration;
/// let p = Pattern::from_coo(4, 4, &[0, 0, 1, 2, 3, 3], &[0, 3, 1, 2, 0, 2]).unwrap();
/// let best = color_columns_best(&p, &[], Duration::from_millis(20));
/// assert!(is_valid(&p, &best));
/// assert!(best.ncolors <= color_columns(&p, Order::Natural).ncolors);
/// assert_eq!(best.ncolors, 2);
/// ```
pub fn color_columns_best(pattern: &Pattern, orders: &[Order], time_budget: Duration) -> Coloring {
    best_of(
        &ColumnGraph(pattern),
        ColoringKind::Column,
        orders,
        time_budget,
    )
}

/// [`color_columns_best`] for rows (VJP compression).
///
/// ```
/// use anydiff::sparse::{color_rows_best, is_valid, Pattern};
/// use std::time::Duration;
/// let p = Pattern::from_coo(3, 2, &[0, 1, 2], &[0, 1, 0]).unwrap();
/// let c = color_rows_best(&p, &[], Duration::from_millis(10));
/// assert!(is_valid(&p, &c));
/// assert_eq!(c.ncolors, 2);
/// ```
pub fn color_rows_best(pattern: &Pattern, orders: &[Order], time_budget: Duration) -> Coloring {
    best_of(&RowGraph(pattern), ColoringKind::Row, orders, time_budget)
}

/// Best greedy coloring of `g` over `orders`, then improved.
fn best_of<G: Graph>(
    g: &G,
    kind: ColoringKind,
    orders: &[Order],
    time_budget: Duration,
) -> Coloring {
    let start = Instant::now();
    let orders = if orders.is_empty() {
        &Order::ALL[..]
    } else {
        orders
    };
    let mut best: Option<(Vec<usize>, usize)> = None;
    for &o in orders {
        let (colors, k) = greedy(g, &vertex_order(g, o));
        let better = match &best {
            Some((_, b)) => k < *b,
            None => true,
        };
        if better {
            best = Some((colors, k));
        }
    }
    let (colors, ncolors) = best.unwrap_or_default();
    let opts = ImproveOptions {
        time_budget: time_budget.saturating_sub(start.elapsed()),
        ..ImproveOptions::default()
    };
    let (colors, ncolors) = improve_graph(g, colors, ncolors, &opts);
    Coloring {
        colors,
        ncolors,
        kind,
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
