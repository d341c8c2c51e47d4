//! Vertex orderings for the greedy colorings.

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
    /// A uniformly random permutation from the given seed.
    Random(u64),
}

impl Order {
    /// Every ordering (random with seed 0), in the order tried by the "best"
    /// colorings by default.
    pub const ALL: [Order; 6] = [
        Order::Natural,
        Order::LargestFirst,
        Order::SmallestLast,
        Order::IncidenceDegree,
        Order::DynamicLargestFirst,
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
    /// `"incidence_degree"`, `"dynamic_largest_first"`, `"random"` (seed 0)
    /// or `"random:<seed>"`, ASCII case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let bad = || {
            Error::invalid(format!(
                "unknown ordering {s:?}: expected one of \"natural\", \"largest_first\", \
                 \"smallest_last\", \"incidence_degree\", \"dynamic_largest_first\", \
                 \"random\" or \"random:<seed>\""
            ))
        };
        match lower.as_str() {
            "natural" => Ok(Order::Natural),
            "largest_first" => Ok(Order::LargestFirst),
            "smallest_last" => Ok(Order::SmallestLast),
            "incidence_degree" => Ok(Order::IncidenceDegree),
            "dynamic_largest_first" => Ok(Order::DynamicLargestFirst),
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
