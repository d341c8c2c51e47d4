"""The path for arrays on an accelerator, exercised on the CPU by declaring them off-host.

With several blocks, Jacobians of device arrays are stitched by the framework instead of
Rust; sparse results are gathered inside the compiled call. Without a GPU these tests
pretend the CPU arrays live elsewhere and check the results are unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest

import anydiff
from anydiff import _arrays


@pytest.fixture
def off_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (_arrays.JaxOps, _arrays.TorchOps):
        monkeypatch.setattr(cls, "is_host", lambda self, a: False)


def _problem(framework: str):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 7))
    x = rng.normal(size=7)
    exact = a * np.cos(x)[None, :]
    if framework == "jax":
        jnp = pytest.importorskip("jax.numpy")
        aj = jnp.asarray(a)
        return (lambda v: aj @ jnp.sin(v)), jnp.asarray(x), exact
    torch = pytest.importorskip("torch")
    at = torch.from_numpy(a)
    return (lambda v: at @ torch.sin(v)), torch.from_numpy(x), exact


@pytest.mark.parametrize("framework", ["jax", "torch"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_blocked_jacobian_stitched_by_the_framework(off_host, framework, mode, batch_size):
    f, x, exact = _problem(framework)
    backend = anydiff.JaxBackend(mode) if framework == "jax" else anydiff.TorchBackend(mode)
    jac = anydiff.prepare_jacobian(backend, f, x, batch_size=batch_size)(x)
    assert _arrays.ops_for(jac).name == framework  # never converted to numpy
    np.testing.assert_allclose(_arrays.ops_for(jac).to_numpy(jac), exact, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("framework", ["jax", "torch"])
def test_blocked_symmetrised_hessian_on_device(off_host, framework):
    if framework == "jax":
        jnp = pytest.importorskip("jax.numpy")
        f, x = (lambda v: jnp.sum(jnp.sin(v) * v[::-1])), jnp.linspace(0.1, 0.7, 6)
        backend = anydiff.HigherOrderBackend(
            (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
        )
    else:
        torch = pytest.importorskip("torch")
        f = lambda v: torch.sum(torch.sin(v) * v.flip(0))  # noqa: E731
        x = torch.linspace(0.1, 0.7, 6, dtype=torch.float64)
        backend = anydiff.TorchBackend("reverse")
    xn = np.linspace(0.1, 0.7, 6)
    # d2/dxi dxj of sum sin(x_k) x_{n-1-k}: diagonal -sin(x_i) x_{n-1-i}, anti-diagonal
    # cos(x_i) + cos(x_{n-1-i}) (twice on the centre, which n = 6 does not have)
    exact = np.diag(-np.sin(xn) * xn[::-1])
    exact[np.arange(6), np.arange(6)[::-1]] += np.cos(xn) + np.cos(xn[::-1])
    h = anydiff.prepare_hessian(backend, f, x, batch_size=4, symmetrize=True)(x)
    h = _arrays.ops_for(h).to_numpy(h)
    np.testing.assert_allclose(h, exact, rtol=1e-12, atol=1e-12)
    assert np.array_equal(h, h.T)
