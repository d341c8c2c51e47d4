"""Option names accepted by the API, as ``Literal`` aliases with one validator each."""

from __future__ import annotations

from typing import Any, Literal, Sequence, TypeVar

import numpy as np

__all__ = ["FiniteDifferenceMethod", "Mode", "check_dtype", "check_option"]

Mode = Literal["forward", "reverse"]
"""Direction of a first-order backend: JVPs (``forward``) or VJPs (``reverse``)."""

MODES: tuple[Mode, ...] = ("forward", "reverse")

FiniteDifferenceMethod = Literal["forward", "central", "central5"]
"""Finite-difference stencils: one-sided (order 1), central (order 2), 5-point central (order 4)."""

FINITE_DIFFERENCE_METHODS: tuple[FiniteDifferenceMethod, ...] = ("forward", "central", "central5")

_T = TypeVar("_T", bound=str)


def check_option(name: str, value: object, accepted: Sequence[_T]) -> _T:
    """Return ``value`` if it is one of ``accepted``, else raise a ValueError listing them."""
    if value not in accepted:
        choices = ", ".join(repr(a) for a in accepted)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}")
    return value  # type: ignore[return-value]


def check_dtype(name: str, value: Any, accepted: Sequence[str] = ("float32", "float64")) -> str:
    """The name of the dtype ``value`` denotes (anything ``np.dtype()`` accepts: ``"float32"``,
    ``np.float64``, ``np.dtype("f4")``; or a torch dtype), if it is one of ``accepted``."""
    dtype = None
    if value is not None:
        try:
            dtype = np.dtype(value)
        except TypeError:
            text = str(value)
            if text.startswith("torch."):  # torch.float32
                dtype = np.dtype(getattr(np, text.removeprefix("torch."), object))
    if dtype is None or dtype.name not in accepted:
        choices = ", ".join(repr(a) for a in accepted)
        got = repr(value) if dtype is None else f"{value!r} ({dtype.name})"
        raise ValueError(f"{name} must be a dtype np.dtype() accepts, one of {choices}; got {got}")
    return dtype.name
