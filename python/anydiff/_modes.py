"""Option names accepted by the API, as ``Literal`` aliases with one validator each."""

from __future__ import annotations

from typing import Literal, Sequence, TypeVar

__all__ = ["FiniteDifferenceMethod", "Mode", "check_option"]

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
