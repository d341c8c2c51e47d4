"""Products and linear algebra: ``matmul``/``@``, ``dot``, ``vdot``, ``inner``, ``outer``,
``tensordot``, ``einsum``, ``kron``, ``cross``, ``multi_dot``, ``matrix_power``,
``np.linalg.norm`` (every ``ord`` and ``axis`` numpy has, or a clear refusal), and a
constant ``scipy.sparse`` matrix applied to a traced array (a gather, products with the
stored values and segmented sums: the sparsity is kept).

Every contraction becomes one batched matrix product of the graph after the operands'
axes are arranged by gathers, as numpy's own ``tensordot`` does.
"""

from __future__ import annotations

import math
import string
import sys
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from anydiff.ir._graph import Value
from anydiff.ir.numpy_tracer._dispatch import TraceError, implements
from anydiff.ir.numpy_tracer._reductions import normalize_axes
from anydiff.ir.numpy_tracer._tracer import Tracer, as_tracer, graph_of

__all__ = ["matmul", "sparse_matmul"]


def _is_sparse(a: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(a)


def _bmm(a: Tracer, b: Tracer) -> Tracer:
    """``(B, M, K) @ (B, K, N)`` by one graph product (shapes already aligned)."""
    graph = a.graph
    batch, m, k = a.shape
    _, _, n = b.shape
    if 0 in (batch, m, n):
        return Tracer(graph.const(np.zeros((batch, m, n))))
    if k == 0:
        return Tracer(graph.const(np.zeros((batch, m, n))))
    out = graph.dot(a.value, b.value, batch, m, k, n)
    return Tracer(Value(graph, out.node, (batch, m, n)))


def matmul(a: Any, b: Any) -> Tracer:
    """``np.matmul`` with numpy's rules for 1-d operands and batch broadcasting."""
    if _is_sparse(a):
        return sparse_matmul(a, b)
    if _is_sparse(b):  # a @ B = (B^T @ a^T)^T
        if np.ndim(a) == 1:
            return sparse_matmul(b.T, a)
        return np.transpose(sparse_matmul(b.T, np.transpose(a)))
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a), as_tracer(graph, b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    va = ta if ta.ndim > 1 else ta.reshape((1, ta.shape[0]))
    vb = tb if tb.ndim > 1 else tb.reshape((tb.shape[0], 1))
    m, k = va.shape[-2:]
    k2, n = vb.shape[-2:]
    if k != k2:
        raise ValueError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc "
            f"signature (n?,k),(k,m?)->(n?,m?) (size {k2} is different from {k})"
        )
    batch = tuple(np.broadcast_shapes(va.shape[:-2], vb.shape[:-2]))
    size = math.prod(batch)
    va = np.broadcast_to(va, (*batch, m, k)).reshape((size, m, k))
    vb = np.broadcast_to(vb, (*batch, k, n)).reshape((size, k, n))
    out = _bmm(va, vb).reshape((*batch, m, n))
    if ta.ndim == 1:
        out = out.reshape((*batch, n))
    if tb.ndim == 1:
        out = out.reshape(out.shape[:-1])
    return out


def sparse_matmul(a: Any, x: Any) -> Tracer:
    """A constant scipy.sparse matrix ``a`` (m, n) times a traced ``x`` of shape (n,) or
    (n, k): each output is a segmented sum of the stored values times gathered entries."""
    csr = a.tocsr()
    if csr.ndim != 2:
        raise TraceError("a scipy.sparse array of ndim != 2 times a traced value")
    graph = graph_of([x])
    t = as_tracer(graph, x)
    m, n = csr.shape
    if t.ndim == 0 or t.shape[0] != n:
        raise ValueError(f"matmul: dimension mismatch: sparse {csr.shape} @ traced {t.shape}")
    if t.ndim > 2:
        raise TraceError("a scipy.sparse matrix times a traced array of more than 2 dimensions")
    csr.sum_duplicates()
    indptr = np.asarray(csr.indptr, dtype=np.int64)
    indices = np.asarray(csr.indices, dtype=np.int64)
    data = np.asarray(csr.data, dtype=np.float64)
    nnz = indices.size
    columns = 1 if t.ndim == 1 else t.shape[1]
    # products p[c, e] = data[e] * x[indices[e], c], laid out column by column
    pos = (indices[None, :] * columns + np.arange(columns)[:, None]).reshape(columns, nnz)
    gathered = graph.gather(t.value, pos)
    products = graph.binary("mul", gathered, graph.const(np.broadcast_to(data, (columns, nnz))))
    offsets = (np.arange(columns)[:, None] * nnz + indptr[None, :-1]).ravel()
    offsets = np.append(offsets, columns * nnz)
    flat = Value(graph, products.node, (columns * nnz,))
    sums = graph.reduce_segments("sum", flat, offsets, np.arange(columns * nnz))
    out = Tracer(Value(graph, sums.node, (columns, m)))
    return out.reshape((m,)) if t.ndim == 1 else np.transpose(out)


# --- products -------------------------------------------------------------------------------


@implements(np.matmul, getattr(np.linalg, "matmul", None))
def _matmul(x1: Any, x2: Any, /, out: Any = None, *, casting: Any = None, order: Any = None,
            dtype: Any = None, subok: Any = None, signature: Any = None, axes: Any = None,
            axis: Any = None) -> Any:  # fmt: skip
    if axes is not None or axis is not None:
        raise TraceError("np.matmul(axes=/axis=) is not supported on traced values")
    return _out("matmul", matmul(x1, x2), out)


def _out(name: str, result: Any, out: Any) -> Any:
    if out is None:
        return result
    if not isinstance(out, Tracer):
        raise TraceError(
            f"np.{name}(..., out=...) writes a traced result into a plain numpy array; "
            "create the output with np.zeros_like or np.empty_like"
        )
    out.write(Ellipsis, result)
    return out


def _tensordot(a: Tracer, b: Tracer, axes_a: Sequence[int], axes_b: Sequence[int]) -> Tracer:
    axes_a = [ax % a.ndim for ax in axes_a]
    axes_b = [ax % b.ndim for ax in axes_b]
    for x, y in zip(axes_a, axes_b):
        if a.shape[x] != b.shape[y]:
            raise ValueError("shape-mismatch for sum")
    free_a = [ax for ax in range(a.ndim) if ax not in axes_a]
    free_b = [ax for ax in range(b.ndim) if ax not in axes_b]
    m = math.prod(a.shape[ax] for ax in free_a)
    k = math.prod(a.shape[ax] for ax in axes_a)
    n = math.prod(b.shape[ax] for ax in free_b)
    left = np.transpose(a, free_a + axes_a).reshape((1, m, k))
    right = np.transpose(b, axes_b + free_b).reshape((1, k, n))
    shape = tuple(a.shape[ax] for ax in free_a) + tuple(b.shape[ax] for ax in free_b)
    return _bmm(left, right).reshape(shape)


@implements(np.tensordot, getattr(np.linalg, "tensordot", None))
def _tensordot_handler(a: Any, b: Any, axes: Any = 2) -> Tracer:
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a), as_tracer(graph, b)
    try:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    except TypeError:
        count = int(axes)
        axes_a = list(range(ta.ndim - count, ta.ndim))
        axes_b = list(range(count))
    if len(axes_a) != len(axes_b):
        raise ValueError("shape-mismatch for sum")
    return _tensordot(ta, tb, axes_a, axes_b)


@implements(np.dot)
def _dot(a: Any, b: Any, out: Any = None) -> Any:
    """numpy's dot: products with scalars, inner products of vectors, matrix products, and
    for N-d operands the sum over a's last axis and b's second-to-last."""
    if _is_sparse(a) or _is_sparse(b):
        return _out("dot", matmul(a, b), out)
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a), as_tracer(graph, b)
    if ta.ndim == 0 or tb.ndim == 0:
        result = ta * tb
    else:
        result = _tensordot(ta, tb, [ta.ndim - 1], [max(tb.ndim - 2, 0)])
    return _out("dot", result, out)


@implements(np.vdot)
def _vdot(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    return _dot(as_tracer(graph, a).ravel(), as_tracer(graph, b).ravel())


@implements(np.inner)
def _inner(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a), as_tracer(graph, b)
    if ta.ndim == 0 or tb.ndim == 0:
        return ta * tb
    return _tensordot(ta, tb, [-1], [-1])


@implements(np.outer)
def _outer(a: Any, b: Any, out: Any = None) -> Any:
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a).ravel(), as_tracer(graph, b).ravel()
    return _out("outer", ta.reshape((-1, 1)) * tb.reshape((1, -1)), out)


@implements(getattr(np.linalg, "outer", None))
def _linalg_outer(x1: Any, x2: Any, /) -> Tracer:
    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError("Input arrays must be one-dimensional")
    return _outer(x1, x2)


@implements(getattr(np, "vecdot", None), getattr(np.linalg, "vecdot", None))
def _vecdot(x1: Any, x2: Any, /, *, axis: int = -1, out: Any = None, **_kw: Any) -> Any:
    if _kw:
        raise TraceError(f"np.vecdot({', '.join(_kw)}=...) is not supported on traced values")
    return _out("vecdot", np.sum(np.multiply(x1, x2), axis=axis), out)


@implements(getattr(np, "matvec", None))
def _matvec(x1: Any, x2: Any, /, out: Any = None) -> Any:
    return _out("matvec", matmul(x1, np.expand_dims(x2, -1))[..., 0], out)


@implements(getattr(np, "vecmat", None))
def _vecmat(x1: Any, x2: Any, /, out: Any = None) -> Any:
    return _out("vecmat", matmul(np.expand_dims(x1, -2), x2)[..., 0, :], out)


@implements(np.kron)
def _kron(a: Any, b: Any) -> Tracer:
    graph = graph_of([a, b])
    ta, tb = as_tracer(graph, a), as_tracer(graph, b)
    nd = max(ta.ndim, tb.ndim)
    sa = (1,) * (nd - ta.ndim) + ta.shape
    sb = (1,) * (nd - tb.ndim) + tb.shape
    left = ta.reshape(tuple(x for s in sa for x in (s, 1)))
    right = tb.reshape(tuple(x for s in sb for x in (1, s)))
    return (left * right).reshape(tuple(x * y for x, y in zip(sa, sb)))


@implements(np.cross)
def _cross(
    a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None
) -> Tracer:
    if axis is not None:
        axisa = axisb = axisc = axis
    graph = graph_of([a, b])
    ta = np.moveaxis(as_tracer(graph, a), axisa, -1)
    tb = np.moveaxis(as_tracer(graph, b), axisb, -1)
    if ta.shape[-1] not in (2, 3) or tb.shape[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")
    a0, a1 = ta[..., 0], ta[..., 1]
    b0, b1 = tb[..., 0], tb[..., 1]
    a2 = ta[..., 2] if ta.shape[-1] == 3 else None
    b2 = tb[..., 2] if tb.shape[-1] == 3 else None
    if a2 is None and b2 is None:
        return a0 * b1 - a1 * b0
    zero = 0.0
    a2 = zero if a2 is None else a2
    b2 = zero if b2 is None else b2
    cp = np.stack(
        np.broadcast_arrays(a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0), axis=-1
    )
    return np.moveaxis(cp, -1, axisc)


@implements(getattr(np.linalg, "cross", None))
def _linalg_cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Tracer:
    if np.shape(x1)[axis] != 3 or np.shape(x2)[axis] != 3:
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors")
    return _cross(x1, x2, axis=axis)


@implements(np.linalg.multi_dot)
def _multi_dot(arrays: Any, *, out: Any = None) -> Any:
    graph = graph_of(arrays)
    ts = [as_tracer(graph, a) for a in arrays]
    if len(ts) < 2:
        raise ValueError("Expecting at least two arrays.")
    first_1d, last_1d = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_1d:
        ts[0] = ts[0].reshape((1, -1))
    if last_1d:
        ts[-1] = ts[-1].reshape((-1, 1))
    result = ts[0]
    for t in ts[1:]:
        result = matmul(result, t)
    if first_1d and last_1d:
        result = result.reshape(())
    elif first_1d or last_1d:
        result = result.reshape((-1,))
    return _out("multi_dot", result, out)


@implements(np.linalg.matrix_power)
def _matrix_power(a: Any, n: int) -> Tracer:
    t = as_tracer(graph_of([a]), a)
    if t.ndim < 2 or t.shape[-1] != t.shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    n = int(n)
    if n < 0:
        t = np.linalg.inv(t)
        n = -n
    if n == 0:
        eye = np.broadcast_to(np.eye(t.shape[-1]), t.shape)
        return Tracer(t.graph.const(np.array(eye)))
    result: Optional[Tracer] = None
    power = t
    while n:
        if n & 1:
            result = power if result is None else matmul(result, power)
        n >>= 1
        if n:
            power = matmul(power, power)
    assert result is not None
    return result


# --- einsum ----------------------------------------------------------------------------------


def _parse_einsum(operands: Sequence[Any]) -> tuple[list[str], Optional[str], list[Any]]:
    """Subscripts per operand and the output (None: implicit), and the arrays."""
    if isinstance(operands[0], str):
        spec = operands[0].replace(" ", "")
        arrays = list(operands[1:])
        inputs, arrow, output = spec.partition("->")
        return inputs.split(","), output if arrow else None, arrays
    # interleaved: op0, sublist0, op1, sublist1, ..., [sublistout]
    items = list(operands)
    arrays, subs, out = items[0::2], items[1::2], None
    if len(items) % 2 == 1:
        arrays, subs, out = items[0:-1:2], items[1:-1:2], items[-1]

    def letters(sub: Sequence[Any]) -> str:
        return "".join("..." if s is Ellipsis else string.ascii_letters[int(s)] for s in sub)

    return [letters(s) for s in subs], None if out is None else letters(out), arrays


def _expand_ellipsis(spec: str, ndim: int, fill: str) -> str:
    if "..." not in spec:
        if len(spec) != ndim:
            raise ValueError(
                f"einsum: operand has {ndim} dimensions but subscripts {spec!r} name {len(spec)}"
            )
        return spec
    named = len(spec) - 3
    k = ndim - named
    if k < 0:
        raise ValueError(f"einsum: subscripts {spec!r} need more dimensions than {ndim}")
    return spec.replace("...", fill[len(fill) - k :] if k else "")


@implements(np.einsum)
def _einsum(*operands: Any, out: Any = None, optimize: Any = False, dtype: Any = None,
            order: Any = "K", casting: Any = "safe") -> Any:  # fmt: skip
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TraceError(f"np.einsum(dtype={np.dtype(dtype)}) on traced values")
    specs, output, arrays = _parse_einsum(operands)
    if len(specs) != len(arrays):
        raise ValueError("einsum: more operands than subscripts or the reverse")
    graph = graph_of(arrays)
    ts = [as_tracer(graph, a) for a in arrays]
    used = set("".join(specs) + (output or ""))
    spare = "".join(c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used)
    max_ell = max((t.ndim - (len(s) - 3) for s, t in zip(specs, ts) if "..." in s), default=0)
    fill = spare[:max_ell]
    labels = [_expand_ellipsis(s, t.ndim, fill) for s, t in zip(specs, ts)]
    if output is None:
        counts: dict[str, int] = {}
        for lab in labels:
            for c in lab:
                counts[c] = counts.get(c, 0) + 1
        named = sorted(c for c, k in counts.items() if k == 1 and c not in fill)
        ell = [c for c in fill if any(c in lab for lab in labels)]
        output_labels = "".join(ell) + "".join(named)
    else:
        ell_out = fill if "..." in output else ""
        output_labels = output.replace("...", ell_out)
    sizes: dict[str, int] = {}
    for lab, t in zip(labels, ts):
        for c, s in zip(lab, t.shape):
            if sizes.get(c, 1) not in (1, s) and s != 1:
                raise ValueError(
                    f"einsum: operands could not be broadcast together: label {c!r} has sizes "
                    f"{sizes[c]} and {s}"
                )
            sizes[c] = max(sizes.get(c, 1), s) if s != 0 and sizes.get(c) != 0 else 0
    out_shape = tuple(sizes[c] for c in output_labels)
    if any(s == 0 for s in sizes.values()):
        return _out("einsum", Tracer(graph.const(np.zeros(out_shape))), out)
    # each operand: diagonal of repeated labels, broadcast size-1 labels, and sum out
    # the labels no other operand and not the output has
    items = []
    for i, (lab, t) in enumerate(zip(labels, ts)):
        lab, t = _take_diagonals(lab, t)
        t = np.broadcast_to(t, tuple(sizes[c] for c in lab))
        others = set(output_labels) | {c for j, l2 in enumerate(labels) if j != i for c in l2}
        lonely = [k for k, c in enumerate(lab) if c not in others]
        if lonely:
            t = np.sum(t, axis=tuple(lonely))
            lab = "".join(c for k, c in enumerate(lab) if k not in lonely)
        items.append((lab, t))
    lab, acc = items[0]
    for j in range(1, len(items)):
        lab2, t2 = items[j]
        later = set(output_labels) | {c for l3, _ in items[j + 1 :] for c in l3}
        lab, acc = _contract(lab, acc, lab2, t2, later)
    # labels left that the output does not have (possible with a single operand)
    extra = [k for k, c in enumerate(lab) if c not in output_labels]
    if extra:
        acc = np.sum(acc, axis=tuple(extra))
        lab = "".join(c for k, c in enumerate(lab) if k not in extra)
    missing = [c for c in output_labels if c not in lab]
    if missing:
        raise ValueError(f"einsum: output subscript {missing[0]!r} does not appear in the inputs")
    result = np.transpose(acc, [lab.index(c) for c in output_labels]) if lab else acc
    return _out("einsum", result, out)


def _take_diagonals(lab: str, t: Tracer) -> tuple[str, Tracer]:
    while len(set(lab)) != len(lab):
        c = next(c for c in lab if lab.count(c) > 1)
        first = lab.index(c)
        second = lab.index(c, first + 1)
        t = np.moveaxis(np.diagonal(t, 0, first, second), -1, first)
        lab = lab[:second] + lab[second + 1 :]
    return lab, t


def _contract(la: str, a: Tracer, lb: str, b: Tracer, later: set) -> tuple[str, Tracer]:
    """Two operands into one: shared labels needed later are batch axes, shared labels
    not needed later are summed by a matrix product."""
    batch = [c for c in la if c in lb and c in later]
    summed = [c for c in la if c in lb and c not in later]
    free_a = [c for c in la if c not in lb]
    free_b = [c for c in lb if c not in la]
    ta = np.transpose(a, [la.index(c) for c in batch + free_a + summed]) if la else a
    tb = np.transpose(b, [lb.index(c) for c in batch + summed + free_b]) if lb else b

    def size(t: Tracer, labels: str, cs: list[str]) -> int:
        return math.prod(t.shape[labels.index(c)] for c in cs) if cs else 1

    nb = size(a, la, batch)
    m, k, n = size(a, la, free_a), size(a, la, summed), size(b, lb, free_b)
    shape = tuple(a.shape[la.index(c)] for c in batch + free_a) + tuple(
        b.shape[lb.index(c)] for c in free_b
    )
    result = _bmm(ta.reshape((nb, m, k)), tb.reshape((nb, k, n))).reshape(shape)
    return "".join(batch + free_a + free_b), result


@implements(np.einsum_path)
def _einsum_path(*operands: Any, optimize: Any = "greedy", einsum_call: bool = False) -> Any:
    stand_ins = [np.zeros(o.shape) if isinstance(o, Tracer) else o for o in operands]
    return np.einsum_path(*stand_ins, optimize=optimize)


# --- norms ---------------------------------------------------------------------------------


def _vector_norm(t: Tracer, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Tracer:
    if ord is None or ord == 2:
        return np.sqrt(np.sum(t * t, axis=axes, keepdims=keepdims))
    if ord == np.inf:
        return np.max(np.abs(t), axis=axes, keepdims=keepdims)
    if ord == -np.inf:
        return np.min(np.abs(t), axis=axes, keepdims=keepdims)
    if ord == 0:
        return np.sum(t != 0, axis=axes, keepdims=keepdims) * 1.0
    if ord == 1:
        return np.sum(np.abs(t), axis=axes, keepdims=keepdims)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    p = float(ord)
    return np.sum(np.abs(t) ** p, axis=axes, keepdims=keepdims) ** (1.0 / p)


def _matrix_norm(t: Tracer, ord: Any, axes: tuple[int, int], keepdims: bool) -> Tracer:
    row, col = axes
    if row == col:
        raise ValueError("Duplicate axes given.")
    if ord in (None, "fro", "f"):
        result = np.sqrt(np.sum(t * t, axis=axes))
    elif ord in (1, -1):
        sums = np.sum(np.abs(t), axis=row)
        reduce_axis = col - 1 if col > row else col
        result = (np.max if ord == 1 else np.min)(sums, axis=reduce_axis)
    elif ord in (np.inf, -np.inf):
        sums = np.sum(np.abs(t), axis=col)
        reduce_axis = row - 1 if row > col else row
        result = (np.max if ord == np.inf else np.min)(sums, axis=reduce_axis)
    elif ord in (2, -2, "nuc"):
        singular = np.linalg.svd(np.moveaxis(t, axes, (-2, -1)), compute_uv=False)
        if ord == "nuc":
            result = np.sum(singular, axis=-1)
        else:
            result = (np.max if ord == 2 else np.min)(singular, axis=-1)
    else:
        raise ValueError("Invalid norm order for matrices.")
    if keepdims:
        shape = list(t.shape)
        shape[row] = shape[col] = 1
        result = result.reshape(tuple(shape))
    return result


@implements(np.linalg.norm)
def _norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tracer:
    t = as_tracer(graph_of([x]), x)
    if axis is None:
        if ord is None:
            result = np.sqrt(np.sum(t * t))
            return result.reshape((1,) * t.ndim) if keepdims else result
        if t.ndim == 1:
            return _vector_norm(t, ord, (0,), keepdims)
        if t.ndim == 2:
            return _matrix_norm(t, ord, (0, 1), keepdims)
        raise ValueError("Improper number of dimensions to norm.")
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    axes = tuple(int(a) % t.ndim for a in axes)
    if len(axes) == 1:
        return _vector_norm(t, ord, axes, keepdims)
    if len(axes) == 2:
        return _matrix_norm(t, ord, axes, keepdims)
    raise ValueError("Improper number of dimensions to norm.")


@implements(getattr(np.linalg, "vector_norm", None))
def _vector_norm_handler(
    x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2
) -> Tracer:
    t = as_tracer(graph_of([x]), x)
    axes = normalize_axes(axis, t.ndim)
    if axis is None:
        result = _vector_norm(t.ravel(), ord, (0,), False)
        return result.reshape((1,) * t.ndim) if keepdims else result
    return _vector_norm(t, ord, axes, keepdims)


@implements(getattr(np.linalg, "matrix_norm", None))
def _matrix_norm_handler(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Tracer:
    t = as_tracer(graph_of([x]), x)
    return _matrix_norm(t, ord, (t.ndim - 2, t.ndim - 1), keepdims)


@implements(getattr(np.linalg, "trace", None))
def _linalg_trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Tracer:
    return np.trace(x, offset=offset, axis1=-2, axis2=-1, dtype=dtype)


# --- covariance ------------------------------------------------------------------------------


@implements(np.cov)
def _cov(
    m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None,
    fweights: Any = None, aweights: Any = None, *, dtype: Any = None,
) -> Tracer:  # fmt: skip
    if fweights is not None or aweights is not None:
        raise TraceError("np.cov(fweights=/aweights=) is not supported on traced values")
    graph = graph_of([m, y])
    x = np.atleast_2d(as_tracer(graph, m))
    if not rowvar and x.shape[0] != 1:
        x = x.T
    if y is not None:
        y2 = np.atleast_2d(as_tracer(graph, y))
        if not rowvar and y2.shape[0] != 1:
            y2 = y2.T
        x = np.concatenate((x, y2), axis=0)
    if ddof is None:
        ddof = 0 if bias else 1
    fact = max(x.shape[1] - ddof, 0)
    centered = x - np.mean(x, axis=1, keepdims=True)
    return np.squeeze(matmul(centered, centered.T) / fact)


@implements(np.corrcoef)
def _corrcoef(x: Any, y: Any = None, rowvar: bool = True, *, dtype: Any = None) -> Tracer:
    c = _cov(x, y, rowvar)
    if c.ndim == 0:
        return c / c
    stddev = np.sqrt(np.diagonal(c))
    c = c / stddev[:, None]
    c = c / stddev[None, :]
    return np.clip(c, -1, 1)


# --- decompositions and solvers (the engine's linalg ops, JAX's derivatives) -------------------


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


def _matrices(name: str, a: Any, square: bool = True) -> Tracer:
    t = as_tracer(graph_of([a]), a)
    if t.ndim < 2:
        raise np.linalg.LinAlgError(
            f"{t.ndim}-dimensional array given. Array must be at least two-dimensional"
        )
    if square and t.shape[-1] != t.shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    return t


@implements(np.linalg.solve)
def _solve(a: Any, b: Any) -> Tracer:
    """numpy 2's rule: ``b`` is a vector only when it is 1-d, else a stack of matrices."""
    graph = graph_of([a, b])
    ta = _matrices("solve", as_tracer(graph, a))
    tb = as_tracer(graph, b)
    n = ta.shape[-1]
    vector = tb.ndim == 1
    bm = tb.reshape((n, 1)) if vector else tb
    if bm.ndim < 2 or bm.shape[-2] != n:
        raise ValueError(f"solve: b of shape {tb.shape} does not fit a of shape {ta.shape}")
    batch = tuple(np.broadcast_shapes(ta.shape[:-2], bm.shape[:-2]))
    aa = np.broadcast_to(ta, (*batch, n, n))
    bb = np.broadcast_to(bm, (*batch, n, bm.shape[-1]))
    out = Tracer(graph.solve(aa.value, bb.value))
    return out[..., 0] if vector else out


@implements(np.linalg.inv)
def _inv(a: Any) -> Tracer:
    t = _matrices("inv", a)
    return Tracer(t.graph.inv(t.value))


@implements(np.linalg.det)
def _det(a: Any) -> Tracer:
    t = _matrices("det", a)
    return Tracer(t.graph.det(t.value))


@implements(np.linalg.slogdet)
def _slogdet(a: Any) -> SlogdetResult:
    t = _matrices("slogdet", a)
    sign, logdet = t.graph.slogdet(t.value)
    return SlogdetResult(Tracer(sign), Tracer(logdet))


@implements(np.linalg.cholesky)
def _cholesky(a: Any, /, *, upper: bool = False) -> Tracer:
    t = _matrices("cholesky", a)
    if upper:  # from the upper triangle: the transpose of the factor of a^T's lower one
        return np.swapaxes(Tracer(t.graph.cholesky(np.swapaxes(t, -1, -2).value)), -1, -2)
    return Tracer(t.graph.cholesky(t.value))


def _lower(t: Tracer, uplo: str) -> Tracer:
    if uplo not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return t if uplo == "L" else np.swapaxes(t, -1, -2)


@implements(np.linalg.eigh)
def _eigh(a: Any, UPLO: str = "L") -> EighResult:
    """Eigenvectors come with the engine's sign (largest component positive); where numpy's
    differ, the value check at preparation says so."""
    t = _lower(_matrices("eigh", a), UPLO)
    w, v = t.graph.eigh(t.value)
    return EighResult(Tracer(w), Tracer(v))


@implements(np.linalg.eigvalsh)
def _eigvalsh(a: Any, UPLO: str = "L") -> Tracer:
    return _eigh(a, UPLO).eigenvalues


@implements(np.linalg.svd)
def _svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    t = _matrices("svd", a, square=False)
    m, n = t.shape[-2:]
    u, s, vt = t.graph.svd(t.value)
    if not compute_uv:
        return Tracer(s)
    if full_matrices and m != n:
        raise TraceError(
            "np.linalg.svd(full_matrices=True) of a non-square traced matrix: the complement "
            "of the singular vectors is not unique; use full_matrices=False"
        )
    return SVDResult(Tracer(u), Tracer(s), Tracer(vt))


@implements(getattr(np.linalg, "svdvals", None))
def _svdvals(x: Any, /) -> Tracer:
    return _svd(x, compute_uv=False)


_UNSET: Any = object()


@implements(np.linalg.pinv)
def _pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _UNSET) -> Tracer:
    """numpy's cutoffs: ``rcond`` (default 1e-15), or ``rtol`` (None: max(m, n) * eps),
    relative to the largest singular value."""
    t = _matrices("pinv", a, square=False)
    if rcond is None:
        if rtol is _UNSET:
            cutoff = 1e-15
        elif rtol is None:
            cutoff = max(t.shape[-2:]) * np.finfo(np.float64).eps
        else:
            cutoff = rtol
    elif rtol is not _UNSET:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    else:
        cutoff = rcond
    if np.ndim(cutoff) != 0 or isinstance(cutoff, Tracer):
        raise TraceError("np.linalg.pinv with an array or traced rcond/rtol: pass one number")
    return Tracer(t.graph.pinv(t.value, float(cutoff)))


def _refused(name: str, why: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise TraceError(
            f"np.linalg.{name} is not supported on traced values ({why}); supported: solve, "
            "inv, det, slogdet, cholesky, eigh, eigvalsh, svd, svdvals, pinv, norm, "
            "matrix_power, multi_dot"
        )

    return refuse


implements(np.linalg.matrix_rank)(_refused("matrix_rank", "an integer computed from the values"))
for _name in ("lstsq", "qr", "eig", "eigvals", "tensorsolve", "tensorinv", "cond"):
    implements(getattr(np.linalg, _name))(_refused(_name, "no traced version yet"))
