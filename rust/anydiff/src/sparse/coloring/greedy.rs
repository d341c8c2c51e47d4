//! The greedy coloring primitive: vertices visited in a given order, each
//! taking the smallest color its colored neighbours leave free.

use super::super::graph::{Graph, NONE};

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
