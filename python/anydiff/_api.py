"""The public operators. Unprepared calls prepare a plan (cached per function and
signature) and call it, so backends only ever implement the prepared path."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from anydiff._lazy import LazyOperator
from anydiff._plans import (
    DerivativePlan,
    GradientPlan,
    HessianPlan,
    HvpPlan,
    JacobianPlan,
    PullbackPlan,
    PushforwardPlan,
    SecondDerivativePlan,
    _check_backend,
)
from anydiff._signature import Constant, _describe
from anydiff.backends.base import AbstractBackend

Function = Callable[..., Any]

_CACHE: OrderedDict[Any, Any] = OrderedDict()
_CACHE_SIZE = 64


def _plan(cls: type, b: AbstractBackend, f: Function, args: tuple) -> Any:
    """A plan of ``cls`` for ``(b, f, args)``, reused while f, backend and signature match."""
    cls = _check_backend(b).plan_class(cls)
    try:
        key = (
            cls,
            b,
            f,
            tuple(_describe(a) for a in args),
            tuple(isinstance(a, Constant) for a in args),
        )
        hash(key)
    except TypeError:
        return cls(b, f, *args)
    plan = _CACHE.get(key)
    if plan is None:
        plan = _CACHE[key] = cls(b, f, *args)
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return plan


# --- prepare_* -------------------------------------------------------------------------


def prepare_derivative(b: AbstractBackend, f: Function, *args: Any) -> DerivativePlan:
    """Plan for ``derivative`` / ``value_and_derivative`` at arguments like ``args``."""
    return DerivativePlan(b, f, *args)


def prepare_second_derivative(b: AbstractBackend, f: Function, *args: Any) -> SecondDerivativePlan:
    """Plan for ``second_derivative`` / ``value_derivative_and_second_derivative``."""
    return SecondDerivativePlan(b, f, *args)


def prepare_gradient(b: AbstractBackend, f: Function, *args: Any) -> GradientPlan:
    """Plan for ``gradient`` / ``value_and_gradient``."""
    return GradientPlan(b, f, *args)


def prepare_jacobian(
    b: AbstractBackend, f: Function, *args: Any, batch_size: int | None = None
) -> JacobianPlan:
    """Plan for ``jacobian`` / ``value_and_jacobian``; ``batch_size`` overrides the block size."""
    return _check_backend(b).plan_class(JacobianPlan)(b, f, *args, batch_size=batch_size)


def prepare_hessian(
    b: AbstractBackend,
    f: Function,
    *args: Any,
    batch_size: int | None = None,
    symmetrize: bool = False,
) -> Any:
    """Plan for ``hessian`` / ``value_and_hessian`` / ``value_gradient_and_hessian``.

    ``symmetrize=True`` returns ``(H + H^T) / 2``, exactly symmetric.
    """
    cls = _check_backend(b).plan_class(HessianPlan)
    return cls(b, f, *args, batch_size=batch_size, symmetrize=symmetrize)


def prepare_hvp(b: AbstractBackend, f: Function, *args: Any) -> HvpPlan:
    """Plan for ``hvp``: call it as ``plan(*args, v=v, batched=False)``."""
    return HvpPlan(b, f, *args)


def prepare_pushforward(b: AbstractBackend, f: Function, *args: Any) -> PushforwardPlan:
    """Plan for JVPs: ``plan(*args)`` is the pushforward function at ``args``."""
    return PushforwardPlan(b, f, *args)


def prepare_pullback(b: AbstractBackend, f: Function, *args: Any) -> PullbackPlan:
    """Plan for VJPs: ``plan(*args)`` is the pullback function at ``args``."""
    return PullbackPlan(b, f, *args)


# --- unprepared operators, generated from one table -------------------------------------

_TABLE: dict[str, tuple[type, str, str]] = {
    "derivative": (DerivativePlan, "__call__", "df/dx for a scalar input x (any output shape)."),
    "value_and_derivative": (
        DerivativePlan,
        "value_and_derivative",
        "``(f(x), df/dx)`` for scalar x.",
    ),
    "second_derivative": (SecondDerivativePlan, "__call__", "d²f/dx² for a scalar input x."),
    "value_derivative_and_second_derivative": (
        SecondDerivativePlan,
        "value_derivative_and_second_derivative",
        "``(f(x), df/dx, d²f/dx²)`` for scalar x.",
    ),
    "gradient": (
        GradientPlan,
        "__call__",
        "Gradient of a scalar-valued f; a tuple for several inputs.",
    ),
    "value_and_gradient": (GradientPlan, "value_and_gradient", "``(f(*xs), gradient)``."),
    "jacobian": (
        JacobianPlan,
        "__call__",
        "Dense Jacobian, shape ``out_shape + in_shape``; tuples for several inputs/outputs.",
    ),
    "value_and_jacobian": (JacobianPlan, "value_and_jacobian", "``(f(*xs), jacobian)``."),
    "hessian": (
        HessianPlan,
        "__call__",
        "Hessian of a scalar f of one input, shape ``in_shape + in_shape``.",
    ),
    "value_and_hessian": (HessianPlan, "value_and_hessian", "``(f(x), hessian)``."),
    "value_gradient_and_hessian": (
        HessianPlan,
        "value_gradient_and_hessian",
        "``(f(x), gradient, hessian)``.",
    ),
    "pushforward_function": (
        PushforwardPlan,
        "__call__",
        "Callable ``tangents -> JVP`` at ``xs``.",
    ),
    "value_and_pushforward_function": (
        PushforwardPlan,
        "value_and_pushforward",
        "Callable ``tangents -> (f(*xs), JVP)`` at ``xs``.",
    ),
    "pullback_function": (PullbackPlan, "__call__", "Callable ``cotangent -> VJP`` at ``xs``."),
    "value_and_pullback_function": (
        PullbackPlan,
        "value_and_pullback",
        "Callable ``cotangent -> (f(*xs), VJP)`` at ``xs``.",
    ),
}


def _make(name: str, cls: type, method: str, doc: str) -> Function:
    def operator(b: AbstractBackend, f: Function, *args: Any) -> Any:
        return getattr(_plan(cls, b, f, args), method)(*args)

    operator.__name__ = operator.__qualname__ = name
    operator.__doc__ = (
        f"{doc}\n\nArgs:\n    b: the backend.\n    f: the function.\n    *args: its arguments; "
        "wrap non-differentiated ones in ``anydiff.Constant``.\n\n"
        f"Equivalent to ``prepare_*(b, f, *args)`` followed by the plan's ``{method}``."
    )
    return operator


for _name, (_cls, _method, _doc) in _TABLE.items():
    globals()[_name] = _make(_name, _cls, _method, _doc)


def jvp(b: AbstractBackend, f: Function, xs: Any, vs: Any, batched: bool = False) -> Any:
    """JVP of f at ``xs`` (an input, or a tuple of inputs and Constants) along ``vs``.

    With ``batched=True`` every tangent has a leading batch axis and so does the result.
    """
    args = xs if isinstance(xs, tuple) else (xs,)
    return _plan(PushforwardPlan, b, f, args)(*args)(vs, batched)


def vjp(b: AbstractBackend, f: Function, xs: Any, ws: Any, batched: bool = False) -> Any:
    """VJP of f at ``xs`` with cotangent(s) ``ws`` shaped like f's output."""
    args = xs if isinstance(xs, tuple) else (xs,)
    return _plan(PullbackPlan, b, f, args)(*args)(ws, batched)


def hvp(b: AbstractBackend, f: Function, x: Any, v: Any, batched: bool = False) -> Any:
    """Hessian-vector product ``H(x) @ v`` of a scalar f; ``x`` may be a tuple with Constants."""
    args = x if isinstance(x, tuple) else (x,)
    return _plan(HvpPlan, b, f, args)(*args, v=v, batched=batched)


# --- lazy operators --------------------------------------------------------------------


def lazy_jacobian(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The Jacobian at ``args`` as an operator: ``J @ v`` is a JVP, ``w @ J`` a VJP."""
    plan = _plan(JacobianPlan, b, f, args)
    return _lazy_from_jacobian(plan, args, "LazyJacobian")


def lazy_gradient(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The gradient of scalar f as a 1-row operator: ``g @ v`` is a directional derivative."""
    plan = _plan(JacobianPlan, b, f, args)
    plan._scalar_output()
    return _lazy_from_jacobian(plan, args, "LazyGradient")


def lazy_derivative(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The derivative at a scalar input as an operator: ``D @ t`` scales it by ``t``."""
    plan = _plan(JacobianPlan, b, f, args)
    plan._scalar_input()
    return _lazy_from_jacobian(plan, args, "LazyDerivative")


def lazy_hessian(b: AbstractBackend, f: Function, *args: Any) -> LazyOperator:
    """The Hessian of scalar f as an operator: ``H @ v`` is a Hessian-vector product."""
    plan = _plan(HvpPlan, b, f, args)
    xs, cs = plan.signature.split(args)
    sig, n, shape = plan.signature, plan.inputs.size, plan.inputs.shape

    def products(rows: Any) -> Any:
        k = rows.shape[0]
        v = sig.to_backend((rows.reshape((k, *shape)),))[0]
        return sig.to_user(plan._many(xs, cs, v)).reshape(k, n)

    dense = lambda: _plan(HessianPlan, plan.backend, plan.f, args)(*args)  # noqa: E731
    return LazyOperator(products, products, dense, shape, shape, plan.dtype, "LazyHessian")


def _lazy_from_jacobian(plan: JacobianPlan, args: tuple, name: str) -> LazyOperator:
    plan._one_input()
    if plan.outputs.multi:
        raise TypeError(
            f"{name}: f must return one array, not a tuple of {len(plan.outputs.shapes)}"
        )
    xs, cs = plan.signature.split(args)
    sig, lin = plan.signature, plan.lin

    def matvecs(rows: Any) -> Any:
        return sig.to_user(lin.jvp_rows(xs, cs, sig.to_backend((rows,))[0]))

    def rmatvecs(rows: Any) -> Any:
        return sig.to_user(lin.vjp_rows(xs, cs, sig.to_backend((rows,))[0]))

    return LazyOperator(
        matvecs,
        rmatvecs,
        lambda: plan(*args),
        plan.outputs.shape,
        plan.inputs.shape,
        plan.dtype,
        name,
    )
