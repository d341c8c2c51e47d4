"""Array creation: ``np.array`` of traced values, ``np.r_``/``np.c_``, ``*_like``,
``linspace``/``logspace`` with traced ends, casts.

``np.array``, ``np.asarray``, ``np.r_``... are not dispatched by numpy to ``__array_function__``
(they are the functions that *make* arrays), so while a function is traced they are
replaced by versions that build traced arrays when a tracer is among their arguments and
call numpy's own otherwise (:func:`numpy_constructors_traced`). Code that imported them
under another name before tracing gets numpy's, which refuses a tracer with a clear error.
The same goes for a ``scipy.sparse`` matrix times a traced vector: scipy converts its
operand with ``np.asanyarray``; while tracing, ``A @ x`` becomes a constant sparse operator
applied to ``x`` (a gather and segmented sums: the sparsity is kept).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any, Iterator

import numpy as np

from anydiff.ir.numpy_tracer._dispatch import TraceError, implements
from anydiff.ir.numpy_tracer._tracer import (
    Tracer,
    as_tracer,
    as_value,
    contains_tracer,
    graph_of,
)

__all__ = ["array_from_nested", "cast", "numpy_constructors_traced"]


def _float_dtype(func: str, dtype: Any) -> bool:
    """Whether ``dtype`` keeps a traced array floating (True) or makes it boolean (False);
    any other dtype is refused."""
    if dtype is None:
        return True
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return True
    if dt.kind == "b":
        return False
    raise TraceError(
        f"{func}(..., dtype={dt}) of a traced value is not differentiable (only float and "
        "bool dtypes are); keep it floating and use np.floor/np.round where integers are meant"
    )


def cast(t: Tracer, dtype: Any, copy: bool = True) -> Tracer:
    """``t.astype(dtype)``: float dtypes keep the value (the trace is float64), bool
    compares with zero."""
    if _float_dtype("astype", dtype):
        if t.is_bool:
            return Tracer(t.value)
        return t.copy() if copy else t
    if t.is_bool:
        return t.copy() if copy else t
    return Tracer(t.graph.compare("ne", t.value, t.graph.const(0.0)), is_bool=True)


def array_from_nested(obj: Any, dtype: Any = None) -> Tracer:
    """``np.array(obj)`` for a tracer or nested lists/tuples holding tracers."""
    if isinstance(obj, Tracer):
        out = obj.copy()
    elif isinstance(obj, (list, tuple)):
        graph = graph_of(obj)
        parts = [array_from_nested(o) if contains_tracer(o) else as_tracer(graph, o) for o in obj]
        shapes = {p.shape for p in parts}
        if len(shapes) != 1:
            raise ValueError(
                "setting an array element with a sequence: the nested sequences have "
                f"shapes {sorted(shapes)} (inhomogeneous)"
            )
        out = np.stack(parts)
        if all(p.is_bool for p in parts):
            out = cast(out, bool, copy=False)
    else:
        out = as_tracer(graph_of([obj]), obj)
    if dtype is not None:
        out = cast(out, dtype, copy=False)
    return out


def _ndmin(t: Tracer, ndmin: int) -> Tracer:
    if t.ndim >= ndmin:
        return t
    return t.reshape((1,) * (ndmin - t.ndim) + t.shape)


def _traced_array(
    obj: Any, dtype: Any = None, *, copy: Any = True, order: Any = "K", subok: bool = False,
    ndmin: int = 0, like: Any = None,
) -> Tracer:  # fmt: skip
    if isinstance(obj, Tracer):
        keep = obj if copy is not True else obj.copy()
        if order in ("C", "F"):
            reordered = np.asarray(keep.positions(), order=order)
            keep = keep.derived(reordered) if copy is not True else keep
        out = keep if dtype is None else cast(keep, dtype, copy=False)
    else:
        out = array_from_nested(obj, dtype)
    return _ndmin(out, ndmin)


class _Concatenator:
    """``np.r_``/``np.c_`` that also concatenates traced values (numpy's rules: slices
    become ranges, a leading string sets axis, ndmin and where 1-d items go)."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def __getitem__(self, key: Any) -> Any:
        if not contains_tracer(key):
            return self.original[key]
        if not isinstance(key, tuple):
            key = (key,)
        trans1d, ndmin = self.original.trans1d, self.original.ndmin
        axis = self.original.axis
        objs = []
        for k, item in enumerate(key):
            if isinstance(item, slice):
                start = 0 if item.start is None else item.start
                step = 1 if item.step is None else item.step
                if isinstance(step, (complex, np.complexfloating)):
                    new: Any = np.linspace(start, item.stop, num=int(abs(step)))
                else:
                    new = np.arange(start, item.stop, step)
                if ndmin > 1:
                    new = np.array(new, ndmin=ndmin)
                    if trans1d != -1:
                        new = new.swapaxes(-1, trans1d)
            elif isinstance(item, str):
                if k != 0:
                    raise ValueError("special directives must be the first entry.")
                if item in ("r", "c"):
                    raise TraceError(
                        f"np.r_['{item}', ...] builds a np.matrix: not supported on traced "
                        "values; use np.r_ without the matrix directive"
                    )
                parts = item.split(",")
                try:
                    axis = int(parts[0])
                    if len(parts) > 1:
                        ndmin = int(parts[1])
                    if len(parts) > 2:
                        trans1d = int(parts[2])
                except ValueError as err:
                    raise ValueError(f"unknown special directive {item!r}") from err
                continue
            else:
                item_ndim = np.ndim(item) if not isinstance(item, Tracer) else item.ndim
                new = (
                    _ndmin(item, ndmin)
                    if isinstance(item, Tracer)
                    else (
                        _traced_array(item, copy=None, ndmin=ndmin)
                        if contains_tracer(item)
                        else np.array(item, ndmin=ndmin)
                    )
                )
                if trans1d != -1 and item_ndim < ndmin:
                    k2 = ndmin - item_ndim
                    k1 = trans1d + (k2 + 1 if trans1d < 0 else 0)
                    axes = list(range(ndmin))
                    new = np.transpose(new, axes[:k1] + axes[k2:] + axes[k1:k2])
            objs.append(new)
        objs = [
            o if isinstance(o, Tracer) else np.array(o, dtype=np.float64, ndmin=ndmin) for o in objs
        ]
        return np.concatenate(objs, axis=axis)

    def __len__(self) -> int:
        return 0


# --- patching numpy's constructors while tracing --------------------------------------------

_ORIGINAL = {
    "array": np.array,
    "asarray": np.asarray,
    "asanyarray": np.asanyarray,
    "ascontiguousarray": np.ascontiguousarray,
    "asfortranarray": np.asfortranarray,
    "r_": np.r_,
    "c_": np.c_,
}
_lock = threading.Lock()
_depth = 0
_sparse_original: Any = None


def _array(obj: Any, *args: Any, **kwargs: Any) -> Any:
    if contains_tracer(obj):
        return _traced_array(obj, *args, **kwargs)
    return _ORIGINAL["array"](obj, *args, **kwargs)


def _asarray(obj: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    if contains_tracer(obj):
        copy = kwargs.get("copy")
        if isinstance(obj, Tracer):
            out = obj.copy() if copy else obj
            return out if dtype is None else cast(out, dtype, copy=False)
        return array_from_nested(obj, dtype)
    return _ORIGINAL["asarray"](obj, dtype, *args, **kwargs)


def _asanyarray(obj: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
    if contains_tracer(obj):
        return _asarray(obj, dtype, **kwargs)
    return _ORIGINAL["asanyarray"](obj, dtype, *args, **kwargs)


def _contiguous(name: str, order: str) -> Any:
    def convert(obj: Any, dtype: Any = None, **kwargs: Any) -> Any:
        if contains_tracer(obj):
            t = obj if isinstance(obj, Tracer) else array_from_nested(obj)
            t = t.derived(_ORIGINAL["asarray"](t.positions(), order=order))
            return t if dtype is None else cast(t, dtype, copy=False)
        return _ORIGINAL[name](obj, dtype, **kwargs)

    return convert


_REPLACEMENTS = {
    "array": _array,
    "asarray": _asarray,
    "asanyarray": _asanyarray,
    "ascontiguousarray": _contiguous("ascontiguousarray", "C"),
    "asfortranarray": _contiguous("asfortranarray", "F"),
    "r_": _Concatenator(np.r_),
    "c_": _Concatenator(np.c_),
}


def _sparse_matmul_dispatch(original: Any) -> Any:
    def dispatch(self: Any, other: Any) -> Any:
        if isinstance(other, Tracer):
            from anydiff.ir.numpy_tracer._linalg import sparse_matmul

            return sparse_matmul(self, other)
        return original(self, other)

    return dispatch


@contextlib.contextmanager
def numpy_constructors_traced() -> Iterator[None]:
    """While tracing: ``np.array``, ``np.asarray``, ``np.r_``... (and a scipy.sparse
    matrix's ``@``, when scipy.sparse is loaded) accept traced values. Re-entrant and
    shared by threads (the replacements call numpy's own for everything else)."""
    global _depth, _sparse_original
    with _lock:
        if _depth == 0:
            for name, replacement in _REPLACEMENTS.items():
                setattr(np, name, replacement)
            base = sys.modules.get("scipy.sparse._base")
            spbase = getattr(base, "_spbase", None)
            if spbase is not None and hasattr(spbase, "_matmul_dispatch"):
                _sparse_original = spbase._matmul_dispatch
                spbase._matmul_dispatch = _sparse_matmul_dispatch(_sparse_original)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name, original in _ORIGINAL.items():
                    setattr(np, name, original)
                if _sparse_original is not None:
                    sys.modules["scipy.sparse._base"]._spbase._matmul_dispatch = _sparse_original
                    _sparse_original = None


# --- array functions ------------------------------------------------------------------------


def _like(fill: float) -> Any:
    def like(
        a: Any, dtype: Any = None, order: Any = "K", subok: bool = True, shape: Any = None,
        *, device: Any = None,
    ) -> Any:  # fmt: skip
        out_shape = a.shape if shape is None else tuple(np.atleast_1d(shape).tolist())
        if dtype is not None and np.dtype(dtype).kind not in "fb":
            return np.full(out_shape, fill, dtype=dtype)  # an untraced constant
        is_bool = dtype is not None and np.dtype(dtype).kind == "b"
        return Tracer(a.graph.const(np.full(out_shape, fill)), is_bool=is_bool)

    return like


implements(np.zeros_like)(_like(0.0))
implements(np.ones_like)(_like(1.0))
# np.empty_like's values are unspecified: zeros are one valid choice
implements(np.empty_like)(_like(0.0))


@implements(np.full_like)
def _full_like(
    a: Any, fill_value: Any, dtype: Any = None, order: Any = "K", subok: bool = True,
    shape: Any = None, *, device: Any = None,
) -> Any:  # fmt: skip
    out_shape = np.shape(a) if shape is None else tuple(np.atleast_1d(shape).tolist())
    if dtype is not None and np.dtype(dtype).kind not in "fb":
        if isinstance(fill_value, Tracer):
            raise TraceError(f"np.full_like(dtype={np.dtype(dtype)}) with a traced fill value")
        return np.full(out_shape, fill_value, dtype=dtype)
    graph = graph_of([a, fill_value])
    value = as_value(graph, fill_value)
    out = Tracer(graph.broadcast(value, out_shape)).copy()
    return out if dtype is None else cast(out, dtype, copy=False)


@implements(np.copy)
def _copy(a: Any, order: Any = "K", subok: bool = False) -> Tracer:
    t = as_tracer(graph_of([a]), a)
    return Tracer(t.value, is_bool=t.is_bool)


@implements(np.linspace)
def _linspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False,
    dtype: Any = None, axis: int = 0, *, device: Any = None,
) -> Any:  # fmt: skip
    _float_dtype("np.linspace", dtype)
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    graph = graph_of([start, stop])
    start_t, stop_t = as_tracer(graph, start), as_tracer(graph, stop)
    div = num - 1 if endpoint else num
    delta = stop_t - start_t
    ramp = np.arange(num, dtype=np.float64).reshape((-1,) + (1,) * delta.ndim)
    if div > 0:
        step = delta / div
        y = ramp * step + start_t
    else:
        step = np.nan
        y = ramp * delta + start_t
    if endpoint and num > 1:
        y[-1, ...] = stop_t
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    return (y, step) if retstep else y


@implements(np.logspace)
def _logspace(
    start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: Any = 10.0,
    dtype: Any = None, axis: int = 0,
) -> Any:  # fmt: skip
    _float_dtype("np.logspace", dtype)
    y = _linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    graph = graph_of([start, stop, base])
    base_t = as_tracer(graph, base)
    if base_t.ndim:
        base_t = np.expand_dims(base_t, axis)
    return np.power(base_t, y)
