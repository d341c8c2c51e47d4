//! The "best" strategies: every strong ordering, the best greedy coloring
//! kept, then the improvement pass; and, for Hessians, the scheme (star,
//! acyclic or column) that needs the fewest products.
//!
//! Everything here is orchestration over the primitives (orderings, greedy
//! colorings, the improvement searches); the work is metered, so a result
//! depends only on the pattern, the seed and the work budget.

use super::super::graph::{AdjacencyGraph, BuildStop, ColumnGraph, ExplicitGraph, Graph, RowGraph};
use super::super::order::{vertex_order, Order};
use super::super::pattern::Pattern;
use super::budget::{ImproveOptions, Meter};
use super::greedy::greedy;
use super::improve::{improve, improve_graph, iterated_greedy, pass_cost, GRAPH_CAP, LARGE_GRAPH};
use super::{acyclic, require_symmetric, star, Coloring, ColoringKind};
use crate::error::Error;
use crate::stop::StopFlag;

/// The orderings the "best" colorings try when given none, strongest first
/// (a later one replaces an earlier one only with strictly fewer colors).
pub const BEST_ORDERS: [Order; 6] = [
    Order::Dsatur,
    Order::SmallestLast,
    Order::LargestFirst,
    Order::IncidenceDegree,
    Order::DynamicLargestFirst,
    Order::Natural,
];

/// The orderings tried on graphs past [`LARGE_GRAPH`] adjacency entries when
/// none are given: the dynamic orderings cost a pass over a graph that no
/// longer fits in cache, and the improvement pass does better with the time.
const BEST_ORDERS_LARGE: [Order; 2] = [Order::LargestFirst, Order::Natural];

/// Column coloring with the fewest colors: the greedy coloring of each of
/// `orders` ([`BEST_ORDERS`] when empty), the best one improved within the
/// budget of `opts`. Never worse than the best greedy coloring; the same
/// result on every run for the same pattern and options (unless
/// `opts.time_limit` cuts the search). A raised `stop` gives
/// [`Error::Interrupted`].
///
/// ```
/// use anydiff::sparse::{color_columns, color_columns_best, is_valid, ImproveOptions, Order, Pattern};
/// use anydiff::StopFlag;
/// let p = Pattern::from_coo(4, 4, &[0, 0, 1, 2, 3, 3], &[0, 3, 1, 2, 0, 2]).unwrap();
/// let best = color_columns_best(&p, &[], &ImproveOptions::default(), &StopFlag::new()).unwrap();
/// assert!(is_valid(&p, &best));
/// assert!(best.ncolors <= color_columns(&p, Order::Natural).ncolors);
/// assert_eq!(best.ncolors, 2);
/// ```
pub fn color_columns_best(
    pattern: &Pattern,
    orders: &[Order],
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    best_of(
        &ColumnGraph(pattern),
        ColoringKind::Column,
        orders,
        opts,
        stop,
    )
}

/// [`color_columns_best`] for rows (VJP compression).
///
/// ```
/// use anydiff::sparse::{color_rows_best, is_valid, ImproveOptions, Pattern};
/// use anydiff::StopFlag;
/// let p = Pattern::from_coo(3, 2, &[0, 1, 2], &[0, 1, 0]).unwrap();
/// let c = color_rows_best(&p, &[], &ImproveOptions::default(), &StopFlag::new()).unwrap();
/// assert!(is_valid(&p, &c));
/// assert_eq!(c.ncolors, 2);
/// ```
pub fn color_rows_best(
    pattern: &Pattern,
    orders: &[Order],
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    best_of(&RowGraph(pattern), ColoringKind::Row, orders, opts, stop)
}

/// Best greedy coloring of `g` over `orders`, then improved; on the
/// explicit copy of `g` when it fits in memory.
fn best_of<G: Graph>(
    g: &G,
    kind: ColoringKind,
    orders: &[Order],
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    let given = orders;
    let orders = |entries: usize| match (given.is_empty(), entries > LARGE_GRAPH) {
        (false, _) => given,
        (true, false) => &BEST_ORDERS[..],
        (true, true) => &BEST_ORDERS_LARGE[..],
    };
    let mut meter = Meter::new(opts, stop);
    let (colors, ncolors) = match ExplicitGraph::build(g, GRAPH_CAP, stop) {
        Ok(eg) => {
            let (colors, k) = best_greedy(&eg, orders(eg.entries()), &mut meter)?;
            improve_graph(&eg, colors, k, opts.seed, &mut meter)
        }
        Err(BuildStop::Interrupted) => return Err(Error::Interrupted),
        Err(BuildStop::TooLarge) => {
            // too large to copy: the orderings and iterated greedy on the view
            let (colors, k) = best_greedy(g, orders(usize::MAX), &mut meter)?;
            iterated_greedy(g, colors, k, opts.seed, pass_cost(g), &mut meter)
        }
    };
    meter.finish(Coloring {
        colors,
        ncolors,
        kind,
    })
}

/// The greedy coloring with the fewest colors over `orders` (the first on
/// ties); polls the stop flag between orderings.
fn best_greedy<G: Graph>(
    g: &G,
    orders: &[Order],
    meter: &mut Meter<'_>,
) -> Result<(Vec<usize>, usize), Error> {
    let mut best: Option<(Vec<usize>, usize)> = None;
    for &o in orders {
        meter.poll()?;
        let (colors, k) = greedy(g, &vertex_order(g, o));
        if best.as_ref().map_or(true, |(_, b)| k < *b) {
            best = Some((colors, k));
        }
        if k <= g.lower_bound() {
            break;
        }
    }
    Ok(best.unwrap_or_default())
}

/// Star or acyclic coloring of a symmetric pattern with the fewest colors:
/// the greedy star (acyclic) coloring over `orders` ([`BEST_ORDERS`] when
/// empty) and a distance-2 coloring (a column coloring of the pattern with
/// its diagonal, which is a star coloring), the best improved within the
/// budget of `opts`. Deterministic as [`color_columns_best`].
///
/// ```
/// use anydiff::sparse::{color_symmetric_best, is_valid, ColoringKind, ImproveOptions, Pattern};
/// use anydiff::StopFlag;
/// // tridiagonal 5 x 5: a star coloring needs 3 colors
/// let (rows, cols): (Vec<usize>, Vec<usize>) = (0..5usize)
///     .flat_map(|i| (i.saturating_sub(1)..(i + 2).min(5)).map(move |j| (i, j)))
///     .unzip();
/// let p = Pattern::from_coo(5, 5, &rows, &cols).unwrap();
/// let opts = ImproveOptions::default();
/// let c = color_symmetric_best(&p, ColoringKind::Star, &[], &opts, &StopFlag::new()).unwrap();
/// assert_eq!(c.ncolors, 3);
/// assert!(is_valid(&p, &c));
/// ```
pub fn color_symmetric_best(
    pattern: &Pattern,
    kind: ColoringKind,
    orders: &[Order],
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    let run = match kind {
        ColoringKind::Star => star::greedy_star,
        ColoringKind::Acyclic => acyclic::greedy_acyclic,
        other => {
            return Err(Error::invalid(format!(
                "symmetric colorings are star or acyclic; got {other}"
            )))
        }
    };
    require_symmetric(pattern, &format!("{kind} coloring"))?;
    let orders = if orders.is_empty() {
        &BEST_ORDERS[..]
    } else {
        orders
    };
    let adjacency = AdjacencyGraph(pattern);
    let mut best: Option<(Vec<usize>, usize)> = None;
    for &o in orders {
        if stop.is_raised() {
            return Err(Error::Interrupted);
        }
        let (colors, k) = run(pattern, &vertex_order(&adjacency, o));
        if best.as_ref().map_or(true, |(_, b)| k < *b) {
            best = Some((colors, k));
        }
    }
    let (colors, ncolors) = best.unwrap_or_default();
    let greedy_best = Coloring {
        colors,
        ncolors,
        kind,
    };
    // half of the budget to a distance-2 coloring, half to improving the
    // better of the two
    let half = ImproveOptions {
        work: opts.work / 2,
        ..*opts
    };
    let distance2 = distance2_coloring(pattern, &half, stop)?;
    let start = match distance2 {
        Some(d) if d.ncolors < greedy_best.ncolors => Coloring { kind, ..d },
        _ => greedy_best,
    };
    improve(
        pattern,
        &start,
        &ImproveOptions {
            work: opts.work - half.work,
            ..*opts
        },
        stop,
    )
}

/// A distance-2 coloring of a symmetric pattern (the best column coloring
/// of the pattern with its diagonal), as a star coloring; `None` for an
/// empty pattern.
fn distance2_coloring(
    pattern: &Pattern,
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Option<Coloring>, Error> {
    if pattern.nrows() == 0 {
        return Ok(None);
    }
    let closed = pattern.with_diagonal();
    let c = color_columns_best(&closed, &[], opts, stop)?;
    Ok(Some(Coloring {
        kind: ColoringKind::Star,
        ..c
    }))
}

/// The coloring of a symmetric Hessian pattern that needs the fewest
/// products among `schemes` (any of [`ColoringKind::Star`] — direct
/// recovery, [`ColoringKind::Acyclic`] — recovery by substitution, and
/// [`ColoringKind::Column`] — the Hessian treated as the Jacobian of the
/// gradient; all three when empty). On ties the earlier of star, column,
/// acyclic wins (direct recoveries first). The budget of `opts` is shared
/// among the schemes.
///
/// ```
/// use anydiff::sparse::{color_hessian, is_valid, ColoringKind, ImproveOptions, Pattern};
/// use anydiff::StopFlag;
/// // an arrowhead: star needs 2 colors, a column coloring n
/// let n = 6usize;
/// let mut rows = vec![];
/// let mut cols = vec![];
/// for i in 0..n {
///     rows.extend([i, 0, i]);
///     cols.extend([i, i, 0]);
/// }
/// let p = Pattern::from_coo(n, n, &rows, &cols).unwrap();
/// let c = color_hessian(&p, &[], &ImproveOptions::default(), &StopFlag::new()).unwrap();
/// assert_eq!((c.kind, c.ncolors), (ColoringKind::Star, 2));
/// assert!(is_valid(&p, &c));
/// ```
pub fn color_hessian(
    pattern: &Pattern,
    schemes: &[ColoringKind],
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    require_symmetric(pattern, "Hessian coloring")?;
    let all = [
        ColoringKind::Star,
        ColoringKind::Column,
        ColoringKind::Acyclic,
    ];
    let schemes = if schemes.is_empty() {
        &all[..]
    } else {
        schemes
    };
    if let Some(bad) = schemes.iter().find(|k| **k == ColoringKind::Row) {
        return Err(Error::invalid(format!(
            "a Hessian coloring is star, acyclic or column; got {bad}"
        )));
    }
    let share = ImproveOptions {
        work: opts.work / schemes.len() as u64,
        ..*opts
    };
    let mut best: Option<Coloring> = None;
    for kind in all.into_iter().filter(|k| schemes.contains(k)) {
        let c = match kind {
            ColoringKind::Column => color_columns_best(pattern, &[], &share, stop)?,
            k => color_symmetric_best(pattern, k, &[], &share, stop)?,
        };
        if best.as_ref().map_or(true, |b| c.ncolors < b.ncolors) {
            best = Some(c);
        }
    }
    best.ok_or_else(|| Error::invalid("no Hessian coloring scheme given"))
}
