"""Translating JAX functions (their jaxprs) into the graph.

``trace_jax(f, example_args, differentiated)`` runs ``jax.make_jaxpr`` and maps each
equation to graph nodes:

* elementwise math, ``integer_pow``, ``pow``, comparisons and ``select_n``;
* ``dot_general``, ``reduce_sum`` / ``reduce_max`` / ``reduce_min``;
* data movement — ``broadcast_in_dim``, ``reshape``, ``squeeze``, ``expand_dims``,
  ``transpose``, ``slice``, ``dynamic_slice`` / ``dynamic_update_slice`` and ``gather``
  with indices known at trace time, ``rev``, ``pad``, ``concatenate``, ``split`` — as one
  gather whose index map comes from applying the primitive itself to index arrays;
* ``pjit`` / ``closed_call`` / ``remat`` (inlined), ``custom_jvp_call`` /
  ``custom_vjp_call`` (the primal function is inlined and differentiated as written);
* equations whose inputs are all known at trace time (``iota``, index arithmetic) are
  evaluated then and become constants.

Any other primitive is a :class:`~anydiff.ir.numpy_tracer.TraceError` naming it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

from anydiff.ir._graph import Graph, Value
from anydiff.ir.numpy_tracer import TraceError

__all__ = ["SUPPORTED_PRIMITIVES", "trace_jax"]

_UNARY = {
    "neg": "neg", "exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log",
    "log1p": "log1p", "sqrt": "sqrt", "cbrt": "cbrt", "sin": "sin", "cos": "cos",
    "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan", "sinh": "sinh",
    "cosh": "cosh", "tanh": "tanh", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh",
    "abs": "abs", "sign": "sign", "floor": "floor", "ceil": "ceil", "round": "round",
    "logistic": "logistic", "erf": "erf", "square": "square",
}  # fmt: skip
_BINARY = {
    "add": "add", "add_any": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
    "max": "max", "min": "min", "atan2": "atan2", "rem": "rem",
}  # fmt: skip
_COMPARE = {"lt": "lt", "le": "le", "gt": "gt", "ge": "ge", "eq": "eq", "ne": "ne"}
_REDUCE = {"reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min"}
_LOGIC = {"and": "mul", "or": "max", "not": "sub"}
_STRUCTURAL = frozenset(
    {
        "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "slice",
        "dynamic_slice", "dynamic_update_slice", "rev", "gather", "pad", "concatenate",
        "select_n", "copy", "copy_p", "split", "convert_element_type", "reduce_precision",
        "stack", "tile", "repeat", "squeeze_p", "broadcast", "real", "device_put", "scatter",
    }
)  # fmt: skip
_INLINE = {
    "pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
    "remat": "jaxpr", "checkpoint": "jaxpr", "custom_jvp_call": "call_jaxpr",
    "custom_vjp_call": "call_jaxpr", "custom_vjp_call_jaxpr": "fun_jaxpr",
}  # fmt: skip
SUPPORTED_PRIMITIVES = frozenset(
    {*_UNARY, *_BINARY, *_COMPARE, *_REDUCE, *_LOGIC, *_STRUCTURAL, *_INLINE,
     "integer_pow", "rsqrt", "dot_general", "stop_gradient", "cumsum"}
)  # fmt: skip


class _Known:
    """A value known at trace time (a literal, a constant, or computed from them)."""

    def __init__(self, value: Any) -> None:
        self.value = np.asarray(value)


def trace_jax(
    f: Callable[..., Any], example_args: Sequence[Any], differentiated: Sequence[bool]
) -> Graph:
    """Trace ``f`` (written with jax.numpy) at arguments shaped like ``example_args``."""
    import jax

    closed = jax.make_jaxpr(f)(*example_args)
    graph = Graph()
    args: list[Any] = []
    for a, diff in zip(example_args, differentiated):
        shape = tuple(np.shape(a))
        args.append(graph.input(shape) if diff else graph.param(shape))
    outs = _run(graph, closed.jaxpr, [_Known(c) for c in closed.consts], args)
    values = [
        o if isinstance(o, Value) else graph.const(np.asarray(o.value, np.float64)) for o in outs
    ]
    graph.set_outputs(values)
    return graph


def _run(graph: Graph, jaxpr: Any, consts: list[Any], args: list[Any]) -> list[Any]:
    env: dict[Any, Any] = {}

    def read(v: Any) -> Any:
        if hasattr(v, "val") and not hasattr(v, "count"):  # a Literal
            return _Known(v.val)
        return env[v]

    for var, val in zip(jaxpr.constvars, consts):
        env[var] = val
    for var, val in zip(jaxpr.invars, args):
        env[var] = val
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        outs = _equation(graph, eqn, ins)
        for var, val in zip(eqn.outvars, outs):
            env[var] = val
    return [read(v) for v in jaxpr.outvars]


def _equation(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    name, params = eqn.primitive.name, eqn.params
    if name in _INLINE:
        sub = params[_INLINE[name]]
        inner = getattr(sub, "jaxpr", sub)
        consts = [_Known(c) for c in getattr(sub, "consts", ())]
        return _run(graph, inner, consts, ins)
    if all(isinstance(v, _Known) for v in ins):
        out = eqn.primitive.bind(*(v.value for v in ins), **params)
        return [_Known(np.asarray(o)) for o in (out if eqn.primitive.multiple_results else [out])]
    if name == "stop_gradient":
        raise TraceError("stop_gradient is not supported: the engine differentiates every path")
    if name in _UNARY:
        return [graph.unary(_UNARY[name], _value(graph, ins[0]))]
    if name == "rsqrt":
        return [graph.unary("recip", graph.unary("sqrt", _value(graph, ins[0])))]
    if name == "integer_pow":
        return [graph.powi(_value(graph, ins[0]), params["y"])]
    if name in _BINARY:
        return [graph.binary(_BINARY[name], _value(graph, ins[0]), _value(graph, ins[1]))]
    if name in _COMPARE:
        return [graph.compare(_COMPARE[name], _value(graph, ins[0]), _value(graph, ins[1]))]
    if name in _LOGIC:  # on comparison results, which the graph holds as 0.0 / 1.0
        a = _value(graph, ins[0])
        if name == "not":
            return [graph.binary("sub", graph.const(1.0), a)]
        return [graph.binary(_LOGIC[name], a, _value(graph, ins[1]))]
    if name == "select_n" and not isinstance(ins[0], _Known):
        return [_select_n(graph, ins)]
    if name == "cumsum":
        return [graph.cumsum(_value(graph, ins[0]), params["axis"], params.get("reverse", False))]
    if name in _REDUCE:
        return [graph.reduce(_REDUCE[name], _value(graph, ins[0]), tuple(params["axes"]))]
    if name == "dot_general":
        return [_dot_general(graph, _value(graph, ins[0]), _value(graph, ins[1]), params)]
    if name in _STRUCTURAL:
        if name == "convert_element_type" and np.dtype(params["new_dtype"]).kind != "f":
            raise TraceError(
                f"convert_element_type to {np.dtype(params['new_dtype'])} of a traced value is "
                "not differentiable"
            )
        return _structural(graph, eqn, ins)
    raise TraceError(
        f"unsupported JAX primitive {name!r}; the engine translates: "
        + ", ".join(sorted(SUPPORTED_PRIMITIVES))
    )


def _move_indices(name: str, args: list[Any], params: dict) -> Optional[list[np.ndarray]]:
    """The result of data-movement primitive ``name`` on index arrays, computed with numpy;
    None for primitives left to JAX."""
    x = np.asarray(args[0]) if args else None
    if name in ("convert_element_type", "reduce_precision", "copy", "copy_p", "device_put"):
        return [np.asarray(a) for a in args] if name == "device_put" else [x]
    if name == "reshape":
        if params.get("dimensions") is not None:
            return None
        return [x.reshape(tuple(params["new_sizes"]))]
    if name == "squeeze":
        return [np.squeeze(x, axis=tuple(params["dimensions"]))]
    if name == "expand_dims":
        return [np.expand_dims(x, tuple(params["dimensions"]))]
    if name == "transpose":
        return [np.transpose(x, tuple(params["permutation"]))]
    if name == "rev":
        return [np.flip(x, tuple(params["dimensions"])) if params["dimensions"] else x]
    if name == "broadcast_in_dim":
        shape, dims = tuple(params["shape"]), tuple(params["broadcast_dimensions"])
        expanded = [1] * len(shape)
        for axis, d in zip(dims, x.shape):
            expanded[axis] = d
        return [np.broadcast_to(x.reshape(expanded), shape)]
    if name == "slice":
        strides = params.get("strides") or (1,) * x.ndim
        index = tuple(
            slice(a, b, c)
            for a, b, c in zip(params["start_indices"], params["limit_indices"], strides)
        )
        return [x[index]]
    if name == "concatenate":
        return [np.concatenate([np.asarray(a) for a in args], axis=params["dimension"])]
    if name == "split":
        cuts = np.cumsum(params["sizes"])[:-1]
        return list(np.split(x, cuts, axis=params["axis"]))
    if name == "pad":
        return [_pad_indices(x, np.asarray(args[1]), params["padding_config"])]
    return None


def _pad_indices(x: np.ndarray, fill: np.ndarray, config: Any) -> np.ndarray:
    """``lax.pad`` on an index array: low, high (either may be negative) and interior."""
    grown = tuple(max(lo, 0) + max(hi, 0) + d + max(d - 1, 0) * it
                  for (lo, hi, it), d in zip(config, x.shape))  # fmt: skip
    out = np.full(grown, fill.reshape(()), dtype=x.dtype)
    if x.size:
        out[tuple(slice(max(lo, 0), max(lo, 0) + max(d - 1, 0) * (it + 1) + 1, it + 1)
                  for (lo, hi, it), d in zip(config, x.shape))] = x  # fmt: skip
    return out[tuple(slice(max(-lo, 0), g - max(-hi, 0))
                     for (lo, hi, _), g in zip(config, grown))]  # fmt: skip


def _value(graph: Graph, v: Any) -> Value:
    if isinstance(v, Value):
        return v
    arr = v.value
    if arr.dtype.kind not in "biuf":
        raise TraceError(f"cannot use a constant of dtype {arr.dtype} in the graph")
    return graph.const(arr.astype(np.float64))


def _select_n(graph: Graph, ins: list[Any]) -> Value:
    pred = _value(graph, ins[0])
    cases = [_value(graph, c) for c in ins[1:]]
    out = cases[0]
    for k, case in enumerate(cases[1:], start=1):
        chosen = graph.compare("eq", pred, graph.const(float(k)))
        out = graph.select(chosen, case, out)
    return out


def _dot_general(graph: Graph, a: Value, b: Value, params: dict) -> Value:
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    lc, rc, lb, rb = (tuple(int(d) for d in ax) for ax in (lc, rc, lb, rb))
    lf = [d for d in range(len(a.shape)) if d not in lc and d not in lb]
    rf = [d for d in range(len(b.shape)) if d not in rc and d not in rb]
    batch = [a.shape[d] for d in lb]
    m, k, n = (math.prod(a.shape[d] for d in lf), math.prod(a.shape[d] for d in lc),
               math.prod(b.shape[d] for d in rf))  # fmt: skip
    la = graph.gather(a, np.arange(a.size).reshape(a.shape).transpose([*lb, *lf, *lc]))
    rb_ = graph.gather(b, np.arange(b.size).reshape(b.shape).transpose([*rb, *rc, *rf]))
    out = graph.dot(la, rb_, math.prod(batch), m, k, n)
    shape = (*batch, *(a.shape[d] for d in lf), *(b.shape[d] for d in rf))
    return Value(graph, out.node, tuple(shape))


def _structural(graph: Graph, eqn: Any, ins: list[Any]) -> list[Value]:
    """Data movement: bind the primitive on index arrays of the float operands (offset by
    one, so the result names the flat position in their concatenation), then gather."""
    import jax.numpy as jnp

    for var, v in zip(eqn.invars, ins):
        if isinstance(v, Value) and np.dtype(var.aval.dtype).kind in "biu":
            raise TraceError(
                f"{eqn.primitive.name}: an index or mask computed from the input is "
                "data-dependent; the graph needs indices known at trace time"
            )
    floats = [i for i, v in enumerate(ins) if isinstance(v, Value) or v.value.dtype.kind == "f"]
    values = [_value(graph, ins[i]) for i in floats]
    offsets = np.cumsum([0] + [v.size for v in values])
    index_args = [v.value if isinstance(v, _Known) else None for v in ins]
    for i, v, off in zip(floats, values, offsets):
        index_args[i] = np.arange(off, off + v.size, dtype=np.int64).reshape(v.shape)
    params = dict(eqn.params)
    # the common moves in numpy: binding a JAX primitive eagerly compiles it (milliseconds
    # per shape, which dominated a cold detection)
    results = _move_indices(eqn.primitive.name, index_args, params)
    if results is None:
        if "new_dtype" in params:
            params["new_dtype"] = np.dtype(np.int32)
        out = eqn.primitive.bind(*(jnp.asarray(a) for a in index_args), **params)
        results = out if eqn.primitive.multiple_results else [out]
    flat = graph.concat(values, (int(offsets[-1]),))
    return [graph.gather(flat, np.asarray(r)) for r in results]
