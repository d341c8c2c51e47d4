"""Shared helpers: a framework-neutral namespace for test functions, backend factories,
and comparison of (possibly nested) results of any array kind."""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Callable, Optional

import numpy as np
import pytest

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None

if HAS_JAX:
    import jax

    jax.config.update("jax_enable_x64", True)


# --- a tiny namespace shim: one function definition serves numpy, JAX and torch ----------


class _Numpy:
    name = "numpy"
    sin, cos, exp, tanh = np.sin, np.cos, np.exp, np.tanh

    @staticmethod
    def sum(a: Any) -> Any:
        return np.sum(a)

    @staticmethod
    def stack(arrays: Any) -> Any:
        return np.stack(arrays)

    @staticmethod
    def reshape(a: Any, shape: tuple) -> Any:
        return np.reshape(a, shape)

    @staticmethod
    def const(c: Any, like: Any) -> Any:
        return np.asarray(c, dtype=np.result_type(like))


class _Jax:
    name = "jax"

    def __init__(self) -> None:
        import jax.numpy as jnp

        self.jnp = jnp
        self.sin, self.cos, self.exp, self.tanh = jnp.sin, jnp.cos, jnp.exp, jnp.tanh

    def sum(self, a: Any) -> Any:
        return self.jnp.sum(a)

    def stack(self, arrays: Any) -> Any:
        return self.jnp.stack(arrays)

    def reshape(self, a: Any, shape: tuple) -> Any:
        return self.jnp.reshape(a, shape)

    def const(self, c: Any, like: Any) -> Any:
        return self.jnp.asarray(c, dtype=like.dtype)


class _Torch:
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.sin, self.cos, self.exp, self.tanh = torch.sin, torch.cos, torch.exp, torch.tanh

    def sum(self, a: Any) -> Any:
        return self.torch.sum(a)

    def stack(self, arrays: Any) -> Any:
        return self.torch.stack(list(arrays))

    def reshape(self, a: Any, shape: tuple) -> Any:
        return self.torch.reshape(a, shape)

    def const(self, c: Any, like: Any) -> Any:
        return self.torch.as_tensor(np.asarray(c), dtype=like.dtype, device=like.device)


_SHIMS: dict[str, Any] = {}


def ns(x: Any) -> Any:
    """The namespace for the kind of ``x`` (numpy, JAX array/tracer, or torch tensor)."""
    module = type(x).__module__
    kind = (
        "jax"
        if module.startswith(("jax", "jaxlib"))
        else "torch"
        if module.startswith("torch")
        else "numpy"
    )
    if kind not in _SHIMS:
        _SHIMS[kind] = {"numpy": _Numpy, "jax": _Jax, "torch": _Torch}[kind]()
    return _SHIMS[kind]


# --- results -----------------------------------------------------------------------------


def to_numpy(a: Any) -> np.ndarray:
    """Any array kind (or Python scalar) as a numpy array."""
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def assert_close(
    got: Any, want: Any, rtol: float, atol: float | None = None, path: str = ""
) -> None:
    """Compare nested tuples of arrays leaf by leaf: structure, shape and values."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple), (
            f"{path}: expected a tuple of {len(want)}, got {type(got).__name__}"
        )
        assert len(got) == len(want), f"{path}: expected {len(want)} entries, got {len(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, rtol, atol, f"{path}[{i}]")
        return
    g, w = to_numpy(got), np.asarray(want)
    assert g.shape == w.shape, f"{path}: shape {g.shape}, expected {w.shape}"
    np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol if atol is None else atol, err_msg=path)


def leaves(a: Any) -> list:
    """The arrays of a nested tuple."""
    if isinstance(a, tuple):
        return [leaf for item in a for leaf in leaves(item)]
    return [a]


def assert_kind(result: Any, kind: str) -> None:
    """Every array of ``result`` is of ``kind`` (numpy results may be numpy scalars)."""
    for leaf in leaves(result):
        if kind == "numpy":
            assert isinstance(leaf, (np.ndarray, np.generic)), type(leaf)
        elif kind == "jax":
            import jax

            assert isinstance(leaf, jax.Array), type(leaf)
        else:
            import torch

            assert isinstance(leaf, torch.Tensor), type(leaf)


# --- backends ----------------------------------------------------------------------------


def need(name: str) -> Any:
    return pytest.importorskip(name)


def jax_backend(mode: str) -> Callable[[], Any]:
    def make() -> Any:
        need("jax")
        import anydiff

        return anydiff.JaxBackend(mode)

    return make


def torch_backend(mode: str) -> Callable[[], Any]:
    def make() -> Any:
        need("torch")
        import anydiff

        return anydiff.TorchBackend(mode)

    return make


EXACT_FIRST_ORDER = {
    "jax-fwd": jax_backend("forward"),
    "jax-rev": jax_backend("reverse"),
    "torch-fwd": torch_backend("forward"),
    "torch-rev": torch_backend("reverse"),
}


def gpu_adapter() -> Optional[dict]:
    """The GPU adapter anydiff would use (None without one); with ANYDIFF_REQUIRE_GPU set
    a missing adapter is an error instead, so CI cannot skip the GPU tests silently."""
    from anydiff import _core

    if not hasattr(_core, "gpu_adapter"):
        return None  # built without the gpu feature
    try:
        return _core.gpu_adapter()
    except _core.GpuUnavailable:
        if os.environ.get("ANYDIFF_REQUIRE_GPU"):
            raise
        return None


def pytest_collection_modifyitems(config: Any, items: list) -> None:
    """Tests marked ``gpu`` need a real GPU: skipped on software adapters (lavapipe)."""
    adapter = gpu_adapter()
    if adapter is not None and adapter["device_type"] != "Cpu":
        return
    reason = "needs a real GPU (found: %s)" % (adapter["name"] if adapter else "no adapter")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
