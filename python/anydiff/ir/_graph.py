"""The expression graph that front ends build and the Rust engine evaluates.

Every node holds a flat array of static length (row-major order); shapes live only here,
in the front ends. Data movement of any kind — reshape, transpose, slicing, broadcasting,
concatenation, rolls, static gathers — is one ``gather`` node whose index map is computed
once with numpy by applying the same operation to ``arange(size)``. The Rust side
therefore needs a small op set: elementwise math, gather, concat, segmented reductions,
batched matrix products, comparisons and select.

Instructions (``Graph.nodes``), as ``(op, args, attrs)``:

==============  ======================  ===============================================
op              args                    attrs
==============  ======================  ===============================================
input           ()                      index: which input, len
param           ()                      index: which parameter (non-differentiated), len
const           ()                      values: float64 array
unary           (a,)                    fn: one of UNARY
binary          (a, b) same length      fn: one of BINARY
powi            (a,)                    n: integer exponent
compare         (a, b) same length      fn: lt, le, gt, ge, eq, ne (result 0.0 / 1.0)
select          (c, t, f) same length   out = t where c != 0 else f
gather          (a,)                    indices: int64 array (-1 reads 0.0)
concat          (a, b, ...)             -
reduce          (a,)                    fn: sum, max, min; offsets, indices (CSR groups)
dot             (a, b)                  batch, m, k, n: (B,M,K) @ (B,K,N) -> (B,M,N)
==============  ======================  ===============================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["BINARY", "COMPARE", "UNARY", "Graph", "Node", "Value"]

UNARY = frozenset(
    {
        "neg", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "cbrt",
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
        "acosh", "atanh", "abs", "sign", "floor", "ceil", "round", "recip", "erf",
        "logistic", "square",
    }
)  # fmt: skip
BINARY = frozenset({"add", "sub", "mul", "div", "pow", "atan2", "min", "max", "hypot", "rem"})
COMPARE = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})
REDUCE = frozenset({"sum", "max", "min"})


@dataclass(frozen=True)
class Node:
    """One instruction: ``op`` applied to the nodes ``args``."""

    op: str
    args: tuple[int, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    length: int = 0


@dataclass(frozen=True)
class Value:
    """A node of a graph seen with a shape (reshapes only change the shape)."""

    graph: Graph
    node: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


class Graph:
    """An append-only list of nodes with constant folding of structure (gathers)."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.inputs: list[int] = []
        self.params: list[int] = []
        self.outputs: list[Value] = []
        self._consts: dict[tuple, int] = {}

    # --- leaves ------------------------------------------------------------------------

    def _add(self, op: str, args: tuple[int, ...], length: int, **attrs: Any) -> int:
        self.nodes.append(Node(op, args, attrs, length))
        return len(self.nodes) - 1

    def input(self, shape: tuple[int, ...]) -> Value:
        """A new differentiated input of ``shape``."""
        size = math.prod(shape)
        node = self._add("input", (), size, index=len(self.inputs), len=size)
        self.inputs.append(node)
        return Value(self, node, tuple(shape))

    def param(self, shape: tuple[int, ...]) -> Value:
        """A new non-differentiated argument of ``shape``, supplied at each evaluation."""
        size = math.prod(shape)
        node = self._add("param", (), size, index=len(self.params), len=size)
        self.params.append(node)
        return Value(self, node, tuple(shape))

    def const(self, values: Any) -> Value:
        """A constant array (deduplicated by content)."""
        arr = np.asarray(values, dtype=np.float64)
        key = (arr.shape, arr.tobytes())
        node = self._consts.get(key)
        if node is None:
            node = self._consts[key] = self._add("const", (), arr.size, values=arr.ravel().copy())
        return Value(self, node, arr.shape)

    # --- structure ---------------------------------------------------------------------

    def gather(self, a: Value, index_map: np.ndarray) -> Value:
        """``out.flat[i] = a.flat[index_map.flat[i]]`` (-1 reads zero); out has its shape."""
        index_map = np.asarray(index_map, dtype=np.int64)
        flat = index_map.ravel()
        if flat.size == a.size and np.array_equal(flat, np.arange(a.size)):
            return Value(self, a.node, index_map.shape)  # a pure reshape
        node = self._add("gather", (a.node,), flat.size, indices=flat)
        return Value(self, node, index_map.shape)

    def concat(self, parts: list[Value], shape: tuple[int, ...]) -> Value:
        """Flat concatenation of ``parts``, seen with ``shape``."""
        if len(parts) == 1:
            return Value(self, parts[0].node, shape)
        node = self._add("concat", tuple(p.node for p in parts), sum(p.size for p in parts))
        return Value(self, node, shape)

    def broadcast(self, a: Value, shape: tuple[int, ...]) -> Value:
        """``a`` broadcast to ``shape`` (numpy rules)."""
        if a.shape == tuple(shape):
            return a
        return self.gather(a, np.broadcast_to(np.arange(a.size).reshape(a.shape), shape))

    # --- arithmetic --------------------------------------------------------------------

    def unary(self, fn: str, a: Value) -> Value:
        if fn not in UNARY:
            raise ValueError(f"unknown unary function {fn!r}; expected one of {sorted(UNARY)}")
        return Value(self, self._add("unary", (a.node,), a.size, fn=fn), a.shape)

    def powi(self, a: Value, n: int) -> Value:
        return Value(self, self._add("powi", (a.node,), a.size, n=int(n)), a.shape)

    def _pair(self, a: Value, b: Value) -> tuple[Value, Value, tuple[int, ...]]:
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        return self.broadcast(a, shape), self.broadcast(b, shape), shape

    def binary(self, fn: str, a: Value, b: Value) -> Value:
        if fn not in BINARY:
            raise ValueError(f"unknown binary function {fn!r}; expected one of {sorted(BINARY)}")
        a, b, shape = self._pair(a, b)
        return Value(self, self._add("binary", (a.node, b.node), math.prod(shape), fn=fn), shape)

    def compare(self, fn: str, a: Value, b: Value) -> Value:
        if fn not in COMPARE:
            raise ValueError(f"unknown comparison {fn!r}; expected one of {sorted(COMPARE)}")
        a, b, shape = self._pair(a, b)
        return Value(self, self._add("compare", (a.node, b.node), math.prod(shape), fn=fn), shape)

    def select(self, cond: Value, on_true: Value, on_false: Value) -> Value:
        shape = tuple(np.broadcast_shapes(cond.shape, on_true.shape, on_false.shape))
        c, t, f = (self.broadcast(v, shape) for v in (cond, on_true, on_false))
        node = self._add("select", (c.node, t.node, f.node), math.prod(shape))
        return Value(self, node, shape)

    def reduce(self, fn: str, a: Value, axes: tuple[int, ...]) -> Value:
        """Reduce ``a`` over ``axes`` (sum, max or min)."""
        if fn not in REDUCE:
            raise ValueError(f"unknown reduction {fn!r}; expected one of {sorted(REDUCE)}")
        axes = tuple(sorted(ax % len(a.shape) for ax in axes)) if a.shape else ()
        keep = [ax for ax in range(len(a.shape)) if ax not in axes]
        out_shape = tuple(a.shape[ax] for ax in keep)
        if not axes:
            return a
        idx = np.arange(a.size).reshape(a.shape).transpose(keep + list(axes))
        groups = idx.reshape(math.prod(out_shape), -1)
        offsets = np.arange(len(groups) + 1, dtype=np.int64) * groups.shape[1]
        node = self._add(
            "reduce", (a.node,), math.prod(out_shape), fn=fn, offsets=offsets,
            indices=groups.ravel().astype(np.int64),
        )  # fmt: skip
        return Value(self, node, out_shape)

    def reduce_segments(self, fn: str, a: Value, offsets: np.ndarray, indices: np.ndarray) -> Value:
        """``out[g] = fn(a.flat[indices[offsets[g]:offsets[g + 1]]])`` (CSR groups of any
        lengths; an empty group sums to 0), a flat value of ``len(offsets) - 1`` elements."""
        if fn not in REDUCE:
            raise ValueError(f"unknown reduction {fn!r}; expected one of {sorted(REDUCE)}")
        offsets = np.asarray(offsets, dtype=np.int64)
        indices = np.asarray(indices, dtype=np.int64)
        if offsets.ndim != 1 or offsets.size == 0 or offsets[0] != 0 or offsets[-1] != indices.size:
            raise ValueError("reduce_segments: offsets must run from 0 to len(indices)")
        if np.any(np.diff(offsets) < 0) or np.any((indices < 0) | (indices >= a.size)):
            raise ValueError("reduce_segments: offsets must not decrease; indices must be in range")
        groups = offsets.size - 1
        node = self._add("reduce", (a.node,), groups, fn=fn, offsets=offsets, indices=indices)
        return Value(self, node, (groups,))

    def cumsum(self, a: Value, axis: int, reverse: bool = False) -> Value:
        """Running sums along ``axis``: a reduction over the prefix of each element
        (quadratic in the axis length, which traced programs keep small)."""
        axis %= len(a.shape)
        idx = np.moveaxis(np.arange(a.size).reshape(a.shape), axis, -1)
        if reverse:
            idx = idx[..., ::-1]
        length = a.shape[axis]
        lines = idx.reshape(-1, length)
        groups, offsets = [], [0]
        for line in lines:
            for j in range(length):
                groups.append(line[: j + 1])
                offsets.append(offsets[-1] + j + 1)
        node = self._add(
            "reduce", (a.node,), a.size, fn="sum", offsets=np.asarray(offsets, dtype=np.int64),
            indices=np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64),
        )  # fmt: skip
        # sum q belongs to element lines.flat[q]: invert that permutation to put it back
        back = np.argsort(lines.reshape(-1)).reshape(a.shape)
        return self.gather(Value(self, node, (a.size,)), back)

    def dot(self, a: Value, b: Value, batch: int, m: int, k: int, n: int) -> Value:
        """Batched matrix product of flat ``(batch, m, k)`` and ``(batch, k, n)`` values."""
        if a.size != batch * m * k or b.size != batch * k * n:
            raise ValueError(f"dot: sizes {a.size}, {b.size} do not fit {(batch, m, k, n)}")
        node = self._add("dot", (a.node, b.node), batch * m * n, batch=batch, m=m, k=k, n=n)
        return Value(self, node, (batch, m, n))

    # --- result ------------------------------------------------------------------------

    def set_outputs(self, outputs: list[Value]) -> None:
        self.outputs = list(outputs)

    def instructions(self) -> list[tuple[str, tuple[int, ...], dict[str, Any]]]:
        """The program as ``(op, args, attrs)`` tuples, for the Rust engine."""
        return [(n.op, n.args, n.attrs) for n in self.nodes]
