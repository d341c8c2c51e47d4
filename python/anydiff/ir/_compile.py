"""Tracing a function of (inputs, constants) once and compiling it for the Rust engine."""

from __future__ import annotations

import weakref
from typing import Any, Callable, Literal, Optional, Sequence

import numpy as np

from anydiff import _core
from anydiff._arrays import kind_name, to_host
from anydiff.ir._graph import Graph, Node, Value
from anydiff.ir.jaxpr import trace_jax
from anydiff.ir.numpy_tracer import TraceError, trace_numpy

__all__ = [
    "Frontend",
    "TraceMismatchError",
    "TracedProgram",
    "constant_key",
    "flat_points",
    "is_parameter",
    "check_value",
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
    value: Any = None,
    check: bool = True,
) -> tuple[Graph, tuple[bool, ...]]:
    """Trace ``fn(xs, cs)``: inputs from ``xs``, parameters from array-like ``cs`` (the
    rest is baked in). Returns the graph and which constants are parameters.

    If ``fn`` turns a parameter into a plain array (``np.asarray(c)``), the trace is
    repeated with every constant baked in; callers then key programs on their values.
    The traced program's value at ``(xs, cs)`` is checked against ``fn``'s own
    (:func:`check_value`; ``value``, when given, is that value, already computed), unless
    ``check`` is False.
    """
    params = tuple(is_parameter(c) for c in cs) if is_param is None else tuple(is_param)
    try:
        graph = _trace(fn, xs, cs, frontend, params)
    except TraceError as err:
        if is_param is not None or not any(params) or "converted to a plain" not in str(err):
            raise
        params = (False,) * len(cs)
        graph = _trace(fn, xs, cs, frontend, params)
    if check:
        check_value(fn, xs, cs, graph, params, value)
    return graph, params


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
                    raise _both_failed(numpy_error, jax_error) from jax_error
    if frontend == "numpy":
        return trace_numpy(flat, examples, flags)
    return trace_jax(flat, examples, flags)


def _both_failed(numpy_error: Exception, jax_error: Exception) -> TraceError:
    """The ``auto`` front end's error when neither front end traces f: the numpy tracer's
    own verdict (a TraceError) comes first; a TypeError from the numpy attempt usually
    means f is JAX code rejecting numpy tracers, so JAX's complaint comes first then."""
    numpy_reason = f"{type(numpy_error).__name__}: {numpy_error}"
    jax_reason = f"{type(jax_error).__name__}: {jax_error}"
    if isinstance(numpy_error, TraceError):
        return TraceError(
            f"f could not be traced as numpy code: {numpy_error}\n(the JAX front end, tried "
            f"next, failed too: {_first_line(jax_reason)})"
        )
    return TraceError(
        f"f could not be traced as JAX code: {jax_reason}\n(the numpy tracer, tried first, "
        f"failed with {_first_line(numpy_reason)})"
    )


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 3] + "..."


class TraceMismatchError(TraceError):
    """The traced program's value differs from f's own value at the preparation point: the
    trace does not compute f, so its derivatives would be wrong."""


_PREPARED: weakref.WeakKeyDictionary[Graph, Any] = weakref.WeakKeyDictionary()
"""Programs compiled for the value check, handed on to :class:`TracedProgram`."""


def _compile_graph(graph: Graph) -> Any:
    input_lens = [graph.nodes[i].length for i in graph.inputs]
    param_lens = [graph.nodes[i].length for i in graph.params]
    outputs = [o.node for o in graph.outputs]
    return _core.Program(graph.instructions(), input_lens, param_lens, outputs)


def _flat_leaves(value: Any) -> list[np.ndarray]:
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    return [np.asarray(to_host(v)) for v in items]


def check_value(
    fn: Callable[..., Any],
    xs: Sequence[Any],
    cs: Sequence[Any],
    graph: Graph,
    is_param: Sequence[bool],
    value: Any = None,
) -> None:
    """Compare the traced program's value with f's own at ``(xs, cs)``; raise
    :class:`TraceMismatchError` where they differ (NaNs and infinities in other places, or
    numbers beyond sqrt(eps) of f's dtype relative to the largest output or input)."""
    program = _PREPARED.get(graph)
    if program is None:
        program = _PREPARED[graph] = _compile_graph(graph)
    eager = _flat_leaves(fn(tuple(xs), tuple(cs)) if value is None else value)
    points = flat_points([_host(x) for x in xs], np.dtype(np.float64))
    params = [np.ascontiguousarray(_host(c).ravel()) for c, p in zip(cs, is_param) if p]
    with np.errstate(all="ignore"):
        traced = np.asarray(program.eval(points, params))[0]
    sizes = [o.size for o in graph.outputs]
    if len(eager) != len(sizes) or [e.size for e in eager] != sizes:
        raise TraceMismatchError(
            f"the traced program of f returns {len(sizes)} output(s) of sizes {sizes}, f "
            f"returns {len(eager)} of sizes {[e.size for e in eager]}"
        )
    kinds = [e.dtype for e in eager if e.dtype.kind == "f"] + [
        np.asarray(x).dtype for x in xs if np.asarray(x).dtype.kind == "f"
    ]
    eps = max((np.finfo(d).eps for d in kinds), default=np.finfo(np.float64).eps)
    magnitude = [np.abs(_host(x)) for x in xs]
    input_scale = max(
        (float(np.max(m[np.isfinite(m)], initial=0.0)) for m in magnitude), default=0.0
    )
    start = 0
    for k, (e, size) in enumerate(zip(eager, sizes)):
        want = e.astype(np.float64).ravel()
        got = traced[start : start + size]
        start += size
        bad = _mismatch(got, want, eps, input_scale)
        if bad is not None:
            where = np.unravel_index(bad, e.shape) if e.shape else ()
            raise TraceMismatchError(
                f"the traced program of f does not compute f: at the preparation point, "
                f"output {k} element {tuple(int(i) for i in where)} is {got[bad]!r} traced "
                f"and {want[bad]!r} when f runs. " + _mismatch_cause(graph)
            )
    _check_sign_invariance(graph, traced, points, params, eps, input_scale)


_VECTOR_FUNCTIONS = ("eigh", "svd")
"""Linear algebra whose vectors have signs LAPACK picks and the engine picks otherwise."""


def _check_sign_invariance(
    graph: Graph,
    traced: np.ndarray,
    points: np.ndarray,
    params: list,
    eps: float,
    input_scale: float,
) -> None:
    """Raise :class:`TraceMismatchError` where f's value depends on the signs of the
    eigenvectors / singular vectors of ``eigh``/``svd``: signs that agree with LAPACK's at
    the preparation point need not elsewhere, where values and derivatives would silently
    follow the engine's signs. The program is evaluated with vectors flipped (all of them,
    then two seeded random patterns); a sign-invariant f gives the same value."""
    if not any(n.op == "linalg" and n.attrs.get("fn") in _VECTOR_FUNCTIONS for n in graph.nodes):
        return
    rng = np.random.default_rng(0)
    for probe in range(3):
        flipped = _compile_graph(_with_flipped_vectors(graph, probe, rng))
        with np.errstate(all="ignore"):
            got = np.asarray(flipped.eval(points, params))[0]
        if _mismatch(got, traced, eps, input_scale) is not None:
            raise TraceMismatchError(
                "f's value changes when its eigenvectors / singular vectors change sign, a "
                "convention (values and derivatives at other points could not follow f's "
                "even where the signs agree at the preparation point). " + _mismatch_cause(graph)
            )


def _with_flipped_vectors(graph: Graph, probe: int, rng: np.random.Generator) -> Graph:
    """A copy of ``graph`` whose ``eigh``/``svd`` vectors are multiplied by signs: all -1
    for probe 0, random per matrix and vector otherwise (an SVD's pairs flip together)."""
    new = Graph()
    mapping: dict[int, int] = {}
    for index, node in enumerate(graph.nodes):
        new.nodes.append(
            Node(node.op, tuple(mapping[a] for a in node.args), node.attrs, node.length)
        )
        at = len(new.nodes) - 1
        fn = node.attrs.get("fn") if node.op == "linalg" else None
        if fn in _VECTOR_FUNCTIONS:
            signs = _vector_signs(fn, node.attrs, probe, rng)
            const = new._add("const", (), signs.size, values=signs)
            at = new._add("binary", (at, const), node.length, fn="mul")
        mapping[index] = at
    new.inputs = [mapping[i] for i in graph.inputs]
    new.params = [mapping[i] for i in graph.params]
    new.outputs = [Value(new, mapping[o.node], o.shape) for o in graph.outputs]
    return new


def _vector_signs(fn: str, attrs: dict, probe: int, rng: np.random.Generator) -> np.ndarray:
    """Multipliers of a flat ``eigh`` (values, then the n x n vectors as columns) or ``svd``
    (values, u with vectors as columns, vt with vectors as rows) result."""
    batch, m, n = attrs["batch"], attrs["m"], attrs["n"]
    p = n if fn == "eigh" else min(m, n)
    rows: list[np.ndarray] = []
    for _ in range(batch):
        s = -np.ones(p) if probe == 0 else rng.choice([-1.0, 1.0], size=p)
        if fn == "eigh":
            rows.append(np.concatenate([np.ones(p), np.tile(s, n)]))
        else:
            rows.append(np.concatenate([np.ones(p), np.tile(s, m), np.repeat(s, n)]))
    return np.concatenate(rows) if rows else np.zeros(0)


def _mismatch_cause(graph: Graph) -> str:
    """The likeliest reason a traced program's value differs from f's."""
    used = {str(n.attrs.get("fn")) for n in graph.nodes if n.op == "linalg"}
    vectors = sorted(used & set(_VECTOR_FUNCTIONS))
    if vectors:
        return (
            f"f uses {' and '.join(vectors)}, whose eigenvectors / singular vectors the "
            "engine returns with each vector's largest-magnitude component positive, where "
            "LAPACK (numpy, JAX) picks signs of its own, and the derivative of a function "
            "of the vectors depends on their signs. Make f sign-invariant (v * v, v @ v.T, "
            "the eigenvalues alone), or give the vectors the engine's signs in f: "
            "v * np.where(v.max(axis=-2) >= -v.min(axis=-2), 1.0, -1.0) for columns"
        )
    return (
        "f probably uses something the tracer records differently from how it runs "
        "(randomness or state that changes between calls, Python numbers computed from "
        "array values, or a tracer bug: please report it)"
    )


def _mismatch(got: np.ndarray, want: np.ndarray, eps: float, input_scale: float) -> Optional[int]:
    """The first index where ``got`` is not ``want`` within the tolerance, or None."""
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    finite = np.isfinite(got) & np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]), initial=0.0))
    # rounding differs legitimately (sums in another order, float32 code evaluated in
    # float64): sqrt(eps) relative to the larger of the output's and the inputs' scales
    tol = np.sqrt(eps) * max(scale, input_scale)
    with np.errstate(invalid="ignore"):
        wrong = (nan_got != nan_want) | (~finite & ~nan_got & ~nan_want & (got != want))
        wrong |= finite & (np.abs(got - want) > tol)
    bad = np.flatnonzero(wrong)
    return int(bad[0]) if bad.size else None


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
        self.graph, self.is_param = graph, is_param
        self._has_params = any(is_param)
        program = _PREPARED.pop(graph, None)
        self.program = program if program is not None else _compile_graph(graph)

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
