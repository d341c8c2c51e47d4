"""Structures of values: outputs (one array, or a tuple/list of arrays) and pytree arguments.

A differentiated argument may be a pytree of arrays (dicts, lists and tuples, nested, as
in JAX and torch.func). The operators see it as one flat vector, its leaves raveled and
concatenated in order (as ``jax.flatten_util.ravel_pytree`` does); :class:`ArgTree` maps
between the two, and gives results the argument's structure back.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import cast, dtype_of, kind_name, ops_named

__all__ = [
    "ArgTree",
    "OutputTree",
    "describe_tree",
    "is_multi",
    "is_tree",
    "leaves",
    "map_leaves",
    "rebuild",
]


def is_multi(out: Any) -> bool:
    """Whether ``out`` is a tuple or list of arrays (several outputs)."""
    return isinstance(out, (tuple, list))


def leaves(out: Any) -> tuple[Any, ...]:
    """The arrays of ``out`` as a tuple."""
    return tuple(out) if is_multi(out) else (out,)


def rebuild(parts: tuple[Any, ...] | list[Any], multi: bool) -> Any:
    """Inverse of :func:`leaves`: a tuple when ``multi``, else the single array."""
    return tuple(parts) if multi else parts[0]


def map_leaves(fn: Callable[[Any], Any], out: Any) -> Any:
    """Apply ``fn`` to every array of ``out``, keeping the structure."""
    return tuple(fn(o) for o in out) if is_multi(out) else fn(out)


# --- pytree arguments ----------------------------------------------------------------------


def is_tree(x: Any) -> bool:
    """Whether argument ``x`` is a pytree of arrays: a dict, or a list/tuple holding arrays,
    dicts or such lists (a list of plain numbers stays one array, as numpy reads it)."""
    if isinstance(x, dict):
        return True
    if isinstance(x, (list, tuple)):
        return any(hasattr(e, "shape") or is_tree(e) for e in x)
    return False


def _path_text(path: tuple) -> str:
    return "".join(f"[{k!r}]" for k in path)


class _Node:
    """The structure of a pytree: a container's kind and children, or a leaf's place."""

    __slots__ = ("children", "keys", "kind", "rebuild")

    def __init__(
        self,
        kind: str,
        keys: tuple = (),
        children: tuple = (),
        rebuild: Optional[Callable[[list], Any]] = None,
    ) -> None:
        self.kind, self.keys, self.children, self.rebuild = kind, keys, children, rebuild


def _is_leaf(x: Any) -> bool:
    return (hasattr(x, "shape") and hasattr(x, "dtype")) or isinstance(x, float)


def _make_dict(keys: tuple, parts: list) -> dict:
    return dict(zip(keys, parts))


def _splat(t: type, parts: list) -> Any:
    return t(*parts)


def _structure(x: Any, path: tuple, found: list, where: str) -> _Node:
    """The structure of ``x``; appends ``(path, leaf)`` for each leaf, in order."""
    if isinstance(x, dict):
        keys = tuple(x)
        children = tuple(_structure(x[k], (*path, k), found, where) for k in keys)
        return _Node("dict", keys, children, functools.partial(_make_dict, keys))
    if isinstance(x, (list, tuple)):
        children = tuple(_structure(e, (*path, i), found, where) for i, e in enumerate(x))
        if isinstance(x, list):
            return _Node("list", tuple(range(len(x))), children, list)
        t = type(x)
        if hasattr(x, "_fields"):  # a namedtuple
            return _Node(t.__name__, tuple(range(len(x))), children, functools.partial(_splat, t))
        return _Node("tuple", tuple(range(len(x))), children, tuple)
    if not _is_leaf(x):
        raise TypeError(
            f"{where}{_path_text(path)} is a {type(x).__name__}; the leaves of a "
            "differentiated dict/list/tuple must be floating-point arrays (wrap the "
            "container in anydiff.Constant when it is not differentiated)"
        )
    found.append((path, x))
    return _Node("leaf")


def _guided(node: _Node, x: Any, found: list) -> bool:
    """Append the leaves of ``x`` in the order of ``node``; False where ``x`` has another
    structure (a dict's keys count as a set, as in JAX)."""
    if node.kind == "leaf":
        found.append(x)
        return _is_leaf(x)
    if node.kind == "dict":
        if (
            not isinstance(x, dict)
            or len(x) != len(node.keys)
            or any(k not in x for k in node.keys)
        ):
            return False
        return all(_guided(c, x[k], found) for c, k in zip(node.children, node.keys))
    want = list if node.kind == "list" else tuple
    if not isinstance(x, want) or len(x) != len(node.keys):
        return False
    if node.kind not in ("list", "tuple") and type(x).__name__ != node.kind:
        return False
    return all(_guided(c, e, found) for c, e in zip(node.children, x))


def _rebuild(node: _Node, it: Any) -> Any:
    if node.kind == "leaf":
        return next(it)
    assert node.rebuild is not None
    return node.rebuild([_rebuild(c, it) for c in node.children])


class ArgTree:
    """One differentiated pytree argument: its structure, leaf shapes and dtypes, and the
    flat vector (leaves raveled and concatenated, in the common dtype) the operators see.

    ``ArgTree(x, where)`` reads the structure of ``x``; ``where`` names the argument in
    error messages (``"jacobian: argument 0"``).
    """

    def __init__(self, x: Any, where: str) -> None:
        found: list = []
        self.where = where
        self.node = _structure(x, (), found, where)
        self.paths = tuple(p for p, _ in found)
        self.shapes = tuple(tuple(getattr(leaf, "shape", ())) for _, leaf in found)
        self.dtypes = tuple(dtype_of(leaf) for _, leaf in found)
        for path, dtype in zip(self.paths, self.dtypes):
            if dtype.kind != "f":
                raise TypeError(
                    f"{where}{_path_text(path)} must be floating point (float32 or float64), "
                    f"got dtype {dtype}; wrap non-differentiated arguments in anydiff.Constant"
                )
        kinds = {kind_name(leaf) for _, leaf in found if not isinstance(leaf, float)}
        if len(kinds) > 1:
            raise TypeError(
                f"{where} mixes arrays of {sorted(kinds)} in one tree; use one kind of array"
            )
        self.kind = kinds.pop() if kinds else "numpy"
        self.dtype = np.result_type(*self.dtypes) if self.dtypes else np.dtype(np.float64)
        self.sizes = tuple(math.prod(s) for s in self.shapes)
        self.offsets = tuple(int(o) for o in np.cumsum((0, *self.sizes))[:-1])
        self.size = sum(self.sizes)

    def describe(self) -> str:
        """The structure with each leaf's shape and dtype (error messages, plan cache keys)."""
        parts = [
            f"{_path_text(p)}: {s} {d}" for p, s, d in zip(self.paths, self.shapes, self.dtypes)
        ]
        return f"{self.node.kind} tree of {self.kind} arrays {{{', '.join(parts)}}}"

    def _leaves_like(self, x: Any, lead: tuple[int, ...] = ()) -> Optional[list]:
        """The leaves of ``x`` if it has this structure and leaf shapes (after ``lead``)."""
        found: list = []
        if not _guided(self.node, x, found):
            return None
        got = [tuple(getattr(leaf, "shape", ())) for leaf in found]
        if got != [lead + s for s in self.shapes]:
            return None
        return found

    def matches(self, x: Any) -> bool:
        """Whether ``x`` has this structure, leaf shapes, dtypes and kind of arrays."""
        parts = self._leaves_like(x)
        return parts is not None and all(
            dtype_of(p) == d and (isinstance(p, float) or kind_name(p) == self.kind)
            for p, d in zip(parts, self.dtypes)
        )

    def ravel(self, x: Any) -> Any:
        """``x`` (of this structure) as the flat vector: the user's kind of array."""
        parts = self._leaves_like(x)
        assert parts is not None, "ravel of a tree of another structure"
        return self._concat(parts, (), self.dtype)

    def ravel_tangent(self, t: Any, batched: bool, operator: str, name: str) -> Any:
        """A tangent of the argument's structure (``batched``: each leaf with a leading
        batch axis) as a vector (or batch x size matrix) for the flat input."""
        first = self._leaves_like(t, ()) if not batched else None
        lead: tuple[int, ...] = ()
        if batched:
            found: list = []
            _guided(self.node, t, found)
            lead = tuple(getattr(found[0], "shape", ()))[:1] if found else ()
            first = self._leaves_like(t, lead) if lead else None
        if first is None:
            want = self.describe() + (" each with a leading batch axis" if batched else "")
            raise ValueError(
                f"{operator}: {name} must have the structure of the argument ({want}); "
                f"got {_describe_any(t)}"
            )
        return self._concat(first, lead, None)

    def _concat(self, parts: list, lead: tuple[int, ...], dtype: Optional[np.dtype]) -> Any:
        kinds = [kind_name(p) for p in parts if not isinstance(p, float)]
        ops = ops_named(kinds[0] if kinds else "numpy")
        flat = []
        for p, s in zip(parts, self.sizes):
            a = ops.asarray(p) if isinstance(p, float) or not hasattr(p, "reshape") else p
            if dtype is not None:
                a = cast(a, dtype)
            flat.append(a.reshape((*lead, s)))
        if not flat:
            return ops.asarray(np.zeros((*lead, 0), dtype=dtype or self.dtype))
        if len(flat) == 1:
            return flat[0]
        if dtype is None:  # tangents: one dtype for the concatenation
            common = np.result_type(*(dtype_of(a) for a in flat))
            flat = [cast(a, common) for a in flat]
        return ops.concat(flat, len(lead))

    def unravel(self, v: Any) -> Any:
        """The flat vector ``v`` (any array or tracer) as the argument's structure."""
        if len(self.shapes) == 1:
            return _rebuild(self.node, iter([v.reshape(self.shapes[0])]))
        parts = [v[o : o + s].reshape(shape) for o, s, shape in self._spans()]
        return _rebuild(self.node, iter(parts))

    def split_axis(self, a: Any, axis: int) -> Any:
        """A result array whose axis ``axis`` (0 or -1) runs over the flat vector, as the
        argument's structure: each leaf's part with that axis reshaped to the leaf's shape."""
        shape = tuple(a.shape)
        parts = []
        for o, s, leaf_shape in self._spans():
            if axis == 0:
                parts.append(a[o : o + s].reshape((*leaf_shape, *shape[1:])))
            else:
                parts.append(a[..., o : o + s].reshape((*shape[:-1], *leaf_shape)))
        return _rebuild(self.node, iter(parts))

    def split_square(self, h: Any) -> Any:
        """An (n, n) result (a Hessian) as a tree of trees: ``h[a][b]`` has the shape
        ``shape_a + shape_b``, as ``jax.hessian`` nests it."""
        outer = self.split_axis(h, 0)
        flat: list = []
        _collect(self.node, outer, flat)
        return _rebuild(self.node, iter([self.split_axis(part, -1) for part in flat]))

    def _spans(self) -> zip:
        return zip(self.offsets, self.sizes, self.shapes)


def _collect(node: _Node, x: Any, out: list) -> None:
    """The leaves of ``x`` (built by ``_rebuild(node, ...)``) in order."""
    if node.kind == "leaf":
        out.append(x)
        return
    items = [x[k] for k in node.keys]
    for child, item in zip(node.children, items):
        _collect(child, item, out)


def describe_tree(t: Any) -> str:
    """A dict/list/tuple for error messages: its structure with each leaf's shape and
    dtype, or that it holds something other than arrays."""
    try:
        return ArgTree(t, "").describe()
    except TypeError:
        return f"a {type(t).__name__} with non-array leaves"


def _describe_any(t: Any) -> str:
    if isinstance(t, (dict, list, tuple)):
        return describe_tree(t)
    return f"{type(t).__name__} of shape {tuple(getattr(t, 'shape', np.shape(t)))}"


# --- pytree outputs ------------------------------------------------------------------------


def _is_deep(out: Any) -> bool:
    """Whether an output is a pytree beyond one array or a flat tuple/list of arrays."""
    if isinstance(out, dict):
        return True
    return isinstance(out, (list, tuple)) and any(isinstance(o, (dict, list, tuple)) for o in out)


class OutputTree:
    """``f`` returning its pytree output (dicts, nested lists/tuples) as the flat tuple of
    its leaves, the structure the operators know; :meth:`rebuild` gives results the
    output's structure back. Outputs that are one array or a flat tuple pass unchanged."""

    def __init__(self, f: Callable[..., Any]) -> None:
        self.f = f
        self.node: Optional[_Node] = None
        self.paths: tuple = ()

    def __call__(self, *args: Any) -> Any:
        out = self.f(*args)
        if not _is_deep(out):
            return out
        if self.node is None:
            found: list = []
            self.node = _structure(out, (), found, "f's output")
            self.paths = tuple(p for p, _ in found)
            return tuple(leaf for _, leaf in found)
        leaves: list = []
        if not _guided(self.node, out, leaves):
            raise ValueError("f returned an output of another structure than at preparation")
        return tuple(leaves)

    def rebuild(self, parts: Any) -> Any:
        """Per-output results (a tuple in leaf order) in the output's structure."""
        assert self.node is not None
        return _rebuild(self.node, iter(parts))

    def flatten(self, t: Any, what: str) -> tuple:
        """A value of the output's structure (cotangents) as the tuple of its leaves."""
        assert self.node is not None
        found: list = []
        if not _guided(self.node, t, found):
            raise ValueError(
                f"{what} must have the structure of f's output "
                f"({[_path_text(p) for p in self.paths]}); got {_describe_any(t)}"
            )
        return tuple(found)
