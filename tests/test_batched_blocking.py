"""Batched products against dense matrices, and blocked assembly against unblocked."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import anydiff
from anydiff import _core
from conftest import assert_close, jax_backend, ns, torch_backend

RNG = np.random.default_rng(7)
M57 = RNG.standard_normal((5, 7)) / 3
X7 = RNG.standard_normal(7) / 2
X23 = RNG.standard_normal((2, 3)) / 2


def f57(x):
    """R^7 -> R^5: tanh(M x) + x[:5]^2."""
    N = ns(x)
    return N.tanh(N.const(M57, x) @ x) + x[:5] * x[:5]


def j57(x):
    j = (1 - np.tanh(M57 @ x) ** 2)[:, None] * M57
    j[np.arange(5), np.arange(5)] += 2 * x[:5]
    return j


def f_scalar(x):
    N = ns(x)
    return N.sum(N.sin(x) * x) + N.sum(x) ** 2


def h_scalar(x):
    flat = np.asarray(x).reshape(-1)
    n = flat.size
    h = np.diag(2 * np.cos(flat) - flat * np.sin(flat)) + 2 * np.ones((n, n))
    return h.reshape(np.shape(x) + np.shape(x))


def j_matrix(x):
    """Jacobian of f_matrix: R^(2,3) -> R^(2,3), f = sin(x) * x[0, 0]."""
    j = np.zeros((2, 3, 2, 3))
    for i in range(2):
        for k in range(3):
            j[i, k, i, k] = np.cos(x[i, k]) * x[0, 0]
            j[i, k, 0, 0] += np.sin(x[i, k])
    return j


def f_matrix(x):
    return ns(x).sin(x) * x[0, 0]


BACKENDS: dict[str, tuple[Callable[[], Any], float]] = {
    "jax-fwd": (jax_backend("forward"), 1e-10),
    "jax-rev": (jax_backend("reverse"), 1e-10),
    "torch-fwd": (torch_backend("forward"), 1e-10),
    "torch-rev": (torch_backend("reverse"), 1e-10),
    "fd": (lambda: anydiff.FiniteDifferences(), 1e-6),
    "fd-vectorized": (lambda: anydiff.FiniteDifferences(vectorized=True), 1e-6),
    "cb-jvp-batched": (
        lambda: anydiff.CallbackBackend(jvp=lambda x, v: v @ j57(x).T, batched=True),
        1e-10,
    ),
    "cb-vjp-batched": (
        lambda: anydiff.CallbackBackend(vjp=lambda x, w: w @ j57(x), batched=True),
        1e-10,
    ),
}

SECOND_ORDER = ["jax-fwd", "jax-rev", "torch-fwd", "torch-rev", "fd"]


def _f57_vectorizable(x):
    """f57 that also accepts a leading batch axis (for FiniteDifferences(vectorized=True))."""
    N = ns(x)
    if x.ndim == 2:
        return N.tanh(x @ N.const(M57, x).T) + x[:, :5] * x[:, :5]
    return f57(x)


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_batched_jvp_and_vjp(backend: str, k: int) -> None:
    make, tol = BACKENDS[backend]
    b = make()
    J = j57(X7)
    V = RNG.standard_normal((k, 7))
    W = RNG.standard_normal((k, 5))
    got = anydiff.jvp(b, _f57_vectorizable, X7, V, batched=True)
    assert_close(got, V @ J.T, rtol=tol, atol=tol)
    got = anydiff.vjp(b, _f57_vectorizable, X7, W, batched=True)
    assert_close(got, W @ J, rtol=tol, atol=tol)
    # the same through prepared plans at another point
    x2 = X7[::-1].copy()
    push = anydiff.prepare_pushforward(b, _f57_vectorizable, X7)
    assert_close(push(x2)(V, batched=True), V @ j57(x2).T, rtol=tol, atol=tol)
    pull = anydiff.prepare_pullback(b, _f57_vectorizable, X7)
    assert_close(pull(x2)(W, batched=True), W @ j57(x2), rtol=tol, atol=tol)
    # and the unbatched product is row 0 of the batched one
    assert_close(anydiff.jvp(b, _f57_vectorizable, X7, V[0]), J @ V[0], rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["jax-fwd", "jax-rev", "torch-fwd", "torch-rev", "fd"])
def test_batched_products_with_matrix_shapes_and_two_inputs(backend: str) -> None:
    make, tol = BACKENDS[backend]
    b = make()
    J = j_matrix(X23)
    V = RNG.standard_normal((3, 2, 3))
    got = anydiff.jvp(b, f_matrix, X23, V, batched=True)
    assert_close(got, np.einsum("ijkl,bkl->bij", J, V), rtol=tol, atol=tol)
    got = anydiff.vjp(b, f_matrix, X23, V, batched=True)
    assert_close(got, np.einsum("bij,ijkl->bkl", V, J), rtol=tol, atol=tol)

    def two(x, y):
        return ns(x).sin(x) * y

    y = X7[:3]
    x = X7[3:6]
    Vx, Vy = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    got = anydiff.jvp(b, two, (x, y), (Vx, Vy), batched=True)
    assert_close(got, np.cos(x) * y * Vx + np.sin(x) * Vy, rtol=tol, atol=tol)
    W = RNG.standard_normal((2, 3))
    got = anydiff.vjp(b, two, (x, y), W, batched=True)
    assert_close(got, (W * np.cos(x) * y, W * np.sin(x)), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", SECOND_ORDER)
def test_batched_hvp(backend: str) -> None:
    make, tol = BACKENDS[backend]
    b = make()
    tol = 1e-4 if backend == "fd" else tol
    V = RNG.standard_normal((4, 7))
    H = h_scalar(X7)
    assert_close(anydiff.hvp(b, f_scalar, X7, V, batched=True), V @ H, rtol=tol, atol=tol)
    plan = anydiff.prepare_hvp(b, f_scalar, X7)
    assert_close(plan(X7, v=V, batched=True), V @ H, rtol=tol, atol=tol)
    assert_close(plan(X7, v=V[2]), H @ V[2], rtol=tol, atol=tol)
    V23 = RNG.standard_normal((2, 2, 3))
    H23 = h_scalar(X23)
    got = anydiff.hvp(b, f_scalar, X23, V23, batched=True)
    assert_close(got, np.einsum("ijkl,bkl->bij", H23, V23), rtol=tol, atol=tol)


# --- blocking ---------------------------------------------------------------------------


def test_block_ranges_cover_uneven_blocks() -> None:
    assert _core.block_ranges(7, 5, 8, 2) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert _core.block_ranges(5, 7, 8, 2) == [(0, 2), (2, 4), (4, 5)]
    assert _core.block_ranges(7, 5, 8, 3) == [(0, 3), (3, 6), (6, 7)]
    assert _core.block_ranges(7, 5, 8, 100) == [(0, 7)]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 6])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_blocked_jacobian_equals_unblocked(backend: str, batch_size: int) -> None:
    make, tol = BACKENDS[backend]
    b = make()
    whole = anydiff.prepare_jacobian(b, _f57_vectorizable, X7)(X7)
    plan = anydiff.prepare_jacobian(b, _f57_vectorizable, X7, batch_size=batch_size)
    blocked = plan(X7)
    assert_close(blocked, whole, rtol=1e-13, atol=1e-13)
    assert_close(blocked, j57(X7), rtol=tol, atol=tol)
    x2 = X7 * 1.5
    value, blocked2 = plan.value_and_jacobian(x2)
    assert_close(blocked2, j57(x2), rtol=tol, atol=tol)
    assert_close(value, np.tanh(M57 @ x2) + x2[:5] ** 2, rtol=1e-13)


@pytest.mark.parametrize("batch_size", [2, 3])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_blocked_jacobian_calls_the_oracle_once_per_block(mode: str, batch_size: int) -> None:
    sizes: list[int] = []

    def jvp(x, v):
        sizes.append(len(v))
        return v @ j57(x).T

    def vjp(x, w):
        sizes.append(len(w))
        return w @ j57(x)

    cb = {"jvp": jvp} if mode == "forward" else {"vjp": vjp}
    b = anydiff.CallbackBackend(**cb, batched=True)
    jac = anydiff.prepare_jacobian(b, f57, X7, batch_size=batch_size)(X7)
    assert_close(jac, j57(X7), rtol=1e-12)
    seeds = 7 if mode == "forward" else 5
    expected = [e - s for s, e in _core.block_ranges(seeds, 12 - seeds, 8, batch_size)]
    assert sizes == expected
    assert sum(sizes) == seeds and max(sizes) == batch_size


@pytest.mark.parametrize("batch_size", [1, 3, 7])
@pytest.mark.parametrize("backend", [*SECOND_ORDER, "ho-jax", "ho-fd-torch"])
def test_blocked_hessian_equals_unblocked(backend: str, batch_size: int) -> None:
    if backend == "ho-jax":
        b = anydiff.HigherOrderBackend((jax_backend("forward")(), jax_backend("reverse")()))
        tol = 1e-10
    elif backend == "ho-fd-torch":
        b = anydiff.HigherOrderBackend((anydiff.FiniteDifferences(), torch_backend("reverse")()))
        tol = 1e-6
    else:
        make, tol = BACKENDS[backend]
        b = make()
        tol = 1e-4 if backend == "fd" else tol
    whole = anydiff.prepare_hessian(b, f_scalar, X7)(X7)
    plan = anydiff.prepare_hessian(b, f_scalar, X7, batch_size=batch_size)
    blocked = plan(X7)
    assert_close(blocked, whole, rtol=1e-12, atol=1e-12)
    assert_close(blocked, h_scalar(X7), rtol=tol, atol=tol)
    _, _, hess = plan.value_gradient_and_hessian(X7 + 0.1)
    assert_close(hess, h_scalar(X7 + 0.1), rtol=tol, atol=tol)
    # symmetrize=True: exactly symmetric, blocked or not, and equal to (H + H^T) / 2
    sym_whole = anydiff.prepare_hessian(b, f_scalar, X7, symmetrize=True)(X7)
    sym = anydiff.prepare_hessian(b, f_scalar, X7, batch_size=batch_size, symmetrize=True)(X7)
    np.testing.assert_array_equal(sym, sym.T)
    np.testing.assert_array_equal(sym_whole, sym_whole.T)
    assert_close(sym, (blocked + blocked.T) / 2, rtol=1e-14, atol=1e-14)
    assert_close(sym, sym_whole, rtol=1e-14, atol=1e-14)


def test_rust_assemble_directly() -> None:
    J = j57(X7)
    calls: list[tuple[int, int]] = []

    def oracle(start: int, k: int) -> np.ndarray:
        calls.append((start, k))
        return np.ascontiguousarray(J[:, start : start + k].T)

    got = _core.assemble(oracle, 7, 5, "forward", "float64", 3)
    np.testing.assert_array_equal(got, J)
    assert calls == [(0, 3), (3, 3), (6, 1)]


def test_rust_assemble_rejects_bad_blocks() -> None:
    with pytest.raises(anydiff.ShapeError, match=r"\(3, 5\)|3.*5"):
        _core.assemble(lambda s, k: np.zeros((k, 4)), 7, 5, "forward", "float64", 3)
    with pytest.raises(TypeError, match=r"float64|float32"):
        _core.assemble(
            lambda s, k: np.zeros((k, 5), dtype=np.float32), 7, 5, "forward", "float64", 3
        )
