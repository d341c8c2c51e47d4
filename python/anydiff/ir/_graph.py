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
compare         (a, b) same length      fn: one of COMPARE (result 0.0 / 1.0)
select          (c, t, f) same length   out = t where c != 0 else f
gather          (a,)                    indices: int64 array (-1 reads 0.0)
concat          (a, b, ...)             -
reduce          (a,)                    fn: one of REDUCE; offsets, indices (CSR groups)
sort            (keys, a)               segment: a permuted in the stable order of keys
linalg          (a, ...)                fn: one of LINALG; batch, m, n, k
dot             (a, b)                  batch, m, k, n: (B,M,K) @ (B,K,N) -> (B,M,N)
==============  ======================  ===============================================

The function names are the Rust engine's tables (``anydiff._core.UNARY_FUNCTIONS`` and
friends), so a function added there is known here. The conventions are JAX's: at a tie
``max``/``min`` split the derivative evenly, ``d/dy pow(0, y) = 0``; see the Rust crate's
``ir`` module for the recipe to add a function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from anydiff import _core

__all__ = [
    "BINARY", "COMPARE", "LINALG", "REDUCE", "UNARY", "ZERO_DERIVATIVE", "Graph", "Node",
    "Value",
]  # fmt: skip

UNARY = frozenset(_core.UNARY_FUNCTIONS)
BINARY = frozenset(_core.BINARY_FUNCTIONS)
COMPARE = frozenset(_core.COMPARISONS)
REDUCE = frozenset(_core.REDUCTIONS)
LINALG = frozenset(_core.LINALG_FUNCTIONS)
ZERO_DERIVATIVE = frozenset(_core.ZERO_DERIVATIVE_FUNCTIONS)
"""Unary functions whose derivative is zero (floor, sign, is_finite, stop_gradient, ...)."""

DERIVATIVE_ORDERS = 2
"""Orders of derivatives the engine computes (Hessians); custom rules are built for them."""


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
        self._orders_left = DERIVATIVE_ORDERS

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

    def stop_gradient(self, a: Value) -> Value:
        """``a`` with zero derivative."""
        return self.unary("stop_gradient", a)

    def is_finite(self, a: Value) -> Value:
        """1.0 where ``a`` is finite, else 0.0 (zero derivative)."""
        return self.unary("is_finite", a)

    def custom_jvp(
        self,
        primal: Callable[[list[Value]], list[Value]],
        jvp: Callable[[list[Value], list[Value]], list[Value]],
        args: Sequence[Value],
    ) -> list[Value]:
        """The values of ``primal(args)`` with the derivatives of a custom rule: ``jvp(xs,
        ts)`` gives the output tangents for the tangents ``ts`` of the arguments ``xs``
        (linear in ``ts``), as JAX's ``custom_jvp``. Both callables build graph nodes.

        Built as ``stop_gradient(p) + perturbation(e)`` with ``e = (T(x, u) + T(sg x, u)) / 2``,
        ``u = perturbation(x)`` (value 0, derivative 1): ``e`` is 0 with first derivative
        ``T(x, dx)`` and second derivative that of ``T`` in ``x`` (JAX's Hessian of a
        custom rule). ``jvp`` itself runs with one derivative order less, so custom rules
        inside it (a rule that calls its own function) recurse only as deep as needed.
        """
        args = list(args)
        values = [self.stop_gradient(v) for v in primal(args)]
        if self._orders_left <= 0:
            return values
        tangents = [self.unary("perturbation", a) for a in args]
        frozen = [self.stop_gradient(a) for a in args]
        self._orders_left -= 1
        try:
            if self._orders_left >= 1:
                live = jvp(args, tangents)
                still = jvp(frozen, tangents)
                half = self.const(0.5)
                carriers = [
                    self.binary("mul", half, self.binary("add", a, b)) for a, b in zip(live, still)
                ]
            else:
                carriers = jvp(frozen, tangents)
        finally:
            self._orders_left += 1
        out = []
        for v, e in zip(values, carriers):
            e = self.broadcast(e, v.shape) if e.shape != v.shape else e
            out.append(self.binary("add", v, self.unary("perturbation", e)))
        return out

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
        """Reduce ``a`` over ``axes`` (one of REDUCE: sum, prod, max, min, argmax, argmin;
        argmax/argmin give the position in the row-major order of the reduced axes)."""
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

    def cumulative(self, fn: str, a: Value, axis: int, reverse: bool = False) -> Value:
        """Running reductions (sum, prod, max, min) along ``axis``: a reduction over the
        prefix of each element (quadratic in the axis length, which traced programs keep
        small). Ties of a running max share the derivative evenly among the prefix's
        maximal elements."""
        if fn not in ("sum", "prod", "max", "min"):
            raise ValueError(f"cumulative: expected sum, prod, max or min; got {fn!r}")
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
            "reduce", (a.node,), a.size, fn=fn, offsets=np.asarray(offsets, dtype=np.int64),
            indices=np.concatenate(groups).astype(np.int64) if groups else np.zeros(0, np.int64),
        )  # fmt: skip
        # result q belongs to element lines.flat[q]: invert that permutation to put it back
        back = np.argsort(lines.reshape(-1)).reshape(a.shape)
        return self.gather(Value(self, node, (a.size,)), back)

    def cumsum(self, a: Value, axis: int, reverse: bool = False) -> Value:
        """Running sums along ``axis`` (``cumulative("sum", ...)``)."""
        return self.cumulative("sum", a, axis, reverse)

    def sort(self, a: Value, axis: int = -1, keys: Value | None = None) -> Value:
        """``a`` sorted along ``axis`` in the stable ascending order of ``keys`` (``a``
        itself by default, same shape): NaN last, ``-0.0 == 0.0`` (JAX's order); the
        derivative follows the permutation."""
        keys = a if keys is None else keys
        if keys.shape != a.shape:
            raise ValueError(f"sort: keys of shape {keys.shape} for values of shape {a.shape}")
        if not a.shape:
            return a
        axis %= len(a.shape)
        perm = [d for d in range(len(a.shape)) if d != axis] + [axis]
        moved = np.arange(a.size).reshape(a.shape).transpose(perm)
        back = np.argsort(moved.reshape(-1)).reshape(a.shape)
        ka, va = self.gather(keys, moved), self.gather(a, moved)
        segment = a.shape[axis]
        node = self._add("sort", (ka.node, va.node), a.size, segment=segment)
        return self.gather(Value(self, node, (a.size,)), back)

    def argsort(self, a: Value, axis: int = -1) -> Value:
        """The positions that sort ``a`` along ``axis`` (as numbers, zero derivative)."""
        axis %= max(len(a.shape), 1)
        pos = np.broadcast_to(
            np.arange(a.shape[axis]).reshape([-1 if d == axis else 1 for d in range(len(a.shape))]),
            a.shape,
        )
        return self.sort(self.const(pos.astype(np.float64)), axis, keys=a)

    # --- dense linear algebra ----------------------------------------------------------

    def linalg(
        self, fn: str, args: Sequence[Value], batch: int, m: int, n: int, k: int = 0
    ) -> Value:
        """One ``linalg`` instruction on flat batched arguments (see ``LINALG`` and the Rust
        ``LinalgFn`` for the layouts); the result is flat ``(batch, per item)``."""
        if fn not in LINALG:
            raise ValueError(
                f"unknown linear algebra function {fn!r}; expected one of {sorted(LINALG)}"
            )
        per = _linalg_result_len(fn, m, n, k)
        node = self._add(
            "linalg", tuple(a.node for a in args), batch * per, fn=fn, batch=batch, m=m, n=n, k=k
        )
        return Value(self, node, (batch, per))

    def _square(self, what: str, a: Value) -> tuple[tuple[int, ...], int]:
        if len(a.shape) < 2 or a.shape[-1] != a.shape[-2]:
            raise ValueError(f"{what}: expected square matrices (..., n, n); got shape {a.shape}")
        return a.shape[:-2], a.shape[-1]

    def _part(self, flat: Value, start: int, shape: tuple[int, ...]) -> Value:
        """Elements ``start ... start + prod(shape[len(batch):])`` of each batch row of a flat
        ``(batch, per)`` result, seen with ``shape`` (batch dims first)."""
        per = flat.shape[1]
        batch = flat.shape[0]
        size = math.prod(shape) // max(batch, 1) if batch else 0
        rows = np.arange(batch)[:, None] * per + start + np.arange(size)[None, :]
        return self.gather(Value(self, flat.node, (flat.size,)), rows.reshape(shape))

    def solve(self, a: Value, b: Value) -> Value:
        """``x`` with ``a @ x = b`` for ``a`` (..., n, n) and ``b`` (..., n, k) or (..., n)
        (as ``jnp.linalg.solve``; batch dimensions broadcast)."""
        lead, n = self._square("solve", a)
        vector = len(b.shape) == len(a.shape) - 1 and b.shape[-1:] == (n,)
        bm = Value(self, b.node, (*b.shape, 1)) if vector else b
        if len(bm.shape) < 2 or bm.shape[-2] != n:
            raise ValueError(f"solve: b of shape {b.shape} does not fit a of shape {a.shape}")
        k = bm.shape[-1]
        batch_shape = tuple(np.broadcast_shapes(lead, bm.shape[:-2]))
        aa = self.broadcast(a, (*batch_shape, n, n))
        bb = self.broadcast(bm, (*batch_shape, n, k))
        batch = math.prod(batch_shape)
        flat = self.linalg("solve", [aa, bb], batch, n, n, k)
        out = Value(self, flat.node, (*batch_shape, n, k))
        return Value(self, out.node, (*batch_shape, n)) if vector else out

    def triangular_solve(
        self, a: Value, b: Value, lower: bool, unit_diagonal: bool = False
    ) -> Value:
        """``x`` with ``a @ x = b``, ``a`` (..., n, n) triangular (only that triangle is read;
        the diagonal neither when ``unit_diagonal``), ``b`` (..., n, k)."""
        lead, n = self._square("triangular_solve", a)
        if len(b.shape) < 2 or b.shape[-2] != n or b.shape[:-2] != lead:
            raise ValueError(
                f"triangular_solve: b of shape {b.shape} does not fit a of shape {a.shape}"
            )
        fn = "solve_" + ("lower" if lower else "upper") + ("_unit" if unit_diagonal else "")
        flat = self.linalg(fn, [a, b], math.prod(lead), n, n, b.shape[-1])
        return Value(self, flat.node, b.shape)

    def inv(self, a: Value) -> Value:
        """The inverse of each matrix of ``a`` (..., n, n)."""
        lead, n = self._square("inv", a)
        return Value(self, self.linalg("inv", [a], math.prod(lead), n, n).node, a.shape)

    def det(self, a: Value) -> Value:
        """The determinant of each matrix of ``a`` (..., n, n)."""
        lead, n = self._square("det", a)
        return Value(self, self.linalg("det", [a], math.prod(lead), n, n).node, lead)

    def slogdet(self, a: Value) -> tuple[Value, Value]:
        """``(sign, log |det|)`` of each matrix (the sign with zero derivative)."""
        lead, n = self._square("slogdet", a)
        flat = self.linalg("slogdet", [a], math.prod(lead), n, n)
        return self._part(flat, 0, lead), self._part(flat, 1, lead)

    def cholesky(self, a: Value) -> Value:
        """The lower Cholesky factor of each matrix, from its lower triangle (NaN where not
        positive definite)."""
        lead, n = self._square("cholesky", a)
        return Value(self, self.linalg("cholesky", [a], math.prod(lead), n, n).node, a.shape)

    def eigh(self, a: Value) -> tuple[Value, Value]:
        """Eigenvalues (ascending) and eigenvectors (columns) of each symmetric matrix, read
        from its lower triangle; each eigenvector's largest-magnitude component is positive;
        derivatives are NaN where eigenvalues coincide."""
        lead, n = self._square("eigh", a)
        flat = self.linalg("eigh", [a], math.prod(lead), n, n)
        return self._part(flat, 0, (*lead, n)), self._part(flat, n, (*lead, n, n))

    def svd(self, a: Value) -> tuple[Value, Value, Value]:
        """``(u, s, vt)`` of each matrix of ``a`` (..., m, n), reduced (``full_matrices=False``):
        singular values descending, each column of ``u`` with its largest-magnitude
        component positive; derivatives NaN where singular values coincide or vanish."""
        if len(a.shape) < 2:
            raise ValueError(f"svd: expected matrices (..., m, n); got shape {a.shape}")
        lead, (m, n) = a.shape[:-2], a.shape[-2:]
        p = min(m, n)
        flat = self.linalg("svd", [a], math.prod(lead), m, n)
        s = self._part(flat, 0, (*lead, p))
        u = self._part(flat, p, (*lead, m, p))
        vt = self._part(flat, p + m * p, (*lead, p, n))
        return u, s, vt

    def lu(self, a: Value) -> tuple[Value, Value, Value]:
        """LAPACK's ``getrf`` of each matrix (..., m, n): the packed unit-lower and upper
        factors, the pivots (row swapped with row j) and the permutation (rows of ``a`` in
        the order of the factors), the last two as numbers with zero derivative."""
        if len(a.shape) < 2:
            raise ValueError(f"lu: expected matrices (..., m, n); got shape {a.shape}")
        lead, (m, n) = a.shape[:-2], a.shape[-2:]
        p = min(m, n)
        flat = self.linalg("lu", [a], math.prod(lead), m, n)
        return (
            self._part(flat, 0, (*lead, m, n)),
            self._part(flat, m * n, (*lead, p)),
            self._part(flat, m * n + p, (*lead, m)),
        )

    def pinv(self, a: Value, rtol: float | None = None) -> Value:
        """The pseudo-inverse of each matrix (..., m, n): singular values below
        ``rtol * max(s)`` (default ``10 * max(m, n) * eps``) count as zero, and the
        derivative is JAX's (``jnp.linalg.pinv``: exact where the rank does not change)."""
        if len(a.shape) < 2:
            raise ValueError(f"pinv: expected matrices (..., m, n); got shape {a.shape}")
        m, n = a.shape[-2:]
        cutoff = 10.0 * max(m, n) * np.finfo(np.float64).eps if rtol is None else float(rtol)

        def primal(args: list[Value]) -> list[Value]:
            u, s, vt = self.svd(args[0])
            smax = self.reduce("max", s, (len(s.shape) - 1,))
            smax = Value(self, smax.node, (*smax.shape, 1))
            keep = self.compare("gt", s, self.binary("mul", self.const(cutoff), smax))
            inv = self.select(keep, self.unary("recip", s), self.const(0.0))
            row = Value(self, inv.node, (*inv.shape[:-1], 1, inv.shape[-1]))
            vs = self.binary("mul", self.transpose(vt), row)
            return [self.matmul(vs, self.transpose(u))]

        def jvp(args: list[Value], tangents: list[Value]) -> list[Value]:
            x, dx = args[0], tangents[0]
            p = self.pinv(x, rtol)
            pt, dxt = self.transpose(p), self.transpose(dx)
            eye_m = self.const(np.eye(m))
            eye_n = self.const(np.eye(n))
            first = self.unary("neg", self.matmul(self.matmul(p, dx), p))
            second = self.matmul(
                self.matmul(self.binary("sub", eye_n, self.matmul(p, x)), dxt), self.matmul(pt, p)
            )
            third = self.matmul(
                self.matmul(self.matmul(p, pt), dxt), self.binary("sub", eye_m, self.matmul(x, p))
            )
            return [self.binary("add", self.binary("add", first, second), third)]

        return self.custom_jvp(primal, jvp, [a])[0]

    def transpose(self, a: Value) -> Value:
        """``a`` with its last two axes swapped."""
        perm = [*range(len(a.shape) - 2), len(a.shape) - 1, len(a.shape) - 2]
        return self.gather(a, np.arange(a.size).reshape(a.shape).transpose(perm))

    def matmul(self, a: Value, b: Value) -> Value:
        """``a @ b`` of (..., m, k) and (..., k, n) matrices (batch dimensions broadcast)."""
        (m, k), (k2, n) = a.shape[-2:], b.shape[-2:]
        if k != k2:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit")
        batch = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
        aa = self.broadcast(a, (*batch, m, k))
        bb = self.broadcast(b, (*batch, k, n))
        out = self.dot(aa, bb, math.prod(batch), m, k, n)
        return Value(self, out.node, (*batch, m, n))

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


def _linalg_result_len(fn: str, m: int, n: int, k: int) -> int:
    """Numbers per batch item of a ``linalg`` result (the Rust ``LinalgFn::layout``)."""
    p = min(m, n)
    return {
        "solve": n * k, "solve_lower": n * k, "solve_upper": n * k, "solve_lower_unit": n * k,
        "solve_upper_unit": n * k, "inv": n * n, "cholesky": n * n, "det": 1, "slogdet": 2,
        "eigh": n + n * n, "svd": p + m * p + p * n, "lu": m * n + p + m,
    }[fn]  # fmt: skip
