"""Sparse Jacobians of ODE right-hand sides for stiff solvers (scipy's BDF and Radau).

:func:`ode_jacobian` prepares, once, the sparse Jacobian ``d f / d y`` of ``f(t, y, *args)``
and returns an :class:`ODEJacobian` whose ``jac`` and ``jac_sparsity`` go straight to
``scipy.integrate.solve_ivp``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from anydiff._contract import AbstractBackend
from anydiff._signature import Constant
from anydiff.backends.sparse import SparseBackend, SparseJacobianPlan
from anydiff.coloring import Coloring, Pattern
from anydiff.detection import AbstractDetector
from anydiff.operators import prepare_jacobian

__all__ = ["ODEJacobian", "ode_jacobian"]

RightHandSide = Callable[..., Any]


class ODEJacobian:
    """The prepared sparse Jacobian of an ODE right-hand side ``f(t, y, *args)``.

    Pass ``jac=J.jac`` to ``solve_ivp`` (``J.jac_sparsity`` is there for solvers that only
    take a pattern). ``J(t, y)`` is the same as ``J.jac(t, y)``.

    Attributes:
        plan: the prepared :class:`~anydiff.SparseJacobianPlan` (t and args as Constants).
        args: the extra arguments of ``f`` used when ``jac`` is called without any.
        njev: how many Jacobians were evaluated.
    """

    def __init__(self, plan: SparseJacobianPlan, args: tuple) -> None:
        self.plan = plan
        self.args = args
        self._constants = tuple(Constant(a) for a in args)
        self.njev = 0

    @property
    def pattern(self) -> Pattern:
        """The detected sparsity pattern of ``d f / d y`` (n x n)."""
        return self.plan.pattern

    @property
    def coloring(self) -> Coloring:
        """The coloring the Jacobian is compressed with."""
        return self.plan.coloring

    @property
    def ncolors(self) -> int:
        """Products per Jacobian (JVPs or VJPs)."""
        return self.plan.coloring.ncolors

    @property
    def jac_sparsity(self) -> Any:
        """The pattern as a ``scipy.sparse.csr_array`` of ones (``solve_ivp``'s
        ``jac_sparsity``)."""
        return self.pattern.tocsr(np.ones(self.pattern.nnz))

    def jac(self, t: Any, y: Any, *args: Any) -> Any:
        """``d f / d y`` at ``(t, y)``: a ``scipy.sparse.csr_array`` for numpy ``y``.

        ``args`` replace the ones given at preparation (``solve_ivp(args=...)`` passes them).
        """
        consts = tuple(Constant(a) for a in args) if args else self._constants
        self.njev += 1
        # A Python float keeps JAX from compiling again for numpy scalars of other types.
        return self.plan(Constant(float(t)), y, *consts)

    __call__ = jac

    def __repr__(self) -> str:
        n = self.pattern.shape[0]
        return f"ODEJacobian({n} states, nnz={self.pattern.nnz}, {self.ncolors} colors)"


def ode_jacobian(
    f: RightHandSide,
    y0: Any,
    *args: Any,
    backend: AbstractBackend,
    t0: float = 0.0,
    detector: Optional[AbstractDetector] = None,
    **sparse_options: Any,
) -> ODEJacobian:
    """Prepare the sparse Jacobian ``d f / d y`` of the ODE right-hand side ``f(t, y, *args)``.

    ``backend`` is a dense first-order backend (``DualBackend``, ``JaxBackend``,
    ``TorchBackend``, ``FiniteDifferences``, ``CallbackBackend``); it is wrapped in
    ``SparseBackend(backend, detector=detector, **sparse_options)``. The pattern is found
    once at ``(t0, y0)``: the default ``AutoDetector`` traces f (numpy or JAX code; a
    pattern valid for every ``y``; with ``DualBackend`` the Jacobian is then computed entry
    by entry) and otherwise probes dense Jacobians near ``y0`` (valid only there, with a
    warning when they are large); ``KnownPattern(S)`` takes a known one. ``t`` and
    ``args`` are passed as :class:`~anydiff.Constant`, so they may change between calls
    without recompiling; with JAX, ``f`` must treat ``t`` as a traced scalar
    (``jnp.where(t > 1, ...)``, not ``if t > 1``).

    Example:
        >>> import numpy as np, anydiff
        >>> from anydiff.ode import ode_jacobian
        >>> from scipy.integrate import solve_ivp
        >>> def f(t, y, k):  # a stiff chain: y_i' = -k y_i + y_{i-1}^2
        ...     return -k * y + np.concatenate([[0.0], y[:-1] ** 2])
        >>> y0 = np.linspace(0.1, 1.0, 50)
        >>> J = ode_jacobian(f, y0, 100.0, backend=anydiff.FiniteDifferences())
        >>> J.ncolors
        2
        >>> sol = solve_ivp(f, (0.0, 1.0), y0, method="BDF", args=(100.0,), jac=J.jac)
        >>> bool(sol.success)
        True
    """
    if isinstance(backend, SparseBackend):
        raise TypeError(
            "ode_jacobian wraps the backend in SparseBackend itself; pass the dense backend "
            f"(got SparseBackend({backend.inner!r}))"
        )
    if not isinstance(backend, AbstractBackend):
        raise TypeError(
            "backend must be an anydiff backend (JaxBackend, TorchBackend, FiniteDifferences, "
            f"CallbackBackend); got {type(backend).__name__}"
        )
    sparse = SparseBackend(backend, detector=detector, **sparse_options)
    consts = tuple(Constant(a) for a in args)
    plan = prepare_jacobian(sparse, f, Constant(float(t0)), y0, *consts)
    if not isinstance(plan, SparseJacobianPlan):  # pragma: no cover (SparseBackend's plan)
        raise TypeError(f"expected a sparse Jacobian plan; got {type(plan).__name__}")
    return ODEJacobian(plan, args)
