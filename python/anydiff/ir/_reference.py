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
_REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


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
                ufunc = _REDUCE[at["fn"]]
                v = np.array([ufunc.reduce(a[0][idx[s:e]]) for s, e in zip(offs[:-1], offs[1:])])
            elif node.op == "dot":
                b, m, k, n = at["batch"], at["m"], at["k"], at["n"]
                v = np.matmul(a[0].reshape(b, m, k), a[1].reshape(b, k, n)).ravel()
            else:
                raise ValueError(f"unknown op {node.op!r}")
            vals.append(np.asarray(v, dtype=np.float64).ravel())
    return [vals[o.node].reshape(o.shape) for o in graph.outputs]
