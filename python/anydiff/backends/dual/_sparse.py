"""DualBackend's sparse plans: Jacobians entry by entry, Hessians from traced HVPs; both
detect their pattern from the program the plan traced (f is traced once)."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np

from anydiff.backends.dual._backend import DualBackend
from anydiff.backends.dual._plans import DualPlan
from anydiff.backends.sparse._plans import (
    ColoredHessianPlan,
    ColoredJacobianPlan,
    Products,
    SparseHessianPlan,
    SparseJacobianPlan,
)
from anydiff.coloring import Bicoloring, Coloring
from anydiff.ir._compile import TracedProgram, flat_points
from anydiff.operators._registry import register_plan

__all__ = ["DualSparseHessianPlan", "EntrywiseJacobianPlan"]

_F64 = np.dtype(np.float64)


@register_plan(SparseJacobianPlan, DualBackend)
class EntrywiseJacobianPlan(DualPlan, ColoredJacobianPlan):
    """The sparse Jacobian worked out on its pattern entry by entry from the traced
    program (``_core.Program.sparse_jacobian``: entries known in advance, such as a
    stencil's, computed once at preparation; no colors), for float64 inputs, scipy
    output and ``compression="auto"`` on the CPU. Programs with max/min reductions or
    matrix products, and other settings, use colored products of the engine; the coloring
    is made when something needs it."""

    def _program(self) -> Optional[tuple[str, Any]]:
        return self.traced.frontend, self.prepared.program

    entrywise: bool
    """Whether calls compute the entries directly (else colored products)."""

    def _prepare_values(self) -> None:
        self._kernels: dict[int, tuple[TracedProgram, Any]] = {}
        backend, sig = self.engine_backend, self.signature
        self.entrywise = (
            self.backend.compression == "auto"
            and self.format == "scipy"
            and backend.device == "cpu"
            and sig.dtype == _F64
            and self.dtype == _F64
            and self._kernel(*sig.split(self._args))[1] is not None
        )
        if not self.entrywise:
            super()._prepare_values()

    @property
    def coloring(self) -> Union[Coloring, Bicoloring]:  # type: ignore[override]
        if self._coloring is None:
            super()._prepare_values()
        assert self._coloring is not None
        return self._coloring

    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        if self.entrywise:
            prog, kernel = self._kernel(xs, cs)
            if kernel is not None:
                x = flat_points(xs, _F64)[0]
                return self.pattern.tocsr(kernel(x, prog.params(cs, _F64)))
        if self._coloring is None:
            super()._prepare_values()
        return self._from_colors(xs, cs)

    def _kernel(self, xs: tuple, cs: tuple) -> tuple[TracedProgram, Any]:
        """The entry-by-entry kernel of the program for ``(xs, cs)`` (None where the
        program has operations it cannot follow), compiled once per program."""
        prog = self.traced.program(xs, cs)
        found = self._kernels.get(id(prog))
        if found is None:
            try:
                kernel = prog.program.sparse_jacobian(self.pattern._core)
            except ValueError:
                kernel = None
            found = self._kernels[id(prog)] = (prog, kernel)
        return found

    def _products(self, kind: str) -> Products:
        dtype, traced = self.dtype, self.traced
        if kind == "column":
            return lambda xs, cs, t: traced.jvp_rows(xs, cs, np.asarray(t, dtype=dtype))
        return lambda xs, cs, w: traced.vjp_rows(xs, cs, np.asarray(w, dtype=dtype))


@register_plan(SparseHessianPlan, DualBackend)
class DualSparseHessianPlan(DualPlan, ColoredHessianPlan):
    """The colored Hessian from HVPs of the traced program (forward over reverse)."""

    def _program(self) -> Optional[tuple[str, Any]]:
        return self.traced.frontend, self.prepared.program

    def _products(self, args: tuple) -> Products:
        dtype, traced = self.dtype, self.traced
        return lambda xs, cs, v: traced.hvp_rows(xs, cs, np.asarray(v, dtype=dtype))

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        value, grad = self.traced.gradient(xs, cs, self.dtype)
        return value, grad.reshape(self.inputs.shape)
