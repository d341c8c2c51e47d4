"""The one registry of plans: which plan class computes an operator for a backend.

An operator is a plan class marked with :func:`operator` (``JacobianPlan``, ``HvpPlan``,
...): it fixes what every plan of that operator offers. Implementations are its subclasses,
registered for a backend type with :func:`register_plan`; the generic derivation from the
backend's primitives is registered for :class:`~anydiff.AbstractBackend`, and a backend's
fast path for its own class. :func:`plan_class` finds the most specific one through the
backend's MRO, as Julia's dispatch finds a method:

    @register_plan(JacobianPlan, DualBackend)
    class DualJacobianPlan(JacobianPlan): ...

A delegating backend (``HigherOrderBackend``, ``SparseBackend``) that registers nothing for
an operator has it prepared as the backend it delegates to: first-order operators as its
``first_order`` backend's, second-order ones as its outer backend's when outer and inner
are one backend.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from anydiff._contract import AbstractBackend

__all__ = ["operator", "plan_class", "register_plan"]

P = TypeVar("P", bound=type)

_PLANS: dict[tuple[type, type], type] = {}
_OPERATORS: set[type] = set()


def operator(cls: P) -> P:
    """Mark the plan class ``cls`` as an operator that backends register plans for."""
    _OPERATORS.add(cls)
    return cls


def register_plan(op: type, backend: type[AbstractBackend]) -> Callable[[P], P]:
    """Class decorator: the decorated plan computes operator ``op`` for ``backend``
    instances (and those of its subclasses without a registration of their own)."""
    if op not in _OPERATORS:
        raise TypeError(f"{op.__name__} is not an operator (see anydiff.operators.operator)")
    if not (isinstance(backend, type) and issubclass(backend, AbstractBackend)):
        raise TypeError(f"expected a backend class; got {backend!r}")

    def register(cls: P) -> P:
        if not issubclass(cls, op):
            raise TypeError(f"a plan registered for {op.__name__} must subclass it; got {cls}")
        if (op, backend) in _PLANS:
            raise ValueError(
                f"{backend.__name__} already has a {op.__name__}: {_PLANS[op, backend]}"
            )
        _PLANS[op, backend] = cls
        return cls

    return register


def plan_class(op: P, backend: AbstractBackend, order: int = 1) -> P:
    """The plan class computing ``op`` for ``backend`` (of an operator of ``order``)."""
    found = _specific(op, backend)
    if found is None:
        delegate = _delegate(backend, order)
        if delegate is not None:
            return plan_class(op, delegate, order)
        found = _PLANS.get((op, AbstractBackend))
    if found is None:
        raise TypeError(f"no plan computes {op.__name__} for {type(backend).__name__}")
    return found  # type: ignore[return-value]


def _specific(op: type, backend: AbstractBackend) -> type | None:
    """The plan registered for the most specific class of ``backend`` short of the root."""
    for cls in type(backend).__mro__:
        if cls is AbstractBackend:
            return None
        found = _PLANS.get((op, cls))
        if found is not None:
            return found
    return None


def _delegate(backend: AbstractBackend, order: int) -> AbstractBackend | None:
    if order == 1:
        other = backend.first_order
    else:
        outer, inner = backend.second_order
        other = outer if outer == inner else None
    return other if other is not None and other is not backend else None
