"""anydiff's own forward-mode engine: trace once, evaluate dual numbers in Rust."""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import ops_named
from anydiff._layout import Layout
from anydiff._modes import check_option
from anydiff.backends.base import AbstractForwardMode, Function
from anydiff.ir._compile import (
    FRONTENDS,
    Frontend,
    TracedProgram,
    constant_key,
    flat_points,
    is_parameter,
    trace,
)

__all__ = ["DualBackend"]


class DualBackend(AbstractForwardMode):
    """Forward mode by anydiff's engine: f is traced into an expression graph (from numpy
    code or from a JAX function's jaxpr), then evaluated in Rust with multi-lane dual
    numbers — all Jacobian columns in one pass, Hessians by nested duals, many points at
    once (``batch_jacobian``).

    Args:
        device: ``"cpu"`` (the GPU engine is a separate feature).
        frontend: ``"numpy"`` traces numpy code with tracer arrays, ``"jax"`` translates
            the jaxpr; ``"auto"`` uses JAX for JAX inputs and numpy otherwise, falling back
            to JAX when numpy tracing fails.

    f must be traceable: no Python branching on input values (use ``np.where``), static
    shapes and indices. Constants that are arrays or numbers are parameters of the traced
    program and may change between calls; other constants are baked in.
    """

    array_kind = "numpy"

    def __init__(self, device: str = "cpu", frontend: Frontend = "auto") -> None:
        self.device = check_option("device", device, ("cpu",))
        self.frontend = check_option("frontend", frontend, FRONTENDS)

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        """JVPs of any callable (traced on every call: plans use the cached programs)."""
        inputs = Layout.of(tuple(xs))
        program = _Compiled(lambda a, c: f(*a), self.frontend)
        k = len(tangents[0])
        dtype = np.result_type(*(np.asarray(x).dtype for x in xs))
        seeds = inputs.flatten_rows(ops_named("numpy"), tuple(np.asarray(t) for t in tangents), k)
        rows = program.jvp_rows(xs, (), np.asarray(seeds, dtype=dtype))
        return program.outputs.split_rows(rows, k)

    def native(
        self, operator: str, fn: Function, inputs: Layout, dtype: np.dtype
    ) -> Optional[Callable]:
        compiled = _Compiled(fn, self.frontend)
        return {
            "jvp_rows": compiled.jvp_rows,
            "gradient": compiled.gradient,
            "hessian": compiled.hessian,
            "hvp_rows": compiled.hvp_rows,
            "batch_jacobian": compiled.batch_jacobian,
            "batch_hessian": compiled.batch_hessian,
        }.get(operator)


class _Compiled:
    """``fn(xs, cs)`` traced at its first call and kept per constant layout."""

    def __init__(self, fn: Function, frontend: Frontend) -> None:
        self.fn, self.frontend = fn, frontend
        self._programs: dict[Any, TracedProgram] = {}
        self._params: dict[Any, tuple[bool, ...]] = {}
        self.outputs: Layout = Layout((), False)

    def _program(self, xs: tuple, cs: tuple) -> TracedProgram:
        if not cs:  # the common case, on the hot path of prepared calls
            prog = self._programs.get(tuple(np.shape(x) for x in xs))
            if prog is not None:
                return prog
        shapes = tuple(np.shape(x) for x in xs) + tuple(is_parameter(c) for c in cs)
        is_param = self._params.get(shapes)
        key = None
        if is_param is not None:
            key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
            prog = self._programs.get(key)
            if prog is not None:
                return prog
        graph, is_param = trace(self.fn, xs, cs, self.frontend, is_param)
        self._params[shapes] = is_param
        key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
        prog = self._programs[key] = TracedProgram(graph, is_param)
        self.outputs = Layout(tuple(o.shape for o in graph.outputs), len(graph.outputs) > 1)
        return prog

    def jvp_rows(self, xs: tuple, cs: tuple, seeds: Any) -> np.ndarray:
        prog = self._program(xs, cs)
        seeds = np.asarray(seeds)
        dtype = seeds.dtype
        _, tangents = prog.program.jvp(flat_points(xs, dtype), prog.params(cs, dtype), seeds)
        return tangents[0]

    def gradient(self, xs: tuple, cs: tuple, dtype: np.dtype) -> tuple[Any, np.ndarray]:
        """Value and flat gradient of a scalar program at one point."""
        prog = self._program(xs, cs)
        values, jac = prog.program.jacobian(flat_points(xs, dtype), prog.params(cs, dtype))
        return values[0, 0], jac[0, 0]

    def hessian(self, xs: tuple, cs: tuple, dtype: np.dtype) -> tuple[Any, np.ndarray, np.ndarray]:
        prog = self._program(xs, cs)
        value, grad, hess = prog.program.hessian(flat_points(xs, dtype), prog.params(cs, dtype))
        return value[0], grad[0], hess[0]

    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> np.ndarray:
        prog = self._program(xs, cs)
        v = np.asarray(v)
        return prog.program.hvp(flat_points(xs, v.dtype), prog.params(cs, v.dtype), v)[0]

    def batch_jacobian(
        self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values (P, m) and Jacobians (P, m, n) at P points (inputs lead with the batch)."""
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self._program(point, cs)
        return prog.program.jacobian(flat_points(xs, dtype, batch), prog.params(cs, dtype))

    def batch_hessian(
        self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values (P,), gradients (P, n) and Hessians (P, n, n) at P points."""
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self._program(point, cs)
        return prog.program.hessian(flat_points(xs, dtype, batch), prog.params(cs, dtype))
