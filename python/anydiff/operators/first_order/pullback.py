"""Pullbacks (VJPs): the operator, its generic derivation and its public functions.

The generic plan calls the backend's ``pullback_batch``; a backend without reverse mode
forms the dense Jacobian from its JVPs and multiplies.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

from anydiff._contract import AbstractBackend, Function
from anydiff._tree import leaves, map_leaves, rebuild
from anydiff.operators._cache import cached_plan
from anydiff.operators._linearization import Linearization
from anydiff.operators._plan import Plan, check_tangent
from anydiff.operators._registry import operator, register_plan

__all__ = [
    "GenericPullbackPlan",
    "PullbackPlan",
    "prepare_pullback",
    "pullback_function",
    "value_and_pullback_function",
    "vjp",
]


@operator
class PullbackPlan(Plan, abc.ABC):
    """Prepared VJPs: ``plan(*args)`` is the pullback function at ``args``."""

    operator = "pullback"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)

    def __call__(self, *args: Any) -> Callable[..., Any]:
        """The function ``cotangent -> VJP`` at ``args`` (cotangent shaped like f's output)."""
        xs, cs = self.signature.split(args)
        return lambda cotangent, batched=False: self._apply(xs, cs, cotangent, batched)

    def value_and_pullback(self, *args: Any) -> Callable[..., tuple[Any, Any]]:
        """The function ``cotangent -> (value, VJP)`` at ``args``."""
        xs, cs = self.signature.split(args)
        value = self._user(self.value_at(xs, cs))
        return lambda cotangent, batched=False: (value, self._apply(xs, cs, cotangent, batched))

    def vjp(self, xs: Any, cotangent: Any, batched: bool = False) -> Any:
        """The VJP at ``xs`` (one input, or a tuple of inputs and Constants)."""
        args = xs if isinstance(xs, tuple) else (xs,)
        return self(*args)(cotangent, batched)

    @abc.abstractmethod
    def vjp_batch_at(self, xs: tuple, cs: tuple, cotangents: Any) -> tuple:
        """VJPs for a batch of cotangents (f's output structure, batch leading): one
        batch-leading backend array per input."""

    def vjp_at(self, xs: tuple, cs: tuple, cotangent: Any) -> tuple:
        """One VJP: one backend array per input."""
        batch = self.vjp_batch_at(xs, cs, map_leaves(lambda w: w[None], cotangent))
        return tuple(g[0] for g in batch)

    @abc.abstractmethod
    def vjp_rows(self, xs: tuple, cs: tuple, w: Any) -> Any:
        """VJPs of the rows of ``w`` (k x m, outputs flattened and concatenated) as a
        k x n array of the backend's kind."""

    def _apply(self, xs: tuple, cs: tuple, cotangent: Any, batched: bool) -> Any:
        sig, outputs = self.signature, self.outputs
        if self.output_tree is not None:
            cotangent = self.output_tree.flatten(cotangent, f"{self.operator}: the cotangent")
        parts = leaves(cotangent) if outputs.multi else (cotangent,)
        if outputs.multi and (
            not isinstance(cotangent, (tuple, list)) or len(parts) != len(outputs.shapes)
        ):
            raise ValueError(
                f"pullback: expected a tuple of {len(outputs.shapes)} cotangents (one per output); "
                f"got {type(cotangent).__name__}"
            )
        ws = rebuild(
            [check_tangent(sig, w, s, batched, "cotangent") for w, s in zip(parts, outputs.shapes)],
            outputs.multi,
        )
        grads = (self.vjp_batch_at if batched else self.vjp_at)(xs, cs, ws)
        return sig.group(tuple(sig.to_user(g) for g in grads))


@register_plan(PullbackPlan, AbstractBackend)
class GenericPullbackPlan(PullbackPlan):
    """The backend's ``pullback_batch``, compiled; without reverse mode, JVPs."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        b, inputs, outputs = self.inner, self.flat_inputs, self.outputs
        self.lin = Linearization(b, self.call_f, inputs, outputs, self.dtype)
        if b.supports_reverse:
            self._one = b.compile(lambda xs, cs, w: b.pullback(self.bound(cs), xs, w))
            self._many = b.compile(lambda xs, cs, w: b.pullback_batch(self.bound(cs), xs, w))
            return

        def many(xs: tuple, cs: tuple, w: Any) -> tuple:
            k = leaves(w)[0].shape[0]
            rows = self.lin.vjp_rows(xs, cs, outputs.flatten_rows(b.ops, w, k))
            return tuple(leaves(inputs.split_rows(rows, k)))

        self._many = many
        self._one = lambda xs, cs, w: tuple(
            g[0] for g in many(xs, cs, map_leaves(lambda a: a[None], w))
        )

    def vjp_batch_at(self, xs: tuple, cs: tuple, cotangents: Any) -> tuple:
        return self._many(xs, cs, cotangents)

    def vjp_at(self, xs: tuple, cs: tuple, cotangent: Any) -> tuple:
        return self._one(xs, cs, cotangent)

    def vjp_rows(self, xs: tuple, cs: tuple, w: Any) -> Any:
        return self.lin.vjp_rows(xs, cs, w)


# --- public functions ------------------------------------------------------------------


def prepare_pullback(b: AbstractBackend, f: Function, *args: Any) -> PullbackPlan:
    """Plan for VJPs: ``plan(*args)`` is the pullback function at ``args``."""
    return PullbackPlan(b, f, *args)


def pullback_function(b: AbstractBackend, f: Function, *args: Any) -> Callable[..., Any]:
    """Callable ``cotangent -> VJP`` at ``args`` (``batched=True`` for a leading batch axis).

    Args:
        b: the backend.
        f: the function.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_pullback(b, f, *args)(*args)``, with the plan kept.
    """
    return cached_plan(PullbackPlan, b, f, args)(*args)


def value_and_pullback_function(
    b: AbstractBackend, f: Function, *args: Any
) -> Callable[..., tuple[Any, Any]]:
    """Callable ``cotangent -> (f(*args), VJP)`` at ``args``; see :func:`pullback_function`."""
    return cached_plan(PullbackPlan, b, f, args).value_and_pullback(*args)


def vjp(b: AbstractBackend, f: Function, xs: Any, ws: Any, batched: bool = False) -> Any:
    """VJP of f at ``xs`` with cotangent(s) ``ws`` shaped like f's output."""
    args = xs if isinstance(xs, tuple) else (xs,)
    return cached_plan(PullbackPlan, b, f, args)(*args)(ws, batched)
