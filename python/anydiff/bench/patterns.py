"""Sparsity patterns of real discretisations, for the coloring tests and benches.

Generated, not downloaded: finite-difference stencils (Poisson 5-, 7- and 9-point), finite
element matrices (Q1 Laplacian and Q1 plane elasticity on a structured mesh, 27-point Q1
Laplacian in 3-D), the Brusselator, and two-sided patterns (arrowheads) for bicolorings.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from anydiff.coloring import Pattern

__all__ = ["PATTERN_SET", "arrowhead", "brusselator", "q1_elasticity", "stencil"]


def stencil(shape: tuple[int, ...], offsets: list[tuple[int, ...]]) -> Pattern:
    """The pattern of a stencil on a grid (no wrap-around), points in C order."""
    size = int(np.prod(shape))
    index = np.arange(size).reshape(shape)
    rows, cols = [], []
    for off in offsets:
        src = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape))
        dst = tuple(slice(max(0, o), max(0, o) + (s.stop - s.start)) for o, s in zip(off, src))
        rows.append(index[src].ravel())
        cols.append(index[dst].ravel())
    return Pattern.from_coo((size, size), np.concatenate(rows), np.concatenate(cols))


def _box(dim: int) -> list[tuple[int, ...]]:
    return list(itertools.product((-1, 0, 1), repeat=dim))


def _cross(dim: int) -> list[tuple[int, ...]]:
    eye = np.eye(dim, dtype=int)
    return [(0,) * dim] + [tuple(s * e) for e in eye for s in (1, -1)]


def q1_elasticity(nx: int, ny: int) -> Pattern:
    """Bilinear quadrilaterals on an nx x ny element mesh, 2 unknowns per node."""
    nodes = _box(2)
    scalar = stencil((nx + 1, ny + 1), nodes)
    rows, cols = scalar.coo()
    r = np.concatenate([2 * rows + a for a in (0, 1) for _ in (0, 1)])
    c = np.concatenate([2 * cols + b for _ in (0, 1) for b in (0, 1)])
    size = 2 * (nx + 1) * (ny + 1)
    return Pattern.from_coo((size, size), r, c)


def brusselator(n: int) -> Pattern:
    """The 2-D Brusselator's Jacobian (periodic 5-point stencil on u and v, coupled)."""
    idx = np.arange(2 * n * n).reshape(2, n, n)
    rows, cols = [], []
    for di, dj in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]:
        rows.append(idx.ravel())
        cols.append(np.roll(idx, (-di, -dj), axis=(1, 2)).ravel())
    rows.append(idx.ravel())
    cols.append(idx[::-1].ravel())
    return Pattern.from_coo((2 * n * n, 2 * n * n), np.concatenate(rows), np.concatenate(cols))


def arrowhead(n: int, dense: int = 1) -> Pattern:
    """A diagonal with ``dense`` full rows and ``dense`` full columns."""
    rows = [np.arange(n)]
    cols = [np.arange(n)]
    for k in range(dense):
        rows += [np.full(n, k), np.arange(n)]
        cols += [np.arange(n), np.full(n, k)]
    return Pattern.from_coo((n, n), np.concatenate(rows), np.concatenate(cols))


PATTERN_SET: dict[str, Callable[[], Pattern]] = {
    "poisson5 64^2": lambda: stencil((64, 64), _cross(2)),
    "poisson7 16^3": lambda: stencil((16, 16, 16), _cross(3)),
    "fe laplacian q1 (9-point) 64^2": lambda: stencil((64, 64), _box(2)),
    "q1 laplacian 3-D (27-point) 12^3": lambda: stencil((12, 12, 12), _box(3)),
    "q1 elasticity 24x24": lambda: q1_elasticity(24, 24),
    "brusselator 32": lambda: brusselator(32),
}
"""The symmetric patterns of the set, by name (made on demand)."""
