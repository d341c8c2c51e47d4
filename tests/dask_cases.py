"""Functions for the Dask tests, importable by the worker processes."""

from __future__ import annotations

from typing import Any

import numpy as np


def lotka_volterra(z: Any) -> Any:
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return np.stack([a * x - b * x * y, c * x * y - d * y])


def lotka_volterra_jax(z: Any) -> Any:
    import jax.numpy as jnp

    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return jnp.stack([a * x - b * x * y, c * x * y - d * y])


def lotka_volterra_torch(z: Any) -> Any:
    import torch

    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return torch.stack([a * x - b * x * y, c * x * y - d * y])


def fails_on_negative(z: Any) -> Any:
    if float(z[0]) < -0.5:
        raise ValueError("negative state")
    return z * z


def preparations() -> int:
    from anydiff.operators._dask import preparations

    return preparations()


def set_x64(enabled: bool) -> None:
    import jax

    jax.config.update("jax_enable_x64", enabled)
