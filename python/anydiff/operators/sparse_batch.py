"""Sparse Jacobians at many points: ``batch_sparse_jacobian(SparseBackend(...), f, X)``
gives the pattern once and the values of every point in the pattern's CSR order, an array
``(points, nnz)``: lazy (a ``dask.array``) when X is a ``dask.array``.

The pattern comes from the plan prepared in the calling process at X's first point; the
Dask workers prepare theirs with that pattern (``KnownPattern``), so every block's values
follow it. For a ``dask.array`` X with a detector that finds the pattern whatever the point
(``TracerDetector``, ``KnownPattern``) the plan is prepared at a point of ones and nothing
of X is computed at call time; with other detectors, which may probe values
(``LocalDetector``; the default ``AutoDetector`` when f does not trace), X's first point
is computed at call time and the plan prepared there, as in memory. Each point is
evaluated by the sparse plan (memory follows the nonzeros, not the dense matrix), one
point after the other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from anydiff._contract import Function
from anydiff.coloring import Pattern
from anydiff.operators._dask import is_dask_array, map_points, points_chunked
from anydiff.operators._streaming import check_chunk_size

__all__ = ["SparseJacobians", "batch_sparse_jacobian"]


@dataclass(frozen=True)
class SparseJacobians:
    """Sparse Jacobians at many points sharing one pattern.

    Attributes:
        pattern: the (m, n) pattern over the flattened output and input; its ``indptr``
            and ``indices`` are the CSR index arrays of every point's matrix.
        values: ``(points, pattern.nnz)``, row i the nonzeros of point i in CSR order: a
            numpy array, or a lazy ``dask.array`` chunked as X's points.
    """

    pattern: Pattern
    values: Any

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def matrix(self, i: int) -> Any:
        """Point i's Jacobian as a ``scipy.sparse.csr_array`` (computing that row of a lazy
        ``values``)."""
        row = self.values[i]
        return self.pattern.tocsr(np.asarray(row.compute() if is_dask_array(row) else row))


def batch_sparse_jacobian(
    b: Any, f: Function, X: Any, *args: Any, chunk_size: Optional[int] = None
) -> SparseJacobians:
    """The sparse Jacobian of f at each row of X (a numpy array, memmap or ``dask.array``
    chunked along the points) with ``b``, a ``SparseBackend`` of ``format="scipy"`` (the
    default for numpy points): one pattern and the values of every point. Other arguments
    of f are wrapped in ``anydiff.Constant``; ``chunk_size`` rechunks a ``dask.array``'s
    points."""
    from anydiff.backends.sparse import SparseBackend

    chunk_size = check_chunk_size(chunk_size)
    if not isinstance(b, SparseBackend):
        raise TypeError(
            "batch_sparse_jacobian needs a SparseBackend (e.g. SparseBackend(DualBackend())); "
            f"got {type(b).__name__} (batch_jacobian gives dense Jacobians with any backend)"
        )
    if b.format not in (None, "scipy"):
        raise ValueError(
            "batch_sparse_jacobian gives numpy values of CSR matrices: the SparseBackend's "
            f"format must be 'scipy' (or None); got {b.format!r}"
        )
    dask_input = is_dask_array(X)
    if not dask_input and not isinstance(X, np.ndarray):
        raise TypeError(
            "batch_sparse_jacobian: X must be a numpy array (or memmap) or a dask.array "
            f"with the points along its first axis; got {type(X).__name__}"
        )
    if X.ndim < 1 or (not dask_input and X.shape[0] == 0):
        raise ValueError(
            "batch_sparse_jacobian: X needs a leading points axis with at least one point; "
            f"got shape {X.shape}"
        )
    if dask_input:
        from anydiff.detection import KnownPattern, TracerDetector

        X = points_chunked(X, "batch_sparse_jacobian", chunk_size)
        if isinstance(b.detector, (KnownPattern, TracerDetector)) or X.shape[0] == 0:
            point = np.ones(X.shape[1:], X.dtype)
        else:
            point = np.asarray(X[0].compute())
        plan = _ValuesPlan(b, f, point, args)
        # The workers' plans get the caller's pattern, whatever their detector would find.
        pinned = copy.copy(b)
        pinned.detector = KnownPattern(plan.pattern)
        values = map_points(
            X,
            _prepare_values,
            ("sparse_jacobian", pinned, f, args),
            (plan.pattern.nnz,),
            plan.dtype,
            "batch_sparse_jacobian",
        )
        return SparseJacobians(plan.pattern, values)
    plan = _ValuesPlan(b, f, np.asarray(X[0]), args)
    return SparseJacobians(plan.pattern, plan(X))


class _ValuesPlan:
    """The sparse Jacobian plan prepared at ``point``, evaluated at many points: their
    values in the pattern's CSR order."""

    def __init__(self, b: Any, f: Function, point: np.ndarray, args: tuple) -> None:
        from anydiff.backends.sparse import SparseJacobianPlan

        self.plan = SparseJacobianPlan(b, f, point, *args)
        self.pattern: Pattern = self.plan.pattern
        self.dtype = np.dtype(self.plan.dtype)
        self.args = args

    def __call__(self, X: Any) -> np.ndarray:
        nnz, point_shape = self.pattern.nnz, self.plan.inputs.shape
        if tuple(X.shape[1:]) != tuple(point_shape):
            raise ValueError(
                "batch_sparse_jacobian: expected points of shape "
                f"{tuple(point_shape)}; got X of shape {tuple(X.shape)}"
            )
        values = np.empty((X.shape[0], nnz), self.dtype)
        for i in range(X.shape[0]):
            matrix = self.plan(np.asarray(X[i]), *self.args)
            values[i] = _csr_values(matrix, self.pattern)
        return values


def _csr_values(matrix: Any, pattern: Pattern) -> np.ndarray:
    """The stored values of a CSR matrix of ``pattern`` (checked: the same index arrays)."""
    if matrix.nnz != pattern.nnz or not np.array_equal(matrix.indices, pattern.indices):
        raise ValueError(
            "batch_sparse_jacobian: a point's sparse Jacobian does not have the plan's "
            f"pattern ({matrix.nnz} stored entries, {pattern.nnz} in the pattern)"
        )
    return np.asarray(matrix.data)


def _prepare_values(recipe: tuple, block: np.ndarray) -> Callable[[np.ndarray], Any]:
    """A worker's plan for its blocks (``map_points``)."""
    _, b, f, args = recipe
    point = block[0] if len(block) else np.ones(block.shape[1:], block.dtype)
    return _ValuesPlan(b, f, np.asarray(point), args)
