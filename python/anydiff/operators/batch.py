"""Derivatives at many points at once: ``batch_jacobian(b, f, X)`` is the Jacobian of f at
each row of X (``jax.vmap(jax.jacfwd(f))(X)``).

The generic plan maps the per-point plan's compiled computation (its ``point_function``)
with the backend's vectorizing transform (``jax.vmap``, ``torch.func.vmap``), and loops
over the points with the per-point plan where there is none. A backend that evaluates
many points natively registers its own :class:`BatchPlan` (the dual engine does).
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Literal, Optional, Union

import numpy as np

from anydiff import _core
from anydiff._arrays import dtype_of, ops_for
from anydiff._contract import AbstractBackend, Function, check_backend
from anydiff._modes import check_option
from anydiff._signature import Constant
from anydiff.operators._registry import operator, plan_class, register_plan
from anydiff.operators.first_order.gradient import GradientPlan
from anydiff.operators.first_order.jacobian import JacobianPlan
from anydiff.operators.second_order.hessian import HessianPlan

__all__ = [
    "BatchOperator",
    "BatchPlan",
    "GenericBatchPlan",
    "PointPlan",
    "Resident",
    "batch_gradient",
    "batch_hessian",
    "batch_jacobian",
]

BatchOperator = Literal["jacobian", "gradient", "hessian"]
"""The operators ``batch_*`` evaluates at many points."""

PointPlan = Union[JacobianPlan, GradientPlan, HessianPlan]
"""The per-point plan a batch plan holds."""

_PER_POINT: dict[str, type[PointPlan]] = {
    "jacobian": JacobianPlan,
    "gradient": GradientPlan,
    "hessian": HessianPlan,
}


class Resident:
    """Points and results kept on the GPU (``BatchPlan.resident``): ``run()`` evaluates
    without host transfers and waits for the GPU; ``read()`` copies the results back."""

    def __init__(self, run: Callable[[], None], read: Callable[[], Any]) -> None:
        self.run, self.read = run, read


@operator
class BatchPlan(abc.ABC):
    """Prepared ``batch_jacobian`` / ``batch_gradient`` / ``batch_hessian``.

    ``BatchPlan(operator, b, f, X, *constants)`` prepares the batch plan registered for
    ``b``; ``plan(X, *constants)`` evaluates at every row of X. X's rows have the shape of
    the point the plan was prepared with; the number of rows may change between calls.

    Attributes:
        operator: ``"jacobian"``, ``"gradient"`` or ``"hessian"``.
        backend: the backend.
        plan: the per-point plan (prepared at ``X[0]``).
        point_shape: the shape of one point.
    """

    def __new__(cls, operator: str, b: Any, *args: Any) -> Any:
        if cls is BatchPlan:
            order = 2 if operator == "hessian" else 1
            cls = plan_class(BatchPlan, check_backend(b), order)
        return super().__new__(cls)

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        check_backend(b)
        check_option("operator", operator, tuple(_PER_POINT))
        if any(not isinstance(a, Constant) for a in args):
            raise TypeError(
                f"batch_{operator} differentiates the batched first argument only; wrap the "
                "other arguments in anydiff.Constant"
            )
        shape = tuple(getattr(X, "shape", np.shape(X)))
        if len(shape) < 1:
            raise ValueError(
                f"batch_{operator}: X needs a leading batch axis; got a scalar of shape ()"
            )
        self.operator, self.backend = operator, b
        self.plan: PointPlan = _PER_POINT[operator](b, f, _first_point(X, shape), *args)
        self.point_shape = shape[1:]

    def __call__(self, X: Any, *args: Any) -> Any:
        shape = self._batch_shape(X)
        sig = self.plan.signature
        _, cs = sig.split((_first_point(X, shape), *args))
        empty = self._allocatable(shape[0])
        if empty is not None:
            return empty
        return self.evaluate(sig.to_backend((X,)), cs, shape[0])

    @abc.abstractmethod
    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        """The derivatives at the ``batch`` points of ``xs`` (backend arrays with a leading
        batch axis) and constants ``cs``, as the user's arrays."""

    def resident(self, X: Any, *args: Any) -> Resident:
        """Uploads X once and keeps it, with room for the results, on the GPU: for
        repeated evaluations without host transfers (``DualBackend(device="gpu")``,
        ``jacobian`` and ``gradient`` plans). ``run()`` evaluates, ``read()`` returns
        what ``plan(X)`` would."""
        raise TypeError(
            "resident evaluation needs a jacobian or gradient plan of "
            f"DualBackend(device='gpu'); got a {self.operator} plan of {self.plan.inner!r}"
        )

    def _batch_shape(self, X: Any) -> tuple:
        """X's shape, checked against the point the plan was prepared with."""
        shape = tuple(getattr(X, "shape", np.shape(X)))
        if shape[1:] != self.point_shape or not shape:
            raise ValueError(
                f"batch_{self.operator}: expected X of shape (batch, "
                + ", ".join(map(str, self.point_shape))
                + f"); got {shape}"
            )
        return shape

    def _allocatable(self, batch: int) -> Any:
        """Check that the results of ``batch`` points fit in memory (``MemoryError`` naming
        their size, before any work); for no points, the empty result itself."""
        shape, dtype = self._result_shape(batch), np.dtype(self.plan.dtype)
        if batch > 1:  # one point's result is checked where the per-point plan sizes it
            _core.ensure_allocatable(f"the batch of {self.operator}s", shape, dtype.itemsize)
        if batch:
            return None
        sig = self.plan.signature
        empty = np.zeros(shape, dtype=dtype)
        return (
            sig.user_ops.from_numpy(empty, like=sig.like) if sig.user_ops.name != "numpy" else empty
        )

    def _result_shape(self, batch: int) -> tuple[int, ...]:
        """The shape of the batched result: the batch, then one point's result."""
        inputs = self.plan.inputs.shape
        if self.operator == "hessian":
            return (batch, *inputs, *inputs)
        if self.operator == "gradient":
            return (batch, *inputs)
        return (batch, *self.plan.outputs.shape, *inputs)


@register_plan(BatchPlan, AbstractBackend)
class GenericBatchPlan(BatchPlan):
    """The per-point computation mapped by the backend's vectorizing transform, else a loop."""

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        super().__init__(operator, b, f, X, *args)
        point = self.plan.point_function()
        backend = self.plan.outer if operator == "hessian" else self.plan.inner
        vectorized = backend.vectorize(point, ((0,), None)) if point is not None else None
        self._vectorized: Optional[Function] = (
            backend.compile(vectorized) if vectorized is not None else None
        )

    def __call__(self, X: Any, *args: Any) -> Any:
        if self._vectorized is not None:
            return super().__call__(X, *args)
        shape = self._batch_shape(X)
        empty = self._allocatable(shape[0])
        if empty is not None:
            return empty
        results = [self.plan(X[i], *args) for i in range(shape[0])]
        sig = self.plan.signature
        return sig.user_ops.stack(results) if sig.user_ops.name != "numpy" else np.stack(results)

    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        if self._vectorized is None:
            raise TypeError(f"{type(self.backend).__name__} has no vectorizing transform")
        return self.plan.signature.to_user(self._vectorized(xs, cs))


def _first_point(X: Any, shape: tuple) -> Any:
    """X's first row; zeros of a row's shape, of X's kind and dtype, when X has no rows
    (the plan still needs a point for the shapes of f's value)."""
    if shape[0]:
        return X[0]
    ops = ops_for(X)
    zeros = np.zeros(shape[1:], dtype=dtype_of(X))
    return ops.from_numpy(zeros, like=X) if ops.name != "numpy" else zeros


def batch_jacobian(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The Jacobian of f at each row of X: shape ``(batch, *out_shape, *in_shape)``."""
    return BatchPlan("jacobian", b, f, X, *args)(X, *args)


def batch_gradient(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The gradient of scalar f at each row of X: shape ``X.shape``."""
    return BatchPlan("gradient", b, f, X, *args)(X, *args)


def batch_hessian(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The Hessian of scalar f at each row of X: shape ``(batch, *in_shape, *in_shape)``."""
    return BatchPlan("hessian", b, f, X, *args)(X, *args)
