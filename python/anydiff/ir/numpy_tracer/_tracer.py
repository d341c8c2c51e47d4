"""The traced array: numpy's array protocol over graph nodes, with numpy's memory model.

A :class:`Tracer` reads a *buffer* (the current contents of one traced array, a graph
value that is replaced on every write) through an optional map of buffer positions: a
tracer made by basic indexing, ``reshape``, ``transpose``... is a view of its base
exactly when numpy's result would be, because the same numpy function is applied to the
base's array of positions and numpy itself says whether the result shares memory. So
``y = np.zeros_like(x); y[1:-1] = ...``, ``v = y[1:]; v += 1`` and ``u.copy()`` behave
as in numpy: a write replaces the buffer's node, and every view reads the new one.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, NoReturn, Optional, Sequence

import numpy as np

from anydiff.ir._graph import Graph, Value
from anydiff.ir.numpy_tracer._dispatch import (
    FUNCTIONS,
    TraceError,
    bind,
    name_of,
    supported_names,
)

__all__ = ["Tracer", "as_tracer", "as_value", "graph_of", "is_traced", "trace_numpy"]


class _Buffer:
    """The current contents of one traced array (numpy's memory block)."""

    __slots__ = ("_ids", "shape", "value", "version")

    def __init__(self, value: Value) -> None:
        self.value = value
        self.shape = value.shape
        self.version = 0
        self._ids: Optional[np.ndarray] = None

    @property
    def ids(self) -> np.ndarray:
        """Buffer positions in the buffer's own shape; numpy views of this array are the
        positions of views of the buffer."""
        if self._ids is None:
            self._ids = np.arange(self.value.size, dtype=np.int64).reshape(self.shape)
        return self._ids

    def write(self, positions: np.ndarray, new: Value) -> None:
        """Replace the elements at flat ``positions`` by ``new`` (flat, same length; the
        last write to a position wins, as in numpy)."""
        graph, old = self.value.graph, self.value
        size = old.size
        index = np.arange(size, dtype=np.int64)
        index[positions.ravel()] = size + np.arange(positions.size, dtype=np.int64)
        flat = graph.concat([Value(graph, old.node, (size,)), new], (size + new.size,))
        self.value = graph.gather(flat, index.reshape(self.shape))
        self.version += 1


class Tracer:
    """A traced array: a graph value seen with a shape, answering numpy's protocols."""

    __array_priority__ = 1000

    def __init__(self, value: Value, is_bool: bool = False) -> None:
        self._buffer = _Buffer(value)
        self._ids: Optional[np.ndarray] = None
        self._readonly = False
        self._is_bool = is_bool
        self._cache: Optional[tuple[int, Value]] = None

    @classmethod
    def _view(cls, buffer: _Buffer, ids: np.ndarray, readonly: bool, is_bool: bool) -> Tracer:
        t = cls.__new__(cls)
        t._buffer, t._ids, t._readonly, t._is_bool, t._cache = buffer, ids, readonly, is_bool, None
        return t

    # --- what the tracer holds ---------------------------------------------------------

    @property
    def value(self) -> Value:
        """The graph value of this array now (after every write so far)."""
        buffer = self._buffer
        if self._ids is None:
            return buffer.value
        if self._cache is None or self._cache[0] != buffer.version:
            self._cache = (buffer.version, buffer.value.graph.gather(buffer.value, self._ids))
        return self._cache[1]

    @property
    def graph(self) -> Graph:
        return self._buffer.value.graph

    def positions(self) -> np.ndarray:
        """This array's elements as positions in its buffer (numpy views of the buffer's
        position array when this tracer is a view)."""
        return self._buffer.ids if self._ids is None else self._ids

    def derived(self, index: np.ndarray) -> Tracer:
        """The array whose elements are this array's buffer at positions ``index`` — a
        view when ``index`` is a numpy view of the positions, else a copy."""
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            raise TypeError(f"internal: position array of dtype {index.dtype}")
        if np.may_share_memory(index, self._buffer.ids):
            readonly = self._readonly or not index.flags.writeable
            return Tracer._view(self._buffer, index, readonly, self._is_bool)
        return Tracer(self.graph.gather(self._buffer.value, index), self._is_bool)

    def write(self, key: Any, new: Any) -> None:
        """``self[key] = new`` into the buffer (every view sees it)."""
        if self._readonly:
            raise ValueError("assignment destination is read-only")
        if is_traced_key(key):
            self._write_masked(key, new)
            return
        target = self.positions()[key]
        graph = self.graph
        v = as_value(graph, new)
        if self._is_bool and not (isinstance(new, Tracer) and new._is_bool):
            v = graph.compare("ne", v, graph.const(0.0))
        while len(v.shape) > target.ndim and v.shape[0] == 1:
            v = Value(graph, v.node, v.shape[1:])  # numpy drops leading unit axes here
        try:
            shape = np.broadcast_shapes(v.shape, target.shape)
        except ValueError:
            shape = None
        if shape != target.shape:
            raise ValueError(
                f"could not broadcast input array from shape {v.shape} into shape {target.shape}"
            )
        v = graph.broadcast(v, target.shape)
        self._buffer.write(np.asarray(target), Value(graph, v.node, (v.size,)))

    def _write_masked(self, key: Any, new: Any) -> None:
        if not (isinstance(key, Tracer) and key._is_bool and key.shape == self.shape):
            raise TraceError(
                "assignment with a traced index is data-dependent; the tracer supports "
                "x[mask] = value for a traced boolean mask of x's shape and a value that "
                "broadcasts to x (as np.where(mask, value, x))"
            )
        value = as_tracer(self.graph, new)
        if value.size != 1 and value.shape != self.shape:
            raise TraceError(
                f"x[mask] = value with a traced mask needs a scalar value or one of x's "
                f"shape {self.shape} (which elements are selected is not known while "
                f"tracing); got shape {value.shape}"
            )
        graph = self.graph
        result = graph.select(key.value, graph.broadcast(value.value, self.shape), self.value)
        self.write(Ellipsis, Tracer(result))

    # --- array protocol ----------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._buffer.shape if self._ids is None else self._ids.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.bool_) if self._is_bool else np.dtype(np.float64)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def T(self) -> Tracer:
        return np.transpose(self)

    @property
    def mT(self) -> Tracer:
        if self.ndim < 2:
            raise ValueError("matrix transpose with ndim < 2 is undefined")
        return np.swapaxes(self, -1, -2)

    @property
    def real(self) -> Tracer:
        return self.derived(self.positions()[...])

    @property
    def imag(self) -> Tracer:
        out = Tracer(self.graph.const(np.zeros(self.shape)))
        out._readonly = True
        return out

    @property
    def flags(self) -> Any:
        raise TraceError("flags of a traced array: memory layout is not traced")

    @property
    def is_bool(self) -> bool:
        """Whether this array holds comparison results (0/1, numpy dtype bool)."""
        return self._is_bool

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tracer]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        raise TraceError(
            "data-dependent Python control flow on a traced value (if/while/and/or, "
            "assert or min()/max() on an array): the derivative graph must hold for every "
            "input; use np.where(cond, a, b), np.maximum or np.minimum"
        )

    def __float__(self) -> float:
        _refuse(
            "float()/int() of a traced value (by a math.* function, a numpy scalar "
            "constructor such as np.float64(x), or by assigning a traced element into a "
            "plain numpy array: create that array with np.zeros_like(x) or np.empty_like(x) "
            "instead): the value is not known while tracing; keep it an array and use numpy "
            "functions"
        )

    __int__ = __index__ = __complex__ = __float__  # type: ignore[assignment]

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        raise TraceError(f"formatting a traced value with {spec!r}: its value is not known yet")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        _refuse(
            "a traced value was converted to a plain numpy array: by a function outside "
            "numpy's dispatch (math.*, scipy, a C extension), by assigning it into a plain "
            "numpy array (create that array with np.zeros_like(x) or np.empty_like(x) "
            "instead), by a numpy function given a list of traced values (np.mean([x, y]): "
            "numpy dispatches on arrays, not lists; write np.mean(np.array([x, y]))), or by "
            "np.array/np.asarray imported under another name; use numpy functions on it"
        )

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from anydiff.ir.numpy_tracer._ufuncs import apply_ufunc

        return apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        handler = FUNCTIONS.get(func)
        if handler is None:
            raise TraceError(
                f"{name_of(func)} is not supported on traced values; the tracer supports "
                "numpy's operators, indexing, item assignment, array methods and "
                f"{len(supported_names())} numpy functions and ufuncs "
                "(anydiff.ir.numpy_tracer.supported_functions() lists them)"
            )
        bound = bind(func, handler, args, kwargs)
        return handler(*bound.args, **bound.kwargs)

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

    def __floordiv__(self, o: Any) -> Any:
        return np.floor_divide(self, o)

    def __rfloordiv__(self, o: Any) -> Any:
        return np.floor_divide(o, self)

    def __mod__(self, o: Any) -> Any:
        return np.remainder(self, o)

    def __rmod__(self, o: Any) -> Any:
        return np.remainder(o, self)

    def __divmod__(self, o: Any) -> Any:
        return np.divmod(self, o)

    def __rdivmod__(self, o: Any) -> Any:
        return np.divmod(o, self)

    def __pow__(self, o: Any) -> Any:
        return np.power(self, o)

    def __rpow__(self, o: Any) -> Any:
        return np.power(o, self)

    def __matmul__(self, o: Any) -> Any:
        return np.matmul(self, o)

    def __rmatmul__(self, o: Any) -> Any:
        return np.matmul(o, self)

    def __and__(self, o: Any) -> Any:
        return np.bitwise_and(self, o)

    def __rand__(self, o: Any) -> Any:
        return np.bitwise_and(o, self)

    def __or__(self, o: Any) -> Any:
        return np.bitwise_or(self, o)

    def __ror__(self, o: Any) -> Any:
        return np.bitwise_or(o, self)

    def __xor__(self, o: Any) -> Any:
        return np.bitwise_xor(self, o)

    def __rxor__(self, o: Any) -> Any:
        return np.bitwise_xor(o, self)

    def __invert__(self) -> Any:
        return np.invert(self)

    def __neg__(self) -> Any:
        return np.negative(self)

    def __pos__(self) -> Any:
        return np.positive(self)

    def __abs__(self) -> Any:
        return np.absolute(self)

    def __round__(self, ndigits: Optional[int] = None) -> Any:
        return np.round(self, ndigits or 0)

    def __lt__(self, o: Any) -> Any:
        return np.less(self, o)

    def __le__(self, o: Any) -> Any:
        return np.less_equal(self, o)

    def __gt__(self, o: Any) -> Any:
        return np.greater(self, o)

    def __ge__(self, o: Any) -> Any:
        return np.greater_equal(self, o)

    def __eq__(self, o: Any) -> Any:  # type: ignore[override]
        return np.equal(self, o)

    def __ne__(self, o: Any) -> Any:  # type: ignore[override]
        return np.not_equal(self, o)

    __hash__ = None  # type: ignore[assignment]

    def _inplace(self, ufunc: Any, o: Any) -> Tracer:
        ufunc(self, o, out=self)
        return self

    def __iadd__(self, o: Any) -> Tracer:
        return self._inplace(np.add, o)

    def __isub__(self, o: Any) -> Tracer:
        return self._inplace(np.subtract, o)

    def __imul__(self, o: Any) -> Tracer:
        return self._inplace(np.multiply, o)

    def __itruediv__(self, o: Any) -> Tracer:
        return self._inplace(np.true_divide, o)

    def __ifloordiv__(self, o: Any) -> Tracer:
        return self._inplace(np.floor_divide, o)

    def __imod__(self, o: Any) -> Tracer:
        return self._inplace(np.remainder, o)

    def __ipow__(self, o: Any) -> Tracer:
        return self._inplace(np.power, o)

    def __imatmul__(self, o: Any) -> Tracer:
        self.write(Ellipsis, np.matmul(self, o))
        return self

    def __iand__(self, o: Any) -> Tracer:
        return self._inplace(np.bitwise_and, o)

    def __ior__(self, o: Any) -> Tracer:
        return self._inplace(np.bitwise_or, o)

    def __ixor__(self, o: Any) -> Tracer:
        return self._inplace(np.bitwise_xor, o)

    # --- indexing ----------------------------------------------------------------------

    def __getitem__(self, key: Any) -> Tracer:
        if is_traced_key(key):
            raise TraceError(
                "indexing with a traced value (x[i] with i computed from the inputs, or "
                "x[mask] with a traced mask) is data-dependent: the result's elements or "
                "shape are not known while tracing; use np.where(mask, x, fill)"
            )
        return self.derived(self.positions()[key])

    def __setitem__(self, key: Any, new: Any) -> None:
        self.write(key, new)

    def __copy__(self) -> Tracer:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> Tracer:
        return self.copy()

    # --- ndarray methods (each is numpy's function of the same name) --------------------

    def reshape(self, *shape: Any, order: str = "C", copy: Any = None) -> Tracer:
        target = shape[0] if len(shape) == 1 else shape
        return np.reshape(self, target, order=order, copy=copy)

    def transpose(self, *axes: Any) -> Tracer:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return np.transpose(self, axes or None)

    def ravel(self, order: str = "C") -> Tracer:
        return np.ravel(self, order=order)

    def flatten(self, order: str = "C") -> Tracer:
        return np.ravel(self, order=order).copy()

    def copy(self, order: str = "C") -> Tracer:
        return np.copy(self, order=order)

    def astype(
        self, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True,
        copy: bool = True,
    ) -> Tracer:  # fmt: skip
        from anydiff.ir.numpy_tracer._creation import cast

        return cast(self, dtype, copy=copy)

    def view(self, dtype: Any = None, type: Any = None) -> Tracer:
        if type is not None or (dtype is not None and np.dtype(dtype) != self.dtype):
            raise TraceError(
                f"view(dtype={dtype!r}) of a traced array reinterprets its bytes: not "
                "differentiable; use astype"
            )
        return self.derived(self.positions().view())

    def fill(self, value: Any) -> None:
        self.write(Ellipsis, value)

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        self.write(Ellipsis, np.sort(self, axis=axis, kind=kind, order=order))

    def item(self, *args: Any) -> Tracer:
        if not args:
            if self.size != 1:
                raise ValueError("can only convert an array of size 1 to a Python scalar")
            return self.reshape(())
        if len(args) == 1 and isinstance(args[0], (int, np.integer)):
            return self.ravel()[args[0]]
        return self[args if len(args) > 1 else args[0]]

    def tolist(self) -> Any:
        if not self.shape:
            return self.copy()
        return [row.tolist() for row in self]

    def __repr__(self) -> str:
        kind = ", dtype=bool" if self._is_bool else ""
        return f"Tracer(shape={self.shape}{kind})"


def _method(func: Any) -> Callable[..., Any]:
    def method(self: Tracer, *args: Any, **kwargs: Any) -> Any:
        return func(self, *args, **kwargs)

    method.__name__ = func.__name__
    method.__doc__ = f"``{name_of(func)}(self, ...)``."
    return method


for _name in (
    "all", "any", "argmax", "argmin", "argpartition", "argsort", "choose", "clip",
    "conj", "conjugate", "cumprod", "cumsum", "diagonal", "dot", "max", "mean",
    "min", "nonzero", "prod", "ptp", "put", "repeat", "round", "searchsorted", "squeeze",
    "std", "sum", "swapaxes", "take", "trace", "var",
):  # fmt: skip
    setattr(Tracer, _name, _method(getattr(np, _name)))


def _compress_method(self: Tracer, condition: Any, axis: Any = None, out: Any = None) -> Any:
    """``np.compress(condition, self, ...)``: the condition comes first in numpy's function."""
    return np.compress(condition, self, axis=axis, out=out)


Tracer.compress = _compress_method  # type: ignore[attr-defined]


def is_traced(a: Any) -> bool:
    return isinstance(a, Tracer)


def is_traced_key(key: Any) -> bool:
    if isinstance(key, Tracer):
        return True
    return isinstance(key, tuple) and any(isinstance(k, Tracer) for k in key)


def graph_of(items: Sequence[Any]) -> Graph:
    """The graph of the first tracer among ``items`` (searched into lists and tuples)."""
    for a in items:
        if isinstance(a, Tracer):
            return a.graph
        if isinstance(a, (list, tuple)):
            try:
                return graph_of(a)
            except TraceError:
                pass
    raise TraceError("no traced value among the arguments")


def as_value(graph: Graph, a: Any) -> Value:
    """A tracer's value, or a numeric constant as a graph constant (float64)."""
    if isinstance(a, Tracer):
        if a.graph is not graph:
            raise TraceError("traced values of two different traces were combined")
        return a.value
    if isinstance(a, (list, tuple)) and any(_contains_tracer(b) for b in a):
        from anydiff.ir.numpy_tracer._creation import array_from_nested

        return array_from_nested(a).value
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TraceError(
            f"cannot combine a traced value with {type(a).__name__} of dtype {arr.dtype}; "
            "the tracer handles real numbers"
        )
    return graph.const(arr.astype(np.float64))


def as_tracer(graph: Graph, a: Any) -> Tracer:
    """A tracer for ``a`` (constants become constant nodes; booleans stay boolean)."""
    if isinstance(a, Tracer):
        return a
    is_bool = np.asarray(a).dtype == np.bool_ if not isinstance(a, (list, tuple)) else False
    return Tracer(as_value(graph, a), is_bool=bool(is_bool))


def _contains_tracer(a: Any) -> bool:
    if isinstance(a, Tracer):
        return True
    if isinstance(a, (list, tuple)):
        return any(_contains_tracer(b) for b in a)
    return False


def contains_tracer(a: Any) -> bool:
    """Whether ``a`` is a tracer or a (nested) list or tuple holding one."""
    return _contains_tracer(a)


_conversions = threading.local()
"""The last conversion of a traced value the tracer refused, in this thread's trace: numpy
catches some of these refusals (assigning a traced scalar into a plain array) and raises
its own unrelated error instead."""


def _refuse(message: str) -> NoReturn:
    _conversions.refused = message
    raise TraceError(message)


def trace_numpy(
    f: Callable[..., Any], example_args: Sequence[Any], differentiated: Sequence[bool]
) -> Graph:
    """Trace ``f`` at arguments shaped like ``example_args`` into a graph.

    Differentiated arguments become inputs, the others parameters (values supplied at
    each evaluation); ``f`` must return an array or a tuple (or list) of arrays.
    """
    from anydiff.ir.numpy_tracer._creation import numpy_constructors_traced

    graph = Graph()
    args = []
    for a, diff in zip(example_args, differentiated):
        shape = tuple(np.shape(a))
        args.append(Tracer(graph.input(shape) if diff else graph.param(shape)))
    _conversions.refused = None
    with numpy_constructors_traced():
        try:
            out = f(*args)
        except TraceError:
            raise
        except Exception as err:
            refused = getattr(_conversions, "refused", None)
            if refused is None:
                raise
            raise TraceError(
                f"{refused} (numpy reported this as {type(err).__name__}: {err})"
            ) from err
        finally:
            _conversions.refused = None
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        values = [_output_value(graph, o) for o in outs]
    graph.set_outputs(values)
    return graph


def _output_value(graph: Graph, o: Any) -> Value:
    if isinstance(o, Tracer):
        return o.value
    if contains_tracer(o):
        return as_value(graph, o)
    arr = np.asarray(o)
    if arr.dtype.kind not in "biuf":
        raise TraceError(
            f"f returned {type(o).__name__} of dtype {arr.dtype}; it must return real arrays"
        )
    return graph.const(arr.astype(np.float64))
