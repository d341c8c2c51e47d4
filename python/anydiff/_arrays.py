"""Array kinds (numpy, JAX, torch): conversion and the few operations derived code needs.

The generic operators never branch on a framework: they call the ``ArrayOps`` of the
backend (for the arrays that backend computes with) or of the user's input (for results).
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any, Callable, Sequence

import numpy as np

from anydiff._errors import BackendUnavailableError

__all__ = [
    "ArrayOps",
    "JaxOps",
    "NumpyOps",
    "cast",
    "TorchOps",
    "dtype_of",
    "import_framework",
    "kind_name",
    "ops_for",
    "ops_named",
    "own_array",
    "to_host",
    "user_stacklevel",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised by the caller of this function name
    the first frame outside anydiff: the user's own call, however deep inside the package
    the warning is raised."""
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


_EXTRA = {"jax": "anydiff[jax]", "torch": "anydiff[torch]"}


def import_framework(name: str) -> Any:
    """Import ``jax`` or ``torch``, or raise BackendUnavailableError naming the extra."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise BackendUnavailableError(
            f"this backend needs {name}, which is not installed: pip install '{_EXTRA[name]}'"
        ) from err


class ArrayOps:
    """Operations on one kind of array; the numpy implementation is the base."""

    name = "numpy"

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is an array of this kind."""
        return isinstance(x, np.ndarray)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        """``x`` (numpy, Python scalar or this kind) as an array of this kind."""
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        """A host numpy view (or copy where needed) of ``a``."""
        return np.asarray(a)

    def from_numpy(self, a: np.ndarray, like: Any = None) -> Any:
        """``a`` as this kind, on the device of ``like``."""
        return a

    def canonical_dtype(self, dtype: np.dtype) -> np.dtype:
        """The float dtype this kind computes with for inputs of ``dtype``."""
        return np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)

    def concat(self, arrays: Sequence[Any], axis: int) -> Any:
        """Concatenate along ``axis``."""
        return np.concatenate(arrays, axis=axis)

    def stack(self, arrays: Sequence[Any]) -> Any:
        """Stack along a new leading axis."""
        return np.stack(arrays)

    def basis(self, n: int, start: Any, k: int, dtype: np.dtype, like: Any = None) -> Any:
        """Rows ``e_start .. e_{start+k-1}`` of the n x n identity, a k x n array."""
        return np.eye(k, n, int(start), dtype=dtype)

    def ones(self, shape: tuple[int, ...], dtype: np.dtype, like: Any = None) -> Any:
        """An array of ones."""
        return np.ones(shape, dtype=dtype)

    def is_host(self, a: Any) -> bool:
        """Whether ``a`` lives in host memory (so Rust may read it without a transfer)."""
        return True

    def compile(self, fn: Callable[..., Any], static_argnums: tuple[int, ...] = ()) -> Callable:
        """A compiled version of ``fn`` (identity where the framework has no compiler)."""
        return fn


class NumpyOps(ArrayOps):
    """numpy arrays and Python scalars."""


class JaxOps(ArrayOps):
    """JAX arrays; compiled with ``jax.jit``."""

    name = "jax"

    def __init__(self) -> None:
        self.jax = import_framework("jax")
        self.jnp = self.jax.numpy

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.jax.Array)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        return self.jnp.asarray(x, dtype=dtype)

    def to_numpy(self, a: Any) -> np.ndarray:
        if self.owns(a) and self.is_host(a):
            return np.from_dlpack(a)  # a view of the CPU buffer; np.asarray would copy
        return np.asarray(a)

    def from_numpy(self, a: np.ndarray, like: Any = None) -> Any:
        # device_put may alias the numpy buffer on CPU, where jnp.asarray always copies.
        if like is not None and self.owns(like):
            return self.jax.device_put(a, like.sharding)
        return self.jax.device_put(a)

    def canonical_dtype(self, dtype: np.dtype) -> np.dtype:
        base = super().canonical_dtype(dtype)
        got = np.dtype(self.jax.dtypes.canonicalize_dtype(base))
        if got != base and not JaxOps._warned_x64:
            JaxOps._warned_x64 = True
            warnings.warn(
                f"{base} inputs are computed in {got} by JAX, whose 64-bit mode is off: the "
                f"derivatives are {got}-accurate; call "
                'jax.config.update("jax_enable_x64", True) first for float64 derivatives',
                UserWarning,
                stacklevel=user_stacklevel(),
            )
        return got

    _warned_x64 = False

    def concat(self, arrays: Sequence[Any], axis: int) -> Any:
        return self.jnp.concatenate(arrays, axis=axis)

    def stack(self, arrays: Sequence[Any]) -> Any:
        return self.jnp.stack(arrays)

    def basis(self, n: int, start: Any, k: int, dtype: np.dtype, like: Any = None) -> Any:
        # ``start`` may be traced, so compare index grids instead of calling eye(k=start).
        rows = self.jnp.arange(k)[:, None] + start
        return (rows == self.jnp.arange(n)[None, :]).astype(dtype)

    def ones(self, shape: tuple[int, ...], dtype: np.dtype, like: Any = None) -> Any:
        return self.jnp.ones(shape, dtype=dtype)

    def is_host(self, a: Any) -> bool:
        return all(d.platform == "cpu" for d in a.devices())

    def compile(self, fn: Callable[..., Any], static_argnums: tuple[int, ...] = ()) -> Callable:
        return self.jax.jit(fn, static_argnums=static_argnums)


class TorchOps(ArrayOps):
    """torch tensors; results stay on the input tensor's device."""

    name = "torch"

    def __init__(self) -> None:
        self.torch = import_framework("torch")

    def owns(self, x: Any) -> bool:
        return isinstance(x, self.torch.Tensor)

    def _torch_dtype(self, dtype: Any) -> Any:
        if dtype is None or isinstance(dtype, self.torch.dtype):
            return dtype
        return getattr(self.torch, np.dtype(dtype).name)

    def asarray(self, x: Any, dtype: Any = None) -> Any:
        if isinstance(x, np.ndarray) and any(st < 0 for st in x.strides):
            x = np.ascontiguousarray(x)  # torch has no negative strides (a flipped view)
        return self.torch.as_tensor(x, dtype=self._torch_dtype(dtype))

    def to_numpy(self, a: Any) -> np.ndarray:
        return a.detach().cpu().numpy()

    def from_numpy(self, a: np.ndarray, like: Any = None) -> Any:
        if not (a.flags.c_contiguous and a.flags.writeable):
            a = a.copy()  # torch.from_numpy wants a writable buffer (0-d stays 0-d)
        t = self.torch.from_numpy(a)
        if like is not None and self.owns(like) and like.device.type != "cpu":
            t = t.to(like.device)
        return t

    def concat(self, arrays: Sequence[Any], axis: int) -> Any:
        return self.torch.cat(list(arrays), dim=axis)

    def stack(self, arrays: Sequence[Any]) -> Any:
        return self.torch.stack(list(arrays))

    def basis(self, n: int, start: Any, k: int, dtype: np.dtype, like: Any = None) -> Any:
        device = like.device if like is not None and self.owns(like) else None
        eye = self.torch.zeros((k, n), dtype=self._torch_dtype(dtype), device=device)
        idx = self.torch.arange(k, device=device)
        eye[idx, idx + int(start)] = 1
        return eye

    def ones(self, shape: tuple[int, ...], dtype: np.dtype, like: Any = None) -> Any:
        device = like.device if like is not None and self.owns(like) else None
        return self.torch.ones(shape, dtype=self._torch_dtype(dtype), device=device)

    def is_host(self, a: Any) -> bool:
        return a.device.type == "cpu"


_OPS: dict[str, ArrayOps] = {}
_CLASSES: dict[str, type[ArrayOps]] = {"numpy": NumpyOps, "jax": JaxOps, "torch": TorchOps}


def ops_named(name: str) -> ArrayOps:
    """The (cached) ``ArrayOps`` for ``numpy``, ``jax`` or ``torch``."""
    ops = _OPS.get(name)
    if ops is None:
        ops = _OPS[name] = _CLASSES[name]()
    return ops


def kind_name(x: Any) -> str:
    """``jax``, ``torch`` or ``numpy`` for an array or scalar, without importing frameworks."""
    module = type(x).__module__
    if module.startswith(("jax", "jaxlib")):
        return "jax"
    if module.startswith("torch"):
        return "torch"
    return "numpy"


def dtype_of(a: Any) -> np.dtype:
    """The numpy dtype of an array of any kind, or of a Python scalar."""
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        return np.asarray(a).dtype
    if isinstance(dtype, np.dtype):
        return dtype
    return np.dtype(str(dtype).removeprefix("torch."))


def cast(a: Any, dtype: np.dtype) -> Any:
    """``a`` (an array of any kind, or a tracer) as ``dtype``, unchanged when it already is."""
    if dtype_of(a) == dtype:
        return a
    if hasattr(a, "astype"):  # numpy, JAX, anydiff's tracers
        return a.astype(dtype)
    if hasattr(a, "to"):  # torch
        return a.to(getattr(import_framework("torch"), np.dtype(dtype).name))
    return np.asarray(a, dtype=dtype)


def to_host(a: Any) -> np.ndarray:
    """Any array (numpy, JAX, torch on any device) or scalar as a host numpy array."""
    return ops_for(a).to_numpy(a)


def ops_for(x: Any) -> ArrayOps:
    """The ``ArrayOps`` of the kind of ``x``."""
    return ops_named(kind_name(x))


def own_array(ops: ArrayOps, x: Any, dtype: Any) -> Any:
    """``x`` as an array of ``ops``' kind (of ``dtype`` when converted): an outer backend
    that evaluates an inner derivative as a black box (finite differences) passes its own."""
    if ops.owns(x):
        return x
    return ops.asarray(ops_for(x).to_numpy(x), dtype=dtype)
