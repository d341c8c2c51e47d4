"""Property tests: random smooth functions, every mode agrees; lazy products equal dense ones."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import anydiff
from conftest import HAS_JAX, HAS_TORCH, assert_close, ns, to_numpy

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True)

ELEMENTWISE: dict[str, Callable[[Any], Any]] = {
    "sin": lambda a: ns(a).sin(a),
    "tanh": lambda a: ns(a).tanh(a),
    "exp": lambda a: ns(a).exp(0.5 * a),
    "poly": lambda a: a * a * 0.3 - a + 0.1 * a * a * a,
}


def random_function(
    seed: int, n: int, m: int, hidden: int, outer: str, inner: str
) -> tuple[Callable, np.ndarray]:
    """f(x) = W2 @ outer(W1 @ x) + c * inner(x)[:m] (inner padded by tiling), and a point."""
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((hidden, n)) / np.sqrt(n)
    W2 = rng.standard_normal((m, hidden)) / np.sqrt(hidden)
    idx = np.arange(m) % n
    c = rng.standard_normal(m)
    g, h = ELEMENTWISE[outer], ELEMENTWISE[inner]

    def f(x):
        N = ns(x)
        return N.const(W2, x) @ g(N.const(W1, x) @ x) + N.const(c, x) * h(x)[idx]

    return f, rng.uniform(-1, 1, n)


functions = st.builds(
    random_function,
    seed=st.integers(0, 2**31),
    n=st.integers(1, 6),
    m=st.integers(1, 6),
    hidden=st.integers(1, 6),
    outer=st.sampled_from(sorted(ELEMENTWISE)),
    inner=st.sampled_from(sorted(ELEMENTWISE)),
)


def exact_backends() -> list[Any]:
    out = []
    if HAS_JAX:
        out += [anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse")]
    if HAS_TORCH:
        out += [anydiff.TorchBackend("forward"), anydiff.TorchBackend("reverse")]
    return out


@SETTINGS
@given(fx=functions)
def test_forward_reverse_and_finite_differences_agree(fx: tuple) -> None:
    f, x = fx
    fd = anydiff.jacobian(anydiff.FiniteDifferences("central5"), f, x)
    for b in exact_backends():
        assert_close(anydiff.jacobian(b, f, x), fd, rtol=1e-6, atol=1e-7, path=repr(b))
    central = anydiff.jacobian(anydiff.FiniteDifferences("central"), f, x)
    assert_close(central, fd, rtol=1e-5, atol=1e-6)
    one_sided = anydiff.jacobian(anydiff.FiniteDifferences("forward"), f, x)
    assert_close(one_sided, fd, rtol=1e-3, atol=1e-5)


@SETTINGS
@given(fx=functions, k=st.integers(1, 3))
def test_lazy_jacobian_products_equal_dense(fx: tuple, k: int) -> None:
    f, x = fx
    backend = anydiff.JaxBackend("forward") if HAS_JAX else anydiff.FiniteDifferences("central5")
    tol = 1e-10 if HAS_JAX else 1e-6
    J = to_numpy(anydiff.jacobian(backend, f, x))
    m, n = J.shape
    rng = np.random.default_rng(k)
    v, w = rng.standard_normal(n), rng.standard_normal(m)
    V, Wm = rng.standard_normal((n, k)), rng.standard_normal((k, m))
    for b in [backend, anydiff.FiniteDifferences("central5"), *exact_backends()[1:]]:
        t = tol if b is backend or not isinstance(b, anydiff.FiniteDifferences) else 1e-6
        lazy = anydiff.lazy_jacobian(b, f, x)
        assert lazy.shape == (m, n)
        assert_close(lazy @ v, J @ v, rtol=t, atol=t)
        assert_close(w @ lazy, w @ J, rtol=t, atol=t)
        assert_close(lazy @ V, J @ V, rtol=t, atol=t)
        assert_close(Wm @ lazy, Wm @ J, rtol=t, atol=t)
        assert_close(lazy.T @ w, J.T @ w, rtol=t, atol=t)
        assert_close(lazy.todense(), J, rtol=t, atol=t)
        op = lazy.aslinearoperator()
        assert op.shape == (m, n)
        assert_close(op.matvec(v), J @ v, rtol=t, atol=t)
        assert_close(op.rmatvec(w), J.T @ w, rtol=t, atol=t)
        assert_close(op.matmat(V), J @ V, rtol=t, atol=t)
        assert_close(op.rmatmat(Wm.T), J.T @ Wm.T, rtol=t, atol=t)
        assert_close(op @ v, J @ v, rtol=t, atol=t)


def scalar_function(
    seed: int, n: int, hidden: int, kind: str
) -> tuple[Callable, Callable, np.ndarray]:
    """f(x) = sum(c * g(W x)) with its closed-form Hessian W^T diag(c g''(W x)) W."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((hidden, n)) / np.sqrt(n)
    c = rng.standard_normal(hidden)
    g, g2 = {
        "sin": (lambda a: ns(a).sin(a), lambda a: -np.sin(a)),
        "exp": (lambda a: ns(a).exp(a), np.exp),
        "cube": (lambda a: a * a * a, lambda a: 6 * a),
    }[kind]

    def f(x):
        N = ns(x)
        return N.sum(N.const(c, x) * g(N.const(W, x) @ x))

    def hess(x):
        return W.T @ np.diag(c * g2(W @ x)) @ W

    return f, hess, rng.uniform(-1, 1, n)


scalar_functions = st.builds(
    scalar_function,
    seed=st.integers(0, 2**31),
    n=st.integers(1, 6),
    hidden=st.integers(1, 6),
    kind=st.sampled_from(["sin", "exp", "cube"]),
)


@SETTINGS
@given(fhx=scalar_functions)
def test_lazy_hessian_products_equal_dense(fhx: tuple) -> None:
    f, hess, x = fhx
    H = hess(x)
    n = len(x)
    rng = np.random.default_rng(n)
    v, V = rng.standard_normal(n), rng.standard_normal((n, 2))
    backends = [(b, 1e-10) for b in exact_backends()] + [
        (anydiff.FiniteDifferences("central5"), 1e-5)
    ]
    if HAS_JAX:
        backends.append(
            (
                anydiff.HigherOrderBackend(
                    (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
                ),
                1e-10,
            )
        )
    for b, tol in backends:
        lazy = anydiff.lazy_hessian(b, f, x)
        assert lazy.shape == (n, n)
        assert_close(lazy @ v, H @ v, rtol=tol, atol=tol, path=repr(b))
        assert_close(v @ lazy, v @ H, rtol=tol, atol=tol, path=repr(b))
        assert_close(lazy @ V, H @ V, rtol=tol, atol=tol, path=repr(b))
        assert_close(lazy.todense(), H, rtol=tol, atol=tol, path=repr(b))
        assert_close(anydiff.hvp(b, f, x, v), H @ v, rtol=tol, atol=tol, path=repr(b))
        op = lazy.aslinearoperator()
        assert_close(op.matvec(v), H @ v, rtol=tol, atol=tol)
        assert_close(op.rmatvec(v), H @ v, rtol=tol, atol=tol)
        assert_close(op.matmat(V), H @ V, rtol=tol, atol=tol)
