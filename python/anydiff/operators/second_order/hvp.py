"""Hessian-vector products: the operator, its generic derivation, its public functions.

The generic plan differentiates the inner backend's gradient with the outer backend: a
JVP of it (forward over reverse, or forward over forward), or, the Hessian being
symmetric, a VJP of it.
"""

from __future__ import annotations

import abc
from typing import Any

from anydiff._contract import AbstractBackend, Function
from anydiff._lazy import LazyOperator
from anydiff.operators._cache import cached_plan
from anydiff.operators._plan import Plan, check_tangent
from anydiff.operators._registry import operator, register_plan
from anydiff.operators.first_order.gradient import gradient_expression
from anydiff.operators.second_order.hessian import HessianPlan

__all__ = ["GenericHvpPlan", "HvpPlan", "hvp", "lazy_hessian", "prepare_hvp"]


@operator
class HvpPlan(Plan, abc.ABC):
    """Prepared Hessian-vector products of a scalar f of one input."""

    operator = "hvp"
    order = 2

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, args)
        self._one_input()
        self._scalar_output()

    def __call__(self, *args: Any, v: Any, batched: bool = False) -> Any:
        """``H @ v`` at ``args``; with ``batched=True``, ``v`` has a leading batch axis."""
        sig = self.signature
        xs, cs = sig.split(args)
        v = check_tangent(sig, sig.tangent(v, 0, batched, "v"), self.inputs.shape, batched, "v")
        hv = (self.hvp_batch_at if batched else self.hvp_at)(xs, cs, v)
        return sig.group((sig.to_user(hv),))

    def hvp_at(self, xs: tuple, cs: tuple, v: Any) -> Any:
        """``H @ v`` for one backend array ``v`` shaped like the input."""
        return self.hvp_batch_at(xs, cs, v[None])[0]

    def hvp_batch_at(self, xs: tuple, cs: tuple, v: Any) -> Any:
        """``H @ v`` for a batch ``v`` (leading batch axis, then the input's shape)."""
        k = v.shape[0]
        return self.hvp_rows(xs, cs, v.reshape(k, self.inputs.size)).reshape(v.shape)

    @abc.abstractmethod
    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> Any:
        """HVPs along the rows of ``v`` (k x n) as a k x n array of the backend's kind."""


@register_plan(HvpPlan, AbstractBackend)
class GenericHvpPlan(HvpPlan):
    """JVPs (or, the Hessian being symmetric, VJPs) of the inner backend's gradient."""

    def __init__(self, backend: AbstractBackend, f: Function, *args: Any) -> None:
        super().__init__(backend, f, *args)
        outer, inner, dtype = self.outer, self.inner, self.dtype

        def grad(cs: tuple) -> Function:
            return lambda x: gradient_expression(inner, self.bound(cs), x, dtype)

        if outer.supports_forward:
            one = lambda xs, cs, v: outer.pushforward(grad(cs), xs, (v,))  # noqa: E731
            many = lambda xs, cs, v: outer.pushforward_batch(grad(cs), xs, (v,))  # noqa: E731
        else:
            one = lambda xs, cs, v: outer.pullback(grad(cs), xs, v)[0]  # noqa: E731
            many = lambda xs, cs, v: outer.pullback_batch(grad(cs), xs, v)[0]  # noqa: E731
        self._one, self._many = outer.compile(one), outer.compile(many)

    def hvp_at(self, xs: tuple, cs: tuple, v: Any) -> Any:
        return self._one(xs, cs, v)

    def hvp_batch_at(self, xs: tuple, cs: tuple, v: Any) -> Any:
        return self._many(xs, cs, v)

    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> Any:
        k, shape = v.shape[0], self.inputs.shape
        return self._many(xs, cs, v.reshape((k, *shape))).reshape(k, self.inputs.size)


# --- public functions ------------------------------------------------------------------


def prepare_hvp(b: AbstractBackend, f: Function, *args: Any) -> HvpPlan:
    """Plan for ``hvp``: call it as ``plan(*args, v=v, batched=False)``."""
    return HvpPlan(b, f, *args)


def hvp(b: AbstractBackend, f: Function, x: Any, v: Any, batched: bool = False) -> Any:
    """Hessian-vector product ``H(x) @ v`` of a scalar f; ``x`` may be a tuple with Constants."""
    args = x if isinstance(x, tuple) else (x,)
    return cached_plan(HvpPlan, b, f, args)(*args, v=v, batched=batched)


def lazy_hessian(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The Hessian of scalar f as an operator: ``H @ v`` is a Hessian-vector product."""
    plan = cached_plan(HvpPlan, b, f, args)
    plan.signature.refuse_trees("a LazyHessian")
    xs, cs = plan.signature.split(args)
    sig, n, shape = plan.signature, plan.inputs.size, plan.inputs.shape

    def products(rows: Any) -> Any:
        return sig.to_user(plan.hvp_rows(xs, cs, sig.to_backend((rows,))[0])).reshape(-1, n)

    def dense() -> Any:
        return cached_plan(HessianPlan, plan.backend, plan.f, args)(*args)

    return LazyOperator(products, products, dense, shape, shape, plan.dtype, "LazyHessian")
