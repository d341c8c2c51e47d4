"""SparseBackend's default detector (AutoDetector): traced patterns when f traces, valid
away from the preparation point; the local fallback otherwise, with a warning when large."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import anydiff
from anydiff import AutoDetector, LocalDetector, SparseBackend
from anydiff.ode import ode_jacobian
from conftest import HAS_TORCH, need


def branching(x: Any) -> Any:
    # at x < 0 the diagonal vanishes: a local detector there misses it (issue #18)
    return np.where(x > 0, x**2, 0.0 * x) + np.roll(x, 1)


def branching_truth(x: np.ndarray) -> np.ndarray:
    return np.diag(np.where(x > 0, 2 * x, 0.0)) + np.roll(np.eye(len(x)), 1, axis=0)


def test_default_is_auto_detector() -> None:
    backend = SparseBackend(anydiff.FiniteDifferences())
    assert isinstance(backend.detector, AutoDetector)
    assert repr(backend.detector) == (
        "AutoDetector(fallback=LocalDetector(points=3, scale=0.01, seed=0))"
    )
    with pytest.raises(TypeError, match="fallback must be an anydiff detector; got int"):
        AutoDetector(fallback=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("inner", ["fd", "dual", "jax"])
def test_default_pattern_is_global_for_traceable_f(inner: str) -> None:
    x0 = -np.linspace(1.0, 2.0, 6)  # every diagonal entry is zero here
    x1 = np.linspace(0.5, 1.5, 6)  # and nonzero here
    if inner == "jax":
        need("jax")
        import jax.numpy as jnp

        def f(x: Any) -> Any:
            return jnp.where(x > 0, x**2, 0.0 * x) + jnp.roll(x, 1)

        b: Any = anydiff.JaxBackend("forward")
    else:
        f = branching
        b = anydiff.FiniteDifferences() if inner == "fd" else anydiff.DualBackend()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        plan = anydiff.prepare_jacobian(SparseBackend(b), f, x0)
    J = plan(x1).toarray()
    np.testing.assert_allclose(J, branching_truth(x1), rtol=1e-6, atol=1e-8)
    if inner != "fd":
        need("jax")
        import jax

        want = np.asarray(
            jax.jacfwd(lambda x: jax.numpy.where(x > 0, x**2, 0.0 * x) + jax.numpy.roll(x, 1))(x1)
        )
        np.testing.assert_allclose(J, want, rtol=1e-12, atol=1e-14)
    # the local detector alone misses the diagonal: the reason for the default
    local = anydiff.prepare_jacobian(SparseBackend(b, detector=LocalDetector()), f, x0)
    assert local.pattern.nnz == 6


def test_default_hessian_pattern_is_global() -> None:
    def f(x: Any) -> Any:
        return np.sum(np.where(x > 0, x**3, 0.0 * x))

    x0, x1 = -np.ones(4), np.arange(1.0, 5.0)
    b = SparseBackend(
        anydiff.HigherOrderBackend((anydiff.FiniteDifferences(), anydiff.DualBackend()))
    )
    H = anydiff.prepare_hessian(b, f, x0)(x1).toarray()
    np.testing.assert_allclose(H, np.diag(6 * x1), rtol=1e-6)


def test_ode_jacobian_default_traces() -> None:
    def rhs(t: Any, y: Any, k: Any) -> Any:
        return -k * np.where(y > 0, y**2, 0.0 * y) + t * np.roll(y, 1)

    y0 = -np.ones(5)
    J = ode_jacobian(rhs, y0, 2.0, backend=anydiff.FiniteDifferences())
    y1 = np.linspace(0.1, 0.5, 5)
    got = J.jac(0.5, y1, 2.0).toarray()
    want = np.diag(-2.0 * 2 * y1) + 0.5 * np.roll(np.eye(5), 1, axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def not_traceable(x: Any) -> Any:
    if float(x[0]) > 100.0:  # a Python if on a value: the tracer refuses
        return x
    return np.sin(x) * 2.0


def test_fallback_is_local_and_quiet_when_small() -> None:
    x = np.linspace(0.0, 1.0, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = anydiff.jacobian(SparseBackend(anydiff.FiniteDifferences()), not_traceable, x)
    np.testing.assert_allclose(J.toarray(), np.diag(2 * np.cos(x)), rtol=1e-7, atol=1e-9)


def test_fallback_warns_when_dense_and_large() -> None:
    n = 1000  # 10^6 entries
    x = np.linspace(0.0, 1.0, n)

    b = SparseBackend(anydiff.CallbackBackend(jacobian=lambda x: np.diag(2.0 * np.cos(x))))
    with pytest.warns(UserWarning) as record:
        J = anydiff.jacobian(b, not_traceable, x)
    msgs = [str(w.message) for w in record if "default detector" in str(w.message)]
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert "1000 x 1000 Jacobian" in msg and " s)" in msg
    assert "TracerDetector()" in msg and "KnownPattern" in msg and "TraceError" in msg
    assert J.nnz == n


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_torch_function_falls_back() -> None:
    import torch

    x = torch.linspace(0.0, 1.0, 8, dtype=torch.float64)
    J = anydiff.jacobian(SparseBackend(anydiff.TorchBackend("forward")), torch.sin, x)
    np.testing.assert_allclose(J.toarray(), np.diag(np.cos(x.numpy())), rtol=1e-12)


def test_error_after_tracing_is_not_hidden_by_the_fallback(monkeypatch: Any) -> None:
    # only f failing on tracers means "probe instead"; a fault in anydiff's own pattern
    # step must surface, not quietly become the local detector
    from anydiff.detection import TracerDetector

    def broken(program: Any, hessian: bool) -> Any:
        raise RuntimeError("pattern step failed")

    monkeypatch.setattr(TracerDetector, "program_pattern", staticmethod(broken))
    with pytest.raises(RuntimeError, match="pattern step failed"):
        anydiff.prepare_jacobian(SparseBackend(anydiff.FiniteDifferences()), branching, np.ones(6))
