"""Flattening between structured arrays and the flat vectors the Rust core assembles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from anydiff._arrays import ArrayOps
from anydiff._tree import is_multi, leaves, rebuild

__all__ = ["Layout"]


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)


@dataclass(frozen=True)
class Layout:
    """Shapes of one array or a tuple of arrays, and their place in one flat vector."""

    shapes: tuple[tuple[int, ...], ...]
    multi: bool
    sizes: tuple[int, ...] = field(init=False, repr=False)
    offsets: tuple[int, ...] = field(init=False, repr=False)
    size: int = field(init=False)

    def __post_init__(self) -> None:
        sizes = tuple(math.prod(s) for s in self.shapes)
        offsets = tuple(int(o) for o in np.cumsum((0, *sizes))[:-1])
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "size", sum(sizes))

    @classmethod
    def of(cls, value: Any) -> Layout:
        """The layout of ``value`` (an array, a scalar, or a tuple/list of them)."""
        return cls(tuple(_shape(a) for a in leaves(value)), is_multi(value))

    @property
    def shape(self) -> tuple[int, ...]:
        """The single shape; only for a layout of one array."""
        return self.shapes[0]

    def flatten(self, ops: ArrayOps, value: Any) -> Any:
        """Structured value -> vector of ``size``."""
        parts = [p.reshape(-1) for p in leaves(value)]
        return parts[0] if len(parts) == 1 else ops.concat(parts, 0)

    def split(self, v: Any) -> Any:
        """Vector of ``size`` -> structured value."""
        if len(self.shapes) == 1:  # hot path of prepared calls: no slicing
            return (v.reshape(self.shapes[0]),) if self.multi else v.reshape(self.shapes[0])
        parts = [v[o : o + s].reshape(shape) for o, s, shape in self._spans()]
        return rebuild(parts, self.multi)

    def flatten_rows(self, ops: ArrayOps, value: Any, k: int) -> Any:
        """Batch-leading structured value -> k x size matrix."""
        # explicit sizes: reshape(k, -1) is ambiguous for empty arrays
        parts = [p.reshape(k, s) for p, s in zip(leaves(value), self.sizes)]
        return parts[0] if len(parts) == 1 else ops.concat(parts, 1)

    def split_rows(self, m: Any, k: int) -> Any:
        """k x size matrix -> batch-leading structured value."""
        parts = [m[:, o : o + s].reshape((k, *shape)) for o, s, shape in self._spans()]
        return rebuild(parts, self.multi)

    def split_columns(self, m: Any, lead: tuple[int, ...]) -> Any:
        """r x size matrix -> structure whose arrays have shape ``lead + shape_i``."""
        parts = [m[:, o : o + s].reshape(lead + shape) for o, s, shape in self._spans()]
        return rebuild(parts, self.multi)

    def _spans(self) -> zip:
        return zip(self.offsets, self.sizes, self.shapes)
