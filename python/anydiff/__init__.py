"""anydiff: one differentiation API over JAX, torch, finite differences and user callbacks.

Write ``anydiff.jacobian(backend, f, x)`` once and switch ``backend`` to change what
computes the derivatives. The Rust core (``anydiff._core``) assembles Jacobians and
Hessians from batched products and computes finite differences.
"""

from anydiff import _api, coloring
from anydiff._api import (
    hvp,
    jvp,
    lazy_derivative,
    lazy_gradient,
    lazy_hessian,
    lazy_jacobian,
    prepare_derivative,
    prepare_gradient,
    prepare_hessian,
    prepare_hvp,
    prepare_jacobian,
    prepare_pullback,
    prepare_pushforward,
    prepare_second_derivative,
    vjp,
)
from anydiff._batch import BatchPlan, batch_gradient, batch_hessian, batch_jacobian
from anydiff._core import __version__
from anydiff._errors import (
    BackendUnavailableError,
    PreparationMismatchError,
    ShapeError,
    UnsupportedOperationError,
)
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
)
from anydiff._signature import Constant
from anydiff._sparse_plans import SparseHessianPlan, SparseJacobianPlan
from anydiff.backends import (
    AbstractBackend,
    AbstractFiniteDifference,
    AbstractForwardMode,
    AbstractReverseMode,
    CallbackBackend,
    DualBackend,
    FiniteDifferences,
    HigherOrderBackend,
    JaxBackend,
    SparseBackend,
    TorchBackend,
)
from anydiff.detection import (
    AbstractDetector,
    KnownPattern,
    LocalDetector,
    TracerDetector,
    hessian_sparsity,
    jacobian_sparsity,
)
from anydiff.ode import ODEJacobian, ode_jacobian
from anydiff.spy import spy

derivative = _api.derivative  # type: ignore[attr-defined]
value_and_derivative = _api.value_and_derivative  # type: ignore[attr-defined]
second_derivative = _api.second_derivative  # type: ignore[attr-defined]
value_derivative_and_second_derivative = _api.value_derivative_and_second_derivative  # type: ignore[attr-defined]
gradient = _api.gradient  # type: ignore[attr-defined]
value_and_gradient = _api.value_and_gradient  # type: ignore[attr-defined]
jacobian = _api.jacobian  # type: ignore[attr-defined]
value_and_jacobian = _api.value_and_jacobian  # type: ignore[attr-defined]
hessian = _api.hessian  # type: ignore[attr-defined]
value_and_hessian = _api.value_and_hessian  # type: ignore[attr-defined]
value_gradient_and_hessian = _api.value_gradient_and_hessian  # type: ignore[attr-defined]
pushforward_function = _api.pushforward_function  # type: ignore[attr-defined]
value_and_pushforward_function = _api.value_and_pushforward_function  # type: ignore[attr-defined]
pullback_function = _api.pullback_function  # type: ignore[attr-defined]
value_and_pullback_function = _api.value_and_pullback_function  # type: ignore[attr-defined]

__all__ = [
    "AbstractBackend",
    "AbstractDetector",
    "AbstractFiniteDifference",
    "AbstractForwardMode",
    "AbstractReverseMode",
    "BackendUnavailableError",
    "BatchPlan",
    "CallbackBackend",
    "Constant",
    "DerivativePlan",
    "DualBackend",
    "FiniteDifferences",
    "GradientPlan",
    "HessianPlan",
    "HigherOrderBackend",
    "HvpPlan",
    "JacobianPlan",
    "JaxBackend",
    "KnownPattern",
    "LazyOperator",
    "LocalDetector",
    "ODEJacobian",
    "PreparationMismatchError",
    "PullbackPlan",
    "PushforwardPlan",
    "SecondDerivativePlan",
    "ShapeError",
    "SparseBackend",
    "SparseHessianPlan",
    "SparseJacobianPlan",
    "TorchBackend",
    "TracerDetector",
    "UnsupportedOperationError",
    "__version__",
    "batch_gradient",
    "batch_hessian",
    "batch_jacobian",
    "coloring",
    "derivative",
    "gradient",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "jacobian",
    "jacobian_sparsity",
    "jvp",
    "lazy_derivative",
    "lazy_gradient",
    "lazy_hessian",
    "lazy_jacobian",
    "ode_jacobian",
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
    "second_derivative",
    "spy",
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
