"""Exceptions raised by anydiff.

Every exception subclasses a built-in type so that ``except ValueError`` keeps working.
"""

from __future__ import annotations

from anydiff._core import ShapeError

__all__ = [
    "BackendUnavailableError",
    "PreparationMismatchError",
    "ShapeError",
    "UnsupportedOperationError",
]


class BackendUnavailableError(ImportError):
    """Raised when a backend's framework (JAX, torch) is not installed.

    The message names the pip extra that installs it.
    """


class PreparationMismatchError(ValueError):
    """Raised when a prepared plan is called with arguments unlike those it was prepared for.

    The message lists every argument with what the plan expected and what came.
    """


class UnsupportedOperationError(TypeError):
    """Raised when a backend cannot provide what an operator needs.

    For example reverse-mode products from a backend built only on a ``jvp`` callback.
    """
