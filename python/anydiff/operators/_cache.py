"""Plans kept for the unprepared calls: ``jacobian(b, f, x)`` prepares once per function,
backend and argument signature (the 64 most recent), as ``jax.jit`` keeps compilations."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, TypeVar

from anydiff._contract import Function
from anydiff._signature import Constant, _describe

__all__ = ["CACHE_SIZE", "cached_plan"]

P = TypeVar("P")

CACHE_SIZE = 64
"""How many plans the unprepared calls keep."""

_CACHE: OrderedDict[Any, Any] = OrderedDict()


def cached_plan(op: type[P], b: Any, f: Function, args: tuple) -> P:
    """A plan of operator ``op`` for ``(b, f, args)``, reused while f, backend and the
    signature of ``args`` match; prepared anew for unhashable arguments."""
    try:
        key = (
            op,
            b,
            f,
            tuple(_describe(a) for a in args),
            tuple(isinstance(a, Constant) for a in args),
        )
        hash(key)
    except TypeError:
        return op(b, f, *args)
    plan = _CACHE.get(key)
    if plan is None:
        plan = _CACHE[key] = op(b, f, *args)
        if len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return plan
