"""Translating JAX functions (their jaxprs) into the graph.

``trace_jax(f, example_args, differentiated)`` runs ``jax.make_jaxpr`` (in float64 when the
examples are float64, whatever JAX's x64 flag says) and maps each equation to graph nodes:

* elementwise math (the engine's table: ``lgamma``, ``digamma``, ``erf_inv``, ``erfc`` and
  ``is_finite`` included), ``integer_pow``, ``pow``, ``round`` (both rounding methods),
  ``clamp``, comparisons, ``select_n``, logic on booleans, ``stop_gradient``;
* ``dot_general``, reductions (``reduce_sum``/``prod``/``max``/``min``/``and``/``or``,
  ``argmax``/``argmin``), ``cumsum``/``cumprod`` (prefix reductions), ``cummax``/``cummin``/
  ``cumlogsumexp`` (as JAX's own associative scan, so ties split the derivative as JAX does),
  ``sort`` (any number of keys and operands), ``top_k``;
* linear algebra: ``cholesky``, ``eigh``, ``svd``, ``lu``, ``triangular_solve``,
  ``custom_linear_solve`` (the operator's matrix, then a solve), and ``jnp.linalg.det``,
  ``slogdet``, ``inv``, ``solve`` recognised whole (their jaxprs are compared with
  JAX's own for the same shapes);
* data movement as one gather whose index map comes from applying the primitive to index
  arrays (``_structural``);
* calls (``pjit``, ``closed_call``, ``remat``) inlined; ``custom_jvp_call`` with JAX's
  custom rule (the JVP jaxpr, so ``relu'(0) = 0`` and ``logaddexp(x, x)`` gives 0.5, 0.5);
  ``custom_vjp_call`` with the rule's ``bwd`` (the Jacobian from the cotangents of every
  output element);
* control flow: ``cond`` (a known index picks the branch, otherwise every branch is traced
  and the results selected), ``scan`` and ``while`` with a trip count known at trace time
  (``fori_loop``), unrolled;
* integer values computed from the input (``argmax``, LU pivots) take part in arithmetic
  and comparisons with zero derivative; used as indices they are refused (data-dependent);
* equations whose inputs are all known at trace time are evaluated then.

Any other primitive is a :class:`~anydiff.ir.numpy_tracer.TraceError` naming it and
listing the supported ones.
"""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace
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
    "abs": "abs", "sign": "sign", "floor": "floor", "ceil": "ceil",
    "logistic": "logistic", "erf": "erf", "square": "square", "erfc": "erfc",
    "erf_inv": "erf_inv", "lgamma": "lgamma", "digamma": "digamma", "is_finite": "is_finite",
    "stop_gradient": "stop_gradient",
}  # fmt: skip
_BINARY = {
    "add": "add", "add_any": "add", "sub": "sub", "mul": "mul", "div": "div", "pow": "pow",
    "max": "max", "min": "min", "atan2": "atan2", "rem": "rem",
}  # fmt: skip
_COMPARE = {"lt": "lt", "le": "le", "gt": "gt", "ge": "ge", "eq": "eq", "ne": "ne"}
_REDUCE = {
    "reduce_sum": "sum", "reduce_max": "max", "reduce_min": "min", "reduce_prod": "prod",
    "reduce_and": "min", "reduce_or": "max", "argmax": "argmax", "argmin": "argmin",
}  # fmt: skip
_CUMULATIVE = {"cumsum": "sum", "cumprod": "prod"}
_SCANNED = frozenset({"cummax", "cummin", "cumlogsumexp"})
_LOGIC = frozenset({"and", "or", "not", "xor"})
_STRUCTURAL = frozenset(
    {
        "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "slice",
        "dynamic_slice", "dynamic_update_slice", "rev", "gather", "pad", "concatenate",
        "select_n", "copy", "copy_p", "split", "reduce_precision", "real",
        "stack", "tile", "repeat", "squeeze_p", "broadcast", "device_put", "scatter",
    }
)  # fmt: skip
_MOVES = frozenset(
    {
        "broadcast_in_dim", "reshape", "squeeze", "expand_dims", "transpose", "slice", "rev",
        "concatenate", "copy", "copy_p", "reduce_precision", "split", "device_put",
    }
)  # fmt: skip
"""Pure data movement, where an integer value computed from the input is only moved."""
_INLINE = {
    "pjit": "jaxpr", "jit": "jaxpr", "closed_call": "call_jaxpr", "core_call": "call_jaxpr",
    "remat": "jaxpr", "remat2": "jaxpr", "checkpoint": "jaxpr",
}  # fmt: skip
_LINALG = frozenset({"cholesky", "eigh", "svd", "lu", "triangular_solve", "custom_linear_solve"})
_CONTROL = frozenset({"cond", "scan", "while"})
_OTHER = frozenset(
    {
        "integer_pow", "rsqrt", "dot_general", "round", "clamp", "convert_element_type",
        "sort", "top_k", "custom_jvp_call", "custom_vjp_call", "iota", "platform_index",
    }
)  # fmt: skip
SUPPORTED_PRIMITIVES = frozenset(
    {*_UNARY, *_BINARY, *_COMPARE, *_REDUCE, *_CUMULATIVE, *_SCANNED, *_LOGIC, *_STRUCTURAL,
     *_INLINE, *_LINALG, *_CONTROL, *_OTHER}
)  # fmt: skip

MAX_UNROLL = 10_000
"""Most iterations of a ``while`` loop (with a trip count known at trace time) unrolled."""


class _Known:
    """A value known at trace time (a literal, a constant, or computed from them)."""

    def __init__(self, value: Any) -> None:
        self.value = np.asarray(value)


def _x64(example_args: Sequence[Any]) -> contextlib.AbstractContextManager:
    """JAX's x64 mode while tracing float64 examples (JAX's default would trace them in
    float32 and round every constant to it)."""
    import jax

    wide = any(np.asarray(a).dtype == np.float64 for a in example_args)
    if wide and hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    return contextlib.nullcontext()


def trace_jax(
    f: Callable[..., Any], example_args: Sequence[Any], differentiated: Sequence[bool]
) -> Graph:
    """Trace ``f`` (written with jax.numpy) at arguments shaped like ``example_args``."""
    import jax

    with _x64(example_args):
        try:
            closed = jax.make_jaxpr(f)(*example_args)
        except (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError) as err:
            raise TraceError(
                "the function uses a traced value where JAX needs a concrete one (a Python "
                "if, bool(), int() or an index on the input's values); use jnp.where or "
                f"lax.cond. JAX says: {str(err).splitlines()[0]}"
            ) from err
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
        try:
            outs = _equation(graph, eqn, ins)
        except TraceError:
            raise
        except (ValueError, TypeError, IndexError, NotImplementedError) as err:
            # JAX's and numpy's own refusals (JAX raises NotImplementedError for some
            # primitives' params), named by the primitive that met them
            raise TraceError(f"JAX primitive {eqn.primitive.name!r}: {err}") from err
        for var, val in zip(eqn.outvars, outs):
            env[var] = val
    return [read(v) for v in jaxpr.outvars]


def _run_closed(graph: Graph, closed: Any, args: list[Any]) -> list[Any]:
    """Runs a (closed) jaxpr on ``args``."""
    inner = getattr(closed, "jaxpr", closed)
    consts = [_Known(c) for c in getattr(closed, "consts", ())]
    return _run(graph, inner, consts, args)


def _is_int(var: Any) -> bool:
    return np.dtype(var.aval.dtype).kind in "biu"


def _equation(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    name, params = eqn.primitive.name, eqn.params
    if name in _INLINE:
        whole = _whole_function(graph, eqn, ins) or _std_of_single_elements(graph, eqn, ins)
        if whole is not None:
            return whole
        return _run_closed(graph, params[_INLINE[name]], ins)
    if name == "custom_jvp_call":
        return _custom_jvp(graph, eqn, ins)
    if name == "custom_vjp_call":
        return _custom_vjp(graph, eqn, ins)
    if name in _CONTROL:
        return {"cond": _cond, "scan": _scan, "while": _while}[name](graph, eqn, ins)
    if all(isinstance(v, _Known) for v in ins):
        out = eqn.primitive.bind(*(v.value for v in ins), **params)
        return [_Known(np.asarray(o)) for o in (out if eqn.primitive.multiple_results else [out])]
    if name in _UNARY:
        return [graph.unary(_UNARY[name], _value(graph, ins[0]))]
    if name == "rsqrt":
        return [graph.unary("recip", graph.unary("sqrt", _value(graph, ins[0])))]
    if name == "integer_pow":
        return [graph.powi(_value(graph, ins[0]), params["y"])]
    if name == "round":
        return [_round(graph, _value(graph, ins[0]), params.get("rounding_method"))]
    if name == "clamp":
        return [_clamp(graph, *(_value(graph, v) for v in ins))]
    if name in _BINARY:
        out = graph.binary(_BINARY[name], _value(graph, ins[0]), _value(graph, ins[1]))
        if name == "div" and _is_int(eqn.outvars[0]):
            out = graph.unary("trunc", out)  # integer division rounds towards zero
        return [out]
    if name in _COMPARE:
        return [graph.compare(_COMPARE[name], _value(graph, ins[0]), _value(graph, ins[1]))]
    if name in _LOGIC:
        return [_logic(graph, eqn, ins)]
    if name == "convert_element_type":
        return [_convert(graph, eqn, _value(graph, ins[0]))]
    if name == "select_n" and not isinstance(ins[0], _Known):
        return [_select_n(graph, ins)]
    if name in _CUMULATIVE:
        fn, a = _CUMULATIVE[name], _value(graph, ins[0])
        return [graph.cumulative(fn, a, params["axis"], params.get("reverse", False))]
    if name in _SCANNED:
        return _associative_scan(graph, eqn, ins)
    if name in _REDUCE:
        return [graph.reduce(_REDUCE[name], _value(graph, ins[0]), tuple(params["axes"]))]
    if name == "dot_general":
        return [_dot_general(graph, _value(graph, ins[0]), _value(graph, ins[1]), params)]
    if name == "sort":
        return _sort(graph, eqn, ins)
    if name == "top_k":
        return _top_k(graph, eqn, _value(graph, ins[0]))
    if name in _LINALG:
        return _linalg(graph, eqn, ins)
    if name in _STRUCTURAL:
        if name in _MOVES and any(
            isinstance(v, Value) and _is_int(var) for var, v in zip(eqn.invars, ins)
        ):
            return _move(graph, eqn, ins)
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


def _values(graph: Graph, outs: list[Any]) -> list[Value]:
    return [_value(graph, o) for o in outs]


# --- elementwise ------------------------------------------------------------------------


def _round(graph: Graph, x: Value, method: Any) -> Value:
    """``round``: to nearest even (``jnp.round``), or half away from zero (``lax.round``'s
    default): the integer part plus the sign where the fraction is at least a half (exact:
    ``x - trunc(x)`` is)."""
    if method is not None and int(method) == 1:
        return graph.unary("round", x)
    whole = graph.unary("trunc", x)
    frac = graph.unary("abs", graph.binary("sub", x, whole))
    away = graph.binary("add", whole, graph.unary("sign", x))
    return graph.select(graph.compare("ge", frac, graph.const(0.5)), away, whole)


def _clamp(graph: Graph, lo: Value, x: Value, hi: Value) -> Value:
    """``clamp(lo, x, hi)`` with JAX's derivative: through ``x`` strictly inside, through a
    bound strictly outside, zero at a tie."""
    below, above = graph.compare("lt", x, lo), graph.compare("gt", x, hi)
    out = graph.select(below, lo, graph.select(above, hi, x))
    tie = graph.binary(
        "max", graph.compare("eq", x, lo), graph.compare("eq", x, hi)
    )  # 1.0 where x is on a bound
    return graph.select(tie, graph.stop_gradient(out), out)


def _logic(graph: Graph, eqn: Any, ins: list[Any]) -> Value:
    """Logic on booleans, which the graph holds as 0.0 / 1.0."""
    name = eqn.primitive.name
    if any(np.dtype(v.aval.dtype) != np.bool_ for v in eqn.invars):
        raise TraceError(
            f"{name} of integers computed from the input (bitwise logic) is not supported; "
            "logic on booleans is"
        )
    a = _value(graph, ins[0])
    if name == "not":
        return graph.binary("sub", graph.const(1.0), a)
    b = _value(graph, ins[1])
    fn = {"and": "mul", "or": "max"}.get(name)
    return graph.binary(fn, a, b) if fn else graph.compare("ne", a, b)


def _convert(graph: Graph, eqn: Any, x: Value) -> Value:
    """A dtype conversion: to float keeps the value; float to integer truncates (zero
    derivative); to bool tests for nonzero."""
    to, src = np.dtype(eqn.params["new_dtype"]), np.dtype(eqn.invars[0].aval.dtype)
    if to.kind == "b":
        return graph.compare("ne", x, graph.const(0.0))
    if to.kind in "iu" and src.kind == "f":
        return graph.unary("trunc", x)
    if to.kind in "iuf":
        return x
    raise TraceError(f"convert_element_type to {to} of a traced value is not supported")


def _select_n(graph: Graph, ins: list[Any]) -> Value:
    pred = _value(graph, ins[0])
    cases = [_value(graph, c) for c in ins[1:]]
    out = cases[0]
    for k, case in enumerate(cases[1:], start=1):
        chosen = graph.compare("eq", pred, graph.const(float(k)))
        out = graph.select(chosen, case, out)
    return out


def _move(graph: Graph, eqn: Any, ins: list[Any]) -> list[Value]:
    """Data movement of integer values computed from the input: they are only moved, so the
    translation is that of float data (every operand a graph value)."""
    data = [SimpleNamespace(aval=SimpleNamespace(dtype=np.float64)) for _ in eqn.invars]
    proxy = SimpleNamespace(primitive=eqn.primitive, params=eqn.params, invars=data)
    return _structural(graph, proxy, _values(graph, ins))


# --- reductions, scans, sorts -----------------------------------------------------------


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


def _associative_scan(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``cummax``, ``cummin``, ``cumlogsumexp`` as JAX differentiates them: the jaxpr of
    ``associative_scan`` with the same combining function, translated like any other (a
    running max at a tie splits the derivative as JAX's tree of ``max`` does)."""
    import jax
    import jax.numpy as jnp

    fn = {"cummax": jax.lax.max, "cummin": jax.lax.min, "cumlogsumexp": jnp.logaddexp}[
        eqn.primitive.name
    ]
    axis, reverse = eqn.params["axis"], eqn.params.get("reverse", False)
    aval = eqn.invars[0].aval
    closed = jax.make_jaxpr(lambda x: jax.lax.associative_scan(fn, x, reverse=reverse, axis=axis))(
        jax.ShapeDtypeStruct(aval.shape, aval.dtype)
    )
    return _run_closed(graph, closed, ins)


def _sort(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``sort`` of several operands by the first ``num_keys`` (lexicographically: stable
    sorts from the last key to the first)."""
    dim, nkeys = eqn.params["dimension"], eqn.params.get("num_keys", 1)
    ops = _values(graph, ins)
    for key in reversed(range(nkeys)):
        k = ops[key]
        ops = [graph.sort(o, dim, keys=k) for o in ops]
    return ops


def _top_k(graph: Graph, eqn: Any, x: Value) -> list[Value]:
    """``top_k`` along the last axis: the ``k`` largest (stable: the first of equal ones
    first) and their positions."""
    k = eqn.params["k"]
    axis = len(x.shape) - 1
    keys = graph.unary("neg", x)
    best = graph.sort(x, axis, keys=keys)
    where = graph.argsort(keys, axis)
    first = np.arange(x.size).reshape(x.shape)[..., :k]
    return [graph.gather(best, first), graph.gather(where, first)]


# --- linear algebra ---------------------------------------------------------------------


def _linalg(graph: Graph, eqn: Any, ins: list[Any]) -> list[Value]:
    name, params = eqn.primitive.name, eqn.params
    if name == "custom_linear_solve":
        return _custom_linear_solve(graph, eqn, ins)
    a = _value(graph, ins[0])
    if name == "cholesky":
        return [graph.cholesky(a)]
    if name == "eigh":
        if params.get("subset_by_index") not in (None, (0, a.shape[-1])) or not params.get(
            "sort_eigenvalues", True
        ):
            raise TraceError("eigh: only all eigenvalues, sorted, are supported")
        if not params.get("lower", True):
            a = graph.transpose(a)  # the upper triangle, read as the lower one
        w, v = graph.eigh(a)
        return [v, w] if len(eqn.outvars[0].aval.shape) == len(a.shape) else [w, v]
    if name == "svd":
        return _svd(graph, eqn, a)
    if name == "lu":
        return list(graph.lu(a))
    if name == "triangular_solve":
        return [_triangular_solve(graph, a, _value(graph, ins[1]), params)]
    raise TraceError(f"unsupported JAX primitive {name!r}")


def _svd(graph: Graph, eqn: Any, a: Value) -> list[Value]:
    params = eqn.params
    m, n = a.shape[-2:]
    if params.get("subset_by_index") not in (None, (0, min(m, n))):
        raise TraceError("svd: subset_by_index is not supported")
    u, s, vt = graph.svd(a)
    if not params.get("compute_uv", True):
        return [s]
    if params.get("full_matrices", True) and m != n:
        raise TraceError(
            "svd with full_matrices=True of a non-square matrix is not supported (JAX "
            "cannot differentiate it either); use full_matrices=False"
        )
    return [s, u, vt]  # the primitive's order


def _triangular_solve(graph: Graph, a: Value, b: Value, params: dict) -> Value:
    """``triangular_solve`` as a left-side solve with ``a`` (transposed as asked)."""
    lower, unit = bool(params["lower"]), bool(params.get("unit_diagonal", False))
    if params.get("transpose_a", False):
        a, lower = graph.transpose(a), not lower
    if params.get("left_side", False):
        return graph.triangular_solve(a, b, lower, unit)
    # x a = b  <=>  a^T x^T = b^T
    xt = graph.triangular_solve(graph.transpose(a), graph.transpose(b), not lower, unit)
    return graph.transpose(xt)


def _custom_linear_solve(graph: Graph, eqn: Any, ins: list[Any]) -> list[Value]:
    """``custom_linear_solve``: the operator's matrix (``matvec`` applied to the unit
    vectors, under ``vmap``), then a solve; the derivative is the solve's, as JAX's rule."""
    import jax

    params = eqn.params
    lengths, jaxprs = params["const_lengths"], params["jaxprs"]
    nconst = sum(lengths)
    consts, bs = ins[:nconst], ins[nconst:]
    if len(bs) != 1:
        raise TraceError("custom_linear_solve: a right-hand side of several arrays")
    b = _value(graph, bs[0])
    size = b.size
    mv_consts = consts[: lengths.matvec]
    matvec = jaxprs.matvec
    c_avals = [v.aval for v in eqn.invars[: lengths.matvec]]

    def columns(*args: Any) -> Any:
        cs, e = args[:-1], args[-1]
        return jax.core.eval_jaxpr(matvec.jaxpr, matvec.consts, *cs, e.reshape(b.shape))[0]

    batched = jax.vmap(columns, in_axes=(*([None] * len(c_avals)), 0))
    closed = jax.make_jaxpr(batched)(
        *(jax.ShapeDtypeStruct(v.shape, v.dtype) for v in c_avals),
        jax.ShapeDtypeStruct((size, size), eqn.invars[-1].aval.dtype),
    )
    rows = _run_closed(graph, closed, [*mv_consts, _Known(np.eye(size))])[0]
    # row j is the operator applied to the unit vector j: a column of the matrix
    matrix = graph.transpose(Value(graph, _value(graph, rows).node, (size, size)))
    x = graph.solve(matrix, Value(graph, b.node, (size,)))
    return [Value(graph, x.node, b.shape)]


def _whole_function(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any] | None:
    """``jnp.linalg.det``, ``slogdet``, ``inv``, ``solve`` and ``jnp.hypot``, recognised by
    their name and a jaxpr equal to JAX's own for the same argument shapes: one engine
    instruction (whose derivative holds for singular matrices too, unlike the LU inside;
    see :func:`_hypot`)."""
    fn = _WHOLE.get(eqn.params.get("name"))
    if fn is None or not any(isinstance(v, Value) for v in ins):
        return None
    avals = tuple(
        (tuple(v.aval.shape), np.dtype(v.aval.dtype), bool(getattr(v.aval, "weak_type", False)))
        for v in eqn.invars
    )
    if _reference_jaxpr(eqn.params["name"], avals) != str(eqn.params["jaxpr"]):
        return None
    if fn is _hypot:
        return _hypot(graph, eqn, ins)
    return fn(graph, *_values(graph, ins))


def _std_of_single_elements(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any] | None:
    """``jnp.std`` (``sqrt`` of ``_var``) over slices of one element each: the function is
    constant there (0, or NaN for a non-finite element or ``ddof >= 1``), so every
    derivative is 0, as the numpy tracer has it; JAX's own code differentiates ``sqrt`` at
    0 (0 * inf: NaN, in reverse mode and at second order)."""
    if eqn.params.get("name") != "_std" or not ins or not isinstance(ins[0], Value):
        return None
    body = eqn.params["jaxpr"].jaxpr
    last = body.eqns[-1] if body.eqns else None
    if last is None or last.primitive.name != "sqrt" or len(body.outvars) != 1:
        return None
    inner = [e for e in body.eqns if e.params.get("name") == "_var"]
    if len(inner) != 1 or last.invars[0] is not inner[0].outvars[0]:
        return None
    size_in = math.prod(eqn.invars[0].aval.shape)
    if size_in == 0 or size_in != math.prod(eqn.outvars[0].aval.shape):
        return None
    out = _value(graph, _run_closed(graph, eqn.params["jaxpr"], ins)[0])
    return [graph.stop_gradient(out)]


def _hypot(graph: Graph, eqn: Any, ins: list[Any]) -> list[Value]:
    """``jnp.hypot``: JAX computes it from ``max``/``min`` of ``|x|``, ``|y|``, whose second
    derivative vanishes wherever ``|x| == |y|`` (the true one is ``y^2 / r^3`` ...); the
    engine's ``hypot`` has the function's derivatives, and JAX's own code is kept where
    both arguments are zero (derivative 0.5, 0.5 as JAX, where ``hypot``'s is 0/0)."""
    x, y = _values(graph, ins)
    exact = graph.binary("hypot", x, y)
    jaxs = _value(graph, _run_closed(graph, eqn.params["jaxpr"], ins)[0])
    zero = graph.const(0.0)
    both_zero = graph.binary("mul", graph.compare("eq", x, zero), graph.compare("eq", y, zero))
    return [graph.select(both_zero, jaxs, exact)]


def _whole_functions() -> dict[str, Callable[..., list[Value]]]:
    return {
        "det": lambda g, a: [g.det(a)],
        "slogdet": lambda g, a: list(g.slogdet(a)),
        "inv": lambda g, a: [g.inv(a)],
        "solve": lambda g, a, b: [g.solve(a, b)],
        "hypot": _hypot,
    }


def _reference_function(name: str) -> Callable[..., Any]:
    import jax.numpy as jnp

    return jnp.hypot if name == "hypot" else getattr(jnp.linalg, name)


_WHOLE = _whole_functions()
_REFERENCE: dict[tuple, str] = {}


def _reference_jaxpr(name: str, avals: tuple) -> str:
    """The jaxpr of ``jnp.linalg.<name>`` (``jnp.hypot``) inside its ``jit`` for these
    argument shapes."""
    key = (name, avals)
    if key not in _REFERENCE:
        import jax

        fn = _reference_function(name)
        try:
            closed = jax.make_jaxpr(fn)(
                *(jax.ShapeDtypeStruct(s, d, weak_type=w) for s, d, w in avals)
            )
            inner = [e for e in closed.jaxpr.eqns if e.params.get("name") == name]
            _REFERENCE[key] = str(inner[0].params["jaxpr"]) if len(inner) == 1 else ""
        except Exception:  # shapes jnp.linalg rejects: not that function
            _REFERENCE[key] = ""
    return _REFERENCE[key]


# --- custom derivative rules ------------------------------------------------------------


def _custom_jvp(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``custom_jvp_call``: the primal function's values with the derivatives of JAX's
    custom rule (its JVP jaxpr), through ``Graph.custom_jvp``."""
    params = eqn.params
    nconst = params["num_consts"]
    consts, args = ins[:nconst], ins[nconst:]
    live = [i for i, a in enumerate(args) if isinstance(a, Value)]
    if not live:
        return _run_closed(graph, params["call_jaxpr"], ins)
    # symbolic zeros for the constant arguments where the rule accepts them, else zeros
    symbolic = bool(params.get("symbolic_zeros", False))
    zeros = [symbolic and not isinstance(a, Value) for a in args]
    try:
        jvp_jaxpr, jvp_consts, out_zeros = params["jvp_jaxpr_fun"].call_wrapped(*zeros)
    except Exception as err:
        raise TraceError(f"custom_jvp_call: the custom rule could not be traced: {err}") from err
    out_avals = [v.aval for v in eqn.outvars]

    def full(xs: list[Value]) -> list[Any]:
        merged = list(args)
        for i, x in zip(live, xs):
            merged[i] = x
        return merged

    def primal(xs: list[Value]) -> list[Value]:
        return _values(graph, _run_closed(graph, params["call_jaxpr"], consts + full(xs)))

    def jvp(xs: list[Value], ts: list[Value]) -> list[Value]:
        given = dict(zip(live, ts))
        in_tangents = [
            given[i] if i in given else _Known(np.zeros(np.shape(a.value)))
            for i, a in enumerate(args)
            if not zeros[i]
        ]
        outs = _run(graph, jvp_jaxpr, [_Known(c) for c in jvp_consts], full(xs) + in_tangents)
        tangents = iter(outs[len(out_zeros) :])
        result = []
        for zero, aval in zip(out_zeros, out_avals):
            t = graph.const(np.zeros(aval.shape)) if zero else _value(graph, next(tangents))
            result.append(t)
        return result

    return graph.custom_jvp(primal, jvp, [args[i] for i in live])


def _custom_vjp(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``custom_vjp_call``: the primal function's values with the derivatives of the rule's
    ``bwd``: its cotangents for every output element (under ``vmap``) give the Jacobian,
    and the tangents follow from it (``Graph.custom_jvp``)."""
    import jax
    import jax.numpy as jnp

    params = eqn.params
    nconst = params["num_consts"]
    consts, args = ins[:nconst], ins[nconst:]
    live = [i for i, a in enumerate(args) if isinstance(a, Value)]
    if not live:
        return _run_closed(graph, params["call_jaxpr"], ins)
    if any(isinstance(c, Value) for c in consts):
        raise TraceError("custom_vjp_call: the function closes over a value of the input")
    nonzero = [isinstance(a, Value) for a in args]
    in_avals = [v.aval for v in eqn.invars[nconst:]]
    out_avals = [v.aval for v in eqn.outvars]
    try:
        fwd_jaxpr, fwd_consts = params["fwd_jaxpr_thunk"].call_wrapped(*nonzero)
        _, res_tree, input_fwds = params["out_trees"]()
    except Exception as err:
        raise TraceError(f"custom_vjp_call: the fwd rule could not be traced: {err}") from err
    bwd = params["bwd"]
    sizes = [math.prod(a.shape) for a in out_avals]
    total = sum(sizes)

    def full(xs: list[Value]) -> list[Any]:
        merged = list(args)
        for i, x in zip(live, xs):
            merged[i] = x
        return merged

    def primal(xs: list[Value]) -> list[Value]:
        return _values(graph, _run_closed(graph, params["call_jaxpr"], consts + full(xs)))

    def jvp(xs: list[Value], ts: list[Value]) -> list[Value]:
        point = full(xs)
        fouts = _run(graph, fwd_jaxpr, [_Known(c) for c in fwd_consts], point)
        emitted = iter(fouts[: len(fouts) - len(out_avals)])
        res = [next(emitted) if f is None else point[f] for f in input_fwds]
        res_avals = [jax.ShapeDtypeStruct(_shape_of(r), _dtype_of(r)) for r in res]

        def cotangents(*a: Any) -> list[Any]:
            r, cts = a[: len(res)], a[len(res) :]
            out = bwd.call_wrapped(*r, *cts)
            return [
                jnp.zeros(av.shape, av.dtype) if o is None else o for o, av in zip(out, in_avals)
            ]

        axes = (*([None] * len(res)), *([0] * len(out_avals)))
        basis = np.eye(total)
        cts, at = [], 0
        for av, size in zip(out_avals, sizes):
            cts.append(basis[:, at : at + size].reshape(total, *av.shape))
            at += size
        try:
            closed = jax.make_jaxpr(jax.vmap(cotangents, in_axes=axes))(
                *res_avals, *(jax.ShapeDtypeStruct(c.shape, np.float64) for c in cts)
            )
        except Exception as err:
            raise TraceError(f"custom_vjp_call: the bwd rule could not be traced: {err}") from err
        rows = _run_closed(graph, closed, [*res, *(_Known(c) for c in cts)])
        # rows[i] (total, *in_shape): d output element r / d input i, for every r
        tangent = None
        for i, t in zip(live, ts):
            size = math.prod(in_avals[i].shape)
            jac = Value(graph, _value(graph, rows[i]).node, (1, total, size))
            col = Value(graph, t.node, (1, size, 1))
            part = graph.dot(jac, col, 1, total, size, 1)
            tangent = part if tangent is None else graph.binary("add", tangent, part)
        assert tangent is not None
        outs, at = [], 0
        for av, size in zip(out_avals, sizes):
            idx = np.arange(at, at + size).reshape(av.shape)
            outs.append(graph.gather(Value(graph, tangent.node, (total,)), idx))
            at += size
        return outs

    del res_tree
    return graph.custom_jvp(primal, jvp, [args[i] for i in live])


def _shape_of(v: Any) -> tuple[int, ...]:
    return v.shape if isinstance(v, Value) else np.shape(v.value)


def _dtype_of(v: Any) -> Any:
    return np.float64 if isinstance(v, Value) else v.value.dtype


# --- control flow -----------------------------------------------------------------------


def _cond(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``cond``: a known index picks its branch; otherwise every branch is traced and the
    results selected by the index (a NaN in a branch not taken stays out of the
    derivatives, as in ``select``)."""
    branches = eqn.params["branches"]
    index, ops = ins[0], ins[1:]
    if isinstance(index, _Known):
        k = int(np.clip(int(index.value), 0, len(branches) - 1))
        return _run_closed(graph, branches[k], ops)
    results = [_run_closed(graph, br, ops) for br in branches]
    outs = []
    for j in range(len(results[0])):
        cases = [r[j] for r in results]
        if all(isinstance(c, _Known) for c in cases) and all(
            np.array_equal(c.value, cases[0].value) for c in cases
        ):
            outs.append(cases[0])
            continue
        clamped = graph.binary(
            "max", graph.const(0.0), graph.binary("min", index, graph.const(len(cases) - 1.0))
        )
        outs.append(_select_n(graph, [clamped, *cases]))
    return outs


def _scan(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``scan`` (``fori_loop`` with static bounds emits one), unrolled ``length`` times."""
    p = eqn.params
    length, nconst, ncarry = p["length"], p["num_consts"], p["num_carry"]
    if length > MAX_UNROLL:
        raise TraceError(f"scan of {length} steps: at most {MAX_UNROLL} are unrolled")
    consts, carry, xs = ins[:nconst], ins[nconst : nconst + ncarry], ins[nconst + ncarry :]
    ys: list[list[Any]] = []
    steps = range(length - 1, -1, -1) if p.get("reverse", False) else range(length)
    for i in steps:
        x_i = [_index(graph, x, i) for x in xs]
        out = _run_closed(graph, p["jaxpr"], [*consts, *carry, *x_i])
        carry, y = out[:ncarry], out[ncarry:]
        ys.append(y)
    if p.get("reverse", False):
        ys.reverse()
    stacked = [_stack(graph, [y[j] for y in ys], var) for j, var in enumerate(eqn.outvars[ncarry:])]
    return [*carry, *stacked]


def _while(graph: Graph, eqn: Any, ins: list[Any]) -> list[Any]:
    """``while`` whose condition is known at trace time at every step, unrolled."""
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, carry = ins[:nc], ins[nc : nc + nb], ins[nc + nb :]
    for _ in range(MAX_UNROLL):
        go = _run_closed(graph, p["cond_jaxpr"], [*cconsts, *carry])[0]
        if not isinstance(go, _Known):
            raise TraceError(
                "while: the loop condition depends on the input; only loops with a trip "
                "count known at trace time (fori_loop) are supported"
            )
        if not bool(go.value):
            return carry
        carry = _run_closed(graph, p["body_jaxpr"], [*bconsts, *carry])
    raise TraceError(f"while: more than {MAX_UNROLL} iterations are not unrolled")


def _index(graph: Graph, x: Any, i: int) -> Any:
    """``x[i]`` along the first axis."""
    if isinstance(x, _Known):
        return _Known(x.value[i])
    rest = x.shape[1:]
    size = math.prod(rest)
    return graph.gather(x, (i * size + np.arange(size)).reshape(rest))


def _stack(graph: Graph, items: list[Any], var: Any) -> Any:
    """``items`` stacked on a new first axis."""
    if all(isinstance(v, _Known) for v in items):
        return _Known(np.stack([v.value for v in items]))
    values = _values(graph, items)
    shape = tuple(var.aval.shape)
    if not values:
        return _Known(np.zeros(shape))
    return graph.concat(values, shape)


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
