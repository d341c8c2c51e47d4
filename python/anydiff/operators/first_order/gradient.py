"""Gradients of scalar functions: the operator, its generic derivation, its public functions.

The generic plan takes one VJP (a reverse sweep) when the backend has reverse mode, and
otherwise the one-row Jacobian from n JVPs, blocked like any Jacobian.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import own_array
from anydiff._contract import AbstractBackend, Function
from anydiff._lazy import LazyOperator
from anydiff.operators._cache import cached_plan
from anydiff.operators._linearization import Linearization
from anydiff.operators._plan import Plan
from anydiff.operators._registry import operator, register_plan
from anydiff.operators.first_order.jacobian import lazy_first_order

__all__ = [
    "GenericGradientPlan",
    "GradientPlan",
    "gradient",
    "gradient_expression",
    "lazy_gradient",
    "prepare_gradient",
    "value_and_gradient",
]


@operator
class GradientPlan(Plan, abc.ABC):
    """Prepared ``gradient`` of a scalar-valued f; a tuple for several inputs."""

    operator = "gradient"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        self._scalar_output()

    def __call__(self, *args: Any) -> Any:
        grads = self.gradient_at(*self.signature.split(args))
        to_user = self.signature.to_user
        return self.signature.group(tuple(to_user(g) for g in grads))

    def value_and_gradient(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), gradient)``."""
        value, grads = self.value_and_gradient_at(*self.signature.split(args))
        to_user = self.signature.to_user
        return to_user(value), self.signature.group(tuple(to_user(g) for g in grads))

    @abc.abstractmethod
    def gradient_at(self, xs: tuple, cs: tuple) -> tuple:
        """The gradient at backend inputs ``xs`` and constants ``cs``: one backend array
        per input, shaped like it."""

    @abc.abstractmethod
    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, tuple]:
        """``(f(xs, cs), gradient_at(xs, cs))`` in the backend's arrays."""

    def point_function(self) -> Optional[Function]:
        """The gradient at one point as one compiled call ``(xs, cs) -> gradient_at(xs,
        cs)[0]`` that a vectorizing transform can map over points, or None."""
        return None


@register_plan(GradientPlan, AbstractBackend)
class GenericGradientPlan(GradientPlan):
    """One VJP with the cotangent 1 (reverse mode), else n JVPs."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        b, ops, dtype, layout = self.inner, self.inner.ops, self.dtype, self.flat_inputs
        if b.supports_reverse:

            def value_and_grad(xs: tuple, cs: tuple) -> tuple[Any, tuple]:
                return b.value_and_pullback(self.bound(cs), xs, ops.ones((), dtype))

            self._value_and_grad = b.compile(value_and_grad)
            self._grad = b.compile(lambda xs, cs: value_and_grad(xs, cs)[1])
            self._point: Callable[[tuple, tuple], Any] = lambda xs, cs: self._grad(xs, cs)[0]
            return
        # n JVPs, blocked by the Rust policy like any Jacobian with one row.
        lin = Linearization(b, self.call_f, layout, self.outputs, dtype)

        def forward_grad(xs: tuple, cs: tuple) -> tuple:
            return layout.split(lin.matrix(xs, cs)[0])

        self._value_and_grad = lambda xs, cs: (self.value_at(xs, cs), forward_grad(xs, cs))
        self._grad = forward_grad
        whole = lin.whole()
        self._point = lambda xs, cs: whole(xs, cs)[0].reshape(self.inputs.shapes[0])

    def gradient_at(self, xs: tuple, cs: tuple) -> tuple:
        return self._grad(xs, cs)

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, tuple]:
        return self._value_and_grad(xs, cs)

    def point_function(self) -> Function:
        return self._point


def gradient_expression(b: AbstractBackend, f: Function, x: Any, dtype: Any) -> Any:
    """The gradient of scalar ``f`` at one input, written with ``b``'s primitives so that
    an outer backend can differentiate it (Hessians, HVPs)."""
    ops = b.ops
    x = own_array(ops, x, dtype)
    if b.supports_reverse:
        return b.pullback(f, (x,), ops.ones((), dtype))[0]
    n = int(np.prod(x.shape))
    seeds = ops.basis(n, 0, n, dtype, like=x).reshape((n, *x.shape))
    return b.pushforward_batch(f, (x,), (seeds,)).reshape(x.shape)


# --- public functions ------------------------------------------------------------------


def prepare_gradient(b: AbstractBackend, f: Function, *args: Any) -> GradientPlan:
    """Plan for ``gradient`` / ``value_and_gradient``."""
    return GradientPlan(b, f, *args)


def gradient(b: AbstractBackend, f: Function, *args: Any) -> Any:
    """Gradient of a scalar-valued f; a tuple for several inputs, a pytree input's
    structure for a pytree (as ``jax.grad``).

    Args:
        b: the backend.
        f: the function, returning a scalar.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_gradient(b, f, *args)(*args)``, with the plan kept for calls
    with arguments of the same shapes and dtypes.
    """
    return cached_plan(GradientPlan, b, f, args)(*args)


def value_and_gradient(b: AbstractBackend, f: Function, *args: Any) -> tuple[Any, Any]:
    """``(f(*args), gradient)``; see :func:`gradient`."""
    return cached_plan(GradientPlan, b, f, args).value_and_gradient(*args)


def lazy_gradient(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The gradient of scalar f as a 1-row operator: ``g @ v`` is a directional derivative."""
    return lazy_first_order(b, f, args, "LazyGradient", scalar_output=True)
