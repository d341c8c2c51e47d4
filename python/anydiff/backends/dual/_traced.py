"""A function traced for the dual-number engine, owned by the plan that traced it.

A plan keeps its :class:`TracedFunction` for its whole life and nothing else refers to
it, so a dropped plan takes its programs (and GPU kernels) with it.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from anydiff._contract import Function
from anydiff._layout import Layout
from anydiff.backends.dual._gpu import GpuKernels
from anydiff.ir._compile import (
    Frontend,
    TracedProgram,
    constant_key,
    flat_points,
    is_parameter,
    trace,
)

__all__ = ["TracedFunction"]


class TracedFunction:
    """``fn(xs, cs)`` traced at its first call: one program for inputs of the prepared
    shapes, per layout of the constants (and per value of constants baked in).

    Args:
        fn: the function of the inputs' tuple and the constants' tuple.
        frontend: the tracer (``auto``, ``numpy`` or ``jax``).
        gpu: the GPU kernels, for ``device="gpu"``.
        engine: how many points are evaluated (``auto``, ``compiled``, ``interpreter``).
    """

    def __init__(
        self,
        fn: Function,
        frontend: Frontend,
        gpu: Optional[GpuKernels] = None,
        engine: str = "auto",
    ) -> None:
        self.fn, self.frontend, self.gpu, self.engine = fn, frontend, gpu, engine
        self._only: Optional[TracedProgram] = None
        self._programs: dict[Any, TracedProgram] = {}
        self._params: dict[Any, tuple[bool, ...]] = {}
        self.outputs: Layout = Layout((), False)

    def program(self, xs: tuple, cs: tuple, value: Any = None) -> TracedProgram:
        """The program for inputs like ``xs`` and constants ``cs`` (traced if new;
        ``value``, when given, is f's value there, for the trace's value check)."""
        if not cs and self._only is not None:
            # Without constants a plan's inputs always have the shapes it was prepared
            # with (its signature checks them), so there is exactly one program.
            return self._only
        shapes = tuple(np.shape(x) for x in xs) + tuple(is_parameter(c) for c in cs)
        is_param = self._params.get(shapes)
        if is_param is not None:
            key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
            prog = self._programs.get(key)
            if prog is not None:
                return prog
        graph, is_param = trace(self.fn, xs, cs, self.frontend, is_param, value)
        self._params[shapes] = is_param
        key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
        prog = self._programs[key] = TracedProgram(graph, is_param)
        self._only = prog if not cs else None
        self.outputs = Layout(tuple(o.shape for o in graph.outputs), len(graph.outputs) > 1)
        return prog

    def values(self, xs: tuple, cs: tuple, dtype: np.dtype) -> np.ndarray:
        """f's flat value ``(m,)`` at one point."""
        prog = self.program(xs, cs)
        return prog.program.eval(flat_points(xs, dtype), prog.params(cs, dtype))[0]

    def jvp_rows(self, xs: tuple, cs: tuple, seeds: Any) -> np.ndarray:
        """JVPs ``(k, m)`` along the rows of ``seeds`` ``(k, n)`` (on the GPU for
        ``device="gpu"``)."""
        prog = self.program(xs, cs)
        seeds = np.asarray(seeds)
        dtype = seeds.dtype
        points, params = flat_points(xs, dtype), prog.params(cs, dtype)
        if self.gpu is not None:
            _, tangents = self.gpu.run(prog, points, params, seeds)
            return tangents[0].T.astype(dtype, copy=False)
        _, tangents = prog.program.jvp(points, params, seeds)
        return tangents[0]

    def vjp_rows(self, xs: tuple, cs: tuple, cotangents: Any) -> np.ndarray:
        """VJPs ``(k, n)`` of the rows of ``cotangents`` ``(k, m)``, one reverse sweep each."""
        prog = self.program(xs, cs)
        w = np.asarray(cotangents)
        _, rows = prog.program.vjp(flat_points(xs, w.dtype), prog.params(cs, w.dtype), w)
        return rows[0]

    def jacobian(
        self, xs: tuple, cs: tuple, dtype: np.dtype, values: bool
    ) -> tuple[Optional[np.ndarray], np.ndarray]:
        """Flat value ``(m,)`` (None unless asked for) and Jacobian ``(m, n)`` at one point
        by forward mode, every column a lane."""
        prog = self.program(xs, cs)
        points, params = flat_points(xs, dtype), prog.params(cs, dtype)
        if self.gpu is not None:
            vals, tangents = self.gpu.run(prog, points, params, None)
            return vals[0].astype(dtype, copy=False), tangents[0].astype(dtype, copy=False)
        vals, jac = prog.program.jacobian(points, params, values)
        return (vals[0] if values else None), jac[0]

    def gradient(self, xs: tuple, cs: tuple, dtype: np.dtype) -> tuple[Any, np.ndarray]:
        """Value and flat gradient of a scalar program at one point, by one reverse sweep
        (cheaper than forward lanes even for two inputs)."""
        prog = self.program(xs, cs)
        values, grad = prog.program.gradient(flat_points(xs, dtype), prog.params(cs, dtype))
        return values[0], grad[0]

    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> np.ndarray:
        """HVPs ``(k, n)`` along the rows of ``v`` (forward over reverse)."""
        prog = self.program(xs, cs)
        v = np.asarray(v)
        _, hvps = prog.program.hvp_reverse(flat_points(xs, v.dtype), prog.params(cs, v.dtype), v)
        return hvps[0]

    def hessians(
        self, xs: tuple, cs: tuple, batch: Optional[int], dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values ``(P,)``, gradients ``(P, n)`` and Hessians ``(P, n, n)``: at one point
        (``batch=None``) or at the ``batch`` points of batch-leading inputs, by forward
        over reverse with the identity as directions."""
        point = xs if batch is None else tuple(np.asarray(x)[0] for x in xs)
        prog = self.program(point, cs)
        points, params = flat_points(xs, dtype, batch), prog.params(cs, dtype)
        n = points.shape[1]
        values = prog.program.eval(points, params)[:, 0]
        grad, hess = prog.program.hvp_reverse(points, params, np.eye(n, dtype=dtype))
        return values, grad, hess

    def batch_jacobian(self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype) -> np.ndarray:
        """Jacobians ``(P, m, n)`` at the ``batch`` points of batch-leading inputs."""
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self.program(point, cs)
        points, params = flat_points(xs, dtype, batch), prog.params(cs, dtype)
        if self.gpu is not None:
            return self.gpu.run(prog, points, params, None)[1]
        return prog.program.jacobian(points, params, False, engine=self.engine)[1]

    def resident_batch_jacobian(self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype) -> Any:
        """Points uploaded once to the GPU with room for their values and Jacobians: an
        object with ``run()`` and ``read() -> (values (P, m), jacobians (P, m, n))``."""
        if self.gpu is None:
            raise TypeError("resident evaluation is for DualBackend(device='gpu')")
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self.program(point, cs)
        return self.gpu.resident(prog, flat_points(xs, dtype, batch), prog.params(cs, dtype))
