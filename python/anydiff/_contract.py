"""The backend contract: what a backend computes, what it can do, and what that costs.

A backend computes with one kind of array (``array_kind``) and implements one primitive:

* ``pushforward_batch(f, xs, tangents)`` (forward mode, :class:`AbstractForwardMode`), or
* ``pullback_batch(f, xs, cotangents)`` (reverse mode, :class:`AbstractReverseMode`).

Every operator derives from these (``anydiff.operators``); a backend with a faster way
to compute an operator registers a plan class for it (``anydiff.operators.register_plan``).

Conventions: ``xs`` is a tuple of differentiated inputs (constants are already bound into
``f``); ``f(*xs)`` returns one array or a tuple of arrays. Batches lead: ``tangents`` holds
one array per input with an extra leading axis of length k, and the result has f's output
structure with the same leading axis. ``pullback_batch`` takes cotangents in f's output
structure (batch-leading) and returns one batch-leading array per input.

Capabilities are class attributes (``supports_forward``, ``supports_reverse``,
``differentiates_any_function``); the cost model is ``vjp_cost``, read by
:func:`cheaper_mode` for dense Jacobians and by sparse colorings.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional

from anydiff import _core
from anydiff._arrays import ArrayOps, ops_named
from anydiff._errors import UnsupportedOperationError
from anydiff._modes import Mode
from anydiff._tree import map_leaves

__all__ = [
    "AbstractBackend",
    "AbstractFiniteDifference",
    "AbstractForwardMode",
    "AbstractReverseMode",
    "DelegatingBackend",
    "Function",
    "check_backend",
    "cheaper_mode",
]

Function = Callable[..., Any]


class AbstractBackend(metaclass=abc.ABCMeta):  # noqa: B024 (subclasses add the abstract primitive)
    """Base of every backend; see the module docstring for the contract."""

    supports_forward: bool = False
    """Whether the backend computes JVPs (``pushforward_batch``)."""
    supports_reverse: bool = False
    """Whether the backend computes VJPs (``pullback_batch``)."""
    vjp_cost: float = 1.0
    """The cost model: what one VJP costs in JVPs, for backends that do both. A dense
    Jacobian takes the mode with the smaller total (n JVPs or m VJPs, see
    :func:`cheaper_mode`); a sparse one compresses rows only when that many times their
    row colors is below their column colors."""
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

    def vectorize(self, fn: Function, in_axes: Any) -> Optional[Function]:
        """``fn`` mapped over a leading batch axis (``jax.vmap``, ``torch.func.vmap``), or
        None when the framework has no such transform (callers then loop)."""
        return None

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
    """A backend whose first-order products are those of ``first_order`` (another backend).

    Operators it registers no plan for are prepared as its ``first_order`` backend's
    (second-order ones as the outer backend's when outer and inner are the same).
    """

    @property
    def array_kind(self) -> str:  # type: ignore[override]
        return self.first_order.array_kind

    @property
    def supports_forward(self) -> bool:  # type: ignore[override]
        return self.first_order.supports_forward

    @property
    def supports_reverse(self) -> bool:  # type: ignore[override]
        return self.first_order.supports_reverse

    @property
    def vjp_cost(self) -> float:  # type: ignore[override]
        return self.first_order.vjp_cost

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        return self.first_order.pushforward_batch(f, xs, tangents)

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        return self.first_order.pullback_batch(f, xs, cotangents)


def check_backend(backend: Any) -> AbstractBackend:
    """``backend`` if it is an anydiff backend, else a TypeError naming what came."""
    if not isinstance(backend, AbstractBackend):
        raise TypeError(
            "expected an anydiff backend (JaxBackend, TorchBackend, FiniteDifferences, ...) as the "
            f"first argument; got {type(backend).__name__}"
        )
    return backend


def cheaper_mode(backend: AbstractBackend, n: int, m: int) -> Mode:
    """How ``backend`` computes a dense m x n Jacobian: its only mode, or, when it has
    both, the cheaper by its cost model (n JVPs against m VJPs of ``vjp_cost`` each)."""
    if not backend.supports_reverse:
        return "forward"
    if not backend.supports_forward:
        return "reverse"
    return _core.pick_mode(n, m, backend.vjp_cost)


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


def _missing(b: AbstractBackend, method: str, mode: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"{type(b).__name__} does not compute {mode}-mode products ({method}); "
        f"use a backend with supports_{mode}=True"
    )
