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
    "ORDERS",
    "Coloring",
    "ColoringKind",
    "ColoringOrder",
    "Pattern",
    "acyclic_coloring",
    "color_columns",
    "color_rows",
    "decompress",
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
    "random",
    "best",
]
ORDERS: tuple[ColoringOrder, ...] = (
    "natural",
    "largest_first",
    "smallest_last",
    "incidence_degree",
    "dynamic_largest_first",
    "random",
    "best",
)
"""Vertex orderings of the greedy colorings; ``best`` tries them all, then improves."""

DEFAULT_TIME_BUDGET = 0.05
"""Seconds the improvement pass of ``order="best"`` may take by default."""


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


def _color(
    pattern: Any, kind: ColoringKind, order: ColoringOrder, time_budget: Optional[float], seed: int
) -> Coloring:
    pattern = Pattern.of(pattern)
    check_option("order", order, ORDERS)
    if kind in ("star", "acyclic") and not pattern.is_symmetric():
        raise ValueError(
            f"{kind} coloring needs a symmetric pattern; got a {pattern.shape} pattern that is not"
        )
    budget = DEFAULT_TIME_BUDGET if time_budget is None and order == "best" else time_budget
    colors = _core.color(pattern._core, kind, order, budget, seed)
    return Coloring(pattern, colors, kind)


def color_columns(
    pattern: Any,
    order: ColoringOrder = "natural",
    time_budget: Optional[float] = None,
    seed: int = 0,
) -> Coloring:
    """Column coloring (for JVP compression): columns sharing a row get different colors.

    ``order="best"`` tries every ordering and then improves the best coloring for
    ``time_budget`` seconds (default 0.05); with another order, a ``time_budget`` runs the
    improvement pass after it. The improvement only ever lowers the count.
    """
    return _color(pattern, "column", order, time_budget, seed)


def color_rows(
    pattern: Any,
    order: ColoringOrder = "natural",
    time_budget: Optional[float] = None,
    seed: int = 0,
) -> Coloring:
    """Row coloring (for VJP compression); options as :func:`color_columns`."""
    return _color(pattern, "row", order, time_budget, seed)


def star_coloring(
    pattern: Any,
    order: ColoringOrder = "smallest_last",
    time_budget: Optional[float] = None,
    seed: int = 0,
) -> Coloring:
    """Star coloring of a symmetric pattern: Hessians recovered directly from ``H S``."""
    return _color(pattern, "star", order, time_budget, seed)


def acyclic_coloring(
    pattern: Any,
    order: ColoringOrder = "smallest_last",
    time_budget: Optional[float] = None,
    seed: int = 0,
) -> Coloring:
    """Acyclic coloring of a symmetric pattern: fewer colors than star, recovery by substitution."""
    return _color(pattern, "acyclic", order, time_budget, seed)


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
