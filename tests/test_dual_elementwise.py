"""Every elementwise function of the engine at ordinary and edge values: values like numpy
(nan for sqrt/log of negatives, inf at poles) and derivatives like JAX where finite."""

from __future__ import annotations

import numpy as np
import pytest

import anydiff

jax = pytest.importorskip("jax")
jnp = jax.numpy

UNARY = {
    "sin": (np.sin, jnp.sin), "cos": (np.cos, jnp.cos), "tan": (np.tan, jnp.tan),
    "exp": (np.exp, jnp.exp), "expm1": (np.expm1, jnp.expm1), "exp2": (np.exp2, jnp.exp2),
    "log": (np.log, jnp.log), "log1p": (np.log1p, jnp.log1p), "log2": (np.log2, jnp.log2),
    "log10": (np.log10, jnp.log10), "sqrt": (np.sqrt, jnp.sqrt), "cbrt": (np.cbrt, jnp.cbrt),
    "tanh": (np.tanh, jnp.tanh), "sinh": (np.sinh, jnp.sinh), "cosh": (np.cosh, jnp.cosh),
    "arcsin": (np.arcsin, jnp.arcsin), "arccos": (np.arccos, jnp.arccos),
    "arctan": (np.arctan, jnp.arctan), "arcsinh": (np.arcsinh, jnp.arcsinh),
    "arccosh": (np.arccosh, jnp.arccosh), "arctanh": (np.arctanh, jnp.arctanh),
    "abs": (np.abs, jnp.abs), "square": (np.square, jnp.square),
    "reciprocal": (np.reciprocal, jnp.reciprocal),
}  # fmt: skip

POINTS = np.array([-3.7, -1.0, -0.5, -1e-8, 0.0, 1e-8, 0.3, 0.5, 1.0, 2.5, 40.0, 1e5])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_and_derivatives(name: str) -> None:
    np_fn, jnp_fn = UNARY[name]
    backend = anydiff.DualBackend(frontend="numpy")
    with np.errstate(all="ignore"):  # the edge values raise numpy's warnings
        want_value = np_fn(POINTS)
        value, jac = anydiff.value_and_jacobian(backend, lambda x: np_fn(x), POINTS)
    np.testing.assert_allclose(value, want_value, rtol=1e-14, equal_nan=True)
    want_d = np.asarray(jax.vmap(jax.grad(jnp_fn))(jnp.asarray(POINTS)))
    got_d = np.diag(jac)
    finite = np.isfinite(want_d) & np.isfinite(want_value) & (POINTS != 0.0)
    np.testing.assert_allclose(got_d[finite], want_d[finite], rtol=1e-12)
    # outside the domain the derivative is nan as the value is, never a silent number
    assert np.all(np.isnan(got_d[np.isnan(want_value)]))
    assert np.all(jac[~np.eye(len(POINTS), dtype=bool)] == 0)  # elementwise: off-diagonal zeros


BINARY = {
    "power": (np.power, jnp.power), "arctan2": (np.arctan2, jnp.arctan2),
    "hypot": (np.hypot, jnp.hypot), "maximum": (np.maximum, jnp.maximum),
    "minimum": (np.minimum, jnp.minimum), "divide": (np.divide, jnp.divide),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_against_jax(name: str) -> None:
    np_fn, jnp_fn = BINARY[name]
    a = np.array([0.3, 1.5, 2.0, 0.7, 4.0])
    b = np.array([1.2, -0.4, 3.0, 0.9, 0.5])  # no ties: max/min pick the first on a tie
    backend = anydiff.DualBackend(frontend="numpy")
    ja, jb = anydiff.jacobian(backend, lambda x, y: np_fn(x, y), a, b)
    wa, wb = jax.jacfwd(jnp_fn, argnums=(0, 1))(jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_allclose(ja, wa, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(jb, wb, rtol=1e-12, atol=1e-15)
