"""SparseBackend's plans: detect once, color once, then one product per color and a
decompression per call.

``SparseJacobianPlan`` and ``SparseHessianPlan`` are SparseBackend's plans for the
Jacobian and Hessian operators, and operators in their own right, dispatched on the inner
backend: the colored plans here are their generic derivations; a backend that computes
sparse matrices its own way registers plans for them (DualBackend: entry by entry).
"""

from __future__ import annotations

import abc
import functools
from typing import Any, Callable, Optional, Union

import numpy as np

from anydiff import _core
from anydiff._contract import AbstractBackend, Function
from anydiff._errors import ShapeError
from anydiff.backends.sparse._backend import SparseBackend
from anydiff.coloring import (
    Bicoloring,
    Coloring,
    Pattern,
    acyclic_coloring,
    bicoloring,
    color_columns,
    color_rows,
    hessian_coloring,
    star_coloring,
)
from anydiff.detection import SparsityProblem
from anydiff.operators._plan import Plan
from anydiff.operators._registry import operator, register_plan
from anydiff.operators.batch import BatchOperator, BatchPlan
from anydiff.operators.first_order.gradient import gradient_expression
from anydiff.operators.first_order.jacobian import JacobianPlan
from anydiff.operators.first_order.pullback import PullbackPlan
from anydiff.operators.first_order.pushforward import PushforwardPlan
from anydiff.operators.second_order.hessian import HessianPlan
from anydiff.operators.second_order.hvp import HvpPlan

__all__ = [
    "ColoredHessianPlan",
    "ColoredJacobianPlan",
    "Products",
    "SparseBatchPlan",
    "SparseHessianPlan",
    "SparseJacobianPlan",
]

Products = Callable[[tuple, tuple, Any], Any]
"""Compressed products ``(xs, cs, seeds (k, n or m)) -> rows (k, m or n)``; for a
bicoloring ``(xs, cs, (column seeds (p, n), row seeds (q, m))) -> flat (p m + q n)``."""


class _SparseMatrices:
    """The colored machinery shared by sparse Jacobians and Hessians: pattern, coloring,
    compressed products and decompression into the result format."""

    signature: Any
    dtype: np.dtype
    pattern: Pattern
    format: str
    _coloring: Optional[Union[Coloring, Bicoloring]] = None
    _coloring_note: str = ""
    _direct: Optional[Callable[[tuple, tuple], Any]] = None

    def _colored(
        self,
        coloring: Union[Coloring, Bicoloring],
        products: Products,
        ops_backend: AbstractBackend,
    ) -> None:
        """The compiled compressed products (seeds are constants of the compiled call, as
        XLA then folds them), the decompressor and, for framework formats, the compiled
        gather that builds the sparse matrix on the device."""
        pattern, self._coloring = self.pattern, coloring
        ops, like = ops_backend.ops, self.signature.to_backend((self.signature.like,))[0]
        self._ops, compile = ops, ops_backend.compile

        def constant(a: np.ndarray) -> Any:
            a = np.ascontiguousarray(a)
            return ops.from_numpy(a, like=like) if ops.name != "numpy" else a

        seeds: Any
        if isinstance(coloring, Bicoloring):
            seeds = tuple(constant(s.T) for s in coloring.seed_matrices(self.dtype))
            self._decompress = coloring.decompressor()
        else:
            seeds = constant(coloring.seed_matrix(self.dtype).T)
            self._decompress = _core.Decompressor(pattern._core, coloring.colors, coloring.kind)
        self._compressed = compile(lambda xs, cs: products(xs, cs, seeds))
        wrap = _wrapper(self.format, pattern, ops, like)
        gather = self._decompress.gather_indices
        if coloring.ncolors == 0:  # a structurally zero matrix: no products at all
            zeros = ops.from_numpy(np.zeros(0, dtype=self.dtype), like=like)
            self._direct = lambda xs, cs: wrap(zeros)
        elif self.format != "scipy":
            if gather is None:
                raise ValueError(
                    f"format={self.format!r} decompresses by gathering, which an acyclic coloring "
                    "cannot; use hessian_coloring='star' or format='scipy'"
                )
            idx = ops.from_numpy(gather, like=like)
            self._direct = compile(lambda xs, cs: wrap(products(xs, cs, seeds).reshape(-1)[idx]))
        elif gather is not None and ops.name != "numpy":
            # the gather compiled with the products: only the nonzeros come to the host
            idx = ops.from_numpy(gather, like=like)
            values = compile(lambda xs, cs: products(xs, cs, seeds).reshape(-1)[idx])
            dtype = self.dtype
            self._direct = lambda xs, cs: pattern.tocsr(_host_copy(ops, values(xs, cs), dtype))
        else:
            self._direct = None

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        c = self._coloring
        if c is None:
            how = "entries computed directly"
        elif isinstance(c, Bicoloring):
            sides = f"{c.ncolumn_colors} JVPs + {c.nrow_colors} VJPs"
            how = f"bicoloring, {c.ncolors} products ({sides})"
        else:
            how = f"{c.kind} coloring, {c.ncolors} products"
        return (
            f"{type(self).__name__}({m} x {n}, {self.pattern.nnz} nonzeros, {how}"
            f"{self._coloring_note})"
        )

    def _from_colors(self, xs: tuple, cs: tuple) -> Any:
        """The sparse matrix at ``(xs, cs)`` from the compressed products."""
        if self._direct is not None:
            return self._direct(xs, cs)
        block = self._ops.to_numpy(self._compressed(xs, cs))
        values = self._decompress(block if block.dtype == self.dtype else block.astype(self.dtype))
        return self.pattern.tocsr(values)


@register_plan(JacobianPlan, SparseBackend)
@operator
class SparseJacobianPlan(JacobianPlan):
    """Prepared sparse ``jacobian`` of f of one input and one output.

    The result is an (m, n) sparse matrix over the flattened output and input.
    Attributes ``pattern`` and ``coloring`` show what was detected and how it was colored.
    """

    backend: SparseBackend

    def __init__(
        self, backend: SparseBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size)
        self._one_input()
        self.signature.refuse_trees("a sparse jacobian (an (m, n) matrix)")
        _float32_or_64(self)
        if self.outputs.multi:
            raise TypeError(
                "sparse jacobian: f must return one array, "
                f"not a tuple of {len(self.outputs.shapes)}"
            )
        inner, shape = self.inner, (self.outputs.size, self.inputs.size)
        # the dense plan is made only if the detector forms dense matrices
        dense = _dense_matrices(self, args, shape, lambda: JacobianPlan(inner, f, *args))
        self.pattern = _detect(backend, self._problem(args, shape, dense, hessian=False))
        self.format = backend.format or _default_format(self)

    def _user_jacobian(self, value: Any) -> Any:
        return value  # already the sparse matrix of the plan's format

    @property
    @abc.abstractmethod
    def coloring(self) -> Coloring:
        """The coloring of the products."""

    @abc.abstractmethod
    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        """The sparse Jacobian at ``(xs, cs)`` in the plan's ``format``."""

    def _problem(
        self, args: tuple, shape: tuple[int, int], dense: Callable[[Any], Any], hessian: bool
    ) -> SparsityProblem:
        xs, cs = self.signature.split(args)
        return SparsityProblem(self.bound(cs), xs[0], shape, dense, hessian, self._program)

    def _program(self) -> Optional[tuple[str, Any]]:
        """``(frontend, program)`` of f traced by the plan, for detectors that would trace
        it again; None where the plan does not trace f."""
        return None


@register_plan(SparseJacobianPlan, AbstractBackend)
class ColoredJacobianPlan(_SparseMatrices, SparseJacobianPlan):
    """Columns colored for JVPs or rows for VJPs — whichever the inner backend computes;
    when it does both, the fewer colors, a row color counting ``vjp_cost`` columns, or a
    bicoloring (JVPs and VJPs together) where that needs fewer products still."""

    def __init__(
        self, backend: SparseBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size)
        self._args = args
        self._prepare_values()

    @property
    def coloring(self) -> Union[Coloring, Bicoloring]:  # type: ignore[override]
        assert self._coloring is not None
        return self._coloring

    def jacobian_at(self, xs: tuple, cs: tuple) -> Any:
        return self._from_colors(xs, cs)

    def _prepare_values(self) -> None:
        """Set up how calls compute the matrix: here, color and compile the products."""
        coloring, self._coloring_note = _jacobian_coloring(self.backend, self.inner, self.pattern)
        if isinstance(coloring, Bicoloring):
            products = _two_sided(self._products("column"), self._products("row"), self.inner)
        else:
            products = self._products(coloring.kind)
        self._colored(coloring, products, self.inner)

    def _products(self, kind: str) -> Products:
        """The inner backend's JVPs (column coloring) or VJPs (row coloring)."""
        if kind == "column":
            return PushforwardPlan(self.inner, self.f, *self._args).jvp_rows
        return PullbackPlan(self.inner, self.f, *self._args).vjp_rows


@register_plan(HessianPlan, SparseBackend)
@operator
class SparseHessianPlan(HessianPlan):
    """Prepared sparse ``hessian`` of a scalar f of one input: an (n, n) sparse matrix.

    A star coloring (direct recovery) or an acyclic one (substitution) of the symmetric
    pattern; one Hessian-vector product per color. Attributes ``pattern`` and ``coloring``.
    """

    backend: SparseBackend

    def __init__(
        self,
        backend: SparseBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size, symmetrize=symmetrize)
        self.signature.refuse_trees("a sparse hessian (an (n, n) matrix)")
        _float32_or_64(self)
        n = self.inputs.size
        dense = _dense_matrices(self, args, (n, n), lambda: HessianPlan(backend.inner, f, *args))
        xs, cs = self.signature.split(args)
        problem = SparsityProblem(self.bound(cs), xs[0], (n, n), dense, True, self._program)
        self.pattern = _symmetric(_detect(backend, problem))
        self.format = backend.format or _default_format(self)

    def __call__(self, *args: Any) -> Any:
        return self.hessian_at(*self.signature.split(args))

    def value_and_hessian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), sparse hessian)``."""
        xs, cs = self.signature.split(args)
        return self.signature.to_user(self.value_and_gradient_at(xs, cs)[0]), self.hessian_at(
            xs, cs
        )

    def value_gradient_and_hessian(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), gradient, sparse hessian)``."""
        xs, cs = self.signature.split(args)
        value, grad = self.value_and_gradient_at(xs, cs)
        to_user = self.signature.to_user
        return to_user(value), to_user(grad), self.hessian_at(xs, cs)

    @property
    @abc.abstractmethod
    def coloring(self) -> Coloring:
        """The coloring of the products."""

    def _program(self) -> Optional[tuple[str, Any]]:
        """``(frontend, program)`` of f traced by the plan, for detectors that would trace
        it again; None where the plan does not trace f."""
        return None


@register_plan(SparseHessianPlan, AbstractBackend)
class ColoredHessianPlan(_SparseMatrices, SparseHessianPlan):
    """Hessian-vector products of the inner backend (its HVP plan), one per color."""

    def __init__(
        self,
        backend: SparseBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, *args, batch_size=batch_size, symmetrize=symmetrize)
        coloring = _hessian_coloring(backend, self.pattern, self.format)
        self._colored(coloring, self._products(args), self.outer)

    @property
    def coloring(self) -> Coloring:
        assert isinstance(self._coloring, Coloring)  # Hessians are never bicolored
        return self._coloring

    def hessian_at(self, xs: tuple, cs: tuple) -> Any:
        return self._from_colors(xs, cs)

    def value_and_gradient_at(self, xs: tuple, cs: tuple) -> tuple[Any, Any]:
        fn = self._value_and_grad_fn
        if fn is None:
            inner, dtype = self.inner, self.dtype

            def value_and_grad(xs: tuple, cs: tuple) -> tuple[Any, Any]:
                return self.call_f(xs, cs), gradient_expression(inner, self.bound(cs), xs[0], dtype)

            fn = self._value_and_grad_fn = inner.compile(value_and_grad)
        return fn(xs, cs)

    _value_and_grad_fn: Optional[Callable[[tuple, tuple], Any]] = None

    def _products(self, args: tuple) -> Products:
        """The inner backend's Hessian-vector products."""
        return HvpPlan(self.backend.inner, self.f, *args).hvp_rows


@register_plan(BatchPlan, SparseBackend)
class SparseBatchPlan(BatchPlan):
    """Derivatives at many points are dense: the inner backend's batch plan."""

    def __init__(
        self, operator: BatchOperator, b: AbstractBackend, f: Function, X: Any, *args: Any
    ) -> None:
        assert isinstance(b, SparseBackend)
        self.dense = BatchPlan(operator, b.inner, f, X, *args)
        self.operator, self.backend = operator, b
        self.plan, self.point_shape = self.dense.plan, self.dense.point_shape

    def __call__(self, X: Any, *args: Any) -> Any:
        return self.dense(X, *args)

    def evaluate(self, xs: tuple, cs: tuple, batch: int) -> Any:
        return self.dense.evaluate(xs, cs, batch)


def _float32_or_64(plan: Plan) -> None:
    """Sparse matrices are decompressed in Rust, in float32 or float64: refuse others at
    preparation."""
    if plan.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"sparse {plan.operator}: the inputs must be float32 or float64; got "
            f"{plan.dtype} (convert x, e.g. x.astype(np.float32))"
        )


def _dense_matrices(
    plan: Plan, args: tuple, shape: tuple[int, int], dense_plan: Callable[[], Any]
) -> Callable[[Any], np.ndarray]:
    """``point -> dense matrix`` for detectors, from a dense plan made at the first call."""
    sig = plan.signature
    pos = sig.diff_positions[0]
    x_user = args[pos]
    made = functools.lru_cache(maxsize=1)(dense_plan)

    def dense(point: Any) -> np.ndarray:
        point = np.asarray(point, dtype=sig.dtype).reshape(plan.inputs.shape)
        value = (
            sig.user_ops.from_numpy(point, like=x_user) if sig.user_ops.name != "numpy" else point
        )
        full = (*args[:pos], value, *args[pos + 1 :])
        matrix = made()(*full)
        return np.asarray(sig.user_ops.to_numpy(matrix)).reshape(shape)

    return dense


def _detect(backend: SparseBackend, problem: SparsityProblem) -> Pattern:
    """The detector's pattern, checked against the matrix it describes."""
    pattern = Pattern.of(backend.detector.detect(problem))
    if pattern.shape != problem.shape:
        what = "Hessian" if problem.hessian else "Jacobian"
        raise ShapeError(
            f"{type(backend.detector).__name__}: expected a pattern of the {what}'s shape "
            f"{problem.shape} (outputs x inputs, flattened), got {pattern.shape}"
        )
    return pattern


def _jacobian_coloring(
    backend: SparseBackend, inner: AbstractBackend, pattern: Pattern
) -> tuple[Union[Coloring, Bicoloring], str]:
    """``(coloring, note for the repr)``: column coloring for JVPs, row coloring for VJPs;
    when both work, the cheaper (a VJP counting ``vjp_cost`` JVPs), or a bicoloring where
    ``compression="auto"`` and that is cheaper still. The note says when a bicoloring would
    have been cheaper but the inner backend lacks JVPs or VJPs."""
    want = backend.compression
    options: list[Union[Coloring, Bicoloring]] = []
    if inner.supports_forward and want in ("auto", "column"):
        options.append(color_columns(pattern, backend.coloring, backend.time_budget))
    if inner.supports_reverse and want in ("auto", "row"):
        options.append(color_rows(pattern, backend.coloring, backend.time_budget))
    if not options:
        mode = "forward" if want == "column" else "reverse"
        raise ValueError(
            f"compression={want!r} needs {mode}-mode products, which {type(inner).__name__} "
            "does not compute"
        )

    def cost(c: Union[Coloring, Bicoloring]) -> float:
        if isinstance(c, Bicoloring):
            return c.ncolumn_colors + c.nrow_colors * inner.vjp_cost
        return c.ncolors * (inner.vjp_cost if c.kind == "row" else 1)

    best = min(options, key=cost)
    if want != "auto" or not _two_sided_may_pay(pattern, best.ncolors):
        return best, ""
    two = bicoloring(pattern, backend.time_budget)
    if not (inner.supports_forward and inner.supports_reverse):
        if two.ncolors < best.ncolors:
            missing = "VJPs" if inner.supports_forward else "JVPs"
            note = (
                f"; a bicoloring would need {two.ncolors} products, but "
                f"{type(inner).__name__} computes no {missing}"
            )
            return best, note
        return best, ""
    return (two, "") if cost(two) < cost(best) else (best, "")


def _two_sided_may_pay(pattern: Pattern, one_sided: int) -> bool:
    """Whether a bicoloring is worth computing: only with dense rows and dense columns
    does it beat a one-sided coloring, which then needs several times the typical row or
    column length (the median, plus one)."""
    m, n = pattern.shape
    if m == 0 or n == 0:
        return False
    rows = np.diff(np.asarray(pattern.indptr))
    cols = np.bincount(np.asarray(pattern.indices), minlength=n)
    typical = max(float(np.median(rows)), float(np.median(cols))) + 1
    return one_sided > 2 * typical


def _two_sided(jvps: Products, vjps: Products, inner: AbstractBackend) -> Products:
    """The products of a bicoloring: the JVPs along the column seeds, then the VJPs of the
    row seeds, flattened and concatenated (what its decompressor reads)."""
    ops = inner.ops

    def products(xs: tuple, cs: tuple, seeds: tuple) -> Any:
        column_seeds, row_seeds = seeds
        parts = [
            rows(xs, cs, s).reshape(-1)
            for rows, s in ((jvps, column_seeds), (vjps, row_seeds))
            if s.shape[0]
        ]
        return parts[0] if len(parts) == 1 else ops.concat(parts, 0)

    return products


def _hessian_coloring(backend: SparseBackend, pattern: Pattern, fmt: str) -> Coloring:
    """The backend's Hessian scheme; ``auto`` is ``direct`` where decompression gathers."""
    scheme, order, budget = backend.hessian_coloring, backend.coloring, backend.time_budget
    if scheme == "auto" and fmt != "scipy":
        scheme = "direct"
    if scheme in ("auto", "direct"):
        return hessian_coloring(pattern, scheme, budget)
    color = {"star": star_coloring, "acyclic": acyclic_coloring, "column": color_columns}[scheme]
    return color(pattern, order, budget)


def _host_copy(ops: Any, a: Any, dtype: np.dtype) -> np.ndarray:
    """A host copy of a framework array that the caller owns (writable). JAX arrays convert
    themselves: for the sizes of a matrix's nonzeros that is cheaper than a DLPack view."""
    return np.array(a if ops.name == "jax" else ops.to_numpy(a), dtype=dtype)


def _symmetric(pattern: Pattern) -> Pattern:
    """The pattern united with its transpose (a Hessian's pattern is symmetric)."""
    if pattern.is_symmetric():
        return pattern
    rows, cols = pattern.coo()
    return Pattern.from_coo(
        pattern.shape, np.concatenate([rows, cols]), np.concatenate([cols, rows])
    )


def _default_format(plan: Plan) -> str:
    """``scipy`` for host arrays, else the inputs' framework format."""
    ops = plan.outer.ops
    like = plan.signature.to_backend((plan.signature.like,))[0]
    if ops.name == "numpy" or ops.is_host(like):
        return "scipy"
    return "bcoo" if ops.name == "jax" else "torch"


def _wrapper(fmt: str, pattern: Pattern, ops: Any, like: Any) -> Callable[[Any], Any]:
    """A function putting ``values`` (CSR order) into a sparse matrix of ``fmt``; the index
    arrays are made once, on the device of ``like``."""
    if fmt == "scipy":
        return lambda values: pattern.tocsr(np.asarray(values))
    if fmt == "bcoo":
        from jax.experimental.sparse import BCOO

        rows, cols = pattern.coo()
        indices = ops.from_numpy(np.stack([rows, cols], axis=1).astype(np.int32), like=like)
        return lambda values: BCOO(
            (values, indices), shape=pattern.shape, indices_sorted=True, unique_indices=True
        )
    import torch

    crow = ops.from_numpy(np.asarray(pattern.indptr), like=like)
    col = ops.from_numpy(np.asarray(pattern.indices), like=like)
    return lambda values: torch.sparse_csr_tensor(crow, col, values, size=pattern.shape)
