"""SparseBackend: sparse Jacobians and Hessians, its configuration (plans in ``_plans``)."""

from __future__ import annotations

from typing import Literal, Optional

from anydiff._contract import AbstractBackend, DelegatingBackend
from anydiff._modes import check_option
from anydiff.coloring import ORDERS, ColoringOrder
from anydiff.detection import AbstractDetector, AutoDetector

__all__ = ["SparseBackend"]

SparseFormat = Literal["scipy", "bcoo", "torch"]
SPARSE_FORMATS: tuple[SparseFormat, ...] = ("scipy", "bcoo", "torch")
HessianColoring = Literal["auto", "direct", "star", "acyclic", "column"]
COMPRESSIONS = ("auto", "column", "row")


class SparseBackend(DelegatingBackend):
    """Compute ``jacobian`` and ``hessian`` as sparse matrices with ``inner``'s products.

    The detector gives the pattern once, at preparation; a coloring groups columns (JVPs)
    or rows (VJPs) — whichever the inner backend computes, the fewer colors when it does
    both — and each evaluation runs one product per color, then decompresses. Hessians use
    the coloring needing the fewest products among star (direct recovery), column (the
    Hessian as the gradient's Jacobian, direct) and acyclic (recovery by substitution),
    with ``inner``'s second order (pass a HigherOrderBackend for
    forward-over-reverse). Other operators are ``inner``'s.

    Args:
        inner: the backend computing the products.
        detector: finds the pattern; default ``AutoDetector()``: by tracing f
            (``TracerDetector``, valid for every input) when f is numpy or JAX code that
            traces, else ``LocalDetector()`` (dense matrices near the input, valid only
            there; a ``UserWarning`` when they are large). Give ``KnownPattern(S)`` when
            the pattern is known.
        coloring: the greedy ordering, or ``"best"`` (the strong orderings, then an
            improvement pass with a deterministic work budget: the same plan every run).
        time_budget: optional wall-clock limit (seconds) replacing the work budget.
        hessian_coloring: ``"auto"`` (fewest products; ``"direct"`` when the format
            decompresses by gathering), ``"direct"`` (star or column), ``"star"``,
            ``"acyclic"`` or ``"column"``; the plan's repr says which was used.
        compression: ``"auto"``, ``"column"`` (JVPs) or ``"row"`` (VJPs). With
            ``"auto"``, an inner backend that computes sparse Jacobians itself does so:
            ``DualBackend`` on the CPU works them out entry by entry from the traced
            program (entries known in advance, such as a stencil's, are computed once at
            preparation; no colors), for float64 inputs and programs without max/min
            reductions or matrix products, and uses the colored products otherwise (the
            coloring is then made on first need).
        format: result type: ``"scipy"`` (``scipy.sparse.csr_array``, the default for
            host inputs), ``"bcoo"`` (JAX BCOO, default for JAX arrays on an accelerator)
            or ``"torch"`` (sparse CSR tensor, default for torch tensors on an accelerator).
            For ``"bcoo"``/``"torch"`` decompression runs in the framework.
    """

    def __init__(
        self,
        inner: AbstractBackend,
        detector: Optional[AbstractDetector] = None,
        coloring: ColoringOrder = "best",
        time_budget: Optional[float] = None,
        hessian_coloring: HessianColoring = "auto",
        compression: Literal["auto", "column", "row"] = "auto",
        format: Optional[SparseFormat] = None,
    ) -> None:
        if not isinstance(inner, AbstractBackend) or isinstance(inner, SparseBackend):
            raise TypeError(f"SparseBackend wraps a dense anydiff backend; got {inner!r}")
        if detector is not None and not isinstance(detector, AbstractDetector):
            raise TypeError(
                "detector must be an anydiff detector (KnownPattern, LocalDetector, ...); "
                f"got {type(detector).__name__}"
            )
        self.inner = inner
        self.detector = detector if detector is not None else AutoDetector()
        self.coloring = check_option("coloring", coloring, ORDERS)
        if time_budget is not None and not time_budget >= 0:
            raise ValueError(
                f"time_budget must be a non-negative number of seconds; got {time_budget}"
            )
        self.time_budget = time_budget
        self.hessian_coloring = check_option(
            "hessian_coloring", hessian_coloring, ("auto", "direct", "star", "acyclic", "column")
        )
        self.compression = check_option("compression", compression, COMPRESSIONS)
        self.format = None if format is None else check_option("format", format, SPARSE_FORMATS)

    @property
    def first_order(self) -> AbstractBackend:
        return self.inner.first_order

    @property
    def second_order(self) -> tuple[AbstractBackend, AbstractBackend]:
        return self.inner.second_order

    @property
    def differentiates_any_function(self) -> bool:  # type: ignore[override]
        return self.inner.differentiates_any_function
