"""Derivatives at many points at once: ``batch_jacobian(b, f, X)`` is the Jacobian of f at
each row of X (``jax.vmap(jax.jacfwd(f))(X)``).

A backend with a native batched path (the dual engine) uses it; a backend with a
vectorizing transform (``jax.vmap``, ``torch.func.vmap``) maps the compiled per-point
computation; any other backend loops over the points with one prepared plan.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from anydiff._layout import Layout
from anydiff._plans import GradientPlan, HessianPlan, JacobianPlan, _check_backend, _Plan
from anydiff._signature import Constant
from anydiff.backends.base import AbstractBackend

__all__ = ["BatchPlan", "batch_gradient", "batch_hessian", "batch_jacobian"]

Function = Callable[..., Any]
_PER_POINT: dict[str, type] = {
    "jacobian": JacobianPlan,
    "gradient": GradientPlan,
    "hessian": HessianPlan,
}


class Resident:
    """Points and results kept on the GPU (``BatchPlan.resident``): ``run()`` evaluates
    without host transfers and waits for the GPU; ``read()`` copies the results back."""

    def __init__(self, run: Callable[[], None], read: Callable[[], Any]) -> None:
        self.run, self.read = run, read


class BatchPlan:
    """Prepared ``batch_jacobian`` / ``batch_gradient`` / ``batch_hessian``.

    ``plan(X, *constants)`` evaluates at every row of X; X's rows have the shape of the
    point the plan was prepared with, and the number of rows may change between calls.
    """

    def __init__(self, operator: str, b: AbstractBackend, f: Function, X: Any, *args: Any) -> None:
        _check_backend(b)
        if any(not isinstance(a, Constant) for a in args):
            raise TypeError(
                f"batch_{operator} differentiates the batched first argument only; wrap the "
                "other arguments in anydiff.Constant"
            )
        shape = tuple(getattr(X, "shape", np.shape(X)))
        if len(shape) < 1 or shape[0] < 1:
            raise ValueError(
                f"batch_{operator}: X needs a leading batch axis of at least one point; "
                f"got shape {shape}"
            )
        self.operator, self.backend = operator, b
        self.plan: _Plan = _PER_POINT[operator](b, f, X[0], *args)
        self.point_shape = shape[1:]
        sig, plan = self.plan.signature, self.plan
        layout = Layout(sig.shapes, True)
        order = "batch_hessian" if operator == "hessian" else "batch_jacobian"
        backend = plan.outer if operator == "hessian" else plan.inner
        self._native = backend.native(order, plan._fn, layout, plan.dtype)
        per_point = self._per_point_function()
        vectorized = backend.vectorize(per_point, ((0,), None)) if self._native is None else None
        self._vectorized = backend.compile(vectorized) if vectorized is not None else None

    def _per_point_function(self) -> Function:
        """The compiled per-point computation as a function of (xs, cs)."""
        plan = self.plan
        if self.operator == "jacobian":
            return plan.lin._whole(False, plan._unflatten)  # type: ignore[attr-defined]
        if self.operator == "gradient":
            return lambda xs, cs: plan._grad(xs, cs)[0]  # type: ignore[attr-defined]
        if getattr(plan, "_native", None) is not None:
            return lambda xs, cs: plan._hessian(xs, cs)  # type: ignore[attr-defined]
        return plan.lin._whole(plan.symmetrize, plan._shaped)  # type: ignore[attr-defined]

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

    def __call__(self, X: Any, *args: Any) -> Any:
        shape = self._batch_shape(X)
        sig, plan = self.plan.signature, self.plan
        _, cs = sig.split((X[0], *args))
        xs = sig.to_backend((X,))
        if self._native is not None:
            return self._from_native(xs, cs, shape[0])
        if self._vectorized is not None:
            return sig.to_user(self._vectorized(xs, cs))
        results = [plan(X[i], *args) for i in range(shape[0])]
        return sig.user_ops.stack(results) if sig.user_ops.name != "numpy" else np.stack(results)

    def resident(self, X: Any, *args: Any) -> Resident:
        """Uploads X once and keeps it, with room for the results, on the GPU: for
        repeated evaluations without host transfers (``DualBackend(device="gpu")``,
        ``jacobian`` and ``gradient`` plans). ``run()`` evaluates, ``read()`` returns
        what ``plan(X)`` would."""
        backend = self.plan.inner
        native = backend.native("resident_batch_jacobian", self.plan._fn, None, self.plan.dtype)
        if native is None or self.operator == "hessian":
            raise TypeError(
                "resident evaluation needs a jacobian or gradient plan of "
                f"DualBackend(device='gpu'); got a {self.operator} plan of {backend!r}"
            )
        shape = self._batch_shape(X)
        sig, plan = self.plan.signature, self.plan
        _, cs = sig.split((X[0], *args))
        handle = native(sig.to_backend((X,)), cs, shape[0], plan.dtype)
        inputs, outputs = plan.inputs.shape, plan.outputs
        out_shape = () if self.operator == "gradient" else outputs.shape

        def read() -> Any:
            _, jac = handle.read()
            return sig.to_user(jac.reshape((shape[0], *out_shape, *inputs)))

        return Resident(handle.run, read)

    def _from_native(self, xs: tuple, cs: tuple, batch: int) -> Any:
        plan, sig = self.plan, self.plan.signature
        inputs, outputs = plan.inputs.shape, plan.outputs
        if self.operator == "hessian":
            _, _, hess = self._native(xs, cs, batch, plan.dtype)
            return sig.to_user(hess.reshape((batch, *inputs, *inputs)))
        _, jac = self._native(xs, cs, batch, plan.dtype, values=False)
        if self.operator == "gradient":
            return sig.to_user(jac.reshape((batch, *inputs)))
        return sig.to_user(jac.reshape((batch, *outputs.shape, *inputs)))


def batch_jacobian(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The Jacobian of f at each row of X: shape ``(batch, *out_shape, *in_shape)``."""
    return BatchPlan("jacobian", b, f, X, *args)(X, *args)


def batch_gradient(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The gradient of scalar f at each row of X: shape ``X.shape``."""
    return BatchPlan("gradient", b, f, X, *args)(X, *args)


def batch_hessian(b: AbstractBackend, f: Function, X: Any, *args: Any) -> Any:
    """The Hessian of scalar f at each row of X: shape ``(batch, *in_shape, *in_shape)``."""
    return BatchPlan("hessian", b, f, X, *args)(X, *args)
