"""Sparsity patterns and colorings: the public face of the Rust ``sparse`` module.

A :class:`Pattern` holds the structural nonzeros of a matrix; a :class:`Coloring` groups
its columns (JVP compression), rows (VJP compression) or, for symmetric patterns, its
vertices (star: direct recovery; acyclic: recovery by substitution) so that one product
per color recovers every nonzero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np

from anydiff import _core
from anydiff._modes import check_option

__all__ = [
    "HESSIAN_SCHEMES",
    "ORDERS",
    "Bicoloring",
    "Coloring",
    "ColoringKind",
    "ColoringOrder",
    "HessianScheme",
    "Pattern",
    "acyclic_coloring",
    "bicoloring",
    "color_columns",
    "color_rows",
    "decompress",
    "hessian_coloring",
    "is_valid",
    "seed_matrix",
    "star_coloring",
]

ColoringKind = Literal["column", "row", "star", "acyclic"]
KINDS: tuple[ColoringKind, ...] = ("column", "row", "star", "acyclic")

ColoringOrder = Literal[
    "natural",
    "largest_first",
    "smallest_last",
    "incidence_degree",
    "dynamic_largest_first",
    "dsatur",
    "random",
    "best",
]
ORDERS: tuple[ColoringOrder, ...] = (
    "natural",
    "largest_first",
    "smallest_last",
    "incidence_degree",
    "dynamic_largest_first",
    "dsatur",
    "random",
    "best",
)
"""Vertex orderings of the greedy colorings; ``best`` tries the strong ones, then improves."""

HessianScheme = Literal["auto", "direct", "star", "acyclic", "column"]
HESSIAN_SCHEMES: tuple[HessianScheme, ...] = ("auto", "direct", "star", "acyclic", "column")
"""How a sparse Hessian is compressed: ``auto`` picks whichever of star, acyclic and column
needs the fewest products, ``direct`` whichever of star and column (direct recovery, no
substitution)."""


@dataclass(frozen=True, eq=False)
class Pattern:
    """Structural nonzeros of an m x n matrix, stored as CSR index arrays."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    _core: Any = field(repr=False, compare=False)

    def __reduce__(self) -> tuple:
        # The Rust pattern travels as its CSR arrays and is rebuilt on arrival.
        return (Pattern.from_csr, (self.shape, self.indptr, self.indices))

    @classmethod
    def _wrap(cls, core: Any) -> Pattern:
        return cls(tuple(core.shape), core.indptr, core.indices, core)  # type: ignore[arg-type]

    @classmethod
    def from_csr(cls, shape: tuple[int, int], indptr: Any, indices: Any) -> Pattern:
        """From CSR arrays (indices sorted and deduplicated per row)."""
        m, n = _shape2(shape)
        return cls._wrap(_core.Pattern(m, n, _int64(indptr), _int64(indices)))

    @classmethod
    def from_coo(cls, shape: tuple[int, int], rows: Any, cols: Any) -> Pattern:
        """From coordinates of the nonzeros (duplicates merged)."""
        m, n = _shape2(shape)
        return cls._wrap(_core.Pattern.from_coo(m, n, _int64(rows), _int64(cols)))

    @classmethod
    def from_dense(cls, mask: Any) -> Pattern:
        """From a 2-d array: nonzero (or True) entries are structural nonzeros."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"a dense pattern must be 2-d; got shape {mask.shape}")
        rows, cols = np.nonzero(mask)
        return cls.from_coo(mask.shape, rows, cols)

    @classmethod
    def from_scipy(cls, matrix: Any) -> Pattern:
        """From any scipy.sparse matrix or array (its stored entries)."""
        import scipy.sparse as sp

        csr = sp.csr_array(matrix)
        csr.sum_duplicates()
        csr.sort_indices()
        return cls.from_csr(csr.shape, csr.indptr, csr.indices)

    @classmethod
    def of(cls, value: Any) -> Pattern:
        """A pattern from a Pattern, a scipy.sparse matrix or a dense 2-d array."""
        if isinstance(value, Pattern):
            return value
        if hasattr(value, "tocsr"):
            return cls.from_scipy(value)
        return cls.from_dense(value)

    @property
    def nnz(self) -> int:
        """Number of structural nonzeros."""
        return int(self.indptr[-1]) if len(self.indptr) else 0

    @property
    def T(self) -> Pattern:
        """The transposed pattern."""
        return Pattern._wrap(self._core.transpose())

    def is_symmetric(self) -> bool:
        """Whether the pattern equals its transpose."""
        return bool(self._core.is_symmetric())

    def coo(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of the nonzeros, in CSR order."""
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return rows, self.indices.copy()

    def todense(self) -> np.ndarray:
        """A boolean array, True at the structural nonzeros."""
        dense = np.zeros(self.shape, dtype=bool)
        rows, cols = self.coo()
        dense[rows, cols] = True
        return dense

    def tocsr(self, values: Any) -> Any:
        """A ``scipy.sparse.csr_array`` with ``values`` (CSR order) at the nonzeros.

        The matrix gets its own index arrays: scipy edits them in place
        (``eliminate_zeros``, ``sort_indices``), which must not change this pattern."""
        values = np.asarray(values)
        if values.shape != (len(self.indices),):
            raise ValueError(
                f"tocsr: expected {len(self.indices)} values (one per nonzero); "
                f"got shape {values.shape}"
            )
        proto = self._scipy_prototype()
        import scipy.sparse as sp

        # built from a matrix of its format, scipy shares the arrays without
        # re-validating them (the prototype was validated once)
        out = sp.csr_array(proto)
        out.data, out.indices, out.indptr = values, proto.indices.copy(), proto.indptr.copy()
        return out

    def _scipy_prototype(self) -> Any:
        """A csr_array of this pattern with index arrays in the dtype scipy picks (int32
        while they fit), made and validated once: scipy would otherwise scan and convert
        int64 indices and check them on every matrix."""
        proto = self.__dict__.get("_scipy_proto")
        if proto is None:
            import scipy.sparse as sp

            small = max(self.shape[0], self.shape[1], len(self.indices)) < 2**31 - 1
            dtype = np.int32 if small else np.int64
            indices, indptr = self.indices.astype(dtype), self.indptr.astype(dtype)
            data = np.zeros(len(indices))
            proto = sp.csr_array((data, indices, indptr), shape=self.shape)
            object.__setattr__(self, "_scipy_proto", proto)
        return proto

    def save(self, file: Any) -> None:
        """Save to an ``.npz`` file."""
        np.savez(file, shape=np.array(self.shape), indptr=self.indptr, indices=self.indices)

    @classmethod
    def load(cls, file: Any) -> Pattern:
        """Load a pattern saved with :meth:`save`."""
        with np.load(file) as data:
            return cls.from_csr(tuple(data["shape"]), data["indptr"], data["indices"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pattern):
            return NotImplemented
        return (
            self.shape == other.shape
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
        )

    def __hash__(self) -> int:
        return hash((self.shape, self.indptr.tobytes(), self.indices.tobytes()))

    def __str__(self) -> str:
        m, n = self.shape
        density = self.nnz / (m * n) if m and n else 0.0
        lines = [f"Pattern {m} x {n}, {self.nnz} nonzeros ({density:.2%})"]
        if m <= 24 and n <= 48:
            dense = self.todense()
            lines += ["  " + "".join("x" if v else "." for v in row) for row in dense]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Coloring:
    """Colors of the columns, rows or vertices of a :class:`Pattern`."""

    pattern: Pattern
    colors: np.ndarray
    kind: ColoringKind

    @property
    def ncolors(self) -> int:
        """Number of colors: products needed to recover the matrix."""
        return int(self.colors.max()) + 1 if len(self.colors) else 0

    def is_valid(self) -> bool:
        """Whether the coloring recovers every nonzero of its pattern."""
        return bool(_core.is_valid(self.pattern._core, self.colors, self.kind))

    def seed_matrix(self, dtype: Any = np.float64) -> np.ndarray:
        """``S`` with ``S[v, colors[v]] = 1``: compress with ``J S`` (or ``S^T J`` for rows)."""
        return seed_matrix(self, dtype)

    def decompressor(self) -> Any:
        """Recovers the nonzeros (CSR order) from a block of products, one row per color
        (``_core.Decompressor``); validates the coloring once."""
        return _core.Decompressor(self.pattern._core, self.colors, self.kind)

    def __str__(self) -> str:
        m, n = self.pattern.shape
        return f"{self.kind} coloring of a {m} x {n} pattern: {self.ncolors} colors"


def _int64(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"index arrays must be integers; got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _shape2(shape: Any) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 0:
        raise ValueError(f"a pattern's shape must be (m, n) with m, n >= 0; got {shape}")
    return shape  # type: ignore[return-value]


def _budgets(time_budget: Optional[float], work_budget: Optional[int]) -> None:
    if time_budget is not None and not (0 <= time_budget < float("inf")):
        raise ValueError(
            f"time_budget must be a finite, non-negative number of seconds; got {time_budget}"
        )
    if work_budget is not None and (not isinstance(work_budget, int) or work_budget < 0):
        raise ValueError(f"work_budget must be a non-negative integer; got {work_budget!r}")


def _color(
    pattern: Any,
    kind: ColoringKind,
    order: ColoringOrder,
    time_budget: Optional[float],
    seed: int,
    work_budget: Optional[int],
) -> Coloring:
    pattern = Pattern.of(pattern)
    check_option("order", order, ORDERS)
    _budgets(time_budget, work_budget)
    if kind in ("star", "acyclic") and not pattern.is_symmetric():
        raise ValueError(
            f"{kind} coloring needs a symmetric pattern; got a {pattern.shape} pattern that is not"
        )
    colors = _core.color(pattern._core, kind, order, time_budget, seed, work_budget)
    return Coloring(pattern, colors, kind)


_BUDGET_DOC = """
    ``order="best"`` tries the strong orderings (DSATUR, smallest last, largest first,
    incidence degree, dynamic largest first, natural), keeps the best greedy coloring and
    improves it (iterated greedy, then tabu search). The search is bounded by
    ``work_budget`` work units (default about 4e7, tens of milliseconds): the result is the
    same on every run and machine for the same ``seed``. ``time_budget`` (seconds) adds a
    wall-clock limit, and given alone it replaces the work limit (the result then depends
    on the machine's load). With another order, a budget runs the improvement after it.
    The improvement only ever lowers the count."""


def color_columns(
    pattern: Any,
    order: ColoringOrder = "natural",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Coloring:
    """Column coloring (for JVP compression): columns sharing a row get different colors."""
    return _color(pattern, "column", order, time_budget, seed, work_budget)


def color_rows(
    pattern: Any,
    order: ColoringOrder = "natural",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Coloring:
    """Row coloring (for VJP compression): rows sharing a column get different colors."""
    return _color(pattern, "row", order, time_budget, seed, work_budget)


def star_coloring(
    pattern: Any,
    order: ColoringOrder = "smallest_last",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Coloring:
    """Star coloring of a symmetric pattern: Hessians recovered directly from ``H S``.

    With ``order="best"`` a distance-2 coloring (itself a star coloring) competes too."""
    return _color(pattern, "star", order, time_budget, seed, work_budget)


def acyclic_coloring(
    pattern: Any,
    order: ColoringOrder = "smallest_last",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Coloring:
    """Acyclic coloring of a symmetric pattern: fewer colors than star, recovery by substitution."""
    return _color(pattern, "acyclic", order, time_budget, seed, work_budget)


for _f in (color_columns, color_rows, star_coloring, acyclic_coloring):
    _f.__doc__ = (_f.__doc__ or "") + "\n" + _BUDGET_DOC


def hessian_coloring(
    pattern: Any,
    scheme: HessianScheme = "auto",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Coloring:
    """The coloring of a symmetric (Hessian) pattern that needs the fewest products.

    ``scheme="auto"`` compares a star coloring (direct recovery), a column coloring (the
    Hessian as the Jacobian of the gradient, direct recovery) and an acyclic coloring
    (recovery by substitution), each the ``"best"`` of its kind within a share of the
    budget, and returns the one with the fewest colors (ties: star, column, acyclic); its
    ``kind`` says which. ``scheme="direct"`` compares star and column only; another
    ``scheme`` gives that scheme's best coloring. Budgets as :func:`color_columns`.
    """
    pattern = Pattern.of(pattern)
    check_option("scheme", scheme, HESSIAN_SCHEMES)
    _budgets(time_budget, work_budget)
    if not pattern.is_symmetric():
        raise ValueError(
            f"a Hessian coloring needs a symmetric pattern; got a {pattern.shape} pattern "
            "that is not"
        )
    schemes = {"auto": [], "direct": ["star", "column"]}.get(scheme, [scheme])
    return _hessian(pattern, schemes, time_budget, seed, work_budget)


def _hessian(
    pattern: Pattern,
    schemes: list[str],
    time_budget: Optional[float],
    seed: int,
    work_budget: Optional[int],
) -> Coloring:
    colors, kind = _core.color_hessian_cheapest(
        pattern._core, schemes, time_budget, seed, work_budget
    )
    return Coloring(pattern, colors, kind)


@dataclass(frozen=True, eq=False)
class Bicoloring:
    """A two-sided coloring: columns colored for JVPs, rows colored for VJPs.

    ``column_colors[j]`` is the JVP column ``j`` is seeded in (-1: none), ``row_colors[i]``
    the VJP row ``i`` is seeded in (-1: none); ``ncolumn_colors`` JVPs and ``nrow_colors``
    VJPs recover every nonzero directly. Worth it for patterns with both dense rows and
    dense columns (arrowheads), where a one-sided coloring needs a product per entry of the
    longest row or column.
    """

    pattern: Pattern
    _core: Any = field(repr=False)

    @classmethod
    def from_colors(cls, pattern: Any, column_colors: Any, row_colors: Any) -> Bicoloring:
        """From color arrays (-1 for no color); ValueError unless every nonzero is
        recovered."""
        pattern = Pattern.of(pattern)
        core = _core.Bicoloring(pattern._core, _int64(column_colors), _int64(row_colors))
        return cls(pattern, core)

    @property
    def column_colors(self) -> np.ndarray:
        """The JVP of each column (-1: none)."""
        return self._core.column_colors

    @property
    def row_colors(self) -> np.ndarray:
        """The VJP of each row (-1: none)."""
        return self._core.row_colors

    @property
    def ncolumn_colors(self) -> int:
        """Number of JVPs."""
        return int(self._core.ncolumn_colors)

    @property
    def nrow_colors(self) -> int:
        """Number of VJPs."""
        return int(self._core.nrow_colors)

    @property
    def ncolors(self) -> int:
        """The products: JVPs plus VJPs (as :attr:`Coloring.ncolors` counts them)."""
        return self.ncolumn_colors + self.nrow_colors

    kind = "bicoloring"

    def seed_matrices(self, dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
        """``(S_c, S_r)``: compress with ``J @ S_c`` (m x p) and ``S_r.T @ J`` (q x n)."""
        return (
            _seed(self.column_colors, self.ncolumn_colors, dtype),
            _seed(self.row_colors, self.nrow_colors, dtype),
        )

    def decompress(self, jvps: Any, vjps: Any) -> Any:
        """The matrix (``scipy.sparse.csr_array``) from ``J @ S_c`` and ``S_r.T @ J``."""
        m, n = self.pattern.shape
        b, c = np.asarray(jvps), np.asarray(vjps)
        if b.shape != (m, self.ncolumn_colors) or c.shape != (self.nrow_colors, n):
            raise ValueError(
                f"expected J @ S_c of shape {(m, self.ncolumn_colors)} and S_r.T @ J of shape "
                f"{(self.nrow_colors, n)}; got {b.shape} and {c.shape}"
            )
        dtype = np.result_type(b.dtype, c.dtype, np.float32)
        flat = np.concatenate([b.T.ravel(), c.ravel()]).astype(dtype, copy=False)
        return self.pattern.tocsr(self._core(flat))

    def decompressor(self) -> Any:
        """Recovers the nonzeros (CSR order) from the flat batch-leading products:
        the JVPs (p x m) then the VJPs (q x n), each row-major."""
        return self._core

    def __str__(self) -> str:
        m, n = self.pattern.shape
        return (
            f"bicoloring of a {m} x {n} pattern: {self.ncolumn_colors} JVPs + "
            f"{self.nrow_colors} VJPs"
        )


def bicoloring(
    pattern: Any,
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Bicoloring:
    """A two-sided coloring with few products (JVPs plus VJPs).

    Star colorings of the bipartite graph of the pattern over the strong orderings, the
    best improved within the budget, each read as a bicoloring (a vertex keeps its color
    only where a nonzero is read through it). One-sided colorings are not compared here:
    :func:`color_columns` or :func:`color_rows` may need fewer products on patterns
    without both dense rows and dense columns. Budgets as :func:`color_columns`.
    """
    pattern = Pattern.of(pattern)
    _budgets(time_budget, work_budget)
    return Bicoloring(pattern, _core.bicolor(pattern._core, time_budget, seed, work_budget))


def _seed(colors: np.ndarray, k: int, dtype: Any) -> np.ndarray:
    s = np.zeros((len(colors), k), dtype=dtype)
    on = colors >= 0
    s[np.nonzero(on)[0], colors[on]] = 1
    return s


def is_valid(
    pattern: Any, colors: Union[Coloring, Any], kind: Optional[ColoringKind] = None
) -> bool:
    """Whether ``colors`` (a :class:`Coloring`, or a color array with ``kind``) is valid."""
    if isinstance(colors, Coloring):
        kind = colors.kind
        colors = colors.colors
    check_option("kind", kind, KINDS)
    return bool(_core.is_valid(Pattern.of(pattern)._core, _int64(colors), kind))


def seed_matrix(coloring: Coloring, dtype: Any = np.float64) -> np.ndarray:
    """The seed matrix ``S`` (vertices x colors) of a coloring."""
    s = np.zeros((len(coloring.colors), coloring.ncolors), dtype=dtype)
    s[np.arange(len(coloring.colors)), coloring.colors] = 1
    return s


def decompress(coloring: Coloring, compressed: Any) -> Any:
    """The sparse matrix (``scipy.sparse.csr_array``) from its compressed form.

    ``compressed`` is ``J @ S`` (m x ncolors) for column colorings, ``S.T @ J``
    (ncolors x n) for row colorings and ``H @ S`` for star and acyclic colorings.
    Raises ValueError when the coloring is not valid for its pattern.
    """
    dec = _core.Decompressor(coloring.pattern._core, coloring.colors, coloring.kind)
    block = np.asarray(compressed)
    if block.ndim != 2:
        raise ValueError(f"compressed must be a 2-d array; got shape {block.shape}")
    block = block if coloring.kind == "row" else block.T
    values = dec(np.ascontiguousarray(block, dtype=np.result_type(block.dtype, np.float32)))
    return coloring.pattern.tocsr(values)
