"""float32 stays float32; results come back as the kind of the user's input."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import anydiff
from conftest import assert_close, assert_kind, jax_backend, ns, to_numpy, torch_backend


def f_scalar(x):
    N = ns(x)
    return N.sum(N.sin(x) * x)


def f_vector(x):
    N = ns(x)
    return N.exp(x) * x[0]


def grad_scalar(x):
    return np.cos(x) * x + np.sin(x)


def hess_scalar(x):
    return np.diag(2 * np.cos(x) - x * np.sin(x))


def jac_vector(x):
    j = np.diag(np.exp(x) * x[0])
    j[:, 0] += np.exp(x)
    return j


X = np.array([0.3, -0.8, 1.1])
V = np.array([1.0, -0.5, 0.25])

BACKENDS: dict[str, Callable[[], Any]] = {
    "jax-fwd": jax_backend("forward"),
    "jax-rev": jax_backend("reverse"),
    "torch-fwd": torch_backend("forward"),
    "torch-rev": torch_backend("reverse"),
    "fd": lambda: anydiff.FiniteDifferences(),
    "fd-central5": lambda: anydiff.FiniteDifferences("central5"),
}


def convert(x: np.ndarray, kind: str) -> Any:
    if kind == "numpy":
        return x
    if kind == "jax":
        jnp = pytest.importorskip("jax.numpy")
        return jnp.asarray(x)
    torch = pytest.importorskip("torch")
    return torch.as_tensor(x)


def _dtype(a: Any) -> np.dtype:
    return to_numpy(a).dtype


# --- float32 -------------------------------------------------------------------------------

OPS32 = {
    "gradient": lambda b, x: (anydiff.gradient(b, f_scalar, x), grad_scalar(X)),
    "jacobian": lambda b, x: (anydiff.jacobian(b, f_vector, x), jac_vector(X)),
    "hessian": lambda b, x: (anydiff.hessian(b, f_scalar, x), hess_scalar(X)),
    "pushforward": lambda b, x: (
        anydiff.pushforward_function(b, f_vector, x)(convert(V.astype(np.float32), _kind(x))),
        jac_vector(X) @ V,
    ),
    "pullback": lambda b, x: (
        anydiff.pullback_function(b, f_vector, x)(convert(V.astype(np.float32), _kind(x))),
        V @ jac_vector(X),
    ),
    "value_and_gradient": lambda b, x: (
        anydiff.value_and_gradient(b, f_scalar, x),
        (np.sum(np.sin(X) * X), grad_scalar(X)),
    ),
    "derivative": lambda b, x: (
        anydiff.derivative(b, lambda t: ns(t).sin(t) * t, x[0]),
        np.cos(X[0]) * X[0] + np.sin(X[0]),
    ),
}


def _kind(x: Any) -> str:
    module = type(x).__module__
    return (
        "jax"
        if module.startswith(("jax", "jaxlib"))
        else "torch"
        if module.startswith("torch")
        else "numpy"
    )


@pytest.mark.parametrize("kind", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("op", list(OPS32))
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_float32_stays_float32(backend: str, op: str, kind: str) -> None:
    b = BACKENDS[backend]()
    x = convert(X.astype(np.float32), kind)
    got, want = OPS32[op](b, x)
    for leaf in got if isinstance(got, tuple) else (got,):
        assert _dtype(leaf) == np.float32, f"{op} returned {_dtype(leaf)} for float32 input"
    assert_kind(got, kind)
    fd = backend.startswith("fd")
    tol = (5e-2 if op == "hessian" else 2e-3) if fd else 1e-5
    assert_close(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_float32_plan_rejects_float64(backend: str) -> None:
    b = BACKENDS[backend]()
    plan = anydiff.prepare_gradient(b, f_scalar, X.astype(np.float32))
    with pytest.raises(anydiff.PreparationMismatchError, match=r"float32.*float64"):
        plan(X)


# --- result kinds ----------------------------------------------------------------------


def _callback() -> Any:
    return anydiff.CallbackBackend(jacobian=lambda x: jac_vector(np.asarray(x)))


KIND_BACKENDS: dict[str, Callable[[], Any]] = {
    **BACKENDS,
    "callback": _callback,
    "ho-jax": lambda: anydiff.HigherOrderBackend(
        (jax_backend("forward")(), jax_backend("reverse")())
    ),
    "ho-fd-torch": lambda: anydiff.HigherOrderBackend(
        (anydiff.FiniteDifferences(), torch_backend("reverse")())
    ),
}


@pytest.mark.parametrize("kind", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("backend", list(KIND_BACKENDS))
def test_result_kind_follows_input(backend: str, kind: str) -> None:
    b = KIND_BACKENDS[backend]()
    x = convert(X, kind)
    v = convert(V, kind)
    results = {
        "jacobian": (anydiff.jacobian(b, f_vector, x), jac_vector(X)),
        "value_and_jacobian": (
            anydiff.value_and_jacobian(b, f_vector, x),
            (np.exp(X) * X[0], jac_vector(X)),
        ),
        "pushforward": (anydiff.jvp(b, f_vector, x, v), jac_vector(X) @ V),
        "pullback": (anydiff.vjp(b, f_vector, x, v), V @ jac_vector(X)),
        "lazy": (anydiff.lazy_jacobian(b, f_vector, x) @ v, jac_vector(X) @ V),
        "lazy_T": (v @ anydiff.lazy_jacobian(b, f_vector, x), V @ jac_vector(X)),
    }
    if backend != "callback":
        results["gradient"] = (anydiff.gradient(b, f_scalar, x), grad_scalar(X))
        results["hessian"] = (anydiff.hessian(b, f_scalar, x), hess_scalar(X))
        results["hvp"] = (anydiff.hvp(b, f_scalar, x, v), hess_scalar(X) @ V)
    tol = 1e-4 if "fd" in backend else 1e-10
    for name, (got, want) in results.items():
        assert_kind(got, kind)
        for leaf in got if isinstance(got, tuple) else (got,):
            assert _dtype(leaf) == np.float64, name
        assert_close(got, want, rtol=tol, atol=tol, path=name)


def test_python_float_input_gives_numpy() -> None:
    b = anydiff.FiniteDifferences()
    d = anydiff.derivative(b, lambda t: np.sin(t) * t, 0.5)
    assert isinstance(d, (np.ndarray, np.generic))
    assert np.isclose(d, np.cos(0.5) * 0.5 + np.sin(0.5), rtol=1e-6)
    val, d = anydiff.value_and_derivative(
        anydiff.CallbackBackend(jvp=lambda x, v: 2 * x * v), lambda t: t * t, 1.5
    )
    assert np.isclose(val, 2.25) and np.isclose(d, 3.0)


def test_torch_result_keeps_requires_grad_free_and_cpu() -> None:
    torch = pytest.importorskip("torch")
    x = torch.tensor(X, requires_grad=True)
    g = anydiff.gradient(anydiff.TorchBackend("reverse"), f_scalar, x)
    assert isinstance(g, torch.Tensor) and g.device.type == "cpu"
    np.testing.assert_allclose(g.detach().numpy(), grad_scalar(X), rtol=1e-12)


@pytest.mark.parametrize("kind", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_zero_dim_results_keep_shape(backend: str, kind: str) -> None:
    """Scalar values and scalar-input gradients come back 0-d, whatever the kinds."""
    b = BACKENDS[backend]()
    x = convert(X, kind)
    value, grad = anydiff.value_and_gradient(b, f_scalar, x)
    assert tuple(value.shape) == (), f"value of a scalar f has shape {tuple(value.shape)}"
    assert tuple(grad.shape) == (3,)
    t = convert(np.array(0.4), kind)
    square = lambda s: s * s  # noqa: E731
    for name, got in [
        ("gradient", anydiff.gradient(b, square, t)),
        ("derivative", anydiff.derivative(b, square, t)),
        ("value", anydiff.value_and_derivative(b, square, t)[0]),
        ("hessian", anydiff.hessian(b, square, t)),
    ]:
        assert_kind(got, kind)
        assert tuple(np.shape(to_numpy(got))) == (), (
            f"{name} of a 0-d input has shape {np.shape(got)}"
        )
        assert tuple(got.shape) == (), name
