//! Acyclic coloring of a symmetric pattern (greedy with two-colored trees).
//!
//! Every two-colored connected subgraph of the partial coloring is kept a
//! tree; the trees are disjoint sets of edges (union-find), in the manner of
//! Gebremedhin, Tarafdar, Manne and Pothen (SISC 2007).

use super::super::graph::{AdjacencyGraph, NONE};
use super::super::order::{vertex_order, Order};
use super::super::pattern::Pattern;
use super::{require_symmetric, Coloring, ColoringKind};
use crate::error::Error;

/// Acyclic coloring of a symmetric `pattern` (diagonal ignored): a proper
/// coloring of its adjacency graph in which every cycle uses at least 3
/// colors, so that `H` is recovered from `H S` by substitution. Usually
/// fewer colors than a star coloring. A non-square or non-symmetric pattern
/// is an error.
///
/// ```
/// use anydiff::sparse::{color_acyclic, is_valid, Order, Pattern};
/// // a 4-cycle 0-1-2-3-0 plus the diagonal
/// let r = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3];
/// let c = [0, 1, 3, 0, 1, 2, 1, 2, 3, 0, 2, 3];
/// let p = Pattern::from_coo(4, 4, &r, &c).unwrap();
/// let a = color_acyclic(&p, Order::Natural).unwrap();
/// assert_eq!(a.ncolors, 3); // 2 colors would make the cycle two-colored
/// assert!(is_valid(&p, &a));
/// ```
pub fn color_acyclic(pattern: &Pattern, order: Order) -> Result<Coloring, Error> {
    require_symmetric(pattern, "acyclic coloring")?;
    let ord = vertex_order(&AdjacencyGraph(pattern), order);
    let (colors, ncolors) = greedy_acyclic(pattern, &ord);
    Ok(Coloring {
        colors,
        ncolors,
        kind: ColoringKind::Acyclic,
    })
}

/// Disjoint sets over `0..len` (path halving, union by index).
pub(crate) struct DisjointSets(Vec<usize>);

impl DisjointSets {
    pub(crate) fn new(len: usize) -> Self {
        DisjointSets((0..len).collect())
    }

    pub(crate) fn find(&mut self, mut a: usize) -> usize {
        while self.0[a] != a {
            self.0[a] = self.0[self.0[a]];
            a = self.0[a];
        }
        a
    }

    /// Joins the sets of `a` and `b`; false when they were already one.
    pub(crate) fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.0[hi] = lo;
        true
    }
}

/// Greedy acyclic coloring along `order` of a symmetric pattern.
pub(crate) fn greedy_acyclic(pattern: &Pattern, order: &[usize]) -> (Vec<usize>, usize) {
    let n = pattern.nrows();
    let ptr = pattern.row_ptr();
    let idx = pattern.col_idx();
    let mirror = pattern.mirror_positions();
    // one id per undirected edge: the smaller of its two CSR positions
    let edge = |p: usize| p.min(mirror[p]);
    let mut color = vec![NONE; n];
    let mut forbidden: Vec<usize> = Vec::new();
    let mut first: Vec<(usize, usize, usize)> = Vec::new();
    let mut first_visit = vec![(NONE, NONE); idx.len()];
    let mut trees = DisjointSets::new(idx.len());

    for &v in order {
        for &w in &idx[ptr[v]..ptr[v + 1]] {
            if w != v && color[w] != NONE {
                forbidden[color[w]] = v;
            }
        }
        for &w in &idx[ptr[v]..ptr[v + 1]] {
            if w == v || color[w] == NONE {
                continue;
            }
            for q in ptr[w]..ptr[w + 1] {
                let x = idx[q];
                if x == v || x == w || color[x] == NONE || forbidden[color[x]] == v {
                    continue;
                }
                // v next to two vertices of one two-colored tree: a cycle
                let root = trees.find(edge(q));
                let (fv, fw) = first_visit[root];
                if fv != v {
                    first_visit[root] = (v, w);
                } else if fw != w {
                    forbidden[color[x]] = v;
                }
            }
        }
        let c = forbidden
            .iter()
            .position(|&s| s != v)
            .unwrap_or(forbidden.len());
        if c == forbidden.len() {
            forbidden.push(NONE);
            first.push((NONE, NONE, NONE));
        }
        color[v] = c;
        // edges from v to neighbours of one color form one tree (a star at v)
        for p in ptr[v]..ptr[v + 1] {
            let w = idx[p];
            if w == v || color[w] == NONE {
                continue;
            }
            let (fv, _, fp) = first[color[w]];
            if fv != v {
                first[color[w]] = (v, w, p);
            } else {
                trees.union(edge(p), edge(fp));
            }
        }
        // and they join the trees hanging from those neighbours
        for p in ptr[v]..ptr[v + 1] {
            let w = idx[p];
            if w == v || color[w] == NONE {
                continue;
            }
            for q in ptr[w]..ptr[w + 1] {
                let x = idx[q];
                if x != v && x != w && color[x] == c {
                    trees.union(edge(p), edge(q));
                }
            }
        }
    }
    let ncolors = forbidden.len();
    (color, ncolors)
}

/// Exact acyclic check for a symmetric pattern: proper on the adjacency
/// graph and no two-colored cycle. Node `i * ncolors + c` stands for vertex
/// `i` in the subgraph of colors `{color[i], c}`; an edge closing a cycle
/// joins two nodes already connected.
pub(crate) fn valid_acyclic(pattern: &Pattern, coloring: &Coloring) -> bool {
    let n = pattern.nrows();
    let nc = coloring.ncolors;
    let color = &coloring.colors;
    let Some(size) = n.checked_mul(nc) else {
        return false;
    };
    let mut sets = DisjointSets::new(size);
    for i in 0..n {
        for &j in pattern.row(i) {
            if j == i {
                continue;
            }
            if color[i] == color[j] {
                return false;
            }
            if i < j && !sets.union(i * nc + color[j], j * nc + color[i]) {
                return false;
            }
        }
    }
    true
}
