"""A backend written in a few lines (complex-step forward mode) gets the whole API."""

from __future__ import annotations

import numpy as np

import anydiff
from conftest import assert_close


class ComplexStep(anydiff.AbstractForwardMode):
    """JVPs by complex-step differentiation: Im f(x + i h v) / h, exact to rounding."""

    def __init__(self, h: float = 1e-30) -> None:
        self.h = h

    def pushforward_batch(self, f, xs, tangents):
        rows = [
            f(*(x + 1j * self.h * t[i] for x, t in zip(xs, tangents)))
            for i in range(len(tangents[0]))
        ]
        if isinstance(rows[0], tuple):
            return tuple(
                np.stack([np.imag(r[j]) for r in rows]) / self.h for j in range(len(rows[0]))
            )
        return np.stack([np.imag(r) for r in rows]) / self.h


M = np.array([[1.0, 2.0, -0.5], [0.3, -1.0, 0.7]])
X = np.array([0.4, -0.2, 0.9])


def f(x):
    return np.sin(M @ x) * np.exp(x[0])


def jac(x):
    j = (np.cos(M @ x) * np.exp(x[0]))[:, None] * M
    j[:, 0] += np.sin(M @ x) * np.exp(x[0])
    return j


def g(x):
    return np.sum(np.exp(x) * x * x)


def grad_g(x):
    return np.exp(x) * (x * x + 2 * x)


def hess_g(x):
    return np.diag(np.exp(x) * (x * x + 4 * x + 2))


def test_first_order_operators() -> None:
    b = ComplexStep()
    assert_close(anydiff.jacobian(b, f, X), jac(X), rtol=1e-14)
    value, j = anydiff.value_and_jacobian(b, f, X)
    assert_close(value, f(X), rtol=1e-15)
    assert_close(j, jac(X), rtol=1e-14)
    assert_close(anydiff.gradient(b, g, X), grad_g(X), rtol=1e-14)
    assert_close(
        anydiff.derivative(b, lambda t: np.sin(t) * t, np.array(0.3)),
        np.cos(0.3) * 0.3 + np.sin(0.3),
        rtol=1e-14,
    )
    plan = anydiff.prepare_jacobian(b, f, X, batch_size=2)
    assert_close(plan(2 * X), jac(2 * X), rtol=1e-14)


def test_products_and_lazy_operators() -> None:
    b = ComplexStep()
    v, w = np.array([1.0, -2.0, 0.5]), np.array([0.7, -0.3])
    assert_close(anydiff.pushforward_function(b, f, X)(v), jac(X) @ v, rtol=1e-14)
    assert_close(
        anydiff.jvp(b, f, X, np.stack([v, 2 * v]), batched=True),
        np.stack([jac(X) @ v, 2 * jac(X) @ v]),
        rtol=1e-14,
    )
    assert_close(anydiff.pullback_function(b, f, X)(w), w @ jac(X), rtol=1e-13)
    lazy = anydiff.lazy_jacobian(b, f, X)
    assert_close(lazy @ v, jac(X) @ v, rtol=1e-14)
    assert_close(w @ lazy, w @ jac(X), rtol=1e-13)
    two = anydiff.jacobian(b, lambda x, y: (x * y, np.sum(x)), X, 2 * X)
    assert_close(two, ((np.diag(2 * X), np.diag(X)), (np.ones(3), np.zeros(3))), rtol=1e-14)


def test_second_order_through_higher_order_backend() -> None:
    b = anydiff.HigherOrderBackend((anydiff.FiniteDifferences("central5"), ComplexStep()))
    assert_close(anydiff.hessian(b, g, X), hess_g(X), rtol=1e-8, atol=1e-8)
    v = np.array([0.5, 1.0, -1.0])
    assert_close(anydiff.hvp(b, g, X, v), hess_g(X) @ v, rtol=1e-8, atol=1e-8)
    value, grad, hess = anydiff.value_gradient_and_hessian(b, g, X)
    assert_close(value, g(X), rtol=1e-15)
    assert_close(grad, grad_g(X), rtol=1e-14)
    assert_close(hess, hess_g(X), rtol=1e-8, atol=1e-8)
    assert_close(
        anydiff.second_derivative(b, lambda t: np.exp(2 * t), np.array(0.3)),
        4 * np.exp(0.6),
        rtol=1e-8,
    )
