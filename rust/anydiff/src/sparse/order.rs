//! Vertex orderings for the greedy colorings.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::fmt;
use std::str::FromStr;

use super::graph::{AdjacencyGraph, ColumnGraph, Graph, RowGraph, SplitMix64, NONE};
use super::pattern::Pattern;
use crate::error::Error;

/// The order in which a greedy coloring visits the vertices.
///
/// Degrees are those of the graph being colored: the column (or row)
/// intersection graph for column (row) colorings, the adjacency graph for
/// star and acyclic colorings. The graph is never materialised; neighbours
/// are enumerated through the pattern.
///
/// ```
/// use anydiff::sparse::Order;
/// assert_eq!("smallest_last".parse::<Order>().unwrap(), Order::SmallestLast);
/// assert_eq!("random:7".parse::<Order>().unwrap(), Order::Random(7));
/// assert!("biggest".parse::<Order>().unwrap_err().to_string().contains("largest_first"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Order {
    /// Vertices `0, 1, ..., n - 1`.
    #[default]
    Natural,
    /// Decreasing degree (ties by index).
    LargestFirst,
    /// Reverse of repeatedly removing a vertex of minimum remaining degree.
    SmallestLast,
    /// Next the vertex with the most already-ordered neighbours.
    IncidenceDegree,
    /// Next the vertex with the largest degree among unordered vertices.
    DynamicLargestFirst,
    /// DSATUR (Brelaz): next the vertex whose colored neighbours use the most
    /// distinct colors, ties by degree, then index; the order in which the
    /// DSATUR coloring colors the vertices.
    Dsatur,
    /// A uniformly random permutation from the given seed.
    Random(u64),
}

impl Order {
    /// Every ordering (random with seed 0), in the order tried by the "best"
    /// colorings by default.
    pub const ALL: [Order; 7] = [
        Order::Natural,
        Order::LargestFirst,
        Order::SmallestLast,
        Order::IncidenceDegree,
        Order::DynamicLargestFirst,
        Order::Dsatur,
        Order::Random(0),
    ];

    /// The name accepted by [`FromStr`] (`"random"` for any seed).
    pub fn as_str(&self) -> &'static str {
        match self {
            Order::Natural => "natural",
            Order::LargestFirst => "largest_first",
            Order::SmallestLast => "smallest_last",
            Order::IncidenceDegree => "incidence_degree",
            Order::DynamicLargestFirst => "dynamic_largest_first",
            Order::Dsatur => "dsatur",
            Order::Random(_) => "random",
        }
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Order::Random(seed) => write!(f, "random:{seed}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl FromStr for Order {
    type Err = Error;

    /// Parses `"natural"`, `"largest_first"`, `"smallest_last"`,
    /// `"incidence_degree"`, `"dynamic_largest_first"`, `"dsatur"`, `"random"` (seed 0)
    /// or `"random:<seed>"`, ASCII case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::invalid(format!(
                "unknown ordering {s:?}: expected one of \"natural\", \"largest_first\", \
                 \"smallest_last\", \"incidence_degree\", \"dynamic_largest_first\", \
                 \"dsatur\", \"random\" or \"random:<seed>\""
            ))
        };
        match lower.as_str() {
            "natural" => Ok(Order::Natural),
            "largest_first" => Ok(Order::LargestFirst),
            "smallest_last" => Ok(Order::SmallestLast),
            "incidence_degree" => Ok(Order::IncidenceDegree),
            "dynamic_largest_first" => Ok(Order::DynamicLargestFirst),
            "dsatur" => Ok(Order::Dsatur),
            "random" => Ok(Order::Random(0)),
            other => match other.strip_prefix("random:") {
                Some(seed) => seed.parse::<u64>().map(Order::Random).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

/// Vertex order of the column intersection graph of `pattern` (columns).
pub fn order_columns(pattern: &Pattern, order: Order) -> Vec<usize> {
    vertex_order(&ColumnGraph(pattern), order)
}

/// Vertex order of the row intersection graph of `pattern` (rows).
pub fn order_rows(pattern: &Pattern, order: Order) -> Vec<usize> {
    vertex_order(&RowGraph(pattern), order)
}

/// Vertex order of the adjacency graph of a square `pattern` (diagonal
/// ignored); for a non-square pattern the rows are ordered.
pub fn order_symmetric(pattern: &Pattern, order: Order) -> Vec<usize> {
    vertex_order(&AdjacencyGraph(pattern), order)
}

/// Computes `order` on any graph view.
pub(crate) fn vertex_order<G: Graph>(g: &G, order: Order) -> Vec<usize> {
    let n = g.len();
    match order {
        Order::Natural => (0..n).collect(),
        Order::Random(seed) => {
            let mut v: Vec<usize> = (0..n).collect();
            SplitMix64::new(seed).shuffle(&mut v);
            v
        }
        Order::LargestFirst => {
            let deg = g.degrees();
            let mut v: Vec<usize> = (0..n).collect();
            v.sort_by_key(|&u| std::cmp::Reverse(deg[u]));
            v
        }
        Order::SmallestLast => dynamic(g, g.degrees(), Pick::Min, Update::Decrement),
        Order::IncidenceDegree => dynamic(g, vec![0; n], Pick::Max, Update::Increment),
        Order::DynamicLargestFirst => dynamic(g, g.degrees(), Pick::Max, Update::Decrement),
        Order::Dsatur => dsatur(g),
    }
}

/// The DSATUR sequence: repeatedly the uncolored vertex with the most
/// distinct colors among its neighbours (ties: larger degree, then the one
/// most recently updated; with a heap, when the key range is large: the
/// smaller index), colored with the smallest color its neighbours leave
/// free. Greedy along the sequence reproduces the DSATUR coloring.
fn dsatur<G: Graph>(g: &G) -> Vec<usize> {
    let n = g.len();
    let deg = g.degrees();
    let width = deg.iter().copied().max().unwrap_or(0) + 1;
    let mut sets = ColorSets::new(n, width);
    let mut sat = vec![0usize; n];
    let mut color = vec![NONE; n];
    let mut mark = vec![NONE; n];
    let mut forbidden: Vec<usize> = Vec::new();
    let mut queue = SaturationQueue::new(&deg, width);
    let mut seq = Vec::with_capacity(n);
    while let Some(v) = queue.pop(&sat, &color) {
        g.for_each_raw(v, |u| {
            if color[u] != NONE {
                forbidden[color[u]] = v;
            }
        });
        let c = forbidden
            .iter()
            .position(|&x| x != v)
            .unwrap_or(forbidden.len());
        if c == forbidden.len() {
            forbidden.push(NONE);
        }
        color[v] = c;
        seq.push(v);
        g.for_each_distinct(v, &mut mark, |u| {
            if color[u] == NONE && sets.insert(u, c) {
                sat[u] += 1;
                queue.raise(u, sat[u], deg[u]);
            }
        });
    }
    seq
}

/// Uncolored vertices by (saturation, degree): buckets keyed by
/// `saturation * width + degree` while that range is small, else a heap.
enum SaturationQueue {
    Buckets { q: Buckets, width: usize },
    Heap(BinaryHeap<(usize, usize, Reverse<usize>)>),
}

impl SaturationQueue {
    /// Largest bucket range kept as lists.
    const MAX_KEYS: usize = 1 << 20;

    fn new(deg: &[usize], width: usize) -> Self {
        match width.checked_mul(width) {
            Some(keys) if keys <= Self::MAX_KEYS => SaturationQueue::Buckets {
                q: Buckets::new(deg.to_vec()),
                width,
            },
            _ => SaturationQueue::Heap(
                deg.iter()
                    .enumerate()
                    .map(|(v, &d)| (0, d, Reverse(v)))
                    .collect(),
            ),
        }
    }

    /// The next vertex to color.
    fn pop(&mut self, sat: &[usize], color: &[usize]) -> Option<usize> {
        match self {
            SaturationQueue::Buckets { q, .. } => q.pop_max(),
            SaturationQueue::Heap(heap) => {
                while let Some((s, _, Reverse(v))) = heap.pop() {
                    if color[v] == NONE && s == sat[v] {
                        return Some(v);
                    }
                }
                None
            }
        }
    }

    /// `v` now has saturation `s`.
    fn raise(&mut self, v: usize, s: usize, deg: usize) {
        match self {
            SaturationQueue::Buckets { q, width } => q.set(v, s * *width + deg),
            SaturationQueue::Heap(heap) => heap.push((s, deg, Reverse(v))),
        }
    }
}

/// For each vertex, the set of colors seen among its neighbours: one bitset
/// per vertex while those stay small, else one hash set of pairs.
enum ColorSets {
    Bits { words: usize, bits: Vec<u64> },
    Pairs(HashSet<(usize, usize)>),
}

impl ColorSets {
    /// Sets for `n` vertices and colors below `colors`.
    fn new(n: usize, colors: usize) -> Self {
        let words = colors.div_ceil(64);
        match n.checked_mul(words) {
            Some(len) if words <= 4 && len <= 1 << 24 => ColorSets::Bits {
                words,
                bits: vec![0; len],
            },
            _ => ColorSets::Pairs(HashSet::new()),
        }
    }

    /// Adds color `c` to the set of `v`; whether it was new.
    fn insert(&mut self, v: usize, c: usize) -> bool {
        match self {
            ColorSets::Bits { words, bits } => {
                let word = &mut bits[v * *words + c / 64];
                let bit = 1u64 << (c % 64);
                let new = *word & bit == 0;
                *word |= bit;
                new
            }
            ColorSets::Pairs(set) => set.insert((v, c)),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    Min,
    Max,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Update {
    Increment,
    Decrement,
}

/// Repeatedly takes the vertex of extreme key, then moves the keys of its
/// unvisited neighbours by one. Smallest-last returns the reversed sequence.
fn dynamic<G: Graph>(g: &G, keys: Vec<usize>, pick: Pick, update: Update) -> Vec<usize> {
    let n = g.len();
    let mut q = Buckets::new(keys);
    let mut mark = vec![NONE; n];
    let mut done = vec![false; n];
    let mut seq = Vec::with_capacity(n);
    while let Some(v) = match pick {
        Pick::Min => q.pop_min(),
        Pick::Max => q.pop_max(),
    } {
        done[v] = true;
        seq.push(v);
        g.for_each_distinct(v, &mut mark, |u| {
            if !done[u] {
                let k = q.key[u];
                let k = match update {
                    Update::Increment => k + 1,
                    Update::Decrement => k.saturating_sub(1),
                };
                q.set(u, k);
            }
        });
    }
    if pick == Pick::Min {
        seq.reverse();
    }
    seq
}

/// Vertices bucketed by an integer key (doubly linked lists per key).
struct Buckets {
    key: Vec<usize>,
    head: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
    lo: usize,
    hi: usize,
    len: usize,
}

impl Buckets {
    fn new(key: Vec<usize>) -> Self {
        let n = key.len();
        let top = key.iter().copied().max().unwrap_or(0);
        let mut b = Buckets {
            key: vec![0; n],
            head: vec![NONE; top + 1],
            next: vec![NONE; n],
            prev: vec![NONE; n],
            lo: 0,
            hi: 0,
            len: 0,
        };
        // insert in reverse so that each bucket lists vertices by index
        for v in (0..n).rev() {
            b.insert(v, key[v]);
        }
        b.lo = 0;
        b.hi = top;
        b
    }

    fn insert(&mut self, v: usize, k: usize) {
        if k >= self.head.len() {
            self.head.resize(k + 1, NONE);
        }
        self.key[v] = k;
        self.prev[v] = NONE;
        self.next[v] = self.head[k];
        if self.head[k] != NONE {
            self.prev[self.head[k]] = v;
        }
        self.head[k] = v;
        self.lo = self.lo.min(k);
        self.hi = self.hi.max(k);
        self.len += 1;
    }

    fn remove(&mut self, v: usize) {
        let k = self.key[v];
        let (p, nx) = (self.prev[v], self.next[v]);
        if p == NONE {
            self.head[k] = nx;
        } else {
            self.next[p] = nx;
        }
        if nx != NONE {
            self.prev[nx] = p;
        }
        self.len -= 1;
    }

    fn set(&mut self, v: usize, k: usize) {
        self.remove(v);
        self.insert(v, k);
    }

    fn pop_min(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        while self.head[self.lo] == NONE {
            self.lo += 1;
        }
        let v = self.head[self.lo];
        self.remove(v);
        Some(v)
    }

    fn pop_max(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        while self.head[self.hi] == NONE {
            self.hi -= 1;
        }
        let v = self.head[self.hi];
        self.remove(v);
        Some(v)
    }
}
