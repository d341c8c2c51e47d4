"""What is timed: anydiff's prepared calls per backend, and the frameworks' native calls.

A :class:`Contender` turns a problem into a zero-argument call (all preparation, tracing
and compilation done before it is returned) for one operator.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

import anydiff
from anydiff.bench.problems import Problem

__all__ = ["OPERATORS", "Contender", "contenders_for", "enable_x64", "installed"]

OPERATORS = ("jacobian", "gradient", "hessian")
"""Operators the benchmark knows."""

Call = Callable[[], Any]

_FD_MAX_INPUTS = {"jacobian": 4096, "gradient": 4096, "hessian": 64}
"""Largest input size for which finite differences are timed (they cost O(n) or O(n^2)
function evaluations from Python)."""

_DUAL_MAX_INPUTS = {"jacobian": 4096, "gradient": 4096, "hessian": 256}
"""Largest input size for the dual engine's dense operators (its dense Hessians carry
n^2 lanes)."""


def installed(framework: str) -> bool:
    """Whether ``framework`` (``numpy``, ``jax``, ``torch``, ``scipy``) is importable."""
    return framework == "numpy" or importlib.util.find_spec(framework) is not None


def enable_x64() -> None:
    """Make JAX compute in float64 like the other frameworks (a no-op without JAX)."""
    if installed("jax"):
        import jax

        jax.config.update("jax_enable_x64", True)


@dataclass(frozen=True)
class Contender:
    """One way of computing ``operator``: an anydiff backend or a native call.

    Attributes:
        name: label in reports, e.g. ``JaxBackend(forward)`` or ``jax.jit(jax.jacfwd)``.
        operator: ``jacobian``, ``gradient`` or ``hessian``.
        native: True for the framework's own call, False for anydiff.
        framework: the array framework the problem is built for (``numpy``/``jax``/``torch``).
        exact: False for finite differences (checked with a looser tolerance).
        build: ``(f, x) -> call``; does all preparation and returns the timed call.
        max_inputs: largest input size it is timed on (None: any).
        traces: True for DualBackend: it gets the version of the function it can trace
            (numpy or JAX code, ``Problem.traceable``) and a numpy point.
        sparse: True for contenders that return sparse matrices (run on sparse Jacobians).
    """

    name: str
    operator: str
    native: bool
    framework: str
    exact: bool
    build: Callable[[Callable[[Any], Any], Any], Call]
    max_inputs: Optional[int] = None
    traces: bool = False
    sparse: bool = False

    def setup(self, problem: Problem) -> Call:
        """The prepared zero-argument call of this contender on ``problem``."""
        if self.traces and problem.traceable is not None:
            return self.build(problem.function(problem.traceable), problem.point("numpy"))
        return self.build(problem.function(self.framework), problem.point(self.framework))


_PREPARE = {
    "jacobian": anydiff.prepare_jacobian,
    "gradient": anydiff.prepare_gradient,
    "hessian": anydiff.prepare_hessian,
}


def _anydiff(
    label: str,
    operator: str,
    framework: str,
    backend: Callable[[], anydiff.AbstractBackend],
    exact: bool = True,
    max_inputs: Optional[int] = None,
    traces: bool = False,
    sparse: bool = False,
) -> Contender:
    def build(f: Callable[[Any], Any], x: Any) -> Call:
        plan = _PREPARE[operator](backend(), f, x)
        return lambda: plan(x)

    return Contender(label, operator, False, framework, exact, build, max_inputs, traces, sparse)


def _jax_native(operator: str, transform: str) -> Contender:
    def build(f: Callable[[Any], Any], x: Any) -> Call:
        import jax

        g = jax.jit(getattr(jax, transform)(f))
        return lambda: g(x)

    return Contender(f"jax.jit(jax.{transform})", operator, True, "jax", True, build)


def _torch_native(operator: str, transform: str) -> Contender:
    def build(f: Callable[[Any], Any], x: Any) -> Call:
        import torch.func

        g = getattr(torch.func, transform)(f)
        return lambda: g(x)

    return Contender(f"torch.func.{transform}", operator, True, "torch", True, build)


def _scipy_native(operator: str) -> Contender:
    def build(f: Callable[[Any], Any], x: Any) -> Call:
        from scipy.optimize._numdiff import approx_derivative

        shape = np.shape(x)
        out_shape = np.shape(f(x))

        def flat(v: np.ndarray) -> np.ndarray:
            return np.ravel(f(v.reshape(shape)))

        def call() -> np.ndarray:
            jac = approx_derivative(flat, np.ravel(x), method="3-point")
            return np.reshape(jac, out_shape + shape)

        return call

    return Contender("scipy approx_derivative(3-point)", operator, True, "numpy", False, build)


def _catalogue() -> list[Contender]:
    from anydiff import (
        DualBackend,
        FiniteDifferences,
        HigherOrderBackend,
        JaxBackend,
        TorchBackend,
    )

    out: list[Contender] = []
    for op, limit in _DUAL_MAX_INPUTS.items():
        out.append(
            _anydiff("DualBackend()", op, "numpy", DualBackend, max_inputs=limit, traces=True)
        )
    out += _sparse_catalogue()
    for op in ("jacobian", "gradient"):
        if installed("jax"):
            out += [
                _anydiff("JaxBackend(forward)", op, "jax", lambda: JaxBackend("forward")),
                _anydiff("JaxBackend(reverse)", op, "jax", lambda: JaxBackend("reverse")),
            ]
        if installed("torch"):
            out += [
                _anydiff("TorchBackend(forward)", op, "torch", lambda: TorchBackend("forward")),
                _anydiff("TorchBackend(reverse)", op, "torch", lambda: TorchBackend("reverse")),
            ]
        out.append(
            _anydiff(
                "FiniteDifferences(central)",
                op,
                "numpy",
                lambda: FiniteDifferences("central"),
                exact=False,
            )
        )
    op = "hessian"
    if installed("jax"):
        fwd, rev = (lambda: JaxBackend("forward")), (lambda: JaxBackend("reverse"))
        out += [
            _anydiff(
                "HigherOrder(JaxFwd, JaxRev)", op, "jax", lambda: HigherOrderBackend((fwd(), rev()))
            ),
            _anydiff(
                "HigherOrder(JaxRev, JaxRev)", op, "jax", lambda: HigherOrderBackend((rev(), rev()))
            ),
        ]
    if installed("torch"):
        tfwd, trev = (lambda: TorchBackend("forward")), (lambda: TorchBackend("reverse"))
        out += [
            _anydiff(
                "HigherOrder(TorchFwd, TorchRev)",
                op,
                "torch",
                lambda: HigherOrderBackend((tfwd(), trev())),
            ),
            _anydiff(
                "HigherOrder(TorchRev, TorchRev)",
                op,
                "torch",
                lambda: HigherOrderBackend((trev(), trev())),
            ),
        ]
    out.append(
        _anydiff(
            "FiniteDifferences(central)",
            op,
            "numpy",
            lambda: FiniteDifferences("central"),
            exact=False,
        )
    )
    if installed("jax"):
        out += [
            _jax_native("jacobian", "jacfwd"),
            _jax_native("jacobian", "jacrev"),
            _jax_native("gradient", "grad"),
            _jax_native("hessian", "hessian"),
        ]
    if installed("torch"):
        out += [
            _torch_native("jacobian", "jacfwd"),
            _torch_native("jacobian", "jacrev"),
            _torch_native("gradient", "grad"),
            _torch_native("hessian", "hessian"),
        ]
    if installed("scipy"):
        out += [_scipy_native("jacobian"), _scipy_native("gradient")]
    return out


def _sparse_catalogue() -> list[Contender]:
    """Sparse Jacobians (run when the problem's Jacobian is mostly zeros)."""
    from anydiff import DualBackend, FiniteDifferences, JaxBackend, SparseBackend, TracerDetector

    op = "jacobian"
    out = [
        _anydiff(
            "SparseBackend(DualBackend(), TracerDetector())",
            op,
            "numpy",
            lambda: SparseBackend(DualBackend(), detector=TracerDetector()),
            traces=True,
            sparse=True,
        ),
        _anydiff(
            "SparseBackend(FiniteDifferences(central))",
            op,
            "numpy",
            lambda: SparseBackend(FiniteDifferences("central")),
            exact=False,
            sparse=True,
        ),
    ]
    if installed("jax"):
        out.append(
            _anydiff(
                "SparseBackend(JaxBackend(forward))",
                op,
                "jax",
                lambda: SparseBackend(JaxBackend("forward")),
                sparse=True,
            )
        )
    if installed("jax") and installed("asdex"):

        def build(f: Callable[[Any], Any], x: Any) -> Call:
            import asdex
            import jax

            g = jax.jit(asdex.jacobian(f, x))
            return lambda: g(x)

        out.append(Contender("jax.jit(asdex.jacobian)", op, True, "jax", True, build, sparse=True))
    return out


SPARSE_DENSITY = 0.2
"""Jacobians with at most this fraction of nonzeros get the sparse contenders too."""


def contenders_for(problem: Problem, operator: str, sparse: bool = False) -> list[Contender]:
    """Every installed contender that can compute ``operator`` on ``problem``: anydiff
    first, then the native calls; the sparse ones too when ``sparse``."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown operator {operator!r}; expected one of {OPERATORS}")
    chosen = []
    for c in _catalogue():
        if c.operator != operator or c.framework not in problem.frameworks:
            continue
        if c.sparse and not sparse:
            continue
        if c.traces and problem.traceable is None:
            continue
        if not c.exact and problem.n > _FD_MAX_INPUTS[operator]:
            continue
        if c.max_inputs is not None and problem.n > c.max_inputs:
            continue
        chosen.append(c)
    return sorted(chosen, key=lambda c: c.native)
