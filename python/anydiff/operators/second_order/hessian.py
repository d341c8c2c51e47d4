"""Hessians and second derivatives: the operators, their generic derivations, their public
functions.

The generic Hessian is the outer backend's Jacobian of the inner backend's gradient, as in
``jax.hessian``; the generic second derivative the outer backend's derivative of the inner
backend's derivative.
"""

from __future__ import annotations

import abc
from typing import Any, Optional

from anydiff._contract import AbstractBackend, Function
from anydiff.operators._cache import cached_plan
from anydiff.operators._linearization import Linearization
from anydiff.operators._plan import Plan
from anydiff.operators._registry import operator, register_plan
from anydiff.operators.first_order.gradient import gradient_expression
from anydiff.operators.first_order.jacobian import derivative_expression

__all__ = [
    "GenericHessianPlan",
    "GenericSecondDerivativePlan",
    "HessianPlan",
    "SecondDerivativePlan",
    "hessian",
    "prepare_hessian",
    "prepare_second_derivative",
    "second_derivative",
    "value_and_hessian",
    "value_derivative_and_second_derivative",
    "value_gradient_and_hessian",
]


@operator
class HessianPlan(Plan, abc.ABC):
    """Prepared ``hessian`` of a scalar f of one input, shape ``in_shape + in_shape``.

    ``HessianPlan(b, f, *args, batch_size=None, symmetrize=False)`` (or ``prepare_hessian``)
    prepares the plan registered for ``b``; with ``symmetrize=True`` the Hessian is
    replaced by ``(H + H^T) / 2``, exactly symmetric whatever the rounding of the passes.
    """

    operator = "hessian"
    order = 2

    def __init__(
        self,
        backend: AbstractBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, args)
        self.batch_size, self.symmetrize = batch_size, symmetrize
        self._one_input()
        self._scalar_output()

    def __call__(self, *args: Any) -> Any:
        return self._user_hessian(self.hessian_at(*self.signature.split(args)))

    def value_and_hessian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), hessian)``."""
        xs, cs = self.signature.split(args)
        value, _ = self.value_and_gradient_at(xs, cs)
        return self.signature.to_user(value), self._user_hessian(self.hessian_at(xs, cs))

    def value_gradient_and_hessian(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), gradient, hessian)``."""
        xs, cs = self.signature.split(args)
        value, grad = self.value_and_gradient_at(xs, cs)
        return (
            self.signature.to_user(value),
            self._user_gradient(grad),
            self._user_hessian(self.hessian_at(xs, cs)),
        )

    def _user_hessian(self, h: Any) -> Any:
        """A Hessian as the user's arrays; a tree of trees for a pytree input."""
        return self.signature.group_square(self.signature.to_user(h))

    def _user_gradient(self, g: Any) -> Any:
        """A gradient as the user's arrays, in the input's structure."""
        return self.signature.group((self.signature.to_user(g),))

    @abc.abstractmethod
    def hessian_at(self, xs: tuple, cs: tuple) -> Any:
        """The Hessian at backend inputs ``xs`` and constants ``cs`` (a backend array of
        shape ``in_shape + in_shape``, or a sparse matrix for sparse plans)."""

    @abc.abstractmethod
    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        """``(f(xs, cs), gradient)`` with the gradient shaped like the input."""

    def point_function(self) -> Optional[Function]:
        """The Hessian at one point as one compiled call ``(xs, cs) -> hessian_at(xs, cs)``
        that a vectorizing transform can map over points (``batch_hessian``), or None."""
        return None

    def shaped(self, h: Any) -> Any:
        """The n x n matrix in the shape ``in_shape + in_shape`` (traceable)."""
        shape = self.inputs.shape + self.inputs.shape
        return h if tuple(h.shape) == shape else h.reshape(shape)


@register_plan(HessianPlan, AbstractBackend)
class GenericHessianPlan(HessianPlan):
    """The outer backend's Jacobian of the inner backend's gradient."""

    def __init__(
        self,
        backend: AbstractBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size, symmetrize=symmetrize)
        inner, dtype = self.inner, self.dtype

        def grad(xs: tuple, cs: tuple) -> Any:
            return gradient_expression(inner, self.bound(cs), xs[0], dtype)

        self.lin = Linearization(self.outer, grad, self.flat_inputs, self.inputs, dtype, batch_size)
        self._value_and_grad = inner.compile(lambda xs, cs: (self.call_f(xs, cs), grad(xs, cs)))

    def hessian_at(self, xs: tuple, cs: tuple) -> Any:
        return self.lin.matrix(xs, cs, self.symmetrize, self.shaped)

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        return self._value_and_grad(xs, cs)

    def point_function(self) -> Function:
        return self.lin.whole(self.symmetrize, self.shaped)


@operator
class SecondDerivativePlan(Plan, abc.ABC):
    """Prepared ``second_derivative`` at a scalar input (any output shape)."""

    operator = "second_derivative"
    order = 2

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        self._scalar_input()

    def __call__(self, *args: Any) -> Any:
        return self._user(self.second_derivative_at(*self.signature.split(args)))

    def value_derivative_and_second_derivative(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), derivative, second derivative)``."""
        value, d, dd = self.all_derivatives_at(*self.signature.split(args))
        return self._user(value), self._user(d), self._user(dd)

    @abc.abstractmethod
    def second_derivative_at(self, xs: tuple, cs: tuple) -> Any:
        """d²f/dx² at ``(xs, cs)`` in f's output structure (backend arrays)."""

    @abc.abstractmethod
    def all_derivatives_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
        """``(value, derivative, second derivative)`` at ``(xs, cs)``."""


@register_plan(SecondDerivativePlan, AbstractBackend)
class GenericSecondDerivativePlan(SecondDerivativePlan):
    """The outer backend's derivative of the inner backend's derivative."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        outer, inner, dtype, outputs = self.outer, self.inner, self.dtype, self.outputs

        def first(cs: tuple) -> Function:
            return lambda x: derivative_expression(inner, self.bound(cs), x, outputs, dtype)

        def all_three(xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
            d = first(cs)
            return (
                self.call_f(xs, cs),
                d(xs[0]),
                derivative_expression(outer, d, xs[0], outputs, dtype),
            )

        self._all = outer.compile(all_three)
        self._second = outer.compile(
            lambda xs, cs: derivative_expression(outer, first(cs), xs[0], outputs, dtype)
        )

    def second_derivative_at(self, xs: tuple, cs: tuple) -> Any:
        return self._second(xs, cs)

    def all_derivatives_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
        return self._all(xs, cs)


# --- public functions ------------------------------------------------------------------


def prepare_hessian(
    b: AbstractBackend,
    f: Function,
    *args: Any,
    batch_size: Optional[int] = None,
    symmetrize: bool = False,
) -> HessianPlan:
    """Plan for ``hessian`` / ``value_and_hessian`` / ``value_gradient_and_hessian``.

    ``symmetrize=True`` returns ``(H + H^T) / 2``, exactly symmetric.
    """
    return HessianPlan(b, f, *args, batch_size=batch_size, symmetrize=symmetrize)


def prepare_second_derivative(b: AbstractBackend, f: Function, *args: Any) -> SecondDerivativePlan:
    """Plan for ``second_derivative`` / ``value_derivative_and_second_derivative``."""
    return SecondDerivativePlan(b, f, *args)


def hessian(b: AbstractBackend, f: Function, *args: Any) -> Any:
    """Hessian of a scalar f of one input, shape ``in_shape + in_shape``.

    Args:
        b: the backend (its second order: a ``HigherOrderBackend`` pairs two; a
            ``SparseBackend`` gives a sparse matrix).
        f: the function, returning a scalar.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_hessian(b, f, *args)(*args)``, with the plan kept for calls
    with arguments of the same shapes and dtypes.
    """
    return cached_plan(HessianPlan, b, f, args)(*args)


def value_and_hessian(b: AbstractBackend, f: Function, *args: Any) -> tuple[Any, Any]:
    """``(f(x), hessian)``; see :func:`hessian`."""
    return cached_plan(HessianPlan, b, f, args).value_and_hessian(*args)


def value_gradient_and_hessian(b: AbstractBackend, f: Function, *args: Any) -> tuple[Any, Any, Any]:
    """``(f(x), gradient, hessian)``; see :func:`hessian`."""
    return cached_plan(HessianPlan, b, f, args).value_gradient_and_hessian(*args)


def second_derivative(b: AbstractBackend, f: Function, *args: Any) -> Any:
    """d²f/dx² for a scalar input x (any output shape).

    Args:
        b: the backend.
        f: the function.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_second_derivative(b, f, *args)(*args)``, with the plan kept.
    """
    return cached_plan(SecondDerivativePlan, b, f, args)(*args)


def value_derivative_and_second_derivative(
    b: AbstractBackend, f: Function, *args: Any
) -> tuple[Any, Any, Any]:
    """``(f(x), df/dx, d²f/dx²)`` for scalar x; see :func:`second_derivative`."""
    return cached_plan(SecondDerivativePlan, b, f, args).value_derivative_and_second_derivative(
        *args
    )
