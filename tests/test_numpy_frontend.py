"""The numpy front end against JAX: every scenario of tests/numpy_scenarios.py through
``DualBackend()`` on plain numpy code — value, Jacobian and the Hessian of a random
projection — compared with ``jax.jacfwd`` and ``jax.hessian`` of the same function in
jax.numpy (x64), at random points and edge points, in float64 and float32; and a
property test over random programs of supported numpy functions."""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("jax")

import jax
import jax.numpy as jnp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anydiff
from anydiff.ir import TraceError
from anydiff.ir._compile import TraceMismatchError
from numpy_scenarios import SCENARIOS, Scenario

jax.config.update("jax_enable_x64", True)


def _split(xp: Any, z: Any, shapes: tuple) -> list[Any]:
    parts, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        parts.append(xp.reshape(z[start : start + size], shape))
        start += size
    return parts


def _flat(xp: Any, out: Any) -> Any:
    if isinstance(out, (tuple, list)):
        return xp.concatenate([xp.ravel(o) * 1.0 for o in out])
    return xp.ravel(out) * 1.0


def _as_flat(xp: Any, fun: Callable[..., Any], shapes: tuple) -> Callable[[Any], Any]:
    return lambda z: _flat(xp, fun(xp, *_split(xp, z, shapes)))


def _weights(m: int) -> np.ndarray:
    """The projection whose Hessian is compared."""
    return np.linspace(-1.0, 1.0, m) + 0.25


@functools.cache
def _jax_reference(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """JAX's value, Jacobian and projected Hessian of a scenario in jax.numpy at each of
    :func:`_reference_points`: one compiled function over all points (compiling dominates)."""
    s = _by_name[name]
    g = _as_flat(jnp, s.ref or s.fun, s.shapes)
    points = np.stack(_reference_points(s))
    w = _weights(int(np.prod(jax.eval_shape(g, points[0]).shape)))

    def all_three(z: Any) -> tuple[Any, Any, Any]:
        return g(z), jax.jacfwd(g)(z), jax.hessian(lambda z: jnp.sum(g(z) * w))(z)

    value, jac, hess = jax.jit(jax.vmap(all_three))(points)
    return np.asarray(value), np.asarray(jac), np.asarray(hess)


_by_name = {s.name: s for s in SCENARIOS}


def _points(s: Scenario) -> list[np.ndarray]:
    rng = np.random.default_rng(len(s.name) * 7919 + sum(map(ord, s.name)))
    lo, hi = s.domain
    size = sum(int(np.prod(shape)) for shape in s.shapes)
    points = [rng.uniform(lo, hi, size) for _ in range(2)]
    for edge in s.edges:
        points.append(np.concatenate([np.ravel(np.asarray(e, dtype=np.float64)) for e in edge]))
    return points


def _reference_points(s: Scenario) -> list[np.ndarray]:
    """The float64 points, then the first one rounded to float32 (for the float32 test)."""
    points = _points(s)
    return [*points, points[0].astype(np.float32).astype(np.float64)]


def _check(got: np.ndarray, want: np.ndarray, rtol: float, what: str) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    inf = np.isinf(want) | np.isinf(got)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: infinities")
    ok = ~np.isnan(want) & ~inf
    scale = max(1.0, float(np.max(np.abs(want[ok]), initial=0.0)))
    np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS])
def test_scenario_float64(name: str) -> None:
    s = _by_name[name]
    values, jacs, hessians = _jax_reference(name)
    g = _as_flat(np, s.fun, s.shapes)
    backend = anydiff.DualBackend()
    w = _weights(values.shape[1])
    for z, want_value, want_jac, want_hess in zip(_points(s), values, jacs, hessians):
        with np.errstate(all="ignore"):
            got_value, got_jac = anydiff.value_and_jacobian(backend, g, z)
            got_hess = anydiff.hessian(backend, lambda z: np.sum(g(z) * w), z)
        where = f"{name} at {z}"
        _check(got_value, want_value, s.rtol, f"value of {where}")
        # a NaN value has no derivative to compare (JAX's is 0 or NaN by its rules' chance)
        rows = ~np.isnan(want_value)
        _check(got_jac[rows], want_jac[rows], s.rtol, f"Jacobian of {where}")
        if rows.all():
            _check(got_hess, want_hess, s.rtol, f"Hessian of {where}")


@pytest.mark.parametrize("name", [s.name for s in SCENARIOS if s.float32])
def test_scenario_float32(name: str) -> None:
    s = _by_name[name]
    values, jacs, _ = _jax_reference(name)
    g = _as_flat(np, s.fun, s.shapes)
    z = _points(s)[0].astype(np.float32)
    with np.errstate(all="ignore"):
        eager = g(z)
        got = anydiff.jacobian(anydiff.DualBackend(), g, z)
    if np.asarray(eager).dtype == np.float32:
        assert got.dtype == np.float32
    rows = ~np.isnan(values[-1])
    _check(got[rows], jacs[-1][rows], 2e-3, f"float32 Jacobian of {name}")


# --- random programs -------------------------------------------------------------------------

_UNARY: list[Callable[[Any, Any], Any]] = [
    lambda xp, a: xp.sin(a),
    lambda xp, a: xp.tanh(a) * 2.0,
    lambda xp, a: xp.exp(-a * a),
    lambda xp, a: xp.sqrt(a * a + 1.0),
    lambda xp, a: xp.log1p(a * a),
    lambda xp, a: xp.roll(a, 1),
    lambda xp, a: xp.flip(a),
    lambda xp, a: xp.cumsum(a),
    lambda xp, a: a - xp.mean(a),
    lambda xp, a: xp.abs(a) + a,
    lambda xp, a: xp.where(a > 0.1, a * a, -a),
    lambda xp, a: xp.clip(a, -1.0, 1.0),
    lambda xp, a: a ** 3,
    lambda xp, a: xp.concatenate([a[2:], a[:2]]) * a,
    lambda xp, a: (xp.reshape(a, (2, 2)).T @ xp.reshape(a, (2, 2))).ravel(),
    lambda xp, a: xp.sum(a) * a,
    lambda xp, a: xp.prod(xp.reshape(a, (2, 2)), axis=0).repeat(2),
    lambda xp, a: xp.diff(a, prepend=0.0),
]  # fmt: skip
_BINARY: list[Callable[[Any, Any, Any], Any]] = [
    lambda xp, a, b: a + b,
    lambda xp, a, b: a * b,
    lambda xp, a, b: a - 2.0 * b,
    lambda xp, a, b: xp.maximum(a, b),
    lambda xp, a, b: xp.logaddexp(a, b),
    lambda xp, a, b: xp.arctan2(a, b * b + 1.0),
    lambda xp, a, b: xp.hypot(a, b * b + 1.0),
    lambda xp, a, b: xp.where(a > b, xp.sin(a), b),
    lambda xp, a, b: xp.stack([a, b]).sum(axis=0),
    lambda xp, a, b: xp.outer(a, b).sum(axis=1),
    lambda xp, a, b: xp.einsum("i,j->ij", a, b).diagonal(),
]  # fmt: skip


def _program(ops: list[tuple[int, int, int]]) -> Callable[[Any, Any], Any]:
    def f(xp: Any, x: Any) -> Any:
        vals = [x, xp.roll(x, 2) * 0.5]
        for kind, i, j in ops:
            a, b = vals[i % len(vals)], vals[j % len(vals)]
            if kind % 2 == 0:
                vals.append(_UNARY[(kind // 2) % len(_UNARY)](xp, a))
            else:
                vals.append(_BINARY[(kind // 2) % len(_BINARY)](xp, a, b))
        return vals[-1]

    return f


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 20), st.integers(0, 20)),
        min_size=1,
        max_size=6,
    ),
    point=st.lists(st.floats(-2.0, 2.0), min_size=4, max_size=4),
)
def test_random_programs_agree_with_jax(ops: list, point: list) -> None:
    f = _program(ops)
    x = np.asarray(point, dtype=np.float64)
    w = np.array([0.5, -1.0, 1.5, 0.25])
    with np.errstate(all="ignore"):
        value, jac = anydiff.value_and_jacobian(anydiff.DualBackend(), lambda x: f(np, x), x)
        hess = anydiff.hessian(anydiff.DualBackend(), lambda x: np.sum(f(np, x) * w), x)
    want_jac = jax.jacfwd(lambda x: f(jnp, x))(x)
    want_hess = jax.hessian(lambda x: jnp.sum(f(jnp, x) * w))(x)
    _check(value, f(jnp, x), 1e-9, "value")
    _check(jac, want_jac, 1e-7, "Jacobian")
    _check(hess, want_hess, 1e-7, "Hessian")


# --- conventions JAX gets wrong, refusals, the value check ------------------------------------


def test_logaddexp_at_infinities() -> None:
    """The weights exp(a - m), exp(b - m) in the limit (JAX's rule gives d/db = e at a = inf)."""
    a = np.array([np.inf, 1.0, 2.0, -np.inf])
    b = np.array([1.0, np.inf, -np.inf, 0.5])
    jac = anydiff.jacobian(anydiff.DualBackend(), lambda z: np.logaddexp(z[:4], z[4:]), np.r_[a, b])
    want = np.zeros((4, 8))
    want[[0, 1, 2, 3], [0, 5, 2, 7]] = 1.0
    np.testing.assert_array_equal(jac, want)


def _assign_into_plain(x: Any) -> Any:
    y = np.zeros(3)
    y[0] = x[0]
    return y


def _mean_of_list(x: Any) -> Any:
    return np.mean([x[0], x[1]])


_REFUSALS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("qr", lambda x: np.linalg.qr(x.reshape(2, 2))[0], r"np\.linalg\.qr is not supported"),
    ("matrix_rank", lambda x: np.linalg.matrix_rank(x.reshape(2, 2)) * x, r"matrix_rank"),
    ("quantile_method", lambda x: np.quantile(x, 0.5, method="nearest"), r"method='linear' is"),
    ("python_if", lambda x: x if x[0] > 0 else -x, r"np\.where\(cond, a, b\)"),
    ("traced_index", lambda x: x[np.argmax(x)], r"np\.argmax of a traced value"),
    ("nonzero", lambda x: x[np.nonzero(x > 0)], r"np\.nonzero of a traced value"),
    ("unique", lambda x: np.unique(x), r"np\.unique of a traced value"),
    ("fft", lambda x: np.fft.fft(x).real, r"np\.fft\.fft is not supported.*supported_functions"),
    ("pad_callable", lambda x: np.pad(x, 1, mode=lambda *a: None), r"supported modes: constant"),
    ("svd_full", lambda x: np.linalg.svd(x.reshape(4, 1))[0], r"full_matrices=False"),
    ("assign_into_plain", _assign_into_plain, r"np\.zeros_like\(x\)"),
    ("mean_of_list", _mean_of_list, r"np\.mean\(np\.array\(\[x, y\]\)\)"),
    ("math_function", lambda x: x * math.sin(x[0]), r"math\.\* function"),
]


@pytest.mark.parametrize(("name", "f", "pattern"), _REFUSALS, ids=[r[0] for r in _REFUSALS])
def test_refusals_are_clear(name: str, f: Callable[[Any], Any], pattern: str) -> None:
    """Each refusal is a TraceError naming what is unsupported, for the numpy front end
    and through the auto front end (which gives the numpy tracer's reason first)."""
    x = np.array([0.3, -1.2, 2.0, 0.7])
    for frontend in ("numpy", "auto"):
        with pytest.raises(TraceError, match=pattern) as info:
            anydiff.jacobian(anydiff.DualBackend(frontend=frontend), f, x)
        if frontend == "auto":
            assert str(info.value).startswith("f could not be traced as numpy code")


def test_value_check_catches_a_program_that_does_not_compute_f() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(TraceMismatchError, match="does not compute f"):
        anydiff.jacobian(anydiff.DualBackend(), lambda x: x * rng.uniform(), np.ones(3))


def _engine_signs(v: np.ndarray, rows: bool = False) -> bool:
    """Whether every vector (columns; rows for ``rows``) has its largest-magnitude
    component positive: the engine's convention."""
    v = v.T if rows else v
    return bool(np.all(np.take_along_axis(v, np.abs(v).argmax(0)[None], 0) > 0))


def test_eigenvector_signs_are_refused_unless_f_is_sign_invariant() -> None:
    """The engine fixes eigenvector signs its own way, LAPACK its own: a function of the
    vectors' signs is refused at preparation, also at a point where the two agree (a later
    point, where they differ, would be silently wrong); a sign-invariant one is not."""
    rng = np.random.default_rng(3)
    mats = [m + m.T for m in rng.standard_normal((40, 3, 3))]
    agree = next(a for a in mats if _engine_signs(np.linalg.eigh(a)[1]))
    differ = next(a for a in mats if not _engine_signs(np.linalg.eigh(a)[1]))
    b = anydiff.DualBackend()
    for a in (agree, differ):
        with pytest.raises(TraceMismatchError, match=r"eigh.*sign-invariant"):
            anydiff.jacobian(b, lambda a: np.linalg.eigh(a)[1], a)
    svd_agree = next(
        a for a in mats if _engine_signs(np.linalg.svd(a[:, :2], full_matrices=False)[0])
    )
    with pytest.raises(TraceMismatchError, match="change sign"):
        anydiff.jacobian(b, lambda a: np.linalg.svd(a, full_matrices=False)[0], svd_agree[:, :2])

    # sign-invariant: v diag(w) v^T, u s^2 vt, vectors given the engine's signs; JAX's
    # jacobian of the same (numpy's eigh reads the lower triangle: so does the twin)
    def cases(m: Any, lower: Callable[[Any], Any]) -> list[Callable[[Any], Any]]:
        def signed(v: Any) -> Any:
            return v * m.where(m.max(v, axis=-2) >= -m.min(v, axis=-2), 1.0, -1.0)

        return [
            lambda a: (lambda w, v: v @ m.diag(w) @ v.T)(*m.linalg.eigh(lower(a))),
            lambda a: (lambda u, s, vt: (u * s**2) @ vt)(*m.linalg.svd(a, full_matrices=False)),
            lambda a: signed(m.linalg.eigh(lower(a))[1]),
        ]

    twins = cases(jnp, lambda a: jnp.tril(a) + jnp.tril(a, -1).T)
    for f, twin in zip(cases(np, lambda a: a), twins):
        for a in (agree, differ):
            value, J = anydiff.value_and_jacobian(b, f, a)
            np.testing.assert_allclose(value, f(a), atol=1e-12)
            np.testing.assert_allclose(J, jax.jacfwd(twin)(jnp.asarray(a)), atol=1e-10)


def test_float32_in_float32_out() -> None:
    """float32 inputs to code whose trace holds float64 constants (the engine's linear
    algebra behind norm(ord=2)) give float32 values and derivatives, as numpy's f does."""
    x = np.linspace(0.5, 1.5, 4).astype(np.float32)
    w = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    for f in (lambda x: np.sin(x) * w, lambda x: np.linalg.norm(x.reshape(2, 2), ord=2) * x):
        value, jac = anydiff.value_and_jacobian(anydiff.DualBackend(), f, x)
        assert value.dtype == np.float32 and jac.dtype == np.float32
