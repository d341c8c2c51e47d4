"""Sparse Hessians: the extended Rosenbrock of DESIGN.md (tridiagonal) with star and acyclic
colorings, forward-over-reverse and finite differences over reverse."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import anydiff
from anydiff import KnownPattern, SparseBackend
from anydiff.coloring import Pattern
from sparse_helpers import dense

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402


def rosenbrock(x: Any) -> Any:
    head = x[:-1]
    return jnp.sum(100.0 * (x[1:] - head**2) ** 2 + (1.0 - head) ** 2)


def start(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, n)


def tridiagonal(n: int) -> np.ndarray:
    return np.eye(n, dtype=bool) | np.eye(n, k=1, dtype=bool) | np.eye(n, k=-1, dtype=bool)


_HESSIAN = jax.jit(jax.hessian(rosenbrock))


def reference(x: np.ndarray) -> np.ndarray:
    return np.asarray(_HESSIAN(jnp.asarray(x)))


def fwd_over_rev() -> Any:
    return anydiff.HigherOrderBackend(
        (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
    )


@pytest.mark.parametrize("hessian_coloring", ["star", "acyclic", "column"])
@pytest.mark.parametrize("n", [50, 200, 1000])
def test_rosenbrock_sparse_hessian_equals_dense(n: int, hessian_coloring: str) -> None:
    x = start(n)
    backend = SparseBackend(fwd_over_rev(), hessian_coloring=hessian_coloring)
    plan = anydiff.prepare_hessian(backend, rosenbrock, x)
    assert isinstance(plan, anydiff.SparseHessianPlan)
    H = plan(x)
    assert isinstance(H, sp.csr_array)
    assert H.shape == (n, n)
    want = reference(x)
    np.testing.assert_allclose(H.toarray(), want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    assert plan.pattern == Pattern.from_dense(tridiagonal(n))
    assert plan.coloring.kind == hessian_coloring
    assert plan.coloring.is_valid()
    if hessian_coloring == "star":
        assert plan.coloring.ncolors == 3  # a path on >= 4 vertices needs 3 star colors
    else:
        assert 2 <= plan.coloring.ncolors <= 3  # 2 expected: a path has no cycles
    # the one-shot API gives the same
    once = anydiff.hessian(backend, rosenbrock, x)
    np.testing.assert_array_equal(once.toarray(), H.toarray())


def test_acyclic_needs_fewer_colors_than_star_on_the_tridiagonal_pattern() -> None:
    n = 100
    x = start(n)
    colors = {
        c: anydiff.prepare_hessian(
            SparseBackend(
                fwd_over_rev(), detector=KnownPattern(tridiagonal(n)), hessian_coloring=c
            ),
            rosenbrock,
            x,
        ).coloring.ncolors
        for c in ("star", "acyclic")
    }
    assert colors == {"star": 3, "acyclic": 2}


@pytest.mark.parametrize("hessian_coloring", ["star", "acyclic"])
def test_prepared_hessian_at_a_second_point(hessian_coloring: str) -> None:
    n = 60
    x0, x1 = start(n, 1), start(n, 2)
    plan = anydiff.prepare_hessian(
        SparseBackend(fwd_over_rev(), hessian_coloring=hessian_coloring), rosenbrock, x0
    )
    for x in (x1, x0):
        np.testing.assert_allclose(plan(x).toarray(), reference(x), rtol=1e-12, atol=1e-9)


def test_value_gradient_and_hessian() -> None:
    n = 80
    x = start(n)
    backend = SparseBackend(fwd_over_rev())
    value, grad, H = anydiff.value_gradient_and_hessian(backend, rosenbrock, x)
    np.testing.assert_allclose(value, float(rosenbrock(jnp.asarray(x))), rtol=1e-14)
    np.testing.assert_allclose(grad, np.asarray(jax.grad(rosenbrock)(jnp.asarray(x))), rtol=1e-13)
    assert isinstance(H, sp.csr_array)
    np.testing.assert_allclose(H.toarray(), reference(x), rtol=1e-12, atol=1e-9)

    value2, H2 = anydiff.value_and_hessian(backend, rosenbrock, x)
    np.testing.assert_allclose(value2, value, rtol=1e-15)
    np.testing.assert_allclose(H2.toarray(), H.toarray(), rtol=1e-15)

    plan = anydiff.prepare_hessian(backend, rosenbrock, x)
    x1 = start(n, 5)
    value3, grad3, H3 = plan.value_gradient_and_hessian(x1)
    np.testing.assert_allclose(value3, float(rosenbrock(jnp.asarray(x1))), rtol=1e-14)
    np.testing.assert_allclose(grad3, np.asarray(jax.grad(rosenbrock)(jnp.asarray(x1))))
    np.testing.assert_allclose(H3.toarray(), reference(x1), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("hessian_coloring", ["star", "acyclic"])
def test_finite_differences_over_reverse(hessian_coloring: str) -> None:
    n = 40  # detection forms dense FD Hessians at 3 points: one gradient per column each
    x = start(n)
    backend = SparseBackend(
        anydiff.HigherOrderBackend((anydiff.FiniteDifferences(), anydiff.JaxBackend("reverse"))),
        hessian_coloring=hessian_coloring,
    )
    plan = anydiff.prepare_hessian(backend, rosenbrock, x)
    want = reference(x)
    H = plan(x)
    np.testing.assert_allclose(H.toarray(), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert plan.pattern == Pattern.from_dense(tridiagonal(n))


def test_star_hessian_in_bcoo_format() -> None:
    from jax.experimental.sparse import BCOO

    n = 50
    x = start(n)
    H = anydiff.hessian(SparseBackend(fwd_over_rev(), format="bcoo"), rosenbrock, jnp.asarray(x))
    assert isinstance(H, BCOO)
    np.testing.assert_allclose(dense(H), reference(x), rtol=1e-12, atol=1e-9)


def test_acyclic_hessian_cannot_be_gathered_into_bcoo() -> None:
    backend = SparseBackend(fwd_over_rev(), hessian_coloring="acyclic", format="bcoo")
    with pytest.raises(ValueError, match="acyclic coloring cannot; use hessian_coloring='star'"):
        anydiff.hessian(backend, rosenbrock, start(20))


def test_local_detection_symmetrises_the_hessian_pattern() -> None:
    """``x0^3 x1`` at x0 = 0: the Hessian is zero there; the probes find the full block."""

    def f(x: Any) -> Any:
        return x[0] ** 3 * x[1] + x[2] ** 2

    x = np.array([0.0, 1.0, 2.0])
    plan = anydiff.prepare_hessian(SparseBackend(fwd_over_rev()), f, x)
    assert plan.pattern.is_symmetric()
    np.testing.assert_array_equal(plan.pattern.todense(), [[1, 1, 0], [1, 0, 0], [0, 0, 1]])
    x1 = np.array([0.5, 1.0, 2.0])
    want = np.asarray(jax.hessian(f)(jnp.asarray(x1)))
    np.testing.assert_allclose(plan(x1).toarray(), want, rtol=1e-14)


def test_known_hessian_pattern_given_as_upper_triangle_is_symmetrised() -> None:
    n = 30
    x = start(n)
    upper = np.triu(tridiagonal(n))
    plan = anydiff.prepare_hessian(
        SparseBackend(fwd_over_rev(), detector=KnownPattern(upper)), rosenbrock, x
    )
    assert plan.pattern == Pattern.from_dense(tridiagonal(n))
    np.testing.assert_allclose(plan(x).toarray(), reference(x), rtol=1e-12, atol=1e-9)
