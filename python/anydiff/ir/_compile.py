"""Tracing a function of (inputs, constants) once and compiling it for the Rust engine."""

from __future__ import annotations

from typing import Any, Callable, Literal, Optional, Sequence

import numpy as np

from anydiff import _core
from anydiff._arrays import kind_name, to_host
from anydiff.ir._graph import Graph
from anydiff.ir.jaxpr import trace_jax
from anydiff.ir.numpy_tracer import TraceError, trace_numpy

__all__ = [
    "Frontend",
    "TracedProgram",
    "constant_key",
    "flat_points",
    "is_parameter",
    "trace",
]

Frontend = Literal["auto", "numpy", "jax"]
FRONTENDS: tuple[Frontend, ...] = ("auto", "numpy", "jax")


def is_parameter(c: Any) -> bool:
    """Constants that become parameters of the program (values may change per call)."""
    if isinstance(c, (bool, np.bool_)):
        return False
    if isinstance(c, (int, float, np.number)):
        return True
    return kind_name(c) != "numpy" or (isinstance(c, np.ndarray) and c.dtype.kind in "iuf")


def _host(c: Any) -> np.ndarray:
    return np.asarray(to_host(c), dtype=np.float64)


def trace(
    fn: Callable[..., Any],
    xs: Sequence[Any],
    cs: Sequence[Any],
    frontend: Frontend,
    is_param: Optional[Sequence[bool]] = None,
) -> tuple[Graph, tuple[bool, ...]]:
    """Trace ``fn(xs, cs)``: inputs from ``xs``, parameters from array-like ``cs`` (the
    rest is baked in). Returns the graph and which constants are parameters.

    If ``fn`` turns a parameter into a plain array (``np.asarray(c)``), the trace is
    repeated with every constant baked in; callers then key programs on their values.
    """
    params = tuple(is_parameter(c) for c in cs) if is_param is None else tuple(is_param)
    try:
        return _trace(fn, xs, cs, frontend, params), params
    except TraceError as err:
        if is_param is not None or not any(params) or "converted to a plain" not in str(err):
            raise
    baked = (False,) * len(cs)
    return _trace(fn, xs, cs, frontend, baked), baked


def _trace(
    fn: Callable[..., Any],
    xs: Sequence[Any],
    cs: Sequence[Any],
    frontend: Frontend,
    is_param: tuple[bool, ...],
) -> Graph:
    examples = [np.zeros(np.shape(x)) for x in xs] + [
        np.zeros(np.shape(_host(c))) for c, p in zip(cs, is_param) if p
    ]
    flags = [True] * len(xs) + [False] * sum(is_param)

    def flat(*args: Any) -> Any:
        it = iter(args[len(xs) :])
        consts = tuple(next(it) if p else c for c, p in zip(cs, is_param))
        return fn(tuple(args[: len(xs)]), consts)

    if frontend == "auto":
        frontend = "jax" if any(kind_name(x) == "jax" for x in (*xs, *cs)) else "numpy"
        if frontend == "numpy":
            try:
                return trace_numpy(flat, examples, flags)
            except (TraceError, TypeError) as numpy_error:
                # jax.numpy code rejects numpy tracers with a TypeError: try its jaxpr.
                try:
                    return trace_jax(flat, examples, flags)
                except Exception as jax_error:
                    # a TraceError is the numpy tracer's own verdict; a TypeError came from
                    # code meant for JAX, so JAX's complaint is the useful one
                    if isinstance(numpy_error, TraceError):
                        raise numpy_error from None
                    raise jax_error from None
    if frontend == "numpy":
        return trace_numpy(flat, examples, flags)
    return trace_jax(flat, examples, flags)


def constant_key(c: Any, is_param: bool) -> Any:
    """What a program depends on in constant ``c``: its shape when a parameter, its value
    when baked in (so a changed value gets its own program)."""
    if is_param:
        return ("param", np.shape(_host(c)))
    if is_parameter(c):
        arr = _host(c)
        return ("value", arr.shape, arr.tobytes())
    return ("object", id(c))


class TracedProgram:
    """A traced function compiled for the engine, with its parameter handling."""

    def __init__(self, graph: Graph, is_param: tuple[bool, ...]) -> None:
        input_lens = [graph.nodes[i].length for i in graph.inputs]
        param_lens = [graph.nodes[i].length for i in graph.params]
        outputs = [o.node for o in graph.outputs]
        self.graph, self.is_param = graph, is_param
        self._has_params = any(is_param)
        self.program = _core.Program(graph.instructions(), input_lens, param_lens, outputs)

    def params(self, cs: Sequence[Any], dtype: np.dtype) -> list[np.ndarray]:
        """The parameter values for constants ``cs``, flat arrays of ``dtype``."""
        if not self._has_params:
            return []
        return [
            np.ascontiguousarray(_host(c).ravel(), dtype=dtype)
            for c, p in zip(cs, self.is_param)
            if p
        ]


def flat_points(xs: Sequence[Any], dtype: np.dtype, batch: Optional[int] = None) -> np.ndarray:
    """The inputs as engine points: (1, n), or (batch, n) when each input leads with a batch."""
    if batch is None:
        if len(xs) == 1:
            return np.asarray(xs[0], dtype=dtype).reshape(1, -1)
        parts = [np.asarray(x, dtype=dtype).ravel() for x in xs]
        return np.concatenate(parts)[None, :] if len(parts) > 1 else parts[0][None, :]
    parts = [np.asarray(x, dtype=dtype).reshape(batch, -1) for x in xs]
    return np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])
