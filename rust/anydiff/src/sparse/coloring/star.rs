//! Star coloring of a symmetric pattern (greedy with two-colored stars).
//!
//! The algorithm keeps every two-colored connected subgraph of the partial
//! coloring a star, recording for each edge its star and for each star its
//! hub (the center, undetermined while the star is a single edge), in the
//! manner of Gebremedhin, Tarafdar, Manne and Pothen (SISC 2007).

use super::super::graph::{AdjacencyGraph, NONE};
use super::super::order::{vertex_order, Order};
use super::super::pattern::Pattern;
use super::{require_symmetric, Coloring, ColoringKind};
use crate::error::Error;

/// Star coloring of a symmetric `pattern` (diagonal ignored): a proper
/// coloring of its adjacency graph in which every path on 4 vertices uses at
/// least 3 colors, so that `H` is recovered directly from `H S`. A
/// non-square or non-symmetric pattern is an error.
///
/// ```
/// use anydiff::sparse::{color_star, is_valid, Order, Pattern};
/// // tridiagonal 6 x 6 (the Rosenbrock Hessian pattern): 3 colors
/// let (mut r, mut c) = (vec![], vec![]);
/// for i in 0..6usize {
///     for j in i.saturating_sub(1)..(i + 2).min(6) {
///         r.push(i);
///         c.push(j);
///     }
/// }
/// let p = Pattern::from_coo(6, 6, &r, &c).unwrap();
/// let s = color_star(&p, Order::Natural).unwrap();
/// assert_eq!(s.ncolors, 3);
/// assert!(is_valid(&p, &s));
/// assert!(color_star(&Pattern::empty(2, 3), Order::Natural).is_err());
/// ```
pub fn color_star(pattern: &Pattern, order: Order) -> Result<Coloring, Error> {
    require_symmetric(pattern, "star coloring")?;
    let ord = vertex_order(&AdjacencyGraph(pattern), order);
    let (colors, ncolors) = greedy_star(pattern, &ord);
    Ok(Coloring {
        colors,
        ncolors,
        kind: ColoringKind::Star,
    })
}

/// Greedy star coloring along `order` (a permutation of the vertices) of a
/// symmetric pattern.
pub(crate) fn greedy_star(pattern: &Pattern, order: &[usize]) -> (Vec<usize>, usize) {
    let n = pattern.nrows();
    let ptr = pattern.row_ptr();
    let idx = pattern.col_idx();
    let mirror = pattern.mirror_positions();
    let mut color = vec![NONE; n];
    let mut forbidden: Vec<usize> = Vec::new();
    // per color: (vertex being colored, its first neighbour of that color, CSR position)
    let mut first: Vec<(usize, usize, usize)> = Vec::new();
    let mut treated = vec![NONE; n];
    let mut star = vec![NONE; idx.len()];
    let mut hub: Vec<usize> = Vec::new();

    // forbid the colors of all colored neighbours of `w` but `v`
    let treat = |v: usize, w: usize, color: &[usize], forbidden: &mut [usize]| {
        for &x in &idx[ptr[w]..ptr[w + 1]] {
            if x != v && x != w && color[x] != NONE {
                forbidden[color[x]] = v;
            }
        }
    };

    for &v in order {
        for p in ptr[v]..ptr[v + 1] {
            let w = idx[p];
            if w == v || color[w] == NONE {
                continue;
            }
            let cw = color[w];
            forbidden[cw] = v;
            let (fv, fw, _) = first[cw];
            if fv == v {
                // v has two neighbours of color cw: v must be the hub
                if treated[fw] != v {
                    treat(v, fw, &color, &mut forbidden);
                    treated[fw] = v;
                }
                if treated[w] != v {
                    treat(v, w, &color, &mut forbidden);
                    treated[w] = v;
                }
            } else {
                first[cw] = (v, w, p);
                // v would hang below w: w must not be a leaf of a larger star
                for q in ptr[w]..ptr[w + 1] {
                    let x = idx[q];
                    if x == v || x == w || color[x] == NONE {
                        continue;
                    }
                    if hub.get(star[q]) == Some(&x) {
                        forbidden[color[x]] = v;
                    }
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

        // record the stars of the new edges
        for p in ptr[v]..ptr[v + 1] {
            let w = idx[p];
            if w == v || color[w] == NONE {
                continue;
            }
            let mut s = NONE;
            for q in ptr[w]..ptr[w + 1] {
                let x = idx[q];
                if x != v && x != w && color[x] == c && star[q] != NONE {
                    s = star[q];
                    hub[s] = w;
                    break;
                }
            }
            if s == NONE {
                let (fv, fw, fp) = first[color[w]];
                if fv == v && fw != w && star[fp] != NONE {
                    s = star[fp];
                    hub[s] = v;
                } else {
                    s = hub.len();
                    hub.push(NONE);
                }
            }
            star[p] = s;
            if let Some(m) = star.get_mut(mirror[p]) {
                *m = s;
            }
        }
    }
    let ncolors = forbidden.len();
    (color, ncolors)
}

/// For a symmetric pattern and a star coloring, the flat index into the
/// row-major `n x ncolors` matrix `H S` holding each nonzero (CSR order);
/// `None` when the coloring is not a star coloring (improper, or a
/// two-colored path on 4 vertices exists).
///
/// A nonzero `(i, j)`, `i != j`, can be read at `(i, color[j])` when `j` is
/// the only neighbour of `i` with that color, or at `(j, color[i])` in the
/// mirrored case; a two-colored path on 4 vertices exists exactly when some
/// edge allows neither, so this is also the exact star-coloring check.
pub(crate) fn star_recovery(pattern: &Pattern, coloring: &Coloring) -> Option<Vec<usize>> {
    let n = pattern.nrows();
    let nc = coloring.ncolors;
    let color = &coloring.colors;
    let ptr = pattern.row_ptr();
    let idx = pattern.col_idx();
    let mirror = pattern.mirror_positions();
    let mut stamp = vec![NONE; nc];
    let mut count = vec![0usize; nc];
    let mut unique = vec![false; idx.len()];
    for i in 0..n {
        for &j in &idx[ptr[i]..ptr[i + 1]] {
            if j == i {
                continue;
            }
            let c = color[j];
            if c == color[i] {
                return None;
            }
            if stamp[c] != i {
                stamp[c] = i;
                count[c] = 0;
            }
            count[c] += 1;
        }
        for p in ptr[i]..ptr[i + 1] {
            unique[p] = idx[p] != i && count[color[idx[p]]] == 1;
        }
    }
    let mut out = Vec::with_capacity(idx.len());
    for i in 0..n {
        for p in ptr[i]..ptr[i + 1] {
            let j = idx[p];
            if j == i || unique[p] {
                out.push(i * nc + color[j]);
            } else if unique.get(mirror[p]) == Some(&true) {
                out.push(j * nc + color[i]);
            } else {
                return None;
            }
        }
    }
    Some(out)
}
