"""Helpers of the sparse tests: random patterns, integer matrices on a pattern, and coloring
checks written from the definitions (independent of the Rust ``is_valid``)."""

from __future__ import annotations

from typing import Any

import numpy as np

# --- random patterns ----------------------------------------------------------------------


def random_mask(m: int, n: int, density: float, seed: int) -> np.ndarray:
    """An m x n boolean mask with about ``density`` of its entries set."""
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(m, n)) < density


def random_symmetric_mask(n: int, density: float, seed: int, diagonal: str) -> np.ndarray:
    """A symmetric n x n mask; ``diagonal`` is ``"full"``, ``"none"`` or ``"random"``."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.uniform(size=(n, n)) < density, 1)
    mask = upper | upper.T
    if diagonal == "full":
        mask |= np.eye(n, dtype=bool)
    elif diagonal == "random":
        mask |= np.diag(rng.uniform(size=n) < 0.5)
    return mask


def integer_matrix(mask: np.ndarray, seed: int) -> np.ndarray:
    """Nonzero integers in -9..9 on ``mask``, zero elsewhere (float64, exact)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 10, size=mask.shape) * rng.choice([-1, 1], size=mask.shape)
    return np.where(mask, values, 0).astype(np.float64)


def symmetric_integer_matrix(mask: np.ndarray, seed: int) -> np.ndarray:
    """A symmetric integer matrix with nonzeros exactly on the symmetric ``mask``."""
    full = integer_matrix(mask, seed)
    return np.where(np.triu(np.ones(mask.shape, dtype=bool)), full, full.T)


# --- coloring checks from the definitions ------------------------------------------------


def columns_ok(mask: np.ndarray, colors: np.ndarray) -> bool:
    """No two columns of one color have a nonzero in the same row."""
    for row in mask:
        used = colors[np.flatnonzero(row)]
        if len(used) != len(np.unique(used)):
            return False
    return True


def rows_ok(mask: np.ndarray, colors: np.ndarray) -> bool:
    """No two rows of one color have a nonzero in the same column."""
    return columns_ok(mask.T, colors)


def _neighbours(mask: np.ndarray) -> list[set[int]]:
    """The adjacency graph of a symmetric pattern (diagonal entries are not edges)."""
    n = mask.shape[0]
    return [set(np.flatnonzero(mask[v])) - {v} for v in range(n)]


def proper(mask: np.ndarray, colors: np.ndarray) -> bool:
    """Distance-1 coloring: adjacent vertices differ in color."""
    rows, cols = np.nonzero(mask)
    off = rows != cols
    return bool(np.all(colors[rows[off]] != colors[cols[off]]))


def star_ok(mask: np.ndarray, colors: np.ndarray) -> bool:
    """Star coloring: proper, and no path on 4 vertices uses only 2 colors."""
    if not proper(mask, colors):
        return False
    adj = _neighbours(mask)
    for b in range(len(adj)):
        for c in adj[b]:
            # path a - b - c - d with colors x y x y
            for a in adj[b] - {c}:
                if colors[a] != colors[c]:
                    continue
                for d in adj[c] - {a, b}:
                    if colors[d] == colors[b]:
                        return False
    return True


def _root(parent: list[int], v: int) -> int:
    """Union-find root of ``v`` (with path halving)."""
    while parent[v] != v:
        parent[v] = parent[parent[v]]
        v = parent[v]
    return v


def acyclic_ok(mask: np.ndarray, colors: np.ndarray) -> bool:
    """Acyclic coloring: proper, and the subgraph of any two colors is a forest."""
    if not proper(mask, colors):
        return False
    rows, cols = np.nonzero(np.triu(mask, 1))
    palette = np.unique(colors)
    for c1 in palette:
        for c2 in palette[palette > c1]:
            parent = list(range(mask.shape[0]))
            for u, v in zip(rows, cols):
                if {colors[u], colors[v]} != {c1, c2}:
                    continue
                ru, rv = _root(parent, u), _root(parent, v)
                if ru == rv:
                    return False  # this edge closes a two-colored cycle
                parent[ru] = rv
    return True


def seed(colors: np.ndarray) -> np.ndarray:
    """The seed matrix S[v, colors[v]] = 1, built here rather than by the library."""
    ncolors = int(colors.max()) + 1 if len(colors) else 0
    s = np.zeros((len(colors), ncolors))
    s[np.arange(len(colors)), colors] = 1.0
    return s


def dense(a: Any) -> np.ndarray:
    """A scipy sparse matrix, BCOO or torch sparse tensor (or a dense array) as numpy."""
    if hasattr(a, "toarray"):
        return np.asarray(a.toarray())
    if hasattr(a, "to_dense"):
        return a.to_dense().detach().cpu().numpy()
    if hasattr(a, "todense"):
        return np.asarray(a.todense())
    return np.asarray(a)


# --- the Brusselator's structure, from its stencil -----------------------------------------


def brusselator_pattern(n_grid: int) -> np.ndarray:
    """The 2 N^2 x 2 N^2 mask of the Brusselator Jacobian in Julia's layout
    ``i + N j + N^2 k``: the periodic 5-point stencil within u and within v, plus the
    coupling of u and v at the same grid point."""
    size = 2 * n_grid * n_grid
    mask = np.zeros((size, size), dtype=bool)

    def index(i: int, j: int, k: int) -> int:
        return i % n_grid + n_grid * (j % n_grid) + n_grid * n_grid * k

    for k in (0, 1):
        for j in range(n_grid):
            for i in range(n_grid):
                row = index(i, j, k)
                for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
                    mask[row, index(i + di, j + dj, k)] = True
                mask[row, index(i, j, 1 - k)] = True
    return mask
