//! Graph views of a [`Pattern`], walked without materialising the graph.

use super::pattern::Pattern;
use crate::stop::StopFlag;

/// Marker for "no vertex / no color".
pub(crate) const NONE: usize = usize::MAX;

/// A graph whose neighbours are enumerated from a pattern.
pub(crate) trait Graph {
    /// Number of vertices.
    fn len(&self) -> usize;

    /// Calls `f` on every neighbour of `v`; a neighbour may be reported
    /// several times and `v` itself may be reported.
    fn for_each_raw(&self, v: usize, f: impl FnMut(usize));

    /// Calls `f` once on every neighbour `u != v`, using `mark` (one entry
    /// per vertex) stamped with `v`: `mark[v]` must not already hold `v`
    /// from an earlier call for another purpose.
    fn for_each_distinct(&self, v: usize, mark: &mut [usize], mut f: impl FnMut(usize)) {
        mark[v] = v;
        self.for_each_raw(v, |u| {
            if mark[u] != v {
                mark[u] = v;
                f(u);
            }
        });
    }

    /// A lower bound on the number of colors of any proper coloring.
    fn lower_bound(&self) -> usize {
        usize::from(self.len() > 0)
    }

    /// Distinct-neighbour degree of every vertex.
    fn degrees(&self) -> Vec<usize> {
        let n = self.len();
        let mut mark = vec![NONE; n];
        (0..n)
            .map(|v| {
                let mut d = 0usize;
                self.for_each_distinct(v, &mut mark, |_| d += 1);
                d
            })
            .collect()
    }
}

/// Column intersection graph: columns `j`, `k` adjacent when they share a row.
pub(crate) struct ColumnGraph<'a>(pub &'a Pattern);

impl Graph for ColumnGraph<'_> {
    fn len(&self) -> usize {
        self.0.ncols()
    }

    fn lower_bound(&self) -> usize {
        // the columns of one row form a clique
        let rows = self.0.row_ptr().windows(2).map(|w| w[1] - w[0]).max();
        rows.unwrap_or(0).max(usize::from(self.len() > 0))
    }

    fn for_each_raw(&self, v: usize, mut f: impl FnMut(usize)) {
        for &r in self.0.col(v) {
            for &u in self.0.row(r) {
                f(u);
            }
        }
    }
}

/// Row intersection graph: rows `i`, `k` adjacent when they share a column.
pub(crate) struct RowGraph<'a>(pub &'a Pattern);

impl Graph for RowGraph<'_> {
    fn len(&self) -> usize {
        self.0.nrows()
    }

    fn lower_bound(&self) -> usize {
        // the rows of one column form a clique
        let cols = self.0.col_ptr().windows(2).map(|w| w[1] - w[0]).max();
        cols.unwrap_or(0).max(usize::from(self.len() > 0))
    }

    fn for_each_raw(&self, v: usize, mut f: impl FnMut(usize)) {
        for &c in self.0.row(v) {
            for &u in self.0.col(c) {
                f(u);
            }
        }
    }
}

/// Adjacency graph of a square (symmetric) pattern, diagonal ignored.
pub(crate) struct AdjacencyGraph<'a>(pub &'a Pattern);

impl Graph for AdjacencyGraph<'_> {
    fn len(&self) -> usize {
        self.0.nrows()
    }

    fn for_each_raw(&self, v: usize, mut f: impl FnMut(usize)) {
        for &u in self.0.row(v) {
            f(u);
        }
    }
}

/// An explicit graph in CSR form (distinct neighbours, no self loops), with
/// 32-bit neighbour indices to halve the memory the searches walk.
pub(crate) struct ExplicitGraph {
    ptr: Vec<usize>,
    adj: Vec<u32>,
    /// The lower bound of the graph it was built from.
    bound: usize,
}

/// Why [`ExplicitGraph::build`] gave up.
pub(crate) enum BuildStop {
    /// The graph is larger than the cap (or its vertices do not fit 32 bits,
    /// or the memory could not be had).
    TooLarge,
    /// The stop flag was raised.
    Interrupted,
}

impl ExplicitGraph {
    /// Materialises `g` unless it would hold more than `cap` adjacency
    /// entries; polls `stop` every 4096 vertices.
    pub fn build<G: Graph>(g: &G, cap: usize, stop: &StopFlag) -> Result<Self, BuildStop> {
        let n = g.len();
        if u32::try_from(n).is_err() {
            return Err(BuildStop::TooLarge);
        }
        let mut mark = vec![NONE; n];
        let mut ptr = Vec::new();
        ptr.try_reserve_exact(n + 1)
            .map_err(|_| BuildStop::TooLarge)?;
        let mut adj: Vec<u32> = Vec::new();
        ptr.push(0);
        for v in 0..n {
            if v % 4096 == 4095 && stop.is_raised() {
                return Err(BuildStop::Interrupted);
            }
            let mut over = false;
            g.for_each_distinct(v, &mut mark, |u| {
                if adj.len() >= cap
                    || (adj.len() == adj.capacity()
                        && adj.try_reserve(adj.len().max(1024)).is_err())
                {
                    over = true;
                } else {
                    adj.push(u as u32);
                }
            });
            if over {
                return Err(BuildStop::TooLarge);
            }
            ptr.push(adj.len());
        }
        Ok(ExplicitGraph {
            ptr,
            adj,
            bound: g.lower_bound(),
        })
    }

    /// Neighbours of `v`.
    #[inline]
    pub fn neighbors(&self, v: usize) -> &[u32] {
        &self.adj[self.ptr[v]..self.ptr[v + 1]]
    }

    /// Number of adjacency entries (twice the number of edges).
    pub fn entries(&self) -> usize {
        self.adj.len()
    }
}

impl Graph for ExplicitGraph {
    fn len(&self) -> usize {
        self.ptr.len().saturating_sub(1)
    }

    #[inline]
    fn for_each_raw(&self, v: usize, mut f: impl FnMut(usize)) {
        for &u in self.neighbors(v) {
            f(u as usize);
        }
    }

    fn lower_bound(&self) -> usize {
        self.bound
    }

    /// Neighbours are already distinct: no marks needed.
    #[inline]
    fn for_each_distinct(&self, v: usize, _mark: &mut [usize], f: impl FnMut(usize)) {
        self.for_each_raw(v, f);
    }

    fn degrees(&self) -> Vec<usize> {
        self.ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// A small seeded generator (splitmix64).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// Generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform integer in `0..bound` (`bound > 0`; 0 when `bound == 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        // multiply-shift reduction; bias is negligible for our bounds
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<X>(&mut self, items: &mut [X]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
