"""``batch_*`` (and ``batch_sparse_jacobian``) on a ``dask.array`` chunked along the
points: a lazy ``dask.array`` built with ``map_blocks``. Each block carries the plan's
recipe (operator, backend, function, constants) and a key, one per call; each worker
process prepares the plan once per key, at its first block, and reuses it for the other
blocks it computes. Errors name the block."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any, Callable, Optional

import numpy as np

__all__ = ["dask_batch", "is_dask_array", "map_points", "points_chunked", "preparations"]

_PLANS: OrderedDict[str, Any] = OrderedDict()
_KEEP = 16  # plans kept per process (the most recently used)
_LOCK = threading.Lock()
_PREPARED = [0]


def is_dask_array(X: Any) -> bool:
    """Whether X is a ``dask.array.Array`` (without importing dask)."""
    return type(X).__module__.startswith("dask.array") and hasattr(X, "map_blocks")


def preparations() -> int:
    """How many plans this process prepared for Dask blocks (one per worker process and
    call of ``batch_*``: the figure tests check)."""
    return _PREPARED[0]


def dask_batch(
    operator: str, b: Any, f: Any, X: Any, args: tuple, chunk_size: Optional[int]
) -> Any:
    """The lazy ``dask.array`` of ``batch_<operator>(b, f, X, *args)``; the non-point axes
    are rechunked to one block each, the points to ``chunk_size`` when given."""
    from anydiff.operators.batch import BatchPlan

    X = points_chunked(X, f"batch_{operator}", chunk_size)
    # The result's shape and dtype, from a plan prepared here at a point of ones (no block
    # of X is computed); the workers prepare their own at their first block.
    probe = BatchPlan(operator, b, f, np.ones((1, *X.shape[1:]), X.dtype), *args)
    point_result = probe._result_shape(1)[1:]
    recipe = (operator, b, f, args)
    return map_points(X, _batch_plan, recipe, point_result, probe.plan.dtype, f"batch_{operator}")


def points_chunked(X: Any, name: str, chunk_size: Optional[int]) -> Any:
    """X with one block along every axis but the points (``chunk_size`` points per block
    when given); unknown chunk sizes are refused."""
    if X.ndim < 1 or any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            f"{name}: a dask.array input needs a leading points axis with known chunk "
            f"sizes; got shape {X.shape} with chunks {X.chunks}"
        )
    whole = {axis: -1 for axis in range(1, X.ndim)}
    if chunk_size is not None:
        whole[0] = chunk_size
    if any(len(c) > 1 for c in X.chunks[1:]) or chunk_size is not None:
        X = X.rechunk(whole)
    return X


def map_points(
    X: Any,
    prepare: Callable[[Any, np.ndarray], Callable[[np.ndarray], Any]],
    recipe: Any,
    point_result: tuple,
    dtype: Any,
    name: str,
) -> Any:
    """The lazy ``dask.array`` of ``plan(block)`` over the point blocks of X, each block's
    rows giving results of shape ``point_result``; ``prepare(recipe, block)`` makes
    ``plan`` in a worker process at its first block (a module-level function: it travels
    by reference), and that process reuses it for the other blocks of this call."""
    token = uuid.uuid4().hex
    key = f"anydiff-{name}-{token}"
    # X's point axes (one block each) become the result's first point axes, resized, and
    # only the axes in excess are added or dropped: dropping an axis makes Dask
    # concatenate blocks along it, and stops it fusing the blocks with what follows.
    ndim = 1 + len(point_result)
    return X.map_blocks(
        _evaluate_block,
        prepare,
        recipe,
        np.dtype(dtype),
        key,
        name,
        dtype=dtype,
        chunks=(X.chunks[0], *((d,) for d in point_result)),
        drop_axis=list(range(ndim, X.ndim)),
        new_axis=list(range(X.ndim, ndim)),
        meta=np.empty((0,) * (1 + len(point_result)), dtype),
        name=f"{name}-{token}",  # Dask's keys: unique per call (a shared name would alias)
    )


def _batch_plan(recipe: tuple, block: np.ndarray) -> Callable[[np.ndarray], Any]:
    from anydiff.operators.batch import BatchPlan

    operator, b, f, args = recipe
    plan = BatchPlan(operator, b, f, block[:1], *args)
    return lambda points: plan(points, *args)


def _evaluate_block(
    block: np.ndarray,
    prepare: Callable,
    recipe: Any,
    dtype: np.dtype,
    key: str,
    name: str,
    block_info: Any = None,
) -> Any:
    location = _where(block_info)
    try:
        plan = _plan_for(key, prepare, recipe, block)
        result = plan(block)
        result = result.numpy(force=True) if hasattr(result, "numpy") else np.asarray(result)
        if result.dtype != dtype:
            raise TypeError(
                f"the worker computed {result.dtype} where the caller's process computes "
                f"{dtype}: configure the workers as the caller (e.g. JAX_ENABLE_X64=1)"
            )
        return result
    except Exception as err:
        from anydiff.operators._streaming import chunk_error

        raise chunk_error(err, f"{name}: dask block {location}") from err


def _plan_for(key: str, prepare: Callable, recipe: Any, block: np.ndarray) -> Any:
    with _LOCK:
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = prepare(recipe, block)
            _PREPARED[0] += 1
            while len(_PLANS) > _KEEP:
                _PLANS.popitem(last=False)
        else:
            _PLANS.move_to_end(key)
        return plan


def _where(block_info: Any) -> str:
    info = (block_info or {}).get(0) or {}
    loc, rows = info.get("chunk-location"), info.get("array-location")
    if loc is None or rows is None:
        return "(location unknown)"
    return f"{loc[0]} (points {rows[0][0]} to {rows[0][1] - 1})"
