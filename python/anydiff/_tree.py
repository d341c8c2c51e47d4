"""The two output structures the API supports: one array, or a tuple/list of arrays."""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["is_multi", "leaves", "map_leaves", "rebuild"]


def is_multi(out: Any) -> bool:
    """Whether ``out`` is a tuple or list of arrays (several outputs)."""
    return isinstance(out, (tuple, list))


def leaves(out: Any) -> tuple[Any, ...]:
    """The arrays of ``out`` as a tuple."""
    return tuple(out) if is_multi(out) else (out,)


def rebuild(parts: tuple[Any, ...] | list[Any], multi: bool) -> Any:
    """Inverse of :func:`leaves`: a tuple when ``multi``, else the single array."""
    return tuple(parts) if multi else parts[0]


def map_leaves(fn: Callable[[Any], Any], out: Any) -> Any:
    """Apply ``fn`` to every array of ``out``, keeping the structure."""
    return tuple(fn(o) for o in out) if is_multi(out) else fn(out)
