"""Pushforwards (JVPs): the operator, its generic derivation and its public functions.

The generic plan calls the backend's ``pushforward_batch``; a backend without forward
mode forms the dense Jacobian from its VJPs and multiplies.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

from anydiff._contract import AbstractBackend, Function
from anydiff._tree import map_leaves
from anydiff.operators._cache import cached_plan
from anydiff.operators._linearization import Linearization
from anydiff.operators._plan import Plan, check_tangents
from anydiff.operators._registry import operator, register_plan

__all__ = [
    "GenericPushforwardPlan",
    "PushforwardPlan",
    "jvp",
    "prepare_pushforward",
    "pushforward_function",
    "value_and_pushforward_function",
]


@operator
class PushforwardPlan(Plan, abc.ABC):
    """Prepared JVPs: ``plan(*args)`` is the pushforward function at ``args``."""

    operator = "pushforward"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)

    def __call__(self, *args: Any) -> Callable[..., Any]:
        """The function ``tangents -> JVP`` at ``args`` (a tuple of tangents for several inputs)."""
        xs, cs = self.signature.split(args)
        return lambda tangents, batched=False: self._apply(xs, cs, tangents, batched)

    def value_and_pushforward(self, *args: Any) -> Callable[..., tuple[Any, Any]]:
        """The function ``tangents -> (value, JVP)`` at ``args``."""
        xs, cs = self.signature.split(args)
        value = self._user(self.value_at(xs, cs))
        return lambda tangents, batched=False: (value, self._apply(xs, cs, tangents, batched))

    def jvp(self, xs: Any, tangents: Any, batched: bool = False) -> Any:
        """The JVP at ``xs`` (one input, or a tuple of inputs and Constants)."""
        args = xs if isinstance(xs, tuple) else (xs,)
        return self(*args)(tangents, batched)

    @abc.abstractmethod
    def jvp_batch_at(self, xs: tuple, cs: tuple, tangents: tuple) -> Any:
        """JVPs along a batch of tangents (one batch-leading backend array per input), in
        f's output structure with the batch axis leading."""

    def jvp_at(self, xs: tuple, cs: tuple, tangents: tuple) -> Any:
        """One JVP along ``tangents`` (one backend array per input)."""
        batch = self.jvp_batch_at(xs, cs, tuple(t[None] for t in tangents))
        return map_leaves(lambda o: o[0], batch)

    @abc.abstractmethod
    def jvp_rows(self, xs: tuple, cs: tuple, t: Any) -> Any:
        """JVPs along the rows of ``t`` (k x n, inputs flattened and concatenated) as a
        k x m array of the backend's kind."""

    def _apply(self, xs: tuple, cs: tuple, tangents: Any, batched: bool) -> Any:
        ts = check_tangents(self.signature, tangents, batched, "tangents")
        return self._user((self.jvp_batch_at if batched else self.jvp_at)(xs, cs, ts))


@register_plan(PushforwardPlan, AbstractBackend)
class GenericPushforwardPlan(PushforwardPlan):
    """The backend's ``pushforward_batch``, compiled; without forward mode, VJPs."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        b, inputs, outputs = self.inner, self.flat_inputs, self.outputs
        self.lin = Linearization(b, self.call_f, inputs, outputs, self.dtype)
        if b.supports_forward:
            self._one = b.compile(lambda xs, cs, ts: b.pushforward(self.bound(cs), xs, ts))
            self._many = b.compile(lambda xs, cs, ts: b.pushforward_batch(self.bound(cs), xs, ts))
            return

        def many(xs: tuple, cs: tuple, ts: tuple) -> Any:
            k = ts[0].shape[0]
            return outputs.split_rows(
                self.lin.jvp_rows(xs, cs, inputs.flatten_rows(b.ops, ts, k)), k
            )

        self._many = many
        self._one = lambda xs, cs, ts: map_leaves(
            lambda o: o[0], many(xs, cs, tuple(t[None] for t in ts))
        )

    def jvp_batch_at(self, xs: tuple, cs: tuple, tangents: tuple) -> Any:
        return self._many(xs, cs, tangents)

    def jvp_at(self, xs: tuple, cs: tuple, tangents: tuple) -> Any:
        return self._one(xs, cs, tangents)

    def jvp_rows(self, xs: tuple, cs: tuple, t: Any) -> Any:
        return self.lin.jvp_rows(xs, cs, t)


# --- public functions ------------------------------------------------------------------


def prepare_pushforward(b: AbstractBackend, f: Function, *args: Any) -> PushforwardPlan:
    """Plan for JVPs: ``plan(*args)`` is the pushforward function at ``args``."""
    return PushforwardPlan(b, f, *args)


def pushforward_function(b: AbstractBackend, f: Function, *args: Any) -> Callable[..., Any]:
    """Callable ``tangents -> JVP`` at ``args`` (``batched=True`` for a leading batch axis).

    Args:
        b: the backend.
        f: the function.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_pushforward(b, f, *args)(*args)``, with the plan kept.
    """
    return cached_plan(PushforwardPlan, b, f, args)(*args)


def value_and_pushforward_function(
    b: AbstractBackend, f: Function, *args: Any
) -> Callable[..., tuple[Any, Any]]:
    """Callable ``tangents -> (f(*args), JVP)`` at ``args``; see :func:`pushforward_function`."""
    return cached_plan(PushforwardPlan, b, f, args).value_and_pushforward(*args)


def jvp(b: AbstractBackend, f: Function, xs: Any, vs: Any, batched: bool = False) -> Any:
    """JVP of f at ``xs`` (an input, or a tuple of inputs and Constants) along ``vs``.

    With ``batched=True`` every tangent has a leading batch axis and so does the result.
    """
    args = xs if isinstance(xs, tuple) else (xs,)
    return cached_plan(PushforwardPlan, b, f, args)(*args)(vs, batched)
