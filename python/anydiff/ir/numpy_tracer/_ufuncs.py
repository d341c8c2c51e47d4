"""numpy's ufuncs on traced values: elementwise math, comparisons, logic, and the ufunc
methods (``reduce``, ``accumulate``, ``outer``, ``at``) with ``out=`` and ``where=``.

Functions the engine has no op for are composed from ops in a form that is exact where
numpy is exact, and whose derivative is JAX's at ties and special points: ``logaddexp``
picks one branch so that ``d/dx logaddexp(x, x) = 0.5`` without relying on how ``max``
splits ties, ``fmax``/``fmin`` ignore a NaN operand (value and derivative), ``remainder``
is ``fmod`` corrected as numpy and JAX do.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from anydiff.ir._graph import Graph, Value
from anydiff.ir.numpy_tracer._dispatch import UFUNCS, TraceError, implements_ufunc
from anydiff.ir.numpy_tracer._tracer import Tracer, as_value, graph_of

__all__ = ["apply_ufunc"]

_UNARY = {
    np.negative: "neg", np.exp: "exp", np.exp2: "exp2", np.expm1: "expm1", np.log: "log",
    np.log1p: "log1p", np.log2: "log2", np.log10: "log10", np.sqrt: "sqrt", np.cbrt: "cbrt",
    np.sin: "sin", np.cos: "cos", np.tan: "tan", np.arcsin: "asin", np.arccos: "acos",
    np.arctan: "atan", np.sinh: "sinh", np.cosh: "cosh", np.tanh: "tanh",
    np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh", np.absolute: "abs",
    np.fabs: "abs", np.sign: "sign", np.floor: "floor", np.ceil: "ceil", np.rint: "round",
    np.reciprocal: "recip", np.square: "square",
}  # fmt: skip
_BINARY = {
    np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
    np.arctan2: "atan2", np.minimum: "min", np.maximum: "max", np.hypot: "hypot",
    np.fmod: "rem",
}  # fmt: skip
_COMPARE = {
    np.less: "lt", np.less_equal: "le", np.greater: "gt", np.greater_equal: "ge",
    np.equal: "eq", np.not_equal: "ne",
}  # fmt: skip


def _unary_op(fn: str) -> Callable[[Any], Tracer]:
    def handler(a: Any) -> Tracer:
        graph = graph_of([a])
        return Tracer(graph.unary(fn, as_value(graph, a)))

    return handler


def _binary_op(fn: str) -> Callable[[Any, Any], Tracer]:
    def handler(a: Any, b: Any) -> Tracer:
        graph = graph_of([a, b])
        return Tracer(graph.binary(fn, as_value(graph, a), as_value(graph, b)))

    return handler


def _compare_op(fn: str) -> Callable[[Any, Any], Tracer]:
    def handler(a: Any, b: Any) -> Tracer:
        graph = graph_of([a, b])
        return Tracer(graph.compare(fn, as_value(graph, a), as_value(graph, b)), is_bool=True)

    return handler


for _ufunc, _fn in _UNARY.items():
    implements_ufunc(_ufunc)(_unary_op(_fn))
for _ufunc, _fn in _BINARY.items():
    implements_ufunc(_ufunc)(_binary_op(_fn))
for _ufunc, _fn in _COMPARE.items():
    implements_ufunc(_ufunc)(_compare_op(_fn))


# --- helpers on values ------------------------------------------------------------------------


def _const(graph: Graph, c: float) -> Value:
    return graph.const(np.float64(c))


def _isnan(graph: Graph, a: Value) -> Value:
    return graph.compare("ne", a, a)


def _where(graph: Graph, c: Value, t: Value, f: Value) -> Value:
    return graph.select(c, t, f)


def _constant(a: Any) -> Optional[np.ndarray]:
    """``a`` as a float array when it is not traced."""
    if isinstance(a, Tracer):
        return None
    return np.asarray(a, dtype=np.float64)


def _may_be_nan(a: Any) -> bool:
    c = _constant(a)
    return c is None or bool(np.isnan(c).any())


def _pair(graph: Graph, a: Value, b: Value) -> tuple[Value, Value, tuple[int, ...]]:
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    return graph.broadcast(a, shape), graph.broadcast(b, shape), shape


# --- elementwise functions composed from ops -------------------------------------------------


@implements_ufunc(np.positive, np.conjugate)
def _identity(a: Any) -> Tracer:
    graph = graph_of([a])
    v = as_value(graph, a)
    return Tracer(v, is_bool=isinstance(a, Tracer) and a.is_bool)


@implements_ufunc(np.power, np.float_power)
def _power(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    exponent = _constant(b)
    scalar = exponent is not None and exponent.ndim == 0
    if scalar and float(exponent).is_integer() and abs(float(exponent)) <= 64:
        return Tracer(graph.powi(as_value(graph, a), int(exponent)))
    return Tracer(graph.binary("pow", as_value(graph, a), as_value(graph, b)))


@implements_ufunc(np.deg2rad, np.radians)
def _deg2rad(a: Any) -> Tracer:
    return a * (math.pi / 180.0)


@implements_ufunc(np.rad2deg, np.degrees)
def _rad2deg(a: Any) -> Tracer:
    return a * (180.0 / math.pi)


@implements_ufunc(np.trunc)
def _trunc(a: Any) -> Tracer:
    graph = graph_of([a])
    v = as_value(graph, a)
    neg = graph.compare("lt", v, _const(graph, 0.0))
    return Tracer(_where(graph, neg, graph.unary("ceil", v), graph.unary("floor", v)))


def _nan_ignoring(fn: str) -> Callable[[Any, Any], Tracer]:
    """``np.fmax``/``np.fmin``: a NaN operand is ignored (value and derivative come from
    the other one); NaN only when both are."""

    def handler(a: Any, b: Any) -> Tracer:
        graph = graph_of([a, b])
        va, vb = as_value(graph, a), as_value(graph, b)
        out = graph.binary(fn, va, vb)
        if _may_be_nan(a):
            out = _where(graph, _isnan(graph, va), graph.broadcast(vb, out.shape), out)
        if _may_be_nan(b):
            out = _where(graph, _isnan(graph, vb), graph.broadcast(va, out.shape), out)
        return Tracer(out)

    return handler


implements_ufunc(np.fmax)(_nan_ignoring("max"))
implements_ufunc(np.fmin)(_nan_ignoring("min"))


def _logaddexp_with(exp_fn: str, log1p_scale: float) -> Callable[[Any, Any], Tracer]:
    """``log(base**a + base**b)/log(base)``, as ``m + log1p(base**-|a-b|) * scale`` with the
    larger operand picked by a select (so ties give 1/2 to each side, as in JAX) and the
    exponent never positive (no overflow in the branch not taken). Where ``a - b`` is NaN
    (a NaN operand, or infinities of one sign) the result is ``a + b``, as in JAX."""

    def handler(a: Any, b: Any) -> Tracer:
        graph = graph_of([a, b])
        va, vb = as_value(graph, a), as_value(graph, b)
        va, vb, _ = _pair(graph, va, vb)
        d = graph.binary("sub", va, vb)
        a_larger = graph.compare("gt", va, vb)
        larger = _where(graph, a_larger, va, vb)
        minus_abs = _where(graph, a_larger, graph.unary("neg", d), d)
        tail = graph.unary("log1p", graph.unary(exp_fn, minus_abs))
        if log1p_scale != 1.0:
            tail = graph.binary("mul", tail, _const(graph, log1p_scale))
        out = graph.binary("add", larger, tail)
        return Tracer(_where(graph, _isnan(graph, d), graph.binary("add", va, vb), out))

    return handler


implements_ufunc(np.logaddexp)(_logaddexp_with("exp", 1.0))
implements_ufunc(np.logaddexp2)(_logaddexp_with("exp2", 1.0 / math.log(2.0)))


@implements_ufunc(np.remainder)
def _remainder(a: Any, b: Any) -> Tracer:
    """numpy's (and Python's) modulo: ``fmod`` moved to the divisor's sign, as JAX."""
    graph = graph_of([a, b])
    va, vb = as_value(graph, a), as_value(graph, b)
    va, vb, _ = _pair(graph, va, vb)
    r = graph.binary("rem", va, vb)
    zero = _const(graph, 0.0)
    nonzero = graph.compare("ne", r, zero)
    differ = graph.compare("ne", graph.compare("lt", r, zero), graph.compare("lt", vb, zero))
    fix = graph.binary("mul", nonzero, differ)
    return Tracer(_where(graph, fix, graph.binary("add", r, vb), r))


@implements_ufunc(np.floor_divide)
def _floor_divide(a: Any, b: Any) -> Tracer:
    """numpy's floor division: ``(a - a % b) / b`` rounded (piecewise constant)."""
    graph = graph_of([a, b])
    va, vb = as_value(graph, a), as_value(graph, b)
    mod = as_value(graph, _remainder(a, b))
    div = graph.binary("div", graph.binary("sub", va, mod), vb)
    floor = graph.unary("floor", div)
    up = graph.compare("gt", graph.binary("sub", div, floor), _const(graph, 0.5))
    out = graph.binary("add", floor, up)
    # numpy: a / b where b == 0 (inf or nan), and the sign of zero from a / b
    zero_div = graph.compare("eq", vb, _const(graph, 0.0))
    out = _where(graph, zero_div, graph.binary("div", va, vb), out)
    return Tracer(out)


@implements_ufunc(np.divmod)
def _divmod(a: Any, b: Any) -> tuple[Tracer, Tracer]:
    return _floor_divide(a, b), _remainder(a, b)


@implements_ufunc(np.modf)
def _modf(a: Any) -> tuple[Tracer, Tracer]:
    whole = _trunc(a)
    return a - whole, whole


@implements_ufunc(np.heaviside)
def _heaviside(a: Any, h: Any) -> Tracer:
    graph = graph_of([a, h])
    va, vh = as_value(graph, a), as_value(graph, h)
    zero = _const(graph, 0.0)
    step = graph.compare("gt", va, zero)
    out = _where(graph, graph.compare("eq", va, zero), graph.broadcast(vh, va.shape), step)
    return Tracer(_where(graph, _isnan(graph, va), va, out))


@implements_ufunc(np.isnan)
def _isnan_ufunc(a: Any) -> Tracer:
    graph = graph_of([a])
    return Tracer(_isnan(graph, as_value(graph, a)), is_bool=True)


@implements_ufunc(np.isinf)
def _isinf(a: Any) -> Tracer:
    graph = graph_of([a])
    v = graph.unary("abs", as_value(graph, a))
    return Tracer(graph.compare("eq", v, _const(graph, math.inf)), is_bool=True)


@implements_ufunc(np.isfinite)
def _isfinite(a: Any) -> Tracer:
    graph = graph_of([a])
    v = as_value(graph, a)
    # x - x is 0 for finite x and NaN for infinities and NaN
    return Tracer(graph.compare("eq", graph.binary("sub", v, v), _const(graph, 0.0)), is_bool=True)


def _truth(graph: Graph, a: Any) -> Value:
    """``a != 0`` as 0/1 (booleans as they are)."""
    v = as_value(graph, a)
    if isinstance(a, Tracer) and a.is_bool:
        return v
    if not isinstance(a, Tracer) and np.asarray(a).dtype == np.bool_:
        return v
    return graph.compare("ne", v, _const(graph, 0.0))


@implements_ufunc(np.logical_not)
def _logical_not(a: Any) -> Tracer:
    graph = graph_of([a])
    return Tracer(graph.compare("eq", _truth(graph, a), _const(graph, 0.0)), is_bool=True)


@implements_ufunc(np.logical_and)
def _logical_and(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    return Tracer(graph.binary("mul", _truth(graph, a), _truth(graph, b)), is_bool=True)


@implements_ufunc(np.logical_or)
def _logical_or(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    return Tracer(graph.binary("max", _truth(graph, a), _truth(graph, b)), is_bool=True)


@implements_ufunc(np.logical_xor)
def _logical_xor(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    return Tracer(graph.compare("ne", _truth(graph, a), _truth(graph, b)), is_bool=True)


def _boolean_only(name: str, handler: Callable[..., Tracer]) -> Callable[..., Tracer]:
    def on_booleans(*args: Any) -> Tracer:
        for a in args:
            is_bool = a.is_bool if isinstance(a, Tracer) else np.asarray(a).dtype == np.bool_
            if not is_bool:
                raise TraceError(
                    f"np.{name} of a traced float array: bitwise operations are for "
                    "integers; the tracer supports them on boolean arrays (comparison "
                    "results), as logical operations"
                )
        return handler(*args)

    return on_booleans


implements_ufunc(np.bitwise_and)(_boolean_only("bitwise_and", _logical_and))
implements_ufunc(np.bitwise_or)(_boolean_only("bitwise_or", _logical_or))
implements_ufunc(np.bitwise_xor)(_boolean_only("bitwise_xor", _logical_xor))
implements_ufunc(np.invert)(_boolean_only("invert", _logical_not))


# --- ufunc calls and methods ------------------------------------------------------------------

_REDUCTIONS = {
    np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
    np.logical_and: np.all, np.logical_or: np.any,
}  # fmt: skip
_ACCUMULATIONS = {np.add: np.cumsum, np.multiply: np.cumprod}
_NEUTRAL_KEYWORDS = ("casting", "order", "subok")


def _supported_ufuncs() -> str:
    return ", ".join(sorted(u.__name__ for u in UFUNCS))


def _check_dtype(ufunc: Any, kwargs: dict) -> None:
    for key in ("dtype", "signature"):
        dt = kwargs.pop(key, None)
        if dt is None:
            continue
        kinds = {
            np.dtype(d).kind for d in (dt if isinstance(dt, tuple) else (dt,)) if d is not None
        }
        if not kinds <= {"f", "b"}:
            raise TraceError(
                f"np.{ufunc.__name__}({key}={dt!r}) on traced values: only float dtypes are "
                "differentiable"
            )


def _write_out(ufunc: Any, out: Any, result: Any, where: Any) -> Any:
    """Write ``result`` into the ``out=`` tracers (under ``where=``) and return them."""
    outs = out if isinstance(out, tuple) else (out,)
    results = result if isinstance(result, tuple) else (result,)
    written = []
    for target, res in zip(outs, results):
        if target is None:
            written.append(res)
            continue
        if not isinstance(target, Tracer):
            raise TraceError(
                f"np.{ufunc.__name__}(..., out=...) writes a traced result into a plain numpy "
                "array; create the output with np.zeros_like(x) or np.empty_like(x) instead"
            )
        if where is not True:
            res = np.where(where, res, target)
        target.write(Ellipsis, res)
        written.append(target)
    return tuple(written) if isinstance(result, tuple) else written[0]


def apply_ufunc(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """``Tracer.__array_ufunc__``: ``ufunc.method(*inputs, **kwargs)`` on traced values."""
    kwargs = dict(kwargs)
    for key in _NEUTRAL_KEYWORDS:
        kwargs.pop(key, None)  # no effect on values
    _check_dtype(ufunc, kwargs)
    if method == "__call__":
        return _call(ufunc, inputs, kwargs)
    if method == "reduce" and ufunc in _REDUCTIONS:
        return _REDUCTIONS[ufunc](*inputs, **{"axis": 0, **kwargs})
    if method == "accumulate" and ufunc in _ACCUMULATIONS:
        return _ACCUMULATIONS[ufunc](*inputs, **{"axis": 0, **kwargs})
    if method == "accumulate" and ufunc in (np.maximum, np.minimum):
        from anydiff.ir.numpy_tracer._reductions import cumulative

        return cumulative(_BINARY[ufunc], *inputs, **kwargs)
    if method == "outer" and len(inputs) == 2 and not kwargs:
        a, b = inputs
        a_shape, b_shape = np.shape(a), np.shape(b)
        a2 = np.reshape(a, a_shape + (1,) * len(b_shape))
        return _call(ufunc, (a2, b), {})
    if method == "at" and ufunc is np.add and not kwargs:
        from anydiff.ir.numpy_tracer._structure import add_at

        add_at(*inputs)
        return None
    raise TraceError(
        f"np.{ufunc.__name__}.{method} is not supported on traced values; the tracer "
        "supports calls, reduce and accumulate of add/multiply/maximum/minimum, outer, and "
        "np.add.at"
    )


def _call(ufunc: Any, inputs: tuple, kwargs: dict) -> Any:
    out = kwargs.pop("out", None)
    where = kwargs.pop("where", True)
    if kwargs:
        raise TraceError(
            f"np.{ufunc.__name__}(..., {', '.join(kwargs)}=...) is not supported on traced "
            "values; the tracer takes out=, where=, dtype= (float)"
        )
    if ufunc is np.matmul:
        from anydiff.ir.numpy_tracer._linalg import matmul

        result: Any = matmul(*inputs)
    else:
        handler = UFUNCS.get(ufunc)
        if handler is None:
            raise TraceError(
                f"np.{ufunc.__name__} is not supported on traced values; supported ufuncs: "
                + _supported_ufuncs()
            )
        result = handler(*inputs)
    if out is not None and any(o is not None for o in (out if isinstance(out, tuple) else (out,))):
        return _write_out(ufunc, out, result, where)
    if where is not True:
        result = np.where(where, result, 0.0)
    return result
