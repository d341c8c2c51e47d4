"""One function, every backend: the Jacobian of a small MLP, computed six ways.

Run: python examples/switch_backends.py
"""

from __future__ import annotations

import numpy as np

import anydiff

N = 8
rng = np.random.default_rng(0)
W1 = rng.normal(0.0, 1.0 / np.sqrt(N), (N, N))
W2 = rng.normal(0.0, 1.0 / np.sqrt(N), (N, N))
x = rng.normal(size=N)


def mlp_numpy(x: np.ndarray) -> np.ndarray:
    return W2 @ np.tanh(W1 @ x) + np.sin(x)


def exact_jacobian(x: np.ndarray) -> np.ndarray:
    return W2 @ np.diag(1.0 - np.tanh(W1 @ x) ** 2) @ W1 + np.diag(np.cos(x))


def main() -> None:
    backends: dict[str, tuple[anydiff.AbstractBackend, object]] = {
        "FiniteDifferences()": (anydiff.FiniteDifferences(), mlp_numpy),
        "FiniteDifferences('central5')": (anydiff.FiniteDifferences("central5"), mlp_numpy),
        "CallbackBackend(jacobian=...)": (
            anydiff.CallbackBackend(jacobian=exact_jacobian),
            mlp_numpy,
        ),
    }
    available = anydiff.backends.available()
    if available["jax"]:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def mlp_jax(x):
            return jnp.asarray(W2) @ jnp.tanh(jnp.asarray(W1) @ x) + jnp.sin(x)

        backends["JaxBackend('forward')"] = (anydiff.JaxBackend("forward"), mlp_jax)
        backends["JaxBackend('reverse')"] = (anydiff.JaxBackend("reverse"), mlp_jax)
    if available["torch"]:
        import torch

        w1, w2 = torch.from_numpy(W1), torch.from_numpy(W2)

        def mlp_torch(x):
            return w2 @ torch.tanh(w1 @ x) + torch.sin(x)

        backends["TorchBackend('reverse')"] = (anydiff.TorchBackend("reverse"), mlp_torch)

    truth = exact_jacobian(x)
    for name, (backend, f) in backends.items():
        jac = anydiff.jacobian(backend, f, x)  # the only line that names a backend
        print(f"{name:32s} max |J - J_exact| = {np.abs(np.asarray(jac) - truth).max():.2e}")


if __name__ == "__main__":
    main()
