"""anydiff: one differentiation API over JAX, torch, finite differences and user callbacks.

Write ``anydiff.jacobian(backend, f, x)`` once and switch ``backend`` to change what
computes the derivatives. The Rust core (``anydiff._core``) assembles Jacobians and
Hessians from batched products and computes finite differences.

Layout: ``operators/`` (one module per operator family, each with its plan class, its
generic derivation and its public functions), ``backends/`` (each backend with the plans
it registers for the operators it computes faster), ``_contract`` (what a backend is).
"""

from anydiff import coloring, operators
from anydiff._core import __version__
from anydiff._errors import (
    BackendUnavailableError,
    PreparationMismatchError,
    ShapeError,
    UnsupportedOperationError,
)
from anydiff._lazy import LazyOperator
from anydiff._signature import Constant
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
from anydiff.backends.sparse import SparseHessianPlan, SparseJacobianPlan
from anydiff.detection import (
    AbstractDetector,
    AutoDetector,
    KnownPattern,
    LocalDetector,
    TracerDetector,
    hessian_sparsity,
    jacobian_sparsity,
)
from anydiff.ode import ODEJacobian, ode_jacobian
from anydiff.operators.batch import BatchPlan, batch_gradient, batch_hessian, batch_jacobian
from anydiff.operators.first_order.gradient import (
    GradientPlan,
    gradient,
    lazy_gradient,
    prepare_gradient,
    value_and_gradient,
)
from anydiff.operators.first_order.jacobian import (
    DerivativePlan,
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
    PullbackPlan,
    prepare_pullback,
    pullback_function,
    value_and_pullback_function,
    vjp,
)
from anydiff.operators.first_order.pushforward import (
    PushforwardPlan,
    jvp,
    prepare_pushforward,
    pushforward_function,
    value_and_pushforward_function,
)
from anydiff.operators.second_order.hessian import (
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
from anydiff.operators.second_order.hvp import HvpPlan, hvp, lazy_hessian, prepare_hvp
from anydiff.operators.sparse_batch import SparseJacobians, batch_sparse_jacobian
from anydiff.spy import spy

__all__ = [
    "AbstractBackend",
    "AbstractDetector",
    "AutoDetector",
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
    "SparseJacobians",
    "TorchBackend",
    "TracerDetector",
    "UnsupportedOperationError",
    "__version__",
    "batch_gradient",
    "batch_hessian",
    "batch_jacobian",
    "batch_sparse_jacobian",
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
    "operators",
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
