//! Improvement pass: iterated greedy (Culberson) and tabu search (TabuCol).
//!
//! Both work on the graph whose proper colorings are the valid colorings
//! (column or row intersection graph), so the color count never rises.
//! Nothing here depends on how the pattern arose.

use std::time::{Duration, Instant};

use super::super::graph::{ColumnGraph, ExplicitGraph, Graph, RowGraph, SplitMix64, NONE};
use super::super::pattern::Pattern;
use super::column::greedy;
use super::{acyclic, is_valid, star, Coloring, ColoringKind};
use crate::error::Error;

/// Largest number of adjacency entries the tabu search materialises.
const TABU_GRAPH_CAP: usize = 1 << 24;

/// Settings of [`improve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImproveOptions {
    /// Wall-clock budget of the whole pass.
    pub time_budget: Duration,
    /// Seed of the random choices.
    pub seed: u64,
    /// Optional cap on the number of tabu moves (with it and a generous
    /// budget, the result depends only on the seed).
    pub max_iterations: Option<u64>,
}

impl Default for ImproveOptions {
    /// 50 ms, seed 0, no iteration cap.
    fn default() -> Self {
        ImproveOptions {
            time_budget: Duration::from_millis(50),
            seed: 0,
            max_iterations: None,
        }
    }
}

/// Tries to lower the number of colors of a valid `coloring` within
/// `opts.time_budget`; the result is valid and never uses more colors.
///
/// Column and row colorings: Culberson's iterated greedy (re-coloring with
/// the vertices grouped by color class, classes in reverse, largest-first
/// and random order) followed by a tabu search (TabuCol) for `k - 1`
/// colors, repeated while it succeeds. Star and acyclic colorings: the
/// greedy star/acyclic algorithm re-run on class-grouped orders, a result
/// kept only when it has fewer colors. Deterministic for a given seed up to
/// where the time budget cuts the search. An invalid coloring is an error.
///
/// ```
/// use anydiff::sparse::{color_columns, improve, is_valid, ImproveOptions, Order, Pattern};
/// // a 6-cycle of columns (rows link consecutive columns), natural order
/// let rows = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
/// let cols = [0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5, 0];
/// let p = Pattern::from_coo(6, 6, &rows, &cols).unwrap();
/// let c = color_columns(&p, Order::Natural);
/// let better = improve(&p, &c, &ImproveOptions::default()).unwrap();
/// assert!(is_valid(&p, &better));
/// assert!(better.ncolors <= c.ncolors);
/// assert_eq!(better.ncolors, 2);
/// ```
pub fn improve(
    pattern: &Pattern,
    coloring: &Coloring,
    opts: &ImproveOptions,
) -> Result<Coloring, Error> {
    coloring.check_shape(pattern)?;
    if !is_valid(pattern, coloring) {
        return Err(Error::invalid(format!(
            "cannot improve an invalid {} coloring",
            coloring.kind
        )));
    }
    let (colors, ncolors) = match coloring.kind {
        ColoringKind::Column => improve_graph(
            &ColumnGraph(pattern),
            coloring.colors.clone(),
            coloring.ncolors,
            opts,
        ),
        ColoringKind::Row => improve_graph(
            &RowGraph(pattern),
            coloring.colors.clone(),
            coloring.ncolors,
            opts,
        ),
        ColoringKind::Star => regreedy(coloring, opts, |o| star::greedy_star(pattern, o)),
        ColoringKind::Acyclic => regreedy(coloring, opts, |o| acyclic::greedy_acyclic(pattern, o)),
    };
    Ok(Coloring {
        colors,
        ncolors,
        kind: coloring.kind,
    })
}

/// Vertices grouped by color class, classes in the order `class_order`.
fn grouped(colors: &[usize], ncolors: usize, class_order: &[usize]) -> Vec<usize> {
    let mut classes = vec![Vec::new(); ncolors];
    for (v, &c) in colors.iter().enumerate() {
        if let Some(cl) = classes.get_mut(c) {
            cl.push(v);
        }
    }
    class_order
        .iter()
        .flat_map(|&c| classes[c].iter().copied())
        .collect()
}

/// The class order of round `round` of iterated greedy.
fn class_order(colors: &[usize], ncolors: usize, round: u64, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ncolors).collect();
    match round % 3 {
        0 => order.reverse(),
        1 => {
            let mut size = vec![0usize; ncolors];
            for &c in colors {
                if let Some(s) = size.get_mut(c) {
                    *s += 1;
                }
            }
            order.sort_by_key(|&c| std::cmp::Reverse(size[c]));
        }
        _ => rng.shuffle(&mut order),
    }
    order
}

/// Re-runs a symmetric greedy algorithm on class-grouped orders.
fn regreedy(
    coloring: &Coloring,
    opts: &ImproveOptions,
    mut run: impl FnMut(&[usize]) -> (Vec<usize>, usize),
) -> (Vec<usize>, usize) {
    let deadline = Instant::now() + opts.time_budget;
    let mut rng = SplitMix64::new(opts.seed);
    let (mut best, mut k) = (coloring.colors.clone(), coloring.ncolors);
    let (mut cur, mut cur_k) = (best.clone(), k);
    let mut stale = 0u32;
    let mut round = 0u64;
    while Instant::now() < deadline && stale < 30 && k > 1 {
        let cls = class_order(&cur, cur_k, round, &mut rng);
        round += 1;
        let (c, ck) = run(&grouped(&cur, cur_k, &cls));
        if ck < k {
            best.clone_from(&c);
            k = ck;
            stale = 0;
        } else {
            stale += 1;
        }
        // wander: keep the new coloring unless it is much worse
        if ck <= k + 1 {
            cur = c;
            cur_k = ck;
        } else {
            cur.clone_from(&best);
            cur_k = k;
        }
    }
    (best, k)
}

/// Improves a proper coloring of `g` (see [`improve`]).
pub(crate) fn improve_graph<G: Graph>(
    g: &G,
    colors: Vec<usize>,
    ncolors: usize,
    opts: &ImproveOptions,
) -> (Vec<usize>, usize) {
    let start = Instant::now();
    let deadline = start + opts.time_budget;
    let bound = g.lower_bound();
    let mut rng = SplitMix64::new(opts.seed);
    let (mut best, mut k) = (colors, ncolors);
    if k <= bound || opts.time_budget.is_zero() {
        return (best, k);
    }
    // Iterated greedy: grouping by class keeps every class independent, so
    // greedy never needs more colors than there are classes.
    let ig_deadline = start + opts.time_budget / 4;
    let mut stale = 0u32;
    let mut round = 0u64;
    while Instant::now() < ig_deadline && stale < 30 && k > bound {
        let cls = class_order(&best, k, round, &mut rng);
        round += 1;
        let (c, ck) = greedy(g, &grouped(&best, k, &cls));
        stale = if ck < k { 0 } else { stale + 1 };
        if ck <= k {
            best = c;
            k = ck;
        }
    }
    if k <= bound || Instant::now() >= deadline {
        return (best, k);
    }
    let Some(eg) = ExplicitGraph::build(g, TABU_GRAPH_CAP, deadline) else {
        return (best, k);
    };
    let mut tabu = Tabu::new(&eg, opts.max_iterations, deadline, &mut rng);
    while k > bound {
        match tabu.search(&best, k - 1) {
            Some(c) => {
                best = c;
                k -= 1;
            }
            None => break,
        }
    }
    (best, k)
}

/// State of the TabuCol search on an explicit graph.
struct Tabu<'a> {
    g: &'a ExplicitGraph,
    rng: &'a mut SplitMix64,
    deadline: Instant,
    iterations_left: u64,
}

impl<'a> Tabu<'a> {
    fn new(
        g: &'a ExplicitGraph,
        max_iterations: Option<u64>,
        deadline: Instant,
        rng: &'a mut SplitMix64,
    ) -> Self {
        Tabu {
            g,
            rng,
            deadline,
            iterations_left: max_iterations.unwrap_or(u64::MAX),
        }
    }

    /// Looks for a proper `k`-coloring starting from `start` (colors `>= k`
    /// are moved to their least-conflicting color); `None` when out of time
    /// or iterations.
    fn search(&mut self, start: &[usize], k: usize) -> Option<Vec<usize>> {
        let g = self.g;
        let n = g.len();
        if k == 0 {
            return if n == 0 { Some(Vec::new()) } else { None };
        }
        let mut col = start.to_vec();
        // gamma[v * k + c]: neighbours of v with color c
        let mut gamma = vec![0u32; n * k];
        for v in 0..n {
            if col[v] < k {
                for &u in g.neighbors(v) {
                    gamma[u * k + col[v]] += 1;
                }
            }
        }
        for v in 0..n {
            if col[v] >= k {
                let row = &gamma[v * k..(v + 1) * k];
                let mut c = 0;
                for (cc, &x) in row.iter().enumerate() {
                    if x < row[c] {
                        c = cc;
                    }
                }
                col[v] = c;
                for &u in g.neighbors(v) {
                    gamma[u * k + c] += 1;
                }
            }
        }
        // conflicting vertices as an indexed set
        let mut pos = vec![NONE; n];
        let mut conf: Vec<usize> = Vec::new();
        let mut conflicts: i64 = 0;
        for v in 0..n {
            let g_v = gamma[v * k + col[v]];
            if g_v > 0 {
                pos[v] = conf.len();
                conf.push(v);
                conflicts += i64::from(g_v);
            }
        }
        conflicts /= 2;
        let mut best_conflicts = conflicts;
        let mut tabu_until = vec![0u64; n * k];
        let mut iter: u64 = 0;
        while conflicts > 0 {
            if self.iterations_left == 0 {
                return None;
            }
            self.iterations_left -= 1;
            iter += 1;
            if iter % 256 == 0 && Instant::now() >= self.deadline {
                return None;
            }
            // best move among conflicting vertices
            let mut best_delta = i64::MAX;
            let mut chosen = (NONE, NONE);
            let mut ties = 0u64;
            for &v in &conf {
                let cv = col[v];
                let base = i64::from(gamma[v * k + cv]);
                for c in 0..k {
                    if c == cv {
                        continue;
                    }
                    let delta = i64::from(gamma[v * k + c]) - base;
                    let allowed =
                        tabu_until[v * k + c] <= iter || conflicts + delta < best_conflicts;
                    if !allowed || delta > best_delta {
                        continue;
                    }
                    if delta < best_delta {
                        best_delta = delta;
                        chosen = (v, c);
                        ties = 1;
                    } else {
                        ties += 1;
                        if self.rng.next_u64() % ties == 0 {
                            chosen = (v, c);
                        }
                    }
                }
            }
            let (v, c) = if chosen.0 == NONE {
                let v = conf[self.rng.below(conf.len())];
                let c = (col[v] + 1 + self.rng.below(k.saturating_sub(1).max(1))) % k;
                (v, c)
            } else {
                chosen
            };
            let old = col[v];
            if c == old {
                continue;
            }
            conflicts += i64::from(gamma[v * k + c]) - i64::from(gamma[v * k + old]);
            col[v] = c;
            for &u in g.neighbors(v) {
                gamma[u * k + old] -= 1;
                gamma[u * k + c] += 1;
                let in_conflict = gamma[u * k + col[u]] > 0;
                set_member(&mut conf, &mut pos, u, in_conflict);
            }
            let in_conflict = gamma[v * k + c] > 0;
            set_member(&mut conf, &mut pos, v, in_conflict);
            let tenure = self.rng.below(10) as u64 + (conf.len() as u64 * 6) / 10;
            tabu_until[v * k + old] = iter + tenure + 1;
            best_conflicts = best_conflicts.min(conflicts);
        }
        Some(col)
    }
}

/// Inserts `v` into or removes it from the indexed set `(set, pos)`.
fn set_member(set: &mut Vec<usize>, pos: &mut [usize], v: usize, member: bool) {
    if member && pos[v] == NONE {
        pos[v] = set.len();
        set.push(v);
    } else if !member && pos[v] != NONE {
        let i = pos[v];
        if let Some(last) = set.pop() {
            if last != v {
                set[i] = last;
                pos[last] = i;
            }
        }
        pos[v] = NONE;
    }
}
