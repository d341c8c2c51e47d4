"""Tracing ordinary numpy code into the graph, without JAX.

``trace_numpy(f, *example_args)`` calls ``f`` with :class:`Tracer` arrays. A tracer
answers numpy's ufuncs (``np.sin(x) * x[1]``), ``@``, indexing and the common array
functions (``np.sum``, ``np.roll``, ``np.stack``, ``np.where``, ...). Data movement is
recorded as one gather whose index map comes from running the same numpy function on
an array of indices, so every static reshaping, slicing or stacking function works.
Branching on a traced value is an error: the graph must hold for every input.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from anydiff.ir._graph import Graph, Value

__all__ = ["TraceError", "Tracer", "trace_numpy"]


class TraceError(TypeError):
    """Raised when traced code does something the graph cannot record."""


_UFUNC_UNARY = {
    np.negative: "neg", np.exp: "exp", np.exp2: "exp2", np.expm1: "expm1", np.log: "log",
    np.log1p: "log1p", np.log2: "log2", np.log10: "log10", np.sqrt: "sqrt", np.cbrt: "cbrt",
    np.sin: "sin", np.cos: "cos", np.tan: "tan", np.arcsin: "asin", np.arccos: "acos",
    np.arctan: "atan", np.sinh: "sinh", np.cosh: "cosh", np.tanh: "tanh",
    np.arcsinh: "asinh", np.arccosh: "acosh", np.arctanh: "atanh", np.absolute: "abs",
    np.fabs: "abs", np.sign: "sign", np.floor: "floor", np.ceil: "ceil", np.rint: "round",
    np.reciprocal: "recip", np.square: "square",
}  # fmt: skip
_UFUNC_BINARY = {
    np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
    np.power: "pow", np.float_power: "pow", np.arctan2: "atan2", np.minimum: "min",
    np.maximum: "max", np.fmin: "min", np.fmax: "max", np.hypot: "hypot", np.fmod: "rem",
}  # fmt: skip
_UFUNC_COMPARE = {
    np.less: "lt", np.less_equal: "le", np.greater: "gt", np.greater_equal: "ge",
    np.equal: "eq", np.not_equal: "ne",
}  # fmt: skip
# Pure data movement: the same function applied to index arrays gives the gather map.
_STRUCTURAL_ONE = {
    np.reshape, np.transpose, np.roll, np.flip, np.fliplr, np.flipud, np.broadcast_to,
    np.expand_dims, np.squeeze, np.moveaxis, np.swapaxes, np.tile, np.repeat, np.ravel,
    np.diagonal, np.take, np.rot90, np.atleast_1d, np.atleast_2d, np.copy, np.asarray,
    np.ascontiguousarray, np.diag, np.triu, np.tril, np.pad,
}  # fmt: skip
_STRUCTURAL_MANY = {np.stack, np.concatenate, np.hstack, np.vstack, np.column_stack, np.block}


class Tracer:
    """A traced array: a graph node seen with a shape."""

    __array_priority__ = 1000

    def __init__(self, value: Value) -> None:
        self.value = value

    # --- array protocol ----------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return len(self.value.shape)

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def T(self) -> Tracer:
        return _structural(np.transpose, (self,), {})

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d traced array")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        raise TraceError(
            "data-dependent Python control flow on a traced value (if/while/and/or on an "
            "array): the derivative graph must hold for every input; use np.where(cond, a, b)"
        )

    def __float__(self) -> float:
        raise TraceError("float() of a traced value: keep it an array (the value is not known yet)")

    __int__ = __index__ = __float__  # type: ignore[assignment]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TraceError(
            "a traced value was converted to a plain numpy array (np.array(x), math.*, or a "
            "function outside numpy's dispatch); use numpy functions on it instead"
        )

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            raise TraceError(f"np.{ufunc.__name__}.{method} is not supported on traced values")
        graph = _graph_of(inputs)
        args = [_as_value(graph, a) for a in inputs]
        if ufunc in _UFUNC_UNARY:
            return Tracer(graph.unary(_UFUNC_UNARY[ufunc], args[0]))
        if ufunc is np.positive:
            return Tracer(args[0])
        if ufunc in (np.power, np.float_power) and _integer_constant(inputs[1]) is not None:
            return Tracer(graph.powi(args[0], _integer_constant(inputs[1])))
        if ufunc in _UFUNC_BINARY:
            return Tracer(graph.binary(_UFUNC_BINARY[ufunc], args[0], args[1]))
        if ufunc in _UFUNC_COMPARE:
            return Tracer(graph.compare(_UFUNC_COMPARE[ufunc], args[0], args[1]))
        if ufunc is np.matmul:
            return _matmul(graph, args[0], args[1])
        raise TraceError(
            f"np.{ufunc.__name__} is not supported on traced values; supported ufuncs: "
            + ", ".join(
                sorted(f.__name__ for f in (*_UFUNC_UNARY, *_UFUNC_BINARY, *_UFUNC_COMPARE))
            )
        )

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = _FUNCTIONS.get(func)
        if handler is not None:
            return handler(*args, **kwargs)
        if func in _STRUCTURAL_ONE:
            return _structural(func, args, kwargs)
        if func in _STRUCTURAL_MANY:
            return _structural_many(func, args, kwargs)
        raise TraceError(
            f"np.{func.__name__} is not supported on traced values; the tracer knows numpy's "
            "ufuncs, indexing, @, and " + ", ".join(_supported_functions())
        )

    # --- operators ---------------------------------------------------------------------

    def __add__(self, o: Any) -> Any:
        return np.add(self, o)

    def __radd__(self, o: Any) -> Any:
        return np.add(o, self)

    def __sub__(self, o: Any) -> Any:
        return np.subtract(self, o)

    def __rsub__(self, o: Any) -> Any:
        return np.subtract(o, self)

    def __mul__(self, o: Any) -> Any:
        return np.multiply(self, o)

    def __rmul__(self, o: Any) -> Any:
        return np.multiply(o, self)

    def __truediv__(self, o: Any) -> Any:
        return np.true_divide(self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return np.true_divide(o, self)

    def __pow__(self, o: Any) -> Any:
        return np.power(self, o)

    def __rpow__(self, o: Any) -> Any:
        return np.power(o, self)

    def __matmul__(self, o: Any) -> Any:
        return np.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return np.matmul(o, self)

    def __neg__(self) -> Any:
        return np.negative(self)

    def __pos__(self) -> Any:
        return self

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __lt__(self, o: Any) -> Any:
        return np.less(self, o)

    def __le__(self, o: Any) -> Any:
        return np.less_equal(self, o)

    def __gt__(self, o: Any) -> Any:
        return np.greater(self, o)

    def __ge__(self, o: Any) -> Any:
        return np.greater_equal(self, o)

    def __eq__(self, o: Any) -> Any:
        return np.equal(self, o)  # type: ignore[override]

    def __ne__(self, o: Any) -> Any:
        return np.not_equal(self, o)  # type: ignore[override]

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, key: Any) -> Tracer:
        if isinstance(key, Tracer) or (
            isinstance(key, tuple) and any(isinstance(k, Tracer) for k in key)
        ):
            raise TraceError("indexing with a traced value is data-dependent; use np.where")
        index = np.arange(self.size).reshape(self.shape)[key]
        return Tracer(self.value.graph.gather(self.value, np.asarray(index)))

    def reshape(self, *shape: Any) -> Tracer:
        return _structural(np.reshape, (self, shape[0] if len(shape) == 1 else shape), {})

    def transpose(self, *axes: Any) -> Tracer:
        return _structural(np.transpose, (self, axes or None), {})

    def ravel(self) -> Tracer:
        return self.reshape(-1)

    def flatten(self) -> Tracer:
        return self.reshape(-1)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _reduce("sum", self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _reduce("max", self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _reduce("min", self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return _mean(self, axis=axis, keepdims=keepdims)

    def dot(self, other: Any) -> Any:
        return _dot(self, other)

    def astype(self, dtype: Any, copy: bool = True) -> Tracer:
        if np.dtype(dtype).kind != "f":
            raise TraceError(f"astype({np.dtype(dtype)}) of a traced value is not differentiable")
        return self

    def __repr__(self) -> str:
        return f"Tracer(shape={self.shape})"


def _graph_of(items: Any) -> Graph:
    for a in items:
        if isinstance(a, Tracer):
            return a.value.graph
        if isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, Tracer):
                    return b.value.graph
    raise TraceError("no traced value among the arguments")


def _as_value(graph: Graph, a: Any) -> Value:
    if isinstance(a, Tracer):
        return a.value
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TraceError(f"cannot combine a traced value with {type(a).__name__}")
    return graph.const(arr.astype(np.float64))


def _integer_constant(a: Any) -> int | None:
    if isinstance(a, Tracer):
        return None
    arr = np.asarray(a)
    if arr.ndim == 0 and float(arr) == int(arr) and abs(int(arr)) <= 64:
        return int(arr)
    return None


def _structural(func: Any, args: Any, kwargs: dict) -> Tracer:
    a = args[0]
    index = func(np.arange(a.size).reshape(a.shape), *args[1:], **kwargs)
    if func in (np.triu, np.tril, np.diag, np.pad):
        # these write zeros: shift indices by one so a written zero becomes -1 (reads 0.0)
        index = func(np.arange(1, a.size + 1).reshape(a.shape), *args[1:], **kwargs) - 1
    return Tracer(a.value.graph.gather(a.value, np.asarray(index)))


def _structural_many(func: Any, args: Any, kwargs: dict) -> Tracer:
    parts = args[0]
    graph = _graph_of(parts)
    values = [_as_value(graph, p) for p in parts]
    offsets = np.cumsum([0] + [v.size for v in values])
    indices = [np.arange(o, o + v.size).reshape(v.shape) for o, v in zip(offsets, values)]
    index = func(indices, *args[1:], **kwargs)
    flat = graph.concat(values, (int(offsets[-1]),))
    return Tracer(graph.gather(flat, np.asarray(index)))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)


def _reduce(fn: str, a: Any, axis: Any = None, keepdims: bool = False) -> Tracer:
    if not isinstance(a, Tracer):
        raise TraceError("reduction of an untraced value inside a traced function")
    axes = _axes(axis, a.ndim)
    out = Tracer(a.value.graph.reduce(fn, a.value, axes))
    if keepdims:
        shape = tuple(1 if i in {ax % a.ndim for ax in axes} else s for i, s in enumerate(a.shape))
        out = out.reshape(shape)
    return out


def _mean(a: Any, axis: Any = None, keepdims: bool = False, **_: Any) -> Tracer:
    count = math.prod(a.shape[ax] for ax in _axes(axis, a.ndim))
    return _reduce("sum", a, axis, keepdims) / count


def _matmul(graph: Graph, a: Value, b: Value) -> Tracer:
    if not a.shape or not b.shape:
        raise TraceError("matmul of a 0-d array")
    va = a if len(a.shape) > 1 else Value(graph, a.node, (1, *a.shape))
    vb = b if len(b.shape) > 1 else Value(graph, b.node, (*b.shape, 1))
    batch = tuple(np.broadcast_shapes(va.shape[:-2], vb.shape[:-2]))
    m, k = va.shape[-2:]
    k2, n = vb.shape[-2:]
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k} != {k2})")
    va = graph.broadcast(va, (*batch, m, k))
    vb = graph.broadcast(vb, (*batch, k, n))
    out = graph.dot(va, vb, math.prod(batch), m, k, n)
    shape = (*batch, m, n)
    if len(a.shape) == 1:
        shape = (*shape[:-2], n)
    if len(b.shape) == 1:
        shape = shape[:-1]
    return Tracer(Value(graph, out.node, shape))


def _dot(a: Any, b: Any) -> Any:
    return np.matmul(a, b)


def _where(cond: Any, x: Any = None, y: Any = None) -> Tracer:
    if x is None or y is None:
        raise TraceError("np.where with one argument returns indices: not differentiable")
    graph = _graph_of((cond, x, y))
    c = _as_value(graph, cond)
    return Tracer(graph.select(c, _as_value(graph, x), _as_value(graph, y)))


def _clip(a: Any, a_min: Any = None, a_max: Any = None, **_: Any) -> Any:
    out = a
    if a_min is not None:
        out = np.maximum(out, a_min)
    if a_max is not None:
        out = np.minimum(out, a_max)
    return out


def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    if ord not in (None, 2, "fro"):
        raise TraceError(f"np.linalg.norm(ord={ord!r}) is not supported on traced values")
    return np.sqrt(_reduce("sum", x * x, axis, keepdims))


def _like(value: float) -> Callable[..., Tracer]:
    def make(a: Any, *_: Any, **__: Any) -> Tracer:
        return Tracer(a.value.graph.const(np.full(a.shape, value)))

    return make


def _outer(a: Any, b: Any) -> Any:
    return np.multiply(np.reshape(a, (-1, 1)), np.reshape(b, (1, -1)))


def _diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    out = a
    if prepend is not None or append is not None:
        ax = axis % a.ndim
        parts = []
        for extra in (prepend, append):
            if extra is None:
                parts.append(None)
                continue
            shape = tuple(1 if i == ax else s for i, s in enumerate(a.shape))
            parts.append(extra if isinstance(extra, Tracer) else np.broadcast_to(extra, shape))
        out = np.concatenate([p for p in (parts[0], a, parts[1]) if p is not None], axis=ax)
    for _ in range(n):
        ax = axis % out.ndim
        hi = tuple(slice(1, None) if i == ax else slice(None) for i in range(out.ndim))
        lo = tuple(slice(None, -1) if i == ax else slice(None) for i in range(out.ndim))
        out = out[hi] - out[lo]
    return out


_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    np.sum: lambda a, axis=None, keepdims=False, **_: _reduce("sum", a, axis, keepdims),
    np.max: lambda a, axis=None, keepdims=False, **_: _reduce("max", a, axis, keepdims),
    np.amax: lambda a, axis=None, keepdims=False, **_: _reduce("max", a, axis, keepdims),
    np.min: lambda a, axis=None, keepdims=False, **_: _reduce("min", a, axis, keepdims),
    np.amin: lambda a, axis=None, keepdims=False, **_: _reduce("min", a, axis, keepdims),
    np.mean: _mean,
    np.dot: _dot,
    np.matmul: _dot,
    np.where: _where,
    np.clip: _clip,
    np.linalg.norm: _norm,
    np.zeros_like: _like(0.0),
    np.ones_like: _like(1.0),
    np.outer: _outer,
    np.cumsum: lambda a, axis=None, **_: Tracer(
        a.value.graph.cumsum(
            a.ravel().value if axis is None else a.value, 0 if axis is None else axis
        )
    ),
    np.diff: _diff,
    np.shape: lambda a: a.shape,
    np.result_type: lambda *a: np.result_type(
        *(np.float64 if isinstance(x, Tracer) else x for x in a)
    ),
    np.iscomplexobj: lambda a: False,
    np.isrealobj: lambda a: True,
    np.ndim: lambda a: a.ndim,
    np.size: lambda a: a.size,
}


def _supported_functions() -> list[str]:
    every = (*_FUNCTIONS, *_STRUCTURAL_ONE, *_STRUCTURAL_MANY)
    return sorted({f"np.{getattr(f, '__name__', str(f))}" for f in every})


def trace_numpy(
    f: Callable[..., Any], example_args: Sequence[Any], differentiated: Sequence[bool]
) -> Graph:
    """Trace ``f`` at arguments shaped like ``example_args`` into a graph.

    Differentiated arguments become inputs, the others parameters (values supplied at
    each evaluation); ``f`` must return an array or a tuple of arrays.
    """
    graph = Graph()
    args = []
    for a, diff in zip(example_args, differentiated):
        shape = tuple(np.shape(a))
        args.append(Tracer(graph.input(shape) if diff else graph.param(shape)))
    out = f(*args)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    values = []
    for o in outs:
        if not isinstance(o, Tracer):
            o = Tracer(graph.const(np.asarray(o, dtype=np.float64)))
        values.append(o.value)
    graph.set_outputs(values)
    return graph
