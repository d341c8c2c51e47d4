"""Reductions and scans: ``sum``, ``mean``, ``max``/``min``, ``prod``, ``var``/``std``,
``ptp``, ``average``, ``trace``, ``all``/``any``, the ``nan*`` family, ``cumsum``,
``cumprod`` and cumulative ``maximum``/``minimum``, with numpy's ``axis``, ``keepdims``,
``where``, ``initial``, ``ddof`` and ``out``.

Products are balanced trees of multiplies (exact with zeros: each derivative is the
product of the other factors) and scans are log-depth (Hillis-Steele) sequences of
shifted elementwise ops, so both stay small for long axes.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from anydiff.ir._graph import Graph, Value
from anydiff.ir.numpy_tracer._dispatch import TraceError, implements
from anydiff.ir.numpy_tracer._tracer import Tracer, as_tracer, as_value, graph_of

__all__ = ["cumulative", "reduce"]

_IDENTITY = {"add": 0.0, "mul": 1.0, "max": -math.inf, "min": math.inf}
_UFUNC_NAME = {"add": "add", "mul": "multiply", "max": "maximum", "min": "minimum"}


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """numpy's ``axis`` (None, an int or a tuple) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for ax in axes:
        ax = int(ax)
        if not -ndim <= ax < max(ndim, 1) or (ndim == 0 and ax not in (0, -1)):
            raise np.exceptions.AxisError(ax, ndim)
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(out)) if ndim else ()


def _keep(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _lines(graph: Graph, a: Value, axes: tuple[int, ...]) -> tuple[Value, tuple[int, ...]]:
    """``a`` as (groups, length) with the reduced axes last (gathered), and the kept shape."""
    keep = [ax for ax in range(len(a.shape)) if ax not in axes]
    out_shape = tuple(a.shape[ax] for ax in keep)
    length = math.prod(a.shape[ax] for ax in axes)
    idx = np.arange(a.size).reshape(a.shape).transpose(keep + list(axes))
    return graph.gather(a, idx.reshape(math.prod(out_shape), length)), out_shape


def _tree(graph: Graph, fn: str, lines: Value) -> Value:
    """Reduce each row of ``lines`` (groups, length) with ``fn`` by a balanced tree."""
    groups, length = lines.shape
    identity = graph.const(np.float64(_IDENTITY[fn]))
    current = lines
    while length > 1:
        half = (length + 1) // 2
        ids = np.arange(groups * length).reshape(groups, length)
        left = ids[:, 0::2]
        right = np.full((groups, half), groups * length)  # the identity, appended below
        right[:, : length // 2] = ids[:, 1::2]
        flat = graph.concat(
            [Value(graph, current.node, (groups * length,)), identity], (groups * length + 1,)
        )
        current = graph.binary(fn, graph.gather(flat, left), graph.gather(flat, right))
        length = half
    if length == 0:
        return graph.broadcast(identity, (groups,))
    return Value(graph, current.node, (groups,))


def reduce(
    fn: str,
    a: Any,
    axis: Any = None,
    keepdims: bool = False,
    initial: Any = None,
    where: Any = True,
) -> Tracer:
    """``np.add/multiply/maximum/minimum.reduce`` of ``a`` with numpy's keywords."""
    graph = graph_of([a, where, initial])
    t = as_tracer(graph, a)
    value = t.value
    axes = normalize_axes(axis, t.ndim)
    if where is not True:
        if initial is None and fn in ("max", "min"):
            raise ValueError(
                f"reduction operation {_UFUNC_NAME[fn]} does not have an identity, so to use "
                "a where mask one has to specify 'initial'"
            )
        use_initial = fn in ("max", "min") and initial is not None
        fill = as_value(graph, initial if use_initial else _IDENTITY[fn])
        value = graph.select(as_value(graph, where), value, fill)
        value = graph.broadcast(value, tuple(np.broadcast_shapes(value.shape, t.shape)))
    length = math.prod(value.shape[ax] for ax in axes)
    if length == 0 and initial is None and fn in ("max", "min"):
        raise ValueError(
            f"zero-size array to reduction operation {_UFUNC_NAME[fn]} which has no identity"
        )
    if fn in ("add", "max", "min") and length > 0:
        out = graph.reduce({"add": "sum"}.get(fn, fn), value, axes)
    else:
        lines, out_shape = _lines(graph, value, axes)
        out = _tree(graph, fn, lines)
        out = Value(graph, out.node, out_shape)
    if initial is not None:
        out = graph.binary(fn, out, as_value(graph, initial))
    if keepdims:
        out = Value(graph, out.node, _keep(value.shape, axes))
    return Tracer(out)


def _reduction(fn: str, numpy_name: str) -> Callable[..., Any]:
    def handler(
        a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
        initial: Any = None, where: Any = True,
    ) -> Any:  # fmt: skip
        _float_only(numpy_name, dtype)
        result = reduce(fn, a, axis, keepdims, initial, where)
        return _to_out(numpy_name, result, out)

    handler.__name__ = numpy_name
    return handler


def _extremum(fn: str, numpy_name: str) -> Callable[..., Any]:
    def handler(
        a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, initial: Any = None,
        where: Any = True,
    ) -> Any:  # fmt: skip
        result = reduce(fn, a, axis, keepdims, initial, where)
        return _to_out(numpy_name, result, out)

    handler.__name__ = numpy_name
    return handler


def _float_only(name: str, dtype: Any) -> None:
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TraceError(f"np.{name}(dtype={np.dtype(dtype)}) on traced values: use a float dtype")


def _to_out(name: str, result: Any, out: Any) -> Any:
    if out is None:
        return result
    if not isinstance(out, Tracer):
        raise TraceError(
            f"np.{name}(..., out=...) writes a traced result into a plain numpy array; "
            "create the output with np.zeros_like or np.empty_like"
        )
    out.write(Ellipsis, result)
    return out


implements(np.sum)(_reduction("add", "sum"))
implements(np.prod)(_reduction("mul", "prod"))
implements(np.max, getattr(np, "amax", None))(_extremum("max", "max"))
implements(np.min, getattr(np, "amin", None))(_extremum("min", "min"))


def _count(graph: Graph, t: Tracer, axes: tuple[int, ...], where: Any, keepdims: bool) -> Any:
    """How many elements each reduction sees (a number, or a traced array for a traced mask)."""
    if where is True:
        return math.prod(t.shape[ax] for ax in axes)
    if isinstance(where, Tracer):
        mask = Tracer(graph.broadcast(where.value, t.shape))
        return reduce("add", mask, axes, keepdims)
    counts = np.broadcast_to(np.asarray(where, dtype=np.float64), t.shape).sum(
        axis=axes, keepdims=keepdims
    )
    return counts


@implements(np.mean)
def _mean(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    *, where: Any = True,
) -> Any:  # fmt: skip
    _float_only("mean", dtype)
    graph = graph_of([a, where])
    t = as_tracer(graph, a)
    axes = normalize_axes(axis, t.ndim)
    total = reduce("add", t, axes, keepdims, None, where)
    return _to_out("mean", total / _count(graph, t, axes, where, keepdims), out)


def _var(
    a: Any, axis: Any, ddof: Any, keepdims: bool, where: Any, mean: Any, correction: Any
) -> Tracer:
    if correction is not None:
        if ddof not in (0, 0.0):
            raise ValueError("ddof and correction can't be provided simultaneously.")
        ddof = correction
    graph = graph_of([a, where, mean])
    t = as_tracer(graph, a)
    axes = normalize_axes(axis, t.ndim)
    if mean is None:
        mean = _mean(t, axes, keepdims=True, where=where)
    deviation = t - mean
    squares = deviation * deviation
    total = reduce("add", squares, axes, keepdims, None, where)
    count = _count(graph, t, axes, where, keepdims)
    return total / np.maximum(count - ddof, 0)


@implements(np.var)
def _var_handler(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
    keepdims: bool = False, *, where: Any = True, mean: Any = None, correction: Any = None,
) -> Any:  # fmt: skip
    _float_only("var", dtype)
    return _to_out("var", _var(a, axis, ddof, keepdims, where, mean, correction), out)


@implements(np.std)
def _std(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
    keepdims: bool = False, *, where: Any = True, mean: Any = None, correction: Any = None,
) -> Any:  # fmt: skip
    _float_only("std", dtype)
    t = as_tracer(graph_of([a, where, mean]), a)
    axes = normalize_axes(axis, t.ndim)
    plain = mean is None and where is True and ddof in (0, 0.0) and correction in (None, 0, 0.0)
    if plain and math.prod(t.shape[ax] for ax in axes) == 1:
        # one element per slice: std is identically 0 (NaN where the element is not finite,
        # as numpy's); |t * 0| says so to every order, where sqrt of the variance leaves
        # sqrt's infinite slope at 0 times zero tangents (NaN second derivatives)
        return _to_out("std", reduce("add", np.abs(t * 0.0), axes, keepdims), out)
    return _to_out("std", np.sqrt(_var(t, axis, ddof, keepdims, where, mean, correction)), out)


@implements(np.ptp)
def _ptp(a: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    result = reduce("max", a, axis, keepdims) - reduce("min", a, axis, keepdims)
    return _to_out("ptp", result, out)


@implements(np.average)
def _average(
    a: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
    keepdims: bool = False,
) -> Any:  # fmt: skip
    graph = graph_of([a, weights])
    t = as_tracer(graph, a)
    if weights is None:
        avg = _mean(t, axis, keepdims=keepdims)
        count = t.size / max(avg.size, 1)
        return (avg, np.full_like(avg, count)) if returned else avg
    w = as_tracer(graph, weights)
    if w.shape != t.shape:
        if axis is None or w.ndim != 1 or w.shape[0] != t.shape[axis]:
            raise TypeError(
                "Axis must be specified when shapes of a and weights differ, and weights must "
                "be 1-d with the axis' length"
            )
        shape = [1] * t.ndim
        shape[axis] = w.shape[0]
        w = np.broadcast_to(w.reshape(shape), t.shape)
    axes = normalize_axes(axis, t.ndim)
    scale = reduce("add", w, axes, keepdims)
    avg = reduce("add", t * w, axes, keepdims) / scale
    return (avg, np.broadcast_to(scale, avg.shape)) if returned else avg


@implements(np.trace)
def _trace(
    a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
    out: Any = None,
) -> Any:  # fmt: skip
    _float_only("trace", dtype)
    diagonal = np.diagonal(a, offset, axis1, axis2)
    return _to_out("trace", reduce("add", diagonal, -1), out)


def _truth_reduction(fn: str, name: str) -> Callable[..., Any]:
    def handler(
        a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, *, where: Any = True
    ) -> Any:
        graph = graph_of([a, where])
        t = as_tracer(graph, a)
        truth = t if t.is_bool else Tracer(graph.compare("ne", t.value, graph.const(0.0)), True)
        result = reduce(
            fn, truth, axis, keepdims, None if where is True else float(fn == "min"), where
        )
        result = Tracer(result.value, is_bool=True)
        return _to_out(name, result, out)

    handler.__name__ = name
    return handler


implements(np.all)(_truth_reduction("min", "all"))
implements(np.any)(_truth_reduction("max", "any"))


# --- nan-ignoring reductions -----------------------------------------------------------------


def _nan_mask(t: Tracer) -> Tracer:
    return np.isnan(t)


@implements(np.nansum)
def _nansum(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    initial: Any = None, where: Any = True,
) -> Any:  # fmt: skip
    t = as_tracer(graph_of([a]), a)
    return np.sum(
        np.where(_nan_mask(t), 0.0, t), axis, dtype, out, keepdims, **_opt(initial, where)
    )


@implements(np.nanprod)
def _nanprod(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    initial: Any = None, where: Any = True,
) -> Any:  # fmt: skip
    t = as_tracer(graph_of([a]), a)
    return np.prod(
        np.where(_nan_mask(t), 1.0, t), axis, dtype, out, keepdims, **_opt(initial, where)
    )


def _opt(initial: Any, where: Any) -> dict:
    out: dict = {}
    if initial is not None:
        out["initial"] = initial
    if where is not True:
        out["where"] = where
    return out


def _nan_extremum(fn: str, name: str) -> Callable[..., Any]:
    def handler(
        a: Any, axis: Any = None, out: Any = None, keepdims: bool = False, initial: Any = None,
        where: Any = True,
    ) -> Any:  # fmt: skip
        t = as_tracer(graph_of([a]), a)
        nan = _nan_mask(t)
        filled = np.where(nan, _IDENTITY[fn], t)
        result = reduce(fn, filled, axis, keepdims, initial, where)
        if initial is None:
            all_nan = reduce("min", Tracer(nan.value), axis, keepdims)
            result = np.where(all_nan, np.nan, result)
        return _to_out(name, result, out)

    handler.__name__ = name
    return handler


implements(np.nanmax)(_nan_extremum("max", "nanmax"))
implements(np.nanmin)(_nan_extremum("min", "nanmin"))


@implements(np.nanmean)
def _nanmean(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
    *, where: Any = True,
) -> Any:  # fmt: skip
    t = as_tracer(graph_of([a]), a)
    valid = np.logical_not(_nan_mask(t))
    if where is not True:
        valid = np.logical_and(valid, where)
    return _mean(np.where(valid, t, 0.0), axis, dtype, out, keepdims, where=valid)


@implements(np.nanvar)
def _nanvar(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
    keepdims: bool = False, *, where: Any = True, mean: Any = None, correction: Any = None,
) -> Any:  # fmt: skip
    t = as_tracer(graph_of([a]), a)
    valid = np.logical_not(_nan_mask(t))
    if where is not True:
        valid = np.logical_and(valid, where)
    return _var_handler(
        np.where(valid, t, 0.0), axis, dtype, out, ddof, keepdims, where=valid, mean=mean,
        correction=correction,
    )  # fmt: skip


@implements(np.nanstd)
def _nanstd(
    a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = 0,
    keepdims: bool = False, *, where: Any = True, mean: Any = None, correction: Any = None,
) -> Any:  # fmt: skip
    var = _nanvar(
        a, axis, dtype, None, ddof, keepdims, where=where, mean=mean, correction=correction
    )
    return _to_out("nanstd", np.sqrt(var), out)


# --- scans -----------------------------------------------------------------------------------


def cumulative(fn: str, a: Any, axis: Any = 0, dtype: Any = None, out: Any = None) -> Any:
    """Running ``fn`` (add, mul, max, min) along ``axis`` by a Hillis-Steele scan:
    ``ceil(log2(n))`` steps, each combining every element with the one ``2**k`` before."""
    _float_only(_UFUNC_NAME[fn], dtype)
    graph = graph_of([a])
    t = as_tracer(graph, a)
    if axis is None:
        t = t.ravel()
        axis = 0
    axis = normalize_axes(axis, t.ndim)[0] if t.ndim else 0
    current = t.value
    length = t.shape[axis] if t.ndim else 1
    size = current.size
    identity = graph.const(np.float64(_IDENTITY[fn]))
    ids = np.moveaxis(np.arange(size).reshape(t.shape), axis, -1)
    shift = 1
    while shift < length:
        earlier = np.full_like(ids, size)  # the identity, appended below
        earlier[..., shift:] = ids[..., :-shift]
        earlier = np.moveaxis(earlier, -1, axis)
        flat = graph.concat([Value(graph, current.node, (size,)), identity], (size + 1,))
        current = graph.binary(fn, current, graph.gather(flat, earlier))
        shift *= 2
    return _to_out(f"cum{fn}", Tracer(Value(graph, current.node, t.shape)), out)


@implements(np.cumsum)
def _cumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    return cumulative("add", a, axis, dtype, out)


@implements(np.cumprod)
def _cumprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    return cumulative("mul", a, axis, dtype, out)


def _cumulative_with_initial(fn: str, name: str) -> Callable[..., Any]:
    def handler(
        x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
        include_initial: bool = False,
    ) -> Any:  # fmt: skip
        t = as_tracer(graph_of([x]), x)
        if axis is None:
            if t.ndim > 1:
                raise ValueError(f"{name} needs axis for arrays of more than one dimension")
            axis = 0
        result = cumulative(fn, t, axis, dtype)
        if include_initial:
            ax = normalize_axes(axis, t.ndim)[0]
            shape = tuple(1 if i == ax else s for i, s in enumerate(t.shape))
            result = np.concatenate([np.full(shape, _IDENTITY[fn]), result], axis=ax)
        return _to_out(name, result, out)

    handler.__name__ = name
    return handler


implements(getattr(np, "cumulative_sum", None))(_cumulative_with_initial("add", "cumulative_sum"))
implements(getattr(np, "cumulative_prod", None))(_cumulative_with_initial("mul", "cumulative_prod"))


@implements(np.nancumsum)
def _nancumsum(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    t = as_tracer(graph_of([a]), a)
    return cumulative("add", np.where(np.isnan(t), 0.0, t), axis, dtype, out)


@implements(np.nancumprod)
def _nancumprod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    t = as_tracer(graph_of([a]), a)
    return cumulative("mul", np.where(np.isnan(t), 1.0, t), axis, dtype, out)


# --- order statistics ------------------------------------------------------------------------


def _sorted_along(a: Any, axis: Any) -> tuple[Tracer, int]:
    t = as_tracer(graph_of([a]), a)
    if axis is None:
        return np.sort(t.ravel()), 0
    if isinstance(axis, (tuple, list)):
        axes = normalize_axes(axis, t.ndim)
        keep = [ax for ax in range(t.ndim) if ax not in axes]
        moved = np.transpose(t, keep + list(axes))
        flat = moved.reshape((*(t.shape[ax] for ax in keep), -1))
        return np.sort(flat, axis=-1), flat.ndim - 1
    ax = normalize_axes(axis, t.ndim)[0]
    return np.sort(t, axis=ax), ax


def _keepdims(result: Tracer, a: Any, axis: Any) -> Tracer:
    shape = np.shape(a) if not isinstance(a, Tracer) else a.shape
    axes = normalize_axes(axis, len(shape))
    return result.reshape(_keep(tuple(shape), axes))


def _quantile_of_sorted(s: Tracer, ax: int, q: np.ndarray) -> Tracer:
    """numpy's 'linear' method: the order statistics around ``q * (n - 1)``, interpolated
    as numpy's ``_lerp`` does."""
    n = s.shape[ax]
    position = q * (n - 1)
    below = np.clip(np.floor(position).astype(np.int64), 0, n - 1)
    above = np.clip(below + 1, 0, n - 1)
    weight = position - below
    lo = np.take(s, below.ravel(), axis=ax)
    hi = np.take(s, above.ravel(), axis=ax)
    w = weight.ravel().reshape([-1 if i == ax else 1 for i in range(s.ndim)])
    diff = hi - lo
    out = np.where(w >= 0.5, hi - diff * (1 - w), lo + diff * w)
    # the q axis goes first, as numpy puts it
    out = np.moveaxis(out, ax, 0)
    return out.reshape(q.shape + out.shape[1:])


def _with_nan(result: Tracer, a: Any, axis: Any, keepdims: bool) -> Tracer:
    """NaN where the reduced slice holds a NaN (numpy's median and quantiles propagate it)."""
    t = as_tracer(graph_of([a]), a)
    has_nan = reduce("max", Tracer(np.isnan(t).value), axis, keepdims)
    return np.where(has_nan, np.nan, result)


@implements(np.median)
def _median(
    a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False, keepdims: bool = False
) -> Any:
    s, ax = _sorted_along(a, axis)
    n = s.shape[ax]
    if n == 0:
        raise ValueError("median of an empty slice")
    middle = np.take(s, [(n - 1) // 2, n // 2], axis=ax)
    result = np.mean(middle, axis=ax)
    if keepdims:
        result = _keepdims(result, a, axis)
    return _to_out("median", _with_nan(result, a, axis, keepdims), out)


def _quantile(
    name: str, a: Any, q: Any, axis: Any, out: Any, method: str, keepdims: bool, scale: float
) -> Any:
    if method != "linear":
        raise TraceError(
            f"np.{name}(method={method!r}) is not supported on traced values; method='linear' is"
        )
    if isinstance(q, Tracer):
        raise TraceError(f"np.{name} with a traced q is not supported; pass q as a constant")
    qs = np.asarray(q, dtype=np.float64) / scale
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError(f"{name}s must be in the range [0, {int(scale)}]")
    s, ax = _sorted_along(a, axis)
    result = _quantile_of_sorted(s, ax, qs)
    if keepdims:
        tail = _keep(
            tuple(np.shape(a) if not isinstance(a, Tracer) else a.shape),
            normalize_axes(axis, np.ndim(a)),
        )
        result = result.reshape(qs.shape + tail)
    result = _with_nan(result, a, axis, keepdims)
    return _to_out(name, result, out)


@implements(np.quantile)
def _quantile_handler(
    a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False, *, weights: Any = None,
) -> Any:  # fmt: skip
    if weights is not None:
        raise TraceError("np.quantile(weights=...) is not supported on traced values")
    return _quantile("quantile", a, q, axis, out, method, keepdims, 1.0)


@implements(np.percentile)
def _percentile(
    a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
    method: str = "linear", keepdims: bool = False, *, weights: Any = None,
) -> Any:  # fmt: skip
    if weights is not None:
        raise TraceError("np.percentile(weights=...) is not supported on traced values")
    return _quantile("percentile", a, q, axis, out, method, keepdims, 100.0)
