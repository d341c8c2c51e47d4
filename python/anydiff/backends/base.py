"""Backend base classes: a backend implements one primitive, the API derives the rest.

A backend computes with one kind of array (``array_kind``) and implements

* ``pushforward_batch(f, xs, tangents)`` (forward mode, :class:`AbstractForwardMode`), or
* ``pullback_batch(f, xs, cotangents)`` (reverse mode, :class:`AbstractReverseMode`).

Conventions: ``xs`` is a tuple of differentiated inputs (constants are already bound into
``f``); ``f(*xs)`` returns one array or a tuple of arrays. Batches lead: ``tangents`` holds
one array per input with an extra leading axis of length k, and the result has f's output
structure with the same leading axis. ``pullback_batch`` takes cotangents in f's output
structure (batch-leading) and returns one batch-leading array per input.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional

from anydiff._arrays import ArrayOps, ops_named
from anydiff._tree import map_leaves

__all__ = [
    "AbstractBackend",
    "AbstractFiniteDifference",
    "AbstractForwardMode",
    "AbstractReverseMode",
]

Function = Callable[..., Any]


class AbstractBackend(metaclass=abc.ABCMeta):  # noqa: B024 (subclasses add the abstract primitive)
    """Base of every backend; see the module docstring for the contract."""

    supports_forward: bool = False
    """Whether the backend computes JVPs (``pushforward_batch``)."""
    supports_reverse: bool = False
    """Whether the backend computes VJPs (``pullback_batch``)."""
    vjp_cost: float = 1.0
    """What one VJP costs in JVPs, for backends that do both: sparse Jacobians compress
    rows (VJPs) only when that many times their row colors is below their column colors."""
    array_kind: str = "numpy"
    """The kind of array ``f`` receives: ``numpy``, ``jax`` or ``torch``."""
    differentiates_any_function: bool = True
    """False for backends whose derivatives describe one given function only (callbacks):
    they cannot be the outer backend of a second-order operator."""

    @property
    def ops(self) -> ArrayOps:
        """Array operations for ``array_kind``."""
        return ops_named(self.array_kind)

    def compile(self, fn: Function, static_argnums: tuple[int, ...] = ()) -> Function:
        """Compile a function written with this backend's primitives (JAX: ``jax.jit``)."""
        return self.ops.compile(fn, static_argnums)

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        """JVPs of ``f`` at ``xs`` for a batch of tangents (forward-mode backends)."""
        raise _missing(self, "pushforward_batch", "forward")

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        """VJPs of ``f`` at ``xs`` for a batch of cotangents (reverse-mode backends)."""
        raise _missing(self, "pullback_batch", "reverse")

    def pushforward(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        """One JVP; by default a batch of one. Backends may override with a faster path."""
        batch = tuple(t[None] for t in tangents)
        return map_leaves(lambda o: o[0], self.pushforward_batch(f, xs, batch))

    def pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple:
        """One VJP; by default a batch of one. Backends may override with a faster path."""
        batch = map_leaves(lambda w: w[None], cotangent)
        return tuple(g[0] for g in self.pullback_batch(f, xs, batch))

    def value_and_pullback(self, f: Function, xs: tuple, cotangent: Any) -> tuple[Any, tuple]:
        """``f(*xs)`` and one VJP."""
        return f(*xs), self.pullback(f, xs, cotangent)

    @property
    def first_order(self) -> AbstractBackend:
        """The backend used for first-order operators."""
        return self

    def native(
        self, operator: str, fn: Function, inputs: Any, dtype: Any
    ) -> Optional[Callable[..., Any]]:
        """A faster path this backend has for ``operator`` on ``fn(xs, cs)``, or None.

        Operators: ``jvp_rows`` (``(xs, cs, seeds) -> JVP rows``), ``gradient``
        (``(xs, cs, dtype) -> (value, flat gradient)``), ``hessian``
        (``(xs, cs, dtype) -> (value, flat gradient, n x n Hessian)``), ``hvp_rows``
        (``(xs, cs, v) -> HVP rows``), ``batch_jacobian`` (``(xs, cs, P, dtype, values=True) ->
        (values or None, Jacobians)``). The generic derivations are used where it returns None.
        """
        return None

    def vectorize(self, fn: Function, in_axes: Any) -> Optional[Function]:
        """``fn`` mapped over a leading batch axis (``jax.vmap``, ``torch.func.vmap``), or
        None when the framework has no such transform (callers then loop)."""
        return None

    def plan_class(self, default: type) -> type:
        """The plan class this backend computes ``default``'s operator with (a backend with
        its own way to form, say, Jacobians returns its own plan class)."""
        return default

    @property
    def second_order(self) -> tuple[AbstractBackend, AbstractBackend]:
        """``(outer, inner)`` used for second-order operators."""
        return (self, self)

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{k}={v!r}" for k, v in sorted(vars(self).items()) if not k.startswith("_")
        )
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and _config(self) == _config(other)

    def __hash__(self) -> int:
        return hash((type(self), _config(self)))


def _config(b: AbstractBackend) -> tuple:
    return tuple(
        sorted(
            (k, v if _hashable(v) else id(v)) for k, v in vars(b).items() if not k.startswith("_")
        )
    )


def _hashable(v: object) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _missing(b: AbstractBackend, method: str, mode: str) -> TypeError:
    from anydiff._errors import UnsupportedOperationError

    return UnsupportedOperationError(
        f"{type(b).__name__} does not compute {mode}-mode products ({method}); "
        f"use a backend with supports_{mode}=True"
    )


class AbstractForwardMode(AbstractBackend):
    """A backend built on JVPs: implement ``pushforward_batch``."""

    supports_forward = True

    @abc.abstractmethod
    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        """JVPs of ``f`` at ``xs`` for a batch of tangents."""


class AbstractReverseMode(AbstractBackend):
    """A backend built on VJPs: implement ``pullback_batch``."""

    supports_reverse = True

    @abc.abstractmethod
    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        """VJPs of ``f`` at ``xs`` for a batch of cotangents."""


class AbstractFiniteDifference(AbstractForwardMode):
    """A forward-mode backend whose JVPs come from evaluations of ``f`` alone."""


class DelegatingBackend(AbstractBackend):
    """A backend whose first-order products are those of ``first_order`` (another backend)."""

    @property
    def array_kind(self) -> str:  # type: ignore[override]
        return self.first_order.array_kind

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.first_order.supports_forward

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.first_order.supports_reverse

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        return self.first_order.pushforward_batch(f, xs, tangents)

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        return self.first_order.pullback_batch(f, xs, cotangents)
