"""Jacobians and derivatives: the operator, its generic derivation and its public functions.

The generic plan assembles the m x n matrix from the backend's JVPs (n of them) or VJPs
(m of them), whichever its cost model says is cheaper, in blocks the Rust batching policy
chooses; a derivative is the Jacobian at a scalar input.
"""

from __future__ import annotations

import abc
from typing import Any, Optional

from anydiff._arrays import own_array
from anydiff._contract import AbstractBackend, Function
from anydiff._layout import Layout
from anydiff._lazy import LazyOperator
from anydiff._tree import rebuild
from anydiff.operators._cache import cached_plan
from anydiff.operators._linearization import Linearization
from anydiff.operators._plan import Plan
from anydiff.operators._registry import operator, register_plan
from anydiff.operators.first_order.pullback import PullbackPlan
from anydiff.operators.first_order.pushforward import PushforwardPlan

__all__ = [
    "DerivativePlan",
    "GenericDerivativePlan",
    "GenericJacobianPlan",
    "JacobianPlan",
    "derivative",
    "derivative_expression",
    "jacobian",
    "lazy_derivative",
    "lazy_first_order",
    "lazy_jacobian",
    "prepare_derivative",
    "prepare_jacobian",
    "value_and_derivative",
    "value_and_jacobian",
]


@operator
class JacobianPlan(Plan, abc.ABC):
    """Prepared ``jacobian``: shape ``out_shape + in_shape`` per output and input.

    ``JacobianPlan(b, f, *args, batch_size=None)`` (or ``prepare_jacobian``) prepares the
    plan registered for ``b``; ``batch_size`` overrides the block size of the products.
    """

    operator = "jacobian"

    def __init__(
        self, backend: AbstractBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, args)
        self.batch_size = batch_size

    def __call__(self, *args: Any) -> Any:
        return self._user_jacobian(self.jacobian_at(*self.signature.split(args)))

    def value_and_jacobian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), jacobian)``."""
        value, jac = self.value_and_jacobian_at(*self.signature.split(args))
        return self._user(value), self._user_jacobian(jac)

    @abc.abstractmethod
    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        """The Jacobian at backend inputs ``xs`` and constants ``cs``, in the backend's
        arrays (blocks per output and input as :meth:`unflatten` arranges them)."""

    def value_and_jacobian_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        """``(f(xs, cs), jacobian_at(xs, cs))`` in the backend's arrays."""
        return self.value_at(xs, cs), self.jacobian_at(xs, cs)

    def point_function(self) -> Optional[Function]:
        """The Jacobian at one point as one compiled call ``(xs, cs) -> jacobian_at(xs, cs)``
        that a vectorizing transform can map over points (``batch_jacobian``), or None."""
        return None

    def unflatten(self, jac: Any) -> Any:
        """The m x n matrix as JAX-shaped blocks per output and input (traceable)."""
        if not (self.outputs.multi or self.inputs.multi):
            shape = self.outputs.shape + self.inputs.shape
            return jac if tuple(jac.shape) == shape else jac.reshape(shape)
        rows = []
        for o_off, o_size, o_shape in zip(
            self.outputs.offsets, self.outputs.sizes, self.outputs.shapes
        ):
            block = jac[o_off : o_off + o_size]
            rows.append(self.inputs.split_columns(block, o_shape))
        return rebuild(rows, self.outputs.multi)

    def _user_jacobian(self, value: Any) -> Any:
        """A Jacobian (nested per output and input) as the user's arrays."""
        sig, multi_in = self.signature, self.inputs.multi
        to_user = sig.to_user

        def per_output(row: Any) -> Any:
            return sig.group(tuple(to_user(b) for b in (row if multi_in else (row,))))

        if not self.outputs.multi:
            return per_output(value)
        return self._output_structure(tuple(per_output(r) for r in value))


@register_plan(JacobianPlan, AbstractBackend)
class GenericJacobianPlan(JacobianPlan):
    """The Jacobian assembled from the backend's JVPs or VJPs (see the module docstring)."""

    def __init__(
        self, backend: AbstractBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size)
        self.lin = Linearization(
            self.inner, self.call_f, self.flat_inputs, self.outputs, self.dtype, batch_size
        )

    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        return self.lin.matrix(xs, cs, finish=self.unflatten)

    def point_function(self) -> Function:
        return self.lin.whole(False, self.unflatten)


@operator
class DerivativePlan(JacobianPlan):
    """Prepared ``derivative`` of f at a scalar input (any output shape)."""

    operator = "derivative"

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        self._scalar_input()

    def value_and_derivative(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), derivative)``."""
        return self.value_and_jacobian(*args)


@register_plan(DerivativePlan, AbstractBackend)
class GenericDerivativePlan(DerivativePlan, GenericJacobianPlan):
    """The derivative as the generic Jacobian at a scalar input."""


def derivative_expression(
    b: AbstractBackend, f: Function, x: Any, outputs: Layout, dtype: Any
) -> Any:
    """The derivative of ``f`` at a scalar input, written with ``b``'s primitives so that
    an outer backend can differentiate it (second derivatives)."""
    ops = b.ops
    x = own_array(ops, x, dtype)
    if b.supports_forward:
        return b.pushforward(f, (x,), (ops.ones((), dtype),))
    m = outputs.size
    cotangents = outputs.split_rows(ops.basis(m, 0, m, dtype, like=x), m)
    column = b.pullback_batch(f, (x,), cotangents)[0]
    return outputs.split(column.reshape(m))


# --- public functions ------------------------------------------------------------------


def prepare_jacobian(
    b: AbstractBackend, f: Function, *args: Any, batch_size: Optional[int] = None
) -> JacobianPlan:
    """Plan for ``jacobian`` / ``value_and_jacobian``; ``batch_size`` overrides the block size."""
    return JacobianPlan(b, f, *args, batch_size=batch_size)


def prepare_derivative(b: AbstractBackend, f: Function, *args: Any) -> DerivativePlan:
    """Plan for ``derivative`` / ``value_and_derivative`` at arguments like ``args``."""
    return DerivativePlan(b, f, *args)


def jacobian(b: AbstractBackend, f: Function, *args: Any) -> Any:
    """Dense Jacobian, shape ``out_shape + in_shape``; tuples for several inputs/outputs,
    nested like ``jax.jacfwd`` for pytree inputs/outputs (dicts, lists, tuples of arrays).

    Args:
        b: the backend (a ``SparseBackend`` gives a sparse matrix).
        f: the function.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_jacobian(b, f, *args)(*args)``, with the plan kept for calls
    with arguments of the same shapes and dtypes.
    """
    return cached_plan(JacobianPlan, b, f, args)(*args)


def value_and_jacobian(b: AbstractBackend, f: Function, *args: Any) -> tuple[Any, Any]:
    """``(f(*args), jacobian)``; see :func:`jacobian`."""
    return cached_plan(JacobianPlan, b, f, args).value_and_jacobian(*args)


def derivative(b: AbstractBackend, f: Function, *args: Any) -> Any:
    """df/dx for a scalar input x (any output shape).

    Args:
        b: the backend.
        f: the function.
        *args: its arguments; wrap non-differentiated ones in ``anydiff.Constant``.

    Equivalent to ``prepare_derivative(b, f, *args)(*args)``, with the plan kept.
    """
    return cached_plan(DerivativePlan, b, f, args)(*args)


def value_and_derivative(b: AbstractBackend, f: Function, *args: Any) -> tuple[Any, Any]:
    """``(f(x), df/dx)`` for scalar x; see :func:`derivative`."""
    return cached_plan(DerivativePlan, b, f, args).value_and_derivative(*args)


def lazy_jacobian(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The Jacobian at ``args`` as an operator: ``J @ v`` is a JVP, ``w @ J`` a VJP."""
    return lazy_first_order(b, f, args, "LazyJacobian")


def lazy_derivative(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The derivative at a scalar input as an operator: ``D @ t`` scales it by ``t``."""
    return lazy_first_order(b, f, args, "LazyDerivative", scalar_input=True)


def lazy_first_order(
    b: AbstractBackend,
    f: Function,
    args: tuple,
    name: str,
    scalar_input: bool = False,
    scalar_output: bool = False,
) -> LazyOperator:
    """A first-order lazy operator from the pushforward and pullback plans (the latter and
    the dense Jacobian prepared on first use)."""
    forward = cached_plan(PushforwardPlan, b, f, args)
    forward._one_input()
    forward.signature.refuse_trees(f"a {name}")
    if scalar_input:
        forward._scalar_input()
    if scalar_output:
        forward._scalar_output()
    if forward.outputs.multi:
        raise TypeError(
            f"{name}: f must return one array, not a tuple of {len(forward.outputs.shapes)}"
        )
    sig = forward.signature
    xs, cs = sig.split(args)

    def matvecs(rows: Any) -> Any:
        return sig.to_user(forward.jvp_rows(xs, cs, sig.to_backend((rows,))[0]))

    def rmatvecs(rows: Any) -> Any:
        pullback = cached_plan(PullbackPlan, b, f, args)
        return sig.to_user(pullback.vjp_rows(xs, cs, sig.to_backend((rows,))[0]))

    def dense() -> Any:
        return cached_plan(JacobianPlan, b.first_order, f, args)(*args)

    shapes = (forward.outputs.shape, forward.inputs.shape)
    return LazyOperator(matvecs, rmatvecs, dense, *shapes, forward.dtype, name)
