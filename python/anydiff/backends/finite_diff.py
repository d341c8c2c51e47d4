"""Finite differences: JVPs from batched evaluations of ``f``, stencils and steps in Rust."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from anydiff import _core
from anydiff._arrays import ops_named
from anydiff._defaults import FINITE_DIFFERENCE_METHOD
from anydiff._layout import Layout
from anydiff._modes import FINITE_DIFFERENCE_METHODS, FiniteDifferenceMethod, check_option
from anydiff._tree import leaves, map_leaves
from anydiff.backends.base import AbstractFiniteDifference, Function

__all__ = ["FiniteDifferences"]


class FiniteDifferences(AbstractFiniteDifference):
    """Forward-mode products by finite differences, computed on the host.

    Args:
        method: ``"forward"`` (order 1), ``"central"`` (order 2) or ``"central5"`` (order 4).
        step: relative step; by default ``eps ** (1 / (order + 1))`` for the input's dtype.
        vectorized: ``f`` accepts a leading batch axis on every input and returns
            batch-leading outputs, so all stencil points are evaluated in one call.

    ``f`` is called with numpy arrays. All stencil points of a batch of tangents are
    evaluated together; steps are per coordinate: along ``e_j`` the perturbation is
    ``step * max(1, |x_j|)``, and no coordinate of a tangent ``v`` moves by more than its
    own such step. ``step`` must lie in ``[eps, 1]`` for the dtype (``ValueError`` at the
    call otherwise).
    """

    def __init__(
        self,
        method: FiniteDifferenceMethod = FINITE_DIFFERENCE_METHOD,  # type: ignore[assignment]
        step: Optional[float] = None,
        vectorized: bool = False,
    ) -> None:
        self.method = check_option("method", method, FINITE_DIFFERENCE_METHODS)
        if step is not None and not (np.isfinite(step) and step > 0):
            raise ValueError(f"step must be a positive finite number or None; got {step!r}")
        self.step = step
        self.vectorized = vectorized

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        ops = ops_named("numpy")
        xs = tuple(np.asarray(x) for x in xs)
        in_layout = Layout.of(xs)
        k = len(tangents[0]) if tangents else 0
        value = _as_numpy(f(*xs))
        out_layout = Layout.of(value)
        dtype = np.result_type(*(x.dtype for x in xs), *(v.dtype for v in leaves(value)))
        x = in_layout.flatten(ops, xs).astype(dtype, copy=False)
        t = in_layout.flatten_rows(ops, tuple(np.asarray(v) for v in tangents), k)
        fx = out_layout.flatten(ops, value).astype(dtype, copy=False)
        primal = self._primal(f, in_layout, out_layout, dtype)
        jvps = _core.fd_jvp(
            primal,
            x,
            np.ascontiguousarray(t, dtype=dtype),
            scheme=self.method,
            step=self.step,
            fx=fx,
        )
        return out_layout.split_rows(jvps, k)

    def _primal(
        self, f: Function, in_layout: Layout, out_layout: Layout, dtype: np.dtype
    ) -> Function:
        ops = ops_named("numpy")

        def each(points: np.ndarray) -> np.ndarray:
            rows = [out_layout.flatten(ops, _as_numpy(f(*in_layout.split(p)))) for p in points]
            return np.asarray(rows, dtype=dtype).reshape(len(points), out_layout.size)

        def batched(points: np.ndarray) -> np.ndarray:
            k = len(points)
            out = _as_numpy(f(*in_layout.split_rows(points, k)))
            return np.ascontiguousarray(out_layout.flatten_rows(ops, out, k), dtype=dtype)

        return batched if self.vectorized else each


def _as_numpy(value: Any) -> Any:
    return map_leaves(np.asarray, value)
