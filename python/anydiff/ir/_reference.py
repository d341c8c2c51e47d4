"""A numpy interpreter of the graph (values only): the specification of each op, used by
the tests as an independent check of the Rust engine and the front ends."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from scipy import special

from anydiff.ir._graph import Graph

__all__ = ["evaluate"]

_UNARY = {
    "neg": np.negative, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log,
    "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "sqrt": np.sqrt, "cbrt": np.cbrt,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos,
    "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "abs": np.abs,
    "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "round": np.round,
    "recip": np.reciprocal, "erf": special.erf, "logistic": special.expit, "square": np.square,
    "trunc": np.trunc, "erfc": special.erfc, "erf_inv": special.erfinv,
    "lgamma": special.gammaln,
    "digamma": lambda x: np.where((x <= 0) & (x == np.floor(x)), np.nan, special.psi(x)),
    "is_finite": lambda x: np.isfinite(x).astype(np.float64), "stop_gradient": lambda x: x,
    "perturbation": np.zeros_like,
}  # fmt: skip
_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "atan2": np.arctan2, "min": np.minimum, "max": np.maximum, "hypot": np.hypot,
    "rem": np.fmod,
}  # fmt: skip
_COMPARE = {
    "lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
    "eq": np.equal, "ne": np.not_equal,
}  # fmt: skip
_REDUCE = {
    "sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
    "argmax": lambda v: float(np.argmax(v)), "argmin": lambda v: float(np.argmin(v)),
}  # fmt: skip


def _sign_of_largest(cols: np.ndarray) -> np.ndarray:
    """+1 or -1 per column: the sign of its first component of largest magnitude."""
    idx = np.argmax(np.abs(cols), axis=0)
    signs = np.sign(cols[idx, np.arange(cols.shape[1])])
    return np.where(signs == 0, 1.0, signs)


def _linalg(fn: str, args: list[np.ndarray], m: int, n: int, k: int) -> np.ndarray:
    """One batch item of a ``linalg`` instruction, by numpy/scipy."""
    import scipy.linalg as sl

    a = args[0].reshape(m, n)
    if fn == "solve":
        return np.linalg.solve(a, args[1].reshape(n, k)).ravel()
    if fn.startswith("solve_"):
        return sl.solve_triangular(
            a, args[1].reshape(n, k), lower="lower" in fn, unit_diagonal=fn.endswith("_unit")
        ).ravel()
    if fn == "inv":
        return np.linalg.inv(a).ravel()
    if fn == "det":
        return np.array([np.linalg.det(a)])
    if fn == "slogdet":
        return np.array(np.linalg.slogdet(a))
    if fn == "cholesky":
        return np.linalg.cholesky(np.tril(a) + np.tril(a, -1).T).ravel()
    if fn == "eigh":
        w, v = np.linalg.eigh(np.tril(a) + np.tril(a, -1).T)
        return np.concatenate([w, (v * _sign_of_largest(v)).ravel()])
    if fn == "svd":
        u, s, vt = np.linalg.svd(a, full_matrices=False)
        signs = _sign_of_largest(u)
        return np.concatenate([s, (u * signs).ravel(), (vt * signs[:, None]).ravel()])
    if fn == "lu":
        lu, piv = sl.lu_factor(a) if m == n else (None, None)
        if lu is None:
            raise ValueError("the reference lu handles square matrices")
        perm = np.arange(m)
        for j, p in enumerate(piv):
            perm[[j, p]] = perm[[p, j]]
        return np.concatenate([lu.ravel(), piv.astype(np.float64), perm.astype(np.float64)])
    raise ValueError(f"unknown linear algebra function {fn!r}")


def evaluate(graph: Graph, inputs: Sequence[Any], params: Sequence[Any] = ()) -> list[np.ndarray]:
    """The graph's outputs (flat float64 arrays, shaped as traced) at ``inputs``."""
    vals: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            a = [vals[i] for i in node.args]
            at = node.attrs
            if node.op == "input":
                v = np.asarray(inputs[at["index"]], dtype=np.float64).ravel()
            elif node.op == "param":
                v = np.asarray(params[at["index"]], dtype=np.float64).ravel()
            elif node.op == "const":
                v = at["values"]
            elif node.op == "unary":
                v = _UNARY[at["fn"]](a[0])
            elif node.op == "binary":
                v = _BINARY[at["fn"]](a[0], a[1])
            elif node.op == "powi":
                v = a[0] ** float(at["n"])
            elif node.op == "compare":
                v = _COMPARE[at["fn"]](a[0], a[1]).astype(np.float64)
            elif node.op == "select":
                v = np.where(a[0] != 0, a[1], a[2])
            elif node.op == "gather":
                idx = at["indices"]
                v = np.where(idx >= 0, a[0][np.maximum(idx, 0)] if a[0].size else 0.0, 0.0)
            elif node.op == "concat":
                v = np.concatenate(a)
            elif node.op == "reduce":
                offs, idx = at["offsets"], at["indices"]
                red = _REDUCE[at["fn"]]
                v = np.array([red(a[0][idx[s:e]]) for s, e in zip(offs[:-1], offs[1:])])
            elif node.op == "sort":
                seg = at["segment"]
                keys, permuted = a[0].reshape(-1, seg), a[1].reshape(-1, seg)
                order = np.argsort(keys, axis=1, kind="stable")
                v = np.take_along_axis(permuted, order, axis=1)
            elif node.op == "linalg":
                b, m, n, k = at["batch"], at["m"], at["n"], at["k"]
                items = [x.reshape(b, -1) for x in a]
                v = (
                    np.concatenate(
                        [_linalg(at["fn"], [x[i] for x in items], m, n, k) for i in range(b)]
                    )
                    if b
                    else np.zeros(0)
                )
            elif node.op == "dot":
                b, m, k, n = at["batch"], at["m"], at["k"], at["n"]
                v = np.matmul(a[0].reshape(b, m, k), a[1].reshape(b, k, n)).ravel()
            else:
                raise ValueError(f"unknown op {node.op!r}")
            vals.append(np.asarray(v, dtype=np.float64).ravel())
    return [vals[o.node].reshape(o.shape) for o in graph.outputs]
