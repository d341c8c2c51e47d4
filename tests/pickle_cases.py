"""Plans of every kind, built from importable functions, for the pickle round-trip test
(``test_pickle.py``): imported by the test and by the fresh process that unpickles."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import anydiff as ad
from anydiff import Constant


def coupled(x: Any) -> Any:
    """A coupled vector function, written once for numpy, JAX and torch arrays."""
    return x * (x.sum() - x) + 0.5 * x * x


def energy(x: Any) -> Any:
    """A scalar function of a vector (gradients, Hessians)."""
    return (x[0] * x[1] + x[1] * x[2]) * x[0] + (x * x).sum() * 0.25


def scaled(x: Any, c: Any) -> Any:
    """A function with a constant argument."""
    return x * x * c


def chain(x: Any) -> Any:
    """A banded function (sparse Jacobian)."""
    return x[1:] * x[:-1] + x[1:]


def square_jvp(x: Any, v: Any) -> Any:
    return 2 * x * v


X3 = np.array([0.7, -1.3, 2.1])
X6 = np.linspace(-1.0, 1.5, 6)
POINTS = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def cases() -> list[tuple[str, Any, tuple]]:
    """``(name, plan, call arguments)`` for every plan kind."""
    import jax
    import jax.numpy as jnp
    import torch

    jax.config.update("jax_enable_x64", True)
    numpy_backends = {
        "dual": ad.DualBackend(),
        "fd": ad.FiniteDifferences(),
    }
    out: list[tuple[str, Any, tuple]] = []
    frameworks: list[tuple[str, Any, Callable]] = [
        ("jax", ad.JaxBackend(), jnp.asarray),
        ("torch", ad.TorchBackend(), torch.as_tensor),
        *[(n, b, np.asarray) for n, b in numpy_backends.items()],
    ]
    for name, b, arr in frameworks:
        x, xs = arr(X3), arr(POINTS)
        out += [
            (f"{name}-jacobian", ad.prepare_jacobian(b, coupled, x), (x,)),
            (f"{name}-gradient", ad.prepare_gradient(b, energy, x), (x,)),
            (f"{name}-hessian", ad.prepare_hessian(b, energy, x), (x,)),
            (f"{name}-hvp", ad.prepare_hvp(b, energy, x), (x, "v", x)),
            (f"{name}-pushforward", ad.prepare_pushforward(b, coupled, x), (x, "tangent", x)),
            (
                f"{name}-constant",
                ad.prepare_jacobian(b, scaled, x, Constant(2.5)),
                (x, Constant(2.5)),
            ),
            (f"{name}-batch-jacobian", ad.BatchPlan("jacobian", b, coupled, xs), (xs,)),
            (f"{name}-batch-hessian", ad.BatchPlan("hessian", b, energy, xs), (xs,)),
        ]
        if name != "fd":
            out.append((f"{name}-pullback", ad.prepare_pullback(b, coupled, x), (x, "tangent", x)))
    x6 = np.asarray(X6)
    for name, inner in [("dual", ad.DualBackend()), ("jax", ad.JaxBackend())]:
        sparse = ad.SparseBackend(inner)
        v = x6 if name == "dual" else jnp.asarray(x6)
        out += [
            (f"sparse-{name}-jacobian", ad.prepare_jacobian(sparse, chain, v), (v,)),
            (f"sparse-{name}-hessian", ad.prepare_hessian(sparse, energy, v[:3]), (v[:3],)),
        ]
    known = ad.SparseBackend(
        ad.DualBackend(), detector=ad.KnownPattern(np.eye(5, 6, 1) + np.eye(5, 6))
    )
    out.append(("sparse-known-jacobian", ad.prepare_jacobian(known, chain, x6), (x6,)))
    callback = ad.CallbackBackend(jvp=square_jvp)
    out.append(("callback-jacobian", ad.prepare_jacobian(callback, np.square, X3), (X3,)))
    return out


def as_numpy(value: Any) -> Any:
    """A result as numpy arrays (dense), for comparisons across processes."""
    if isinstance(value, (tuple, list)):
        return [as_numpy(v) for v in value]
    if hasattr(value, "toarray"):
        return np.asarray(value.toarray())
    if hasattr(value, "todense"):
        return np.asarray(value.todense())
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def run(plan: Any, args: tuple) -> Any:
    """The plan evaluated at ``args``; ``(x, "v", v)`` is an HVP with ``v``, ``(x, "tangent",
    t)`` the pushforward or pullback at ``x`` applied to ``t``."""
    if len(args) == 3 and args[1] == "v":
        return as_numpy(plan(args[0], v=args[2]))
    if len(args) == 3 and args[1] == "tangent":
        return as_numpy(plan(args[0])(args[2]))
    return as_numpy(plan(*args))
