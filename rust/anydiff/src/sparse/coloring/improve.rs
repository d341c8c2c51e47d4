//! Improvement pass: iterated greedy (Culberson) and tabu search (TabuCol)
//! for column and row colorings, re-greedy on class-grouped orders for star
//! and acyclic colorings.
//!
//! Every search is metered in work units ([`ImproveOptions`]), so a result
//! depends only on the input and the seed unless a wall-clock limit is set.
//! Only primitives are used here (greedy, graph views); the strategies that
//! combine orderings and improvement live in `best.rs`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::super::graph::{ColumnGraph, ExplicitGraph, Graph, RowGraph, SplitMix64, NONE};
use super::super::pattern::Pattern;
use super::budget::{ImproveOptions, Meter};
use super::greedy::greedy;
use super::{acyclic, is_valid, star, Coloring, ColoringKind};
use crate::error::Error;
use crate::stop::StopFlag;

/// Largest number of adjacency entries an improvement materialises.
pub(crate) const GRAPH_CAP: usize = 1 << 26;

/// Adjacency entries from which a graph counts as large: the searches that
/// keep a priority queue of all vertices (the dynamic orderings, the exact
/// search) cost more than they find there.
pub(crate) const LARGE_GRAPH: usize = 1 << 22;

/// Largest `vertices x colors` table the tabu search allocates.
const TABU_TABLE_CAP: usize = 1 << 26;

/// Rounds of iterated greedy without progress before it gives way to tabu.
const STALE_ROUNDS: u32 = 30;

/// The exact search for the lower bound gets `1 / EXACT_SHARE` of the
/// budget, and at most `EXACT_PER_ENTRY` units per adjacency entry: where it
/// succeeds it colors most vertices at the first or second color tried (a
/// few units per entry), and under a wall-clock limit alone (an unbounded
/// budget) a hopeless search must not take the whole time.
const EXACT_SHARE: u64 = 8;
const EXACT_PER_ENTRY: u64 = 16;

/// Tries to lower the number of colors of a valid `coloring` within the
/// budget of `opts`; the result is valid and never uses more colors.
///
/// Column and row colorings: Culberson's iterated greedy (re-coloring with
/// the vertices grouped by color class, classes in reverse, largest-first
/// and random order) followed by a tabu search (TabuCol) for `k - 1`
/// colors, repeated while it succeeds. Star and acyclic colorings: the
/// greedy star/acyclic algorithm re-run on class-grouped orders, a result
/// kept only when it has fewer colors. Deterministic for a given seed and
/// work budget. An invalid coloring is an error; a raised `stop` flag gives
/// [`Error::Interrupted`].
///
/// ```
/// use anydiff::sparse::{color_columns, improve, is_valid, ImproveOptions, Order, Pattern};
/// use anydiff::StopFlag;
/// // a 6-cycle of columns (rows link consecutive columns), natural order
/// let rows = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5];
/// let cols = [0, 3, 3, 1, 1, 4, 4, 2, 2, 5, 5, 0];
/// let p = Pattern::from_coo(6, 6, &rows, &cols).unwrap();
/// let c = color_columns(&p, Order::Natural);
/// let better = improve(&p, &c, &ImproveOptions::default(), &StopFlag::new()).unwrap();
/// assert!(is_valid(&p, &better));
/// assert!(better.ncolors <= c.ncolors);
/// assert_eq!(better.ncolors, 2);
/// ```
pub fn improve(
    pattern: &Pattern,
    coloring: &Coloring,
    opts: &ImproveOptions,
    stop: &StopFlag,
) -> Result<Coloring, Error> {
    coloring.check_shape(pattern)?;
    if !is_valid(pattern, coloring) {
        return Err(Error::invalid(format!(
            "cannot improve an invalid {} coloring",
            coloring.kind
        )));
    }
    let mut meter = Meter::new(opts, stop);
    let (colors, k) = (coloring.colors.clone(), coloring.ncolors);
    let (colors, ncolors) = match coloring.kind {
        ColoringKind::Column => {
            improve_view(&ColumnGraph(pattern), colors, k, opts.seed, &mut meter)?
        }
        ColoringKind::Row => improve_view(&RowGraph(pattern), colors, k, opts.seed, &mut meter)?,
        ColoringKind::Star => {
            let cost = symmetric_pass_cost(pattern);
            regreedy(colors, k, opts.seed, cost, &mut meter, |o| {
                star::greedy_star(pattern, o)
            })
        }
        ColoringKind::Acyclic => {
            let cost = symmetric_pass_cost(pattern);
            regreedy(colors, k, opts.seed, cost, &mut meter, |o| {
                acyclic::greedy_acyclic(pattern, o)
            })
        }
    };
    meter.finish(Coloring {
        colors,
        ncolors,
        kind: coloring.kind,
    })
}

/// Improves a proper coloring of an implicit graph view, on its explicit
/// copy when that fits.
fn improve_view<G: Graph>(
    g: &G,
    colors: Vec<usize>,
    k: usize,
    seed: u64,
    meter: &mut Meter<'_>,
) -> Result<(Vec<usize>, usize), Error> {
    if k <= g.lower_bound() || meter.exhausted() {
        return Ok((colors, k));
    }
    match ExplicitGraph::build(g, GRAPH_CAP, meter.stop()) {
        Ok(eg) => Ok(improve_graph(&eg, colors, k, seed, meter)),
        Err(super::super::graph::BuildStop::Interrupted) => {
            meter.poll()?;
            Ok((colors, k))
        }
        Err(super::super::graph::BuildStop::TooLarge) => {
            let cost = pass_cost(g);
            Ok(iterated_greedy(g, colors, k, seed, cost, meter))
        }
    }
}

/// Work units of one greedy pass over an implicit view (its raw entries).
pub(crate) fn pass_cost<G: Graph>(g: &G) -> u64 {
    let mut total = 0u64;
    for v in 0..g.len() {
        let mut d = 0u64;
        g.for_each_raw(v, |_| d += 1);
        total = total.saturating_add(d);
    }
    total.max(1)
}

/// Work units of one star/acyclic greedy pass: the two-hop walks.
fn symmetric_pass_cost(pattern: &Pattern) -> u64 {
    (0..pattern.nrows())
        .map(|v| (pattern.row(v).len() as u64).saturating_pow(2))
        .fold(0u64, u64::saturating_add)
        .max(1)
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

/// Re-runs a symmetric greedy algorithm on class-grouped orders, `cost`
/// units a run.
fn regreedy(
    colors: Vec<usize>,
    k: usize,
    seed: u64,
    cost: u64,
    meter: &mut Meter<'_>,
    mut run: impl FnMut(&[usize]) -> (Vec<usize>, usize),
) -> (Vec<usize>, usize) {
    let mut rng = SplitMix64::new(seed);
    let (mut best, mut k) = (colors, k);
    let (mut cur, mut cur_k) = (best.clone(), k);
    let mut stale = 0u32;
    let mut round = 0u64;
    while stale < STALE_ROUNDS && k > 1 && meter.spend(cost) {
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

/// Iterated greedy (Culberson): grouping by class keeps every class
/// independent, so greedy never needs more colors than there are classes.
/// Stops after [`STALE_ROUNDS`] rounds without progress; `cost` units a
/// round.
pub(crate) fn iterated_greedy<G: Graph>(
    g: &G,
    colors: Vec<usize>,
    k: usize,
    seed: u64,
    cost: u64,
    meter: &mut Meter<'_>,
) -> (Vec<usize>, usize) {
    let bound = g.lower_bound();
    let mut rng = SplitMix64::new(seed);
    let (mut best, mut k) = (colors, k);
    let mut stale = 0u32;
    let mut round = 0u64;
    while stale < STALE_ROUNDS && k > bound && meter.spend(cost) {
        let cls = class_order(&best, k, round, &mut rng);
        round += 1;
        let (c, ck) = greedy(g, &grouped(&best, k, &cls));
        stale = if ck < k { 0 } else { stale + 1 };
        if ck <= k {
            best = c;
            k = ck;
        }
    }
    (best, k)
}

/// Improves a proper coloring of an explicit graph (see [`improve`]):
/// iterated greedy on up to a quarter of the budget, then tabu search for
/// one color less while it succeeds.
pub(crate) fn improve_graph(
    g: &ExplicitGraph,
    colors: Vec<usize>,
    k: usize,
    seed: u64,
    meter: &mut Meter<'_>,
) -> (Vec<usize>, usize) {
    let bound = g.lower_bound();
    if k <= bound || meter.exhausted() {
        return (colors, k);
    }
    // an exact search for the clique bound first: on tight patterns (stencils
    // whose optimum is the bound) it finds what local search does not; not on
    // large graphs, where its saturation queue no longer fits in cache
    if g.entries() <= LARGE_GRAPH {
        let most = (g.entries() as u64 + g.len() as u64).saturating_mul(EXACT_PER_ENTRY);
        let mut exact = meter.share_at_most(EXACT_SHARE, most);
        let found = dsatur_backtracking(g, bound, &mut exact);
        meter.absorb(exact);
        if let Some(colors) = found {
            return (colors, bound);
        }
    }
    let cost = (g.entries() as u64).max(1);
    let mut first = meter.share(4);
    let (mut best, mut k) = iterated_greedy(g, colors, k, seed, cost, &mut first);
    meter.absorb(first);
    let Some(mut tabu) = Tabu::new(g, &best, k, seed, meter) else {
        return (best, k);
    };
    while k > bound {
        tabu.drop_smallest_class_last(k);
        if !tabu.search(k - 1, meter) {
            break;
        }
        k -= 1;
        best.clone_from(&tabu.col);
    }
    (best, k)
}

/// Looks for a proper coloring of `g` with `k` colors: DSATUR with
/// chronological backtracking and forward checking (Brelaz's exact
/// algorithm: the most saturated vertex next, ties by degree then index; a
/// color is refused when it leaves an uncolored neighbour no color). `None`
/// when there is none or the budget of `meter` runs out first; each color
/// tried spends twice the degree of its vertex.
fn dsatur_backtracking(g: &ExplicitGraph, k: usize, meter: &mut Meter<'_>) -> Option<Vec<usize>> {
    let n = g.len();
    if k == 0 || n == 0 {
        return (n == 0).then(Vec::new);
    }
    if n.checked_mul(k)? > TABU_TABLE_CAP || u32::try_from(n).is_err() {
        return None;
    }
    let mut s = Saturation::new(g, k);
    // (vertex, next color to try) of every colored vertex, in coloring order
    let mut stack: Vec<(usize, usize)> = Vec::new();
    while let Some(v) = s.most_saturated() {
        let (mut v, mut from) = (v, 0);
        loop {
            let degree = g.neighbors(v).len() as u64;
            let mut placed = None;
            for c in from..k {
                if s.count[v * k + c] != 0 {
                    continue;
                }
                if !meter.spend(2 * degree + 1) {
                    return None;
                }
                s.assign(v, c);
                let wipes_out = g
                    .neighbors(v)
                    .iter()
                    .any(|&u| s.color[u as usize] == NONE && s.sat[u as usize] as usize >= k);
                if !wipes_out {
                    placed = Some(c);
                    break;
                }
                s.unassign(v);
            }
            if let Some(c) = placed {
                stack.push((v, c + 1));
                break;
            }
            // no color left for v: undo the last choice and try its next color
            s.release(v);
            let (u, next) = stack.pop()?;
            s.unassign(u);
            s.release(u);
            (v, from) = (u, next);
        }
    }
    Some(s.color)
}

/// The state of [`dsatur_backtracking`]: colors, per-color neighbour counts,
/// saturation degrees and a lazy max-heap of the uncolored vertices.
struct Saturation<'a> {
    g: &'a ExplicitGraph,
    k: usize,
    color: Vec<usize>,
    /// `count[v * k + c]`: colored neighbours of `v` with color `c`.
    count: Vec<u32>,
    /// Distinct colors among the colored neighbours of each vertex.
    sat: Vec<u32>,
    /// `(saturation, degree, Reverse(vertex))`; stale entries are skipped.
    heap: BinaryHeap<(u32, u32, Reverse<u32>)>,
}

impl<'a> Saturation<'a> {
    fn new(g: &'a ExplicitGraph, k: usize) -> Self {
        let n = g.len();
        let heap = (0..n)
            .map(|v| (0, g.neighbors(v).len() as u32, Reverse(v as u32)))
            .collect();
        Saturation {
            g,
            k,
            color: vec![NONE; n],
            count: vec![0; n * k],
            sat: vec![0; n],
            heap,
        }
    }

    /// Queues `v` (uncolored) with its current saturation.
    fn release(&mut self, v: usize) {
        let degree = self.g.neighbors(v).len() as u32;
        self.heap.push((self.sat[v], degree, Reverse(v as u32)));
    }

    /// The uncolored vertex of highest saturation, taken off the queue.
    fn most_saturated(&mut self) -> Option<usize> {
        while let Some((s, _, Reverse(v))) = self.heap.pop() {
            let v = v as usize;
            if self.color[v] == NONE && self.sat[v] == s {
                return Some(v);
            }
        }
        None
    }

    fn assign(&mut self, v: usize, c: usize) {
        self.color[v] = c;
        for &u in self.g.neighbors(v) {
            let u = u as usize;
            let cell = &mut self.count[u * self.k + c];
            *cell += 1;
            if *cell == 1 {
                self.sat[u] += 1;
                if self.color[u] == NONE {
                    self.release(u);
                }
            }
        }
    }

    fn unassign(&mut self, v: usize) {
        let c = self.color[v];
        self.color[v] = NONE;
        for &u in self.g.neighbors(v) {
            let u = u as usize;
            let cell = &mut self.count[u * self.k + c];
            *cell -= 1;
            if *cell == 0 {
                self.sat[u] -= 1;
                if self.color[u] == NONE {
                    self.release(u);
                }
            }
        }
    }
}

/// State of the TabuCol search (Hertz and de Werra) on an explicit graph,
/// kept from one color count to the next: the neighbour-color table is
/// built once and updated by every move.
struct Tabu<'a> {
    g: &'a ExplicitGraph,
    rng: SplitMix64,
    /// Row length of the tables: the color count the search started from.
    stride: usize,
    /// The current (possibly conflicting) coloring.
    col: Vec<usize>,
    /// `gamma[v * stride + c]`: neighbours of `v` with color `c`.
    gamma: Vec<u32>,
    /// `tabu_until[v * stride + c]`: first iteration at which `v` may take
    /// `c` again; iterations count on across searches.
    tabu_until: Vec<u64>,
    iter: u64,
}

impl<'a> Tabu<'a> {
    /// The search state of the proper `k`-coloring `colors` of `g`; `None`
    /// when its tables would be too large or the budget cannot pay for them.
    fn new(
        g: &'a ExplicitGraph,
        colors: &[usize],
        k: usize,
        seed: u64,
        meter: &mut Meter<'_>,
    ) -> Option<Self> {
        let n = g.len();
        let cells = n.checked_mul(k)?;
        if cells > TABU_TABLE_CAP || !meter.spend(g.entries() as u64 + n as u64) {
            return None;
        }
        let mut gamma = vec![0u32; cells];
        for (v, &c) in colors.iter().enumerate() {
            for &u in g.neighbors(v) {
                gamma[u as usize * k + c] += 1;
            }
        }
        Some(Tabu {
            g,
            // a stream apart from the iterated greedy's
            rng: SplitMix64::new(seed ^ 0x5bd1_e995_7a4f_0c31),
            stride: k,
            col: colors.to_vec(),
            gamma,
            tabu_until: vec![0; cells],
            iter: 0,
        })
    }

    /// Swaps color ids so that the smallest class of the proper `k`-coloring
    /// has the last color `k - 1`: the search for `k - 1` colors starts by
    /// moving that class, so the fewer vertices it holds, the fewer
    /// conflicts it starts from. Spends nothing metered (`O(n)` swaps).
    fn drop_smallest_class_last(&mut self, k: usize) {
        let mut sizes = vec![0usize; k];
        for &c in &self.col {
            if let Some(s) = sizes.get_mut(c) {
                *s += 1;
            }
        }
        let Some(smallest) = (0..k).min_by_key(|&c| (sizes[c], Reverse(c))) else {
            return;
        };
        let last = k - 1;
        if smallest == last {
            return;
        }
        for c in self.col.iter_mut() {
            if *c == smallest {
                *c = last;
            } else if *c == last {
                *c = smallest;
            }
        }
        let stride = self.stride;
        for row in self.gamma.chunks_exact_mut(stride) {
            row.swap(smallest, last);
        }
        for row in self.tabu_until.chunks_exact_mut(stride) {
            row.swap(smallest, last);
        }
    }

    /// Moves `v` to color `c`, updating the neighbour-color table.
    fn recolor(&mut self, v: usize, c: usize) {
        let (old, s) = (self.col[v], self.stride);
        self.col[v] = c;
        for &u in self.g.neighbors(v) {
            let u = u as usize;
            self.gamma[u * s + old] -= 1;
            self.gamma[u * s + c] += 1;
        }
    }

    /// Looks for a proper `k`-coloring from the current one (a proper
    /// coloring with `k + 1` colors: the vertices of color `k` first go to
    /// their least-conflicting color); true when found (then in `col`),
    /// false when the budget runs out or cannot pay for as many moves as
    /// there are conflicts to remove. Each move spends the candidates it
    /// scores plus the degree of the moved vertex.
    fn search(&mut self, k: usize, meter: &mut Meter<'_>) -> bool {
        let g = self.g;
        let (n, s) = (g.len(), self.stride);
        if k == 0 {
            return n == 0;
        }
        let dropped: Vec<usize> = (0..n).filter(|&v| self.col[v] >= k).collect();
        let moving: u64 = dropped.iter().map(|&v| g.neighbors(v).len() as u64).sum();
        if !meter.spend(moving + n as u64) {
            return false;
        }
        for v in dropped {
            let row = &self.gamma[v * s..v * s + k];
            let mut c = 0;
            for (cc, &x) in row.iter().enumerate() {
                if x < row[c] {
                    c = cc;
                }
            }
            self.recolor(v, c);
        }
        // conflicting vertices as an indexed set
        let mut pos = vec![NONE; n];
        let mut conf: Vec<usize> = Vec::new();
        let mut conflicts: i64 = 0;
        for v in 0..n {
            let g_v = self.gamma[v * s + self.col[v]];
            if g_v > 0 {
                set_member(&mut conf, &mut pos, v, true);
                conflicts += i64::from(g_v);
            }
        }
        conflicts /= 2;
        // hopeless: even at one conflict removed per move the budget ends first
        let per_move = (conf.len() * k) as u64 + 1;
        if (conflicts as u64).saturating_mul(per_move) > meter.left() {
            return false;
        }
        let mut best_conflicts = conflicts;
        while conflicts > 0 {
            if !meter.spend((conf.len() * k) as u64 + 1) {
                return false;
            }
            self.iter += 1;
            let iter = self.iter;
            // best move among conflicting vertices
            let mut best_delta = i64::MAX;
            let mut chosen = (NONE, NONE);
            let mut ties = 0u64;
            for &v in &conf {
                let cv = self.col[v];
                let base = i64::from(self.gamma[v * s + cv]);
                for c in 0..k {
                    if c == cv {
                        continue;
                    }
                    let delta = i64::from(self.gamma[v * s + c]) - base;
                    let allowed =
                        self.tabu_until[v * s + c] <= iter || conflicts + delta < best_conflicts;
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
                let c = (self.col[v] + 1 + self.rng.below(k.saturating_sub(1).max(1))) % k;
                (v, c)
            } else {
                chosen
            };
            let old = self.col[v];
            if c == old {
                continue;
            }
            if !meter.spend(g.neighbors(v).len() as u64) {
                return false;
            }
            conflicts += i64::from(self.gamma[v * s + c]) - i64::from(self.gamma[v * s + old]);
            self.recolor(v, c);
            for &u in g.neighbors(v) {
                let u = u as usize;
                let in_conflict = self.gamma[u * s + self.col[u]] > 0;
                set_member(&mut conf, &mut pos, u, in_conflict);
            }
            let in_conflict = self.gamma[v * s + c] > 0;
            set_member(&mut conf, &mut pos, v, in_conflict);
            let tenure = self.rng.below(10) as u64 + (conf.len() as u64 * 6) / 10;
            self.tabu_until[v * s + old] = iter + tenure + 1;
            best_conflicts = best_conflicts.min(conflicts);
        }
        true
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
