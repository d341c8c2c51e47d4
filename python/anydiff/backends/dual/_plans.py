"""DualBackend's plans: each operator computed by the engine directly from the traced
program that the plan owns (no seeds built in Python, no callbacks into Python)."""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

import numpy as np

from anydiff import _core
from anydiff._arrays import kind_name, ops_named
from anydiff._contract import AbstractBackend, Function, cheaper_mode
from anydiff._defaults import MEMORY_CAP_BYTES
from anydiff._tree import leaves
from anydiff.backends.dual._backend import DualBackend
from anydiff.backends.dual._traced import TracedFunction
from anydiff.ir._compile import Frontend, TracedProgram
from anydiff.operators._plan import Plan
from anydiff.operators._registry import register_plan
from anydiff.operators.batch import BatchOperator, BatchPlan, Resident
from anydiff.operators.first_order.gradient import GradientPlan
from anydiff.operators.first_order.jacobian import DerivativePlan, JacobianPlan
from anydiff.operators.first_order.pullback import PullbackPlan
from anydiff.operators.first_order.pushforward import PushforwardPlan
from anydiff.operators.second_order.hessian import HessianPlan, SecondDerivativePlan
from anydiff.operators.second_order.hvp import HvpPlan

__all__ = [
    "DualBatchPlan",
    "DualDerivativePlan",
    "DualGradientPlan",
    "DualHessianPlan",
    "DualHvpPlan",
    "DualJacobianPlan",
    "DualPlan",
    "DualPullbackPlan",
    "DualPushforwardPlan",
    "DualSecondDerivativePlan",
]


class DualPlan(Plan):
    """A plan that traces f once, at preparation, and owns the traced function.

    f is called (once, for the output layout and dtype) and traced with the user's own
    arrays when they are JAX arrays, so JAX code (``x.at[i].set(v)``) works; with numpy
    arrays otherwise (the engine's own kind, what numpy code expects).
    """

    traced: TracedFunction
    """f traced for the engine."""
    prepared: TracedProgram
    """The program traced at preparation."""

    @property
    def engine_backend(self) -> DualBackend:
        """The DualBackend computing this plan's products."""
        backend = self.outer if self.order == 2 else self.inner
        assert isinstance(backend, DualBackend)
        return backend

    def _value_at_preparation(self, args: tuple) -> Any:
        sig = self.signature
        xs, cs = sig.split(args)
        if sig.user_ops.name == "jax":
            xs = sig.user_inputs(args)
        backend = self.engine_backend
        frontend = backend.frontend
        if frontend == "auto" and any(kind_name(x) == "jax" for x in xs):
            frontend = "jax"  # later calls bring numpy copies: keep JAX's tracer for them
        value, frontend = self._first_value(xs, cs, frontend)
        self.traced = TracedFunction(
            self._traced_function(), frontend, gpu=backend.gpu_kernels(), engine=backend.engine
        )
        constants = self._trace_constants(cs, value)
        self.prepared = self.traced.program(xs, constants, self._traced_value(value))
        return value

    def _first_value(self, xs: tuple, cs: tuple, frontend: Frontend) -> tuple[Any, Frontend]:
        """f at the preparation point and the front end to trace it with. f runs on the
        inputs' own arrays; JAX code given numpy inputs (``frontend="jax"``, or ``"auto"``
        where f fails on numpy arrays, as ``x.at[i].set(v)`` does) runs on JAX copies."""
        f = self.signature.bind(self.f, cs)
        on_numpy = all(kind_name(x) == "numpy" for x in xs)
        if frontend == "jax" and on_numpy:
            return f(*_jax_copies(xs)), frontend
        try:
            return f(*xs), frontend
        except Exception as err:
            if frontend != "auto" or not on_numpy or importlib.util.find_spec("jax") is None:
                raise
            failure = err
        try:
            return f(*_jax_copies(xs)), "jax"
        except Exception:
            raise failure from None

    def _traced_function(self) -> Function:
        """The function of ``(xs, cs)`` to trace: f itself by default."""
        return self.call_f

    def _traced_value(self, value: Any) -> Any:
        """The traced function's value at the preparation point, given f's (None: unknown,
        the value check then calls it)."""
        return value

    def _trace_constants(self, cs: tuple, value: Any) -> tuple:
        """The constants the traced function takes, given f's and its value."""
        return cs

    def value_at(self, xs: tuple, cs: tuple) -> Any:
        return self.outputs.split(self.traced.values(xs, cs, self.dtype))


def _jax_copies(xs: tuple) -> tuple:
    jnp = ops_named("jax").jnp
    return tuple(jnp.asarray(x) for x in xs)


@register_plan(JacobianPlan, DualBackend)
class DualJacobianPlan(DualPlan, JacobianPlan):
    """The dense Jacobian in one engine call: every column a forward lane, or every row a
    reverse sweep where the backend's cost model says that is cheaper (``mode``). With
    ``batch_size``, blocks of that many products assembled by the Rust policy."""

    def __init__(
        self, backend: AbstractBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size)
        n, m = self.inputs.size, self.outputs.size
        # The engine allocates the m x n result: refuse one that cannot fit by its size.
        _core.ensure_allocatable("the Jacobian", (m, n), self.dtype.itemsize)
        inner = self.inner
        if inner.supports_forward and inner.supports_reverse:
            # the traced program's own cost model: its products and lane widths
            self.mode = _core.pick_mode(n, m, self.prepared.program.vjp_cost)
        else:
            self.mode = cheaper_mode(inner, n, m)
        self._eye: Optional[np.ndarray] = None

    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        return self.unflatten(self.matrix(xs, cs))

    def value_and_jacobian_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        if self.mode == "forward" and self.batch_size is None:
            value, jac = self.traced.jacobian(xs, cs, self.dtype, values=True)
            assert value is not None
            return self.outputs.split(value), self.unflatten(jac)
        return self.value_at(xs, cs), self.jacobian_at(xs, cs)

    def matrix(self, xs: tuple, cs: tuple) -> np.ndarray:
        """The m x n Jacobian at ``(xs, cs)``."""
        n, m = self.inputs.size, self.outputs.size
        if self.batch_size is not None:
            return self._blocks(xs, cs, n, m)
        if self.mode == "forward":
            return self.traced.jacobian(xs, cs, self.dtype, values=False)[1]
        if self._eye is None:
            self._eye = np.eye(m, dtype=self.dtype)
        return self.traced.vjp_rows(xs, cs, self._eye)

    def _blocks(self, xs: tuple, cs: tuple, n: int, m: int) -> np.ndarray:
        forward, dtype = self.mode == "forward", self.dtype

        def oracle(start: int, k: int) -> np.ndarray:
            if forward:
                return self.traced.jvp_rows(xs, cs, np.eye(k, n, start, dtype=dtype))
            return self.traced.vjp_rows(xs, cs, np.eye(k, m, start, dtype=dtype))

        return _core.assemble(
            oracle, n, m, self.mode, dtype.name, self.batch_size, MEMORY_CAP_BYTES, False
        )


@register_plan(DerivativePlan, DualBackend)
class DualDerivativePlan(DerivativePlan, DualJacobianPlan):
    """The derivative as the engine's Jacobian at a scalar input."""


@register_plan(GradientPlan, DualBackend)
class DualGradientPlan(DualPlan, GradientPlan):
    """The gradient by one reverse sweep of the engine."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        sig = self.signature
        # the hot path: one float64 vector, no constants, numpy in and out
        prog = self.traced.program(*sig.split(args))
        hot = (
            sig.nargs == 1
            and sig.types[0] is np.ndarray
            and sig.dtypes[0] == np.float64
            and self.dtype == np.float64
            and len(sig.shapes[0]) == 1
        )
        self._gradient1 = prog.program.gradient1 if hot else None
        self._shape = sig.shapes[0]

    def __call__(self, *args: Any) -> Any:
        if self._gradient1 is not None and len(args) == 1:
            x = args[0]
            if type(x) is np.ndarray and x.shape == self._shape and x.dtype == np.float64:
                return self._gradient1(x)
        return super().__call__(*args)

    def gradient_at(self, xs: tuple, cs: tuple) -> tuple:
        return self.value_and_gradient_at(xs, cs)[1]

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, tuple]:
        value, grad = self.traced.gradient(xs, cs, self.dtype)
        return value, self.flat_inputs.split(grad)


@register_plan(PushforwardPlan, DualBackend)
class DualPushforwardPlan(DualPlan, PushforwardPlan):
    """JVPs as forward lanes of the engine (on the GPU for ``device="gpu"``)."""

    def jvp_batch_at(self, xs: tuple, cs: tuple, tangents: tuple) -> Any:
        k = tangents[0].shape[0]
        seeds = self.flat_inputs.flatten_rows(self.inner.ops, tangents, k)
        return self.outputs.split_rows(self.jvp_rows(xs, cs, seeds), k)

    def jvp_rows(self, xs: tuple, cs: tuple, t: Any) -> Any:
        return self.traced.jvp_rows(xs, cs, np.asarray(t, dtype=self.dtype))


@register_plan(PullbackPlan, DualBackend)
class DualPullbackPlan(DualPlan, PullbackPlan):
    """VJPs as reverse sweeps of the engine."""

    def vjp_batch_at(self, xs: tuple, cs: tuple, cotangents: Any) -> tuple:
        k = leaves(cotangents)[0].shape[0]
        rows = self.vjp_rows(xs, cs, self.outputs.flatten_rows(self.inner.ops, cotangents, k))
        return tuple(leaves(self.flat_inputs.split_rows(rows, k)))

    def vjp_rows(self, xs: tuple, cs: tuple, w: Any) -> Any:
        return self.traced.vjp_rows(xs, cs, np.asarray(w, dtype=self.dtype))


@register_plan(HessianPlan, DualBackend)
class DualHessianPlan(DualPlan, HessianPlan):
    """Value, gradient and Hessian in one engine call (forward over reverse, the identity
    as directions)."""

    def hessian_at(self, xs: tuple, cs: tuple) -> Any:
        return self._all(xs, cs)[2]

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        value, grad, _ = self._all(xs, cs)
        return value, grad

    def value_gradient_and_hessian(self, *args: Any) -> tuple[Any, Any, Any]:
        value, grad, hess = self._all(*self.signature.split(args))
        return self.signature.to_user(value), self._user_gradient(grad), self._user_hessian(hess)

    def value_and_hessian(self, *args: Any) -> tuple[Any, Any]:
        value, _, hess = self._all(*self.signature.split(args))
        return self.signature.to_user(value), self._user_hessian(hess)

    def _all(self, xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
        values, grads, hessians = self.traced.hessians(xs, cs, None, self.dtype)
        h = hessians[0]
        if self.symmetrize:
            h = (h + h.T) / 2
        return values[0], grads[0].reshape(self.inputs.shape), self.shaped(h)


@register_plan(SecondDerivativePlan, DualBackend)
class DualSecondDerivativePlan(DualPlan, SecondDerivativePlan):
    """Second derivatives from the Hessians of ``sum(w * f(x))`` at a scalar x, one per
    output element ``w = e_i``: one trace, with the weights as parameters."""

    def _traced_function(self) -> Function:
        def weighted(xs: tuple, cs: tuple) -> Any:
            n_constants = self.signature.nargs - self.signature.n_inputs
            constants, weights = cs[:n_constants], cs[n_constants:]
            outputs = leaves(self.call_f(xs, constants))
            return sum((w * o).sum() for w, o in zip(weights, outputs))

        return weighted

    def _trace_constants(self, cs: tuple, value: Any) -> tuple:
        return (*cs, *(np.zeros(np.shape(o)) for o in leaves(value)))

    def _traced_value(self, value: Any) -> Any:
        return None

    def all_derivatives_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any, Any]:
        dtype, size = self.dtype, self.outputs.size
        results = np.empty((3, size), dtype=dtype)
        for i in range(size):
            unit = np.zeros(size)
            unit[i] = 1.0
            weights = leaves(self.outputs.split(unit))
            values, grads, hessians = self.traced.hessians(xs, (*cs, *weights), None, dtype)
            results[:, i] = values[0], grads[0, 0], hessians[0, 0, 0]
        value, d, dd = (self.outputs.split(r) for r in results)
        return value, d, dd

    def second_derivative_at(self, xs: tuple, cs: tuple) -> Any:
        return self.all_derivatives_at(xs, cs)[2]

    def value_at(self, xs: tuple, cs: tuple) -> Any:
        return self.all_derivatives_at(xs, cs)[0]


@register_plan(HvpPlan, DualBackend)
class DualHvpPlan(DualPlan, HvpPlan):
    """Hessian-vector products by forward over reverse, 16 directions per pass."""

    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> Any:
        return self.traced.hvp_rows(xs, cs, np.asarray(v, dtype=self.dtype))


@register_plan(BatchPlan, DualBackend)
class DualBatchPlan(BatchPlan):
    """Every point in one engine call: forward lanes for Jacobians and gradients (compiled
    to machine code for many float64 points, see ``DualBackend(engine=...)``; on the GPU
    for ``device="gpu"``), forward over reverse for Hessians."""

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        super().__init__(operator, b, f, X, *args)
        if not isinstance(self.plan, DualPlan):
            raise TypeError(f"a DualBackend batch plan needs a DualBackend plan; got {self.plan}")
        self.traced = self.plan.traced

    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        plan, dtype = self.plan, self.plan.dtype
        if self.operator == "hessian":
            result = self.traced.hessians(xs, cs, batch, dtype)[2]
        else:
            result = self.traced.batch_jacobian(xs, cs, batch, dtype)
        return plan.signature.to_user(result.reshape(self._result_shape(batch)))

    def resident(self, X: Any, *args: Any) -> Resident:
        if self.traced.gpu is None or self.operator == "hessian":
            return super().resident(X, *args)
        shape = self._batch_shape(X)
        sig, plan = self.plan.signature, self.plan
        _, cs = sig.split((X[0], *args))
        handle = self.traced.resident_batch_jacobian(sig.to_backend((X,)), cs, shape[0], plan.dtype)
        result_shape = self._result_shape(shape[0])

        def read() -> Any:
            _, jac = handle.read()
            return sig.to_user(jac.reshape(result_shape))

        return Resident(handle.run, read)
