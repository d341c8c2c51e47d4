"""The operators: one module per operator family, each with its plan class (the operator),
the generic derivation from a backend's primitives, and the public functions.

* ``first_order/``: ``jacobian`` (and ``derivative``), ``gradient``, ``pushforward``,
  ``pullback``;
* ``second_order/``: ``hessian`` (and ``second_derivative``), ``hvp``;
* ``batch``: the first- and second-order derivatives at many points.

A backend's faster way to compute an operator is a plan class registered for the
operator and the backend's class (:func:`register_plan`); calling the operator's plan
class, as every ``prepare_*`` and unprepared call does, prepares the most specific
registered plan (:func:`plan_class`).
"""

from anydiff.operators._plan import Plan
from anydiff.operators._registry import operator, plan_class, register_plan
from anydiff.operators.batch import (
    BatchPlan,
    GenericBatchPlan,
    Resident,
    batch_gradient,
    batch_hessian,
    batch_jacobian,
)
from anydiff.operators.first_order.gradient import (
    GenericGradientPlan,
    GradientPlan,
    gradient,
    lazy_gradient,
    prepare_gradient,
    value_and_gradient,
)
from anydiff.operators.first_order.jacobian import (
    DerivativePlan,
    GenericDerivativePlan,
    GenericJacobianPlan,
    JacobianPlan,
    derivative,
    jacobian,
    lazy_derivative,
    lazy_jacobian,
    prepare_derivative,
    prepare_jacobian,
    value_and_derivative,
    value_and_jacobian,
)
from anydiff.operators.first_order.pullback import (
    GenericPullbackPlan,
    PullbackPlan,
    prepare_pullback,
    pullback_function,
    value_and_pullback_function,
    vjp,
)
from anydiff.operators.first_order.pushforward import (
    GenericPushforwardPlan,
    PushforwardPlan,
    jvp,
    prepare_pushforward,
    pushforward_function,
    value_and_pushforward_function,
)
from anydiff.operators.second_order.hessian import (
    GenericHessianPlan,
    GenericSecondDerivativePlan,
    HessianPlan,
    SecondDerivativePlan,
    hessian,
    prepare_hessian,
    prepare_second_derivative,
    second_derivative,
    value_and_hessian,
    value_derivative_and_second_derivative,
    value_gradient_and_hessian,
)
from anydiff.operators.second_order.hvp import (
    GenericHvpPlan,
    HvpPlan,
    hvp,
    lazy_hessian,
    prepare_hvp,
)

__all__ = [
    "BatchPlan",
    "DerivativePlan",
    "GenericBatchPlan",
    "GenericDerivativePlan",
    "GenericGradientPlan",
    "GenericHessianPlan",
    "GenericHvpPlan",
    "GenericJacobianPlan",
    "GenericPullbackPlan",
    "GenericPushforwardPlan",
    "GenericSecondDerivativePlan",
    "GradientPlan",
    "HessianPlan",
    "HvpPlan",
    "JacobianPlan",
    "Plan",
    "PullbackPlan",
    "PushforwardPlan",
    "Resident",
    "SecondDerivativePlan",
    "batch_gradient",
    "batch_hessian",
    "batch_jacobian",
    "derivative",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "lazy_derivative",
    "lazy_gradient",
    "lazy_hessian",
    "lazy_jacobian",
    "operator",
    "plan_class",
    "prepare_derivative",
    "prepare_gradient",
    "prepare_hessian",
    "prepare_hvp",
    "prepare_jacobian",
    "prepare_pullback",
    "prepare_pushforward",
    "prepare_second_derivative",
    "pullback_function",
    "pushforward_function",
    "register_plan",
    "second_derivative",
    "value_and_derivative",
    "value_and_gradient",
    "value_and_hessian",
    "value_and_jacobian",
    "value_and_pullback_function",
    "value_and_pushforward_function",
    "value_derivative_and_second_derivative",
    "value_gradient_and_hessian",
    "vjp",
]
