"""The harness of the autograd port: cases, their generators and how a case is judged.

autograd's tests call ``check_grads(fun)(*args)``, which compares forward and reverse
derivatives up to second order against finite differences. Here each such call becomes a
:class:`Case`: a function written against a numpy-like namespace (``fun(np, *args)``), its
real-valued arguments and which of them are differentiated. A case runs through anydiff
(plain numpy code, or the same function in jax.numpy) and is compared with JAX on the
jax.numpy version of the function (x64 on), never with anydiff itself:

- the value, the Jacobian of every output with respect to every differentiated array,
- the Hessian of ``sum(w * f)`` for a fixed random ``w`` (autograd's second-order check
  differentiates a random projection in the same way), when the case has ``order >= 2``.

A case's verdict is ``pass``, ``refuse`` (anydiff raised its clear refusal,
``anydiff.ir.TraceError``), ``wrong`` (numbers differ), ``crash`` (any other exception from
anydiff) or ``n/a`` (JAX or numpy cannot run the function, so there is no reference).
"""

# ruff: noqa: E731 (autograd's tests name their functions as lambdas; kept for the port)
from __future__ import annotations

import dataclasses
import itertools
import zlib
from typing import Any, Callable, Optional, Sequence

import numpy as np

__all__ = [
    "Case",
    "Outcome",
    "binary_ufunc_check",
    "binary_ufunc_check_no_same_args",
    "check",
    "combo",
    "judge",
    "rng_for",
    "stat_check",
    "unary_ufunc_check",
]

Namespace = Any


@dataclasses.dataclass(frozen=True)
class Case:
    """One ``check_grads`` call of autograd's suite, ported."""

    name: str
    fun: Callable[..., Any]
    """``fun(np, *args, **kwargs)``: the function written against namespace ``np``."""
    args: tuple
    argnums: tuple[int, ...] = (0,)
    kwargs: dict = dataclasses.field(default_factory=dict)
    order: int = 2
    ref: Optional[Callable[..., Any]] = None
    """The function in jax.numpy's spelling when ``fun`` with ``np = jax.numpy`` does not
    run (used for the reference and by the JAX front end)."""
    truth: Optional[Callable[..., Any]] = None
    """A closed form to take the reference from where JAX's own derivative is off
    (evaluated with ``np = jax.numpy``)."""
    out_dtype: Optional[str] = None
    """The dtype anydiff's derivatives must have (autograd's float32 test)."""


@dataclasses.dataclass
class Outcome:
    verdict: str
    detail: str = ""


def rng_for(name: str) -> np.random.Generator:
    """A generator seeded by the test's name: cases do not depend on the order of files."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def _is_complex(a: Any) -> bool:
    if isinstance(a, (list, tuple)):
        return any(_is_complex(b) for b in a)
    return np.iscomplexobj(a) and not isinstance(a, str)


def check(name: str, fun: Callable[..., Any], *args: Any, argnums: Any = (0,), **opts: Any) -> Case:
    """One ``check_grads(fun, argnum=argnums)(*args)`` call."""
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    return Case(name, fun, tuple(args), argnums, **opts)


def combo(
    name: str,
    get: Callable[[Namespace], Callable[..., Any]],
    argnums: Sequence[int],
    arg_lists: Sequence[Sequence[Any]],
    kwarg_lists: Optional[dict[str, Sequence[Any]]] = None,
    **opts: Any,
) -> list[Case]:
    """autograd's ``combo_check(fun, argnums)(*arg_lists, **kwarg_lists)``: every
    combination of arguments and keyword values; complex combinations are left out."""
    kwarg_lists = kwarg_lists or {}
    keys = list(kwarg_lists)
    cases = []
    for args in itertools.product(*arg_lists):
        if _is_complex(args):
            continue
        for values in itertools.product(*(kwarg_lists[k] for k in keys)):
            kwargs = dict(zip(keys, values))

            def fun(np: Namespace, *a: Any, _get: Callable = get, **k: Any) -> Any:
                return _get(np)(*a, **k)

            label = f"{name}[{len(cases)}]"
            cases.append(Case(label, fun, tuple(args), tuple(argnums), kwargs, **opts))
    return cases


def _transform(lims: Sequence[float], x: Any) -> Any:
    return x * (lims[1] - lims[0]) + lims[0]


def stat_check(name: str, get: Callable, **opts: Any) -> list[Case]:
    """autograd's ``stat_check`` (real part): statistics over scalars and small arrays."""
    rng = rng_for(name)
    x, a = 3.5, float(rng.standard_normal())
    b, c, d = rng.standard_normal(3), rng.standard_normal((2, 3)), rng.standard_normal((1, 3))
    return [
        *combo(name, get, (0,), [[x, a]], **opts),
        *combo(
            name + "_b",
            get,
            (0,),
            [[b, c, d]],
            {"axis": [None, 0], "keepdims": [True, False]},
            **opts,
        ),
        *combo(
            name + "_c",
            get,
            (0,),
            [[c, d]],
            {"axis": [None, 0, 1], "keepdims": [True, False]},
            **opts,
        ),
    ]


def unary_ufunc_check(
    name: str, get: Callable, lims: Sequence[float] = (-2, 2), **opts: Any
) -> list[Case]:
    """autograd's ``unary_ufunc_check`` (real part): a scalar, a vector and two matrices."""
    rng = rng_for(name)
    args = [
        _transform(lims, 0.4),
        _transform(lims, rng.random(2)),
        _transform(lims, rng.random((3, 2))),
        _transform(lims, rng.random((1, 2))),
    ]
    return combo(name, get, (0,), [args], **opts)


def binary_ufunc_check(
    name: str,
    get: Callable,
    lims_a: Sequence[float] = (-2, 2),
    lims_b: Sequence[float] = (-2, 2),
    **opts: Any,
) -> list[Case]:
    """autograd's ``binary_ufunc_check`` (real part): all pairs of shapes, both arguments."""
    rng = rng_for(name)
    shapes = [0.6, rng.random(2), rng.random((3, 2)), rng.random((1, 2))]
    a = [_transform(lims_a, s) for s in shapes]
    b = [_transform(lims_b, s) for s in shapes]
    return combo(name, get, (0, 1), [a, b], **opts)


def binary_ufunc_check_no_same_args(
    name: str,
    get: Callable,
    lims_a: Sequence[float] = (-2, 2),
    lims_b: Sequence[float] = (-2, 2),
    **opts: Any,
) -> list[Case]:
    """autograd's ``binary_ufunc_check_no_same_args``: distinct values in the two arguments."""
    rng = rng_for(name)
    a = [0.6, rng.random(2), rng.random((3, 2)), rng.random((1, 2))]
    b = [0.7, rng.random(2), rng.random((3, 2)), rng.random((1, 2))]
    return combo(
        name,
        get,
        (0, 1),
        [[_transform(lims_a, s) for s in a], [_transform(lims_b, s) for s in b]],
        **opts,
    )


# --- running a case ------------------------------------------------------------------------


def _leaves(a: Any) -> list[Any]:
    if isinstance(a, (list, tuple)):
        return [leaf for b in a for leaf in _leaves(b)]
    return [a]


def _rebuild(a: Any, it: Any) -> Any:
    if isinstance(a, (list, tuple)):
        return type(a)(_rebuild(b, it) for b in a)
    return next(it)


class _Prepared:
    """A case seen as functions of its differentiated leaves, for one namespace."""

    def __init__(self, case: Case, np_: Namespace, fun: Callable[..., Any]) -> None:
        self.case, self.np, self.fun = case, np_, fun
        leaves = [leaf for i in case.argnums for leaf in _leaves(case.args[i])]
        self.points = [np.asarray(leaf, dtype=np.float64) for leaf in leaves]
        self.shapes = [p.shape for p in self.points]
        self.sizes = [p.size for p in self.points]

    def call(self, *leaves: Any) -> Any:
        """The case's function at differentiated leaves ``leaves`` (outputs flattened to
        one array when there are several)."""
        it = iter(leaves)
        args = list(self.case.args)
        for i in self.case.argnums:
            args[i] = _rebuild(self.case.args[i], it)
        out = self.fun(self.np, *args, **self.case.kwargs)
        if isinstance(out, (list, tuple)):
            xp = self.np
            return xp.concatenate([xp.ravel(xp.asarray(o) * 1.0) for o in out])
        return out

    def split(self, z: Any) -> list[Any]:
        xp, parts, start = self.np, [], 0
        for shape, size in zip(self.shapes, self.sizes):
            parts.append(xp.reshape(z[start : start + size], shape))
            start += size
        return parts

    def flat_point(self) -> np.ndarray:
        return np.concatenate([p.ravel() for p in self.points]) if self.points else np.zeros(0)

    def projected(self, w: np.ndarray) -> Callable[[Any], Any]:
        xp = self.np

        def h(z: Any) -> Any:
            return xp.sum(xp.ravel(self.call(*self.split(z))) * w)

        return h


def case_key(case: Case) -> str:
    """A digest of what a case computes (its name, arguments and keywords): a stored
    reference is used only for the same key."""
    h = zlib.crc32(case.name.encode())

    def feed(a: Any) -> None:
        nonlocal h
        if isinstance(a, (list, tuple)):
            for b in a:
                feed(b)
        elif isinstance(a, (np.ndarray, float, int, np.number)):
            arr = np.asarray(a)
            h = zlib.crc32(arr.tobytes() + str(arr.dtype).encode() + str(arr.shape).encode(), h)
        else:
            h = zlib.crc32(repr(a).encode(), h)

    feed(case.args)
    feed(sorted(case.kwargs.items(), key=lambda kv: kv[0]))
    h = zlib.crc32(repr((case.argnums, case.order, case.out_dtype, case.truth is None)).encode(), h)
    return f"{h:08x}"


def directions(case: Case, m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed random ``v`` (inputs), ``u`` and ``w`` (outputs) a case is projected on."""
    rng = rng_for("directions:" + case.name)
    return rng.standard_normal(n), rng.standard_normal(m), rng.standard_normal(m)


def reference(case: Case) -> dict[str, np.ndarray]:
    """JAX's value, ``J v``, ``u J`` and ``H v`` (the Hessian of ``w . f``) for ``case``."""
    import jax
    import jax.numpy as jnp

    prep = _Prepared(case, jnp, case.truth or case.ref or case.fun)
    z = jnp.asarray(prep.flat_point())
    g = lambda z: jnp.ravel(jnp.asarray(prep.call(*prep.split(z)), dtype=jnp.float64))
    value = np.asarray(g(z))
    v, u, w = directions(case, value.size, z.size)
    value, jv = jax.jvp(g, (z,), (jnp.asarray(v),))
    _, pullback = jax.vjp(g, z)
    (uj,) = pullback(jnp.asarray(u))
    out = {"value": value, "jv": jv, "uj": uj}
    if case.order >= 2:
        projected = lambda z: jnp.sum(g(z) * w)
        out["hv"] = jax.jvp(jax.grad(projected), (z,), (jnp.asarray(v),))[1]
    return {k: np.asarray(a, dtype=np.float64) for k, a in out.items()}


def _anydiff(case: Case, frontend: str) -> dict[str, Any]:
    import anydiff

    if frontend == "numpy":
        xp, fun = np, case.fun
    else:
        import jax.numpy as jnp

        xp, fun = jnp, case.ref or case.fun
    backend = anydiff.DualBackend(frontend=frontend)
    prep = _Prepared(case, xp, fun)
    points = [p.astype(case.out_dtype) if case.out_dtype else p for p in prep.points]
    value, jac = anydiff.value_and_jacobian(backend, prep.call, *points)
    value = np.asarray(value)
    jacs = jac if len(points) > 1 else (jac,)
    dtype = np.asarray(jacs[0]).dtype if jacs else None
    m = value.size
    parts = [np.asarray(j, dtype=np.float64).reshape(m, p.size) for j, p in zip(jacs, points)]
    flat = np.concatenate(parts, axis=1) if parts else np.zeros((m, 0))
    v, u, w = directions(case, m, flat.shape[1])
    out: dict[str, Any] = {"value": value.ravel(), "dtype": dtype, "J": flat, "v": v, "u": u}
    if case.order >= 2 and prep.points:
        out["H"] = np.asarray(anydiff.hessian(backend, prep.projected(w), prep.flat_point()))
    return out


def _close(a: np.ndarray, b: np.ndarray, scale: np.ndarray, rtol: float = 1e-6) -> bool:
    """``a`` equals reference ``b`` up to ``rtol`` of ``scale`` (the sum of the magnitudes
    of the terms that made each entry), with NaNs and infinities in the same places."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        return False
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    inf = np.isinf(a) | np.isinf(b)
    if not np.array_equal(a[inf], b[inf]):
        return False
    ok = ~np.isnan(a) & ~inf
    tol = rtol * np.broadcast_to(scale, a.shape)[ok] + 1e-12
    return bool(np.all(np.abs(a[ok] - b[ok]) <= tol))


def judge(case: Case, frontend: str, ref: Optional[dict[str, np.ndarray]]) -> Outcome:
    """Run ``case`` through anydiff with ``frontend`` ("numpy" or "jax") and compare with
    JAX's ``ref`` (None: JAX or numpy could not run the function)."""
    from anydiff.ir import TraceError

    if ref is None:
        return Outcome("n/a", "no reference")
    try:
        with np.errstate(all="ignore"):
            got = _anydiff(case, frontend)
    except TraceError as err:
        return Outcome("refuse", str(err)[:300])
    except Exception as err:
        return Outcome("crash", f"{type(err).__name__}: {err}"[:300])
    if case.out_dtype is not None and got["dtype"] != np.dtype(case.out_dtype):
        return Outcome("wrong", f"derivative dtype {got['dtype']}, expected {case.out_dtype}")
    value, J, v, u = got["value"], got["J"], got["v"], got["u"]
    if not _close(value, ref["value"], np.abs(ref["value"])):
        return Outcome("wrong", f"value {value[:6]} != {ref['value'][:6]}")
    with np.errstate(all="ignore"):
        jv, uj = J @ v, u @ J
        jv_scale, uj_scale = np.abs(J) @ np.abs(v), np.abs(u) @ np.abs(J)
    if not _close(jv, ref["jv"], jv_scale) or not _close(uj, ref["uj"], uj_scale):
        return Outcome("wrong", f"jacobian differs: J v = {jv[:4]}, JAX {ref['jv'][:4]}")
    if "hv" in ref:
        H = got["H"]
        with np.errstate(all="ignore"):
            hv, scale = H @ v, np.abs(H) @ np.abs(v)
        if not _close(hv, ref["hv"], scale):
            return Outcome("wrong", f"hessian differs: H v = {hv[:4]}, JAX {ref['hv'][:4]}")
    return Outcome("pass")
