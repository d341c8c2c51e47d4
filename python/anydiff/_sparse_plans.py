"""Prepared sparse Jacobians and Hessians: detect once, color once, then one product per
color and a decompression per call."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import numpy as np

from anydiff import _core
from anydiff._errors import ShapeError
from anydiff._layout import Layout
from anydiff._linearization import Linearization
from anydiff._plans import HessianPlan, JacobianPlan, _gradient_expr, _Plan
from anydiff.backends.base import AbstractBackend
from anydiff.backends.sparse import SparseBackend
from anydiff.coloring import (
    Coloring,
    Pattern,
    acyclic_coloring,
    color_columns,
    color_rows,
    hessian_coloring,
    star_coloring,
)
from anydiff.detection import SparsityProblem

__all__ = ["SparseHessianPlan", "SparseJacobianPlan"]

Function = Callable[..., Any]


class _SparsePlan(_Plan):
    """Shared machinery: pattern, coloring, seeds, compressed products, decompression."""

    backend: SparseBackend
    pattern: Pattern
    _coloring: Optional[Coloring] = None
    # the colored machinery, set up on first need where the backend computes the matrix
    # itself (see SparseJacobianPlan)
    _colored_later: Optional[Callable[[], None]] = None
    _entries: Optional[Callable[[tuple, tuple], Optional[np.ndarray]]] = None

    @property
    def coloring(self) -> Coloring:
        """The coloring of the products (made on first use where the inner backend
        computes the sparse matrix itself)."""
        self._ensure_colored()
        assert self._coloring is not None
        return self._coloring

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        how = (
            f"{self._coloring.kind} coloring, {self._coloring.ncolors} products"
            if self._coloring is not None
            else "entries computed directly"
        )
        return f"{type(self).__name__}({m} x {n}, {self.pattern.nnz} nonzeros, {how})"

    def _ensure_colored(self) -> None:
        if self._colored_later is not None:
            setup, self._colored_later = self._colored_later, None
            setup()

    def _format(self, ops_backend: AbstractBackend) -> str:
        """The result's format: the backend's, else the default for the inputs' arrays."""
        like = self.signature.to_backend((self.signature.like,))[0]
        return self.backend.format or _default_format(ops_backend.ops, like)

    def _setup(
        self,
        args: tuple,
        pattern: Pattern,
        coloring: Coloring,
        products: Callable[[tuple, tuple, Any], Any],
        ops_backend: AbstractBackend,
    ) -> None:
        """The compiled compressed products (seeds are constants of the compiled call, as
        XLA then folds them), the decompressor and, for framework formats, the compiled
        gather that builds the sparse matrix on the device."""
        self.pattern, self._coloring = pattern, coloring
        ops, like = ops_backend.ops, self.signature.to_backend((self.signature.like,))[0]
        self._ops, compile = ops, ops_backend.compile
        seeds = np.ascontiguousarray(coloring.seed_matrix(self.dtype).T)
        seeds = ops.from_numpy(seeds, like=like) if ops.name != "numpy" else seeds
        self._compressed = compile(lambda xs, cs: products(xs, cs, seeds))
        self._decompress = _core.Decompressor(pattern._core, coloring.colors, coloring.kind)
        self.format = self._format(ops_backend)
        wrap = _wrapper(self.format, pattern, ops, like)
        if coloring.ncolors == 0:  # a structurally zero matrix: no products at all
            zeros = ops.from_numpy(np.zeros(0, dtype=self.dtype), like=like)
            self._direct = lambda xs, cs: wrap(zeros)
        elif self.format != "scipy":
            gather = self._decompress.gather_indices
            if gather is None:
                raise ValueError(
                    f"format={self.format!r} decompresses by gathering, which an acyclic coloring "
                    "cannot; use hessian_coloring='star' or format='scipy'"
                )
            idx = ops.from_numpy(gather, like=like)
            self._direct = compile(lambda xs, cs: wrap(products(xs, cs, seeds).reshape(-1)[idx]))
        else:
            self._direct = None

    def _sparse(self, xs: tuple, cs: tuple) -> Any:
        """The sparse matrix at ``xs`` in the plan's format."""
        if self._entries is not None:
            values = self._entries(xs, cs)
            if values is not None:
                return self.pattern.tocsr(values)
        self._ensure_colored()
        if self._direct is not None:
            return self._direct(xs, cs)
        block = self._ops.to_numpy(self._compressed(xs, cs))
        values = self._decompress(block if block.dtype == self.dtype else block.astype(self.dtype))
        return self.pattern.tocsr(values)

    def _problem(
        self, args: tuple, shape: tuple[int, int], dense_plan: Callable[[], Any], hessian: bool
    ) -> SparsityProblem:
        sig = self.signature
        x_user = args[sig.diff_positions[0]]
        pos = sig.diff_positions[0]
        plan = functools.lru_cache(maxsize=1)(dense_plan)  # built at the first dense matrix

        def dense(point: Any) -> np.ndarray:
            point = np.asarray(point, dtype=self.signature.dtype).reshape(self.inputs.shape)
            value = (
                sig.user_ops.from_numpy(point, like=x_user)
                if sig.user_ops.name != "numpy"
                else point
            )
            full = (*args[:pos], value, *args[pos + 1 :])
            matrix = plan()(*full)
            return np.asarray(sig.user_ops.to_numpy(matrix)).reshape(shape)

        xs, cs = sig.split(args)
        return SparsityProblem(self._bound(cs), xs[0], shape, dense, hessian)


class SparseJacobianPlan(_SparsePlan):
    """Prepared sparse ``jacobian`` of f of one input and one output.

    The result is an (m, n) sparse matrix over the flattened output and input.
    Attributes ``pattern`` and ``coloring`` show what was detected and how it was colored.
    """

    operator = "jacobian"

    def __init__(
        self, backend: SparseBackend, f: Function, *args: Any, batch_size: Optional[int] = None
    ) -> None:
        super().__init__(backend, f, args)
        self._one_input()
        if self.outputs.multi:
            raise TypeError(
                "sparse jacobian: f must return one array, "
                f"not a tuple of {len(self.outputs.shapes)}"
            )
        b, n, m = self.inner, self.inputs.size, self.outputs.size
        # the dense plan is made only if the detector forms dense matrices
        problem = self._problem(args, (m, n), lambda: JacobianPlan(b, f, *args), hessian=False)
        pattern = _detect(backend, problem)
        self.pattern = pattern
        self._value = self._compile_value()

        def colored() -> None:
            coloring = _jacobian_coloring(backend, b, pattern)
            lin = Linearization(
                b, self._fn, Layout(self.signature.shapes, True), self.outputs, self.dtype
            )
            products = lin.jvp_rows if coloring.kind == "column" else lin.vjp_rows
            self._setup(args, pattern, coloring, products, b)

        # a backend that computes sparse Jacobians itself (DualBackend, entry by entry):
        # tried once here; the coloring is then made only if a call needs it
        native = None
        if backend.compression == "auto" and self._format(b) == "scipy":
            layout = Layout(self.signature.shapes, True)
            native = b.native("sparse_jacobian", self._fn, layout, self.dtype)
        self._entries = native(pattern) if native is not None else None
        if self._entries is not None and self._entries(*self.signature.split(args)) is not None:
            self.format = "scipy"
            self._colored_later = colored
        else:
            self._entries = None
            colored()

    def __call__(self, *args: Any) -> Any:
        return self._sparse(*self.signature.split(args))

    def value_and_jacobian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), sparse jacobian)``."""
        xs, cs = self.signature.split(args)
        return self._user(self._value(xs, cs)), self._sparse(xs, cs)


class SparseHessianPlan(_SparsePlan):
    """Prepared sparse ``hessian`` of a scalar f of one input: an (n, n) sparse matrix."""

    operator = "hessian"

    def __init__(
        self,
        backend: SparseBackend,
        f: Function,
        *args: Any,
        batch_size: Optional[int] = None,
        symmetrize: bool = False,
    ) -> None:
        super().__init__(backend, f, args, order=2)
        self._one_input()
        self._scalar_output()
        outer, inner, dtype, n = self.outer, self.inner, self.dtype, self.inputs.size

        def grad(xs: tuple, cs: tuple) -> Any:
            return _gradient_expr(inner, self._bound(cs), xs[0], dtype)

        dense = lambda: HessianPlan(backend.inner, f, *args)  # noqa: E731 (made only if needed)
        problem = self._problem(args, (n, n), dense, hessian=True)
        pattern = _symmetric(_detect(backend, problem))
        coloring = _hessian_coloring(backend, pattern, self._format(outer))
        layout = Layout(self.signature.shapes, True)
        products = outer.native("hvp_rows", self._fn, layout, dtype) if outer == inner else None
        if products is None:
            lin = Linearization(outer, grad, layout, self.inputs, dtype)
            # The Hessian is symmetric, so VJPs of the gradient are HVPs too.
            products = lin.jvp_rows if outer.supports_forward else lin.vjp_rows
        self._setup(args, pattern, coloring, products, outer)
        self._value_and_grad = inner.compile(lambda xs, cs: (self._fn(xs, cs), grad(xs, cs)))

    def __call__(self, *args: Any) -> Any:
        return self._sparse(*self.signature.split(args))

    def value_and_hessian(self, *args: Any) -> tuple[Any, Any]:
        """``(f(*args), sparse hessian)``."""
        xs, cs = self.signature.split(args)
        return self.signature.to_user(self._value_and_grad(xs, cs)[0]), self._sparse(xs, cs)

    def value_gradient_and_hessian(self, *args: Any) -> tuple[Any, Any, Any]:
        """``(f(*args), gradient, sparse hessian)``."""
        xs, cs = self.signature.split(args)
        value, grad = self._value_and_grad(xs, cs)
        to_user = self.signature.to_user
        return to_user(value), to_user(grad), self._sparse(xs, cs)


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
) -> Coloring:
    """Column coloring for JVPs, row coloring for VJPs; when both work, the cheaper: the
    fewer colors, a row color counting ``vjp_cost`` columns."""
    want = backend.compression
    options = []
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
    return min(options, key=lambda c: c.ncolors * (inner.vjp_cost if c.kind == "row" else 1))


def _hessian_coloring(backend: SparseBackend, pattern: Pattern, fmt: str) -> Coloring:
    """The backend's Hessian scheme; ``auto`` is ``direct`` where decompression gathers."""
    scheme, order, budget = backend.hessian_coloring, backend.coloring, backend.time_budget
    if scheme == "auto" and fmt != "scipy":
        scheme = "direct"
    if scheme in ("auto", "direct"):
        return hessian_coloring(pattern, scheme, budget)
    color = {"star": star_coloring, "acyclic": acyclic_coloring, "column": color_columns}[scheme]
    return color(pattern, order, budget)


def _symmetric(pattern: Pattern) -> Pattern:
    """The pattern united with its transpose (a Hessian's pattern is symmetric)."""
    if pattern.is_symmetric():
        return pattern
    rows, cols = pattern.coo()
    return Pattern.from_coo(
        pattern.shape, np.concatenate([rows, cols]), np.concatenate([cols, rows])
    )


def _default_format(ops: Any, like: Any) -> str:
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
