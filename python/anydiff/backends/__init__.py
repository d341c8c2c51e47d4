"""Backends: each implements one primitive; the API derives every operator from it.

JAX and torch are imported only when their backend is created.
"""

from anydiff._contract import (
    AbstractBackend,
    AbstractFiniteDifference,
    AbstractForwardMode,
    AbstractReverseMode,
)
from anydiff.backends.callback import CallbackBackend
from anydiff.backends.dual import DualBackend
from anydiff.backends.finite_diff import FiniteDifferences
from anydiff.backends.higher_order import HigherOrderBackend
from anydiff.backends.jax import JaxBackend
from anydiff.backends.sparse import SparseBackend
from anydiff.backends.torch import TorchBackend

__all__ = [
    "AbstractBackend",
    "AbstractFiniteDifference",
    "AbstractForwardMode",
    "AbstractReverseMode",
    "CallbackBackend",
    "DualBackend",
    "FiniteDifferences",
    "HigherOrderBackend",
    "JaxBackend",
    "SparseBackend",
    "TorchBackend",
    "available",
]


def available() -> dict[str, bool]:
    """Which optional frameworks are importable: ``{"jax": bool, "torch": bool}``."""
    import importlib.util

    return {name: importlib.util.find_spec(name) is not None for name in ("jax", "torch")}
