"""Type stubs of anydiff._core, the compiled Rust extension (hand-written; the reference)."""

from typing import Any, Callable, Literal, Optional

import numpy as np
import numpy.typing as npt

__version__: str

class ShapeError(ValueError):
    """An array had the wrong shape: the message says what was expected and what came."""

class InternalError(RuntimeError):
    """A bug in anydiff's Rust code (a panic), reported instead of crashing: the process
    stays usable. Every function of this module raises it rather than ``PanicException``."""

def assemble(
    oracle: Callable[[int, int], npt.NDArray[np.floating]],
    n: int,
    m: int,
    mode: Literal["forward", "reverse"],
    dtype: Literal["float32", "float64"],
    batch_size: Optional[int] = None,
    memory_cap: Optional[int] = None,
    symmetrize: bool = False,
) -> npt.NDArray[np.floating]:
    """Assemble a dense m x n Jacobian from blocks of products.

    ``oracle(start, k)`` returns the products against basis vectors ``start..start+k``: a
    ``(k, m)`` array of JVPs (``mode="forward"``) or a ``(k, n)`` array of VJPs
    (``mode="reverse"``) of ``dtype``. With ``symmetrize=True`` the square result is
    replaced by ``(J + J^T) / 2``. The GIL is released between calls; after each call
    pending signals are handled, so Ctrl-C stops the assembly between blocks. The result
    is allocated before the first call.

    Raises:
        MemoryError: the ``(m, n)`` result cannot be allocated (the message names its size).
        ValueError: a negative size, or a result past the address space.
        ShapeError: a block of the wrong shape, or ``symmetrize`` with ``n != m``.
        TypeError: a block that is not a 2-d array of ``dtype``.
        Exception: whatever ``oracle`` raises, unchanged.
    """

def block_ranges(
    seeds: int,
    length: int,
    itemsize: int,
    batch_size: Optional[int] = None,
    memory_cap: Optional[int] = None,
) -> list[tuple[int, int]]:
    """The ``(start, stop)`` blocks the batching policy splits ``seeds`` products into.

    The whole ``seeds x length`` result of ``itemsize``-byte numbers must be allocatable
    (every backend's dense Jacobian is sized here): ``MemoryError`` naming its size when
    it is not, ``ValueError`` past the address space or for a negative argument."""

def ensure_allocatable(what: str, shape: tuple[int, ...], itemsize: int) -> None:
    """``MemoryError`` (``ValueError`` past the address space) naming ``what`` and its size
    unless an array of ``shape`` can be allocated now: for results a framework allocates
    itself (a batch of Jacobians), where the failure would abort the process."""

def pick_mode(n: int, m: int, vjp_cost: float = 1.0) -> Literal["forward", "reverse"]:
    """``"forward"`` when n JVPs cost no more than m VJPs of ``vjp_cost`` JVPs each;
    ValueError for a ``vjp_cost`` that is not a positive finite number."""

def fd_jvp(
    primal: Callable[[npt.NDArray[np.floating]], npt.NDArray[np.floating]],
    x: npt.NDArray[np.floating],
    tangents: npt.NDArray[np.floating],
    *,
    fx: npt.NDArray[np.floating],
    scheme: Literal["forward", "central", "central5"] = "central",
    step: Optional[float] = None,
) -> npt.NDArray[np.floating]:
    """JVPs by finite differences from one batched call ``primal(points) -> values``.

    ``x`` is the flat point, ``tangents`` a ``(k, n)`` array, ``fx`` the flat value f(x);
    returns the ``(k, m)`` JVPs.
    """

class Pattern:
    """Structural nonzeros of an m x n matrix (CSR, with a CSC view)."""

    def __init__(
        self, m: int, n: int, indptr: npt.NDArray[np.int64], indices: npt.NDArray[np.int64]
    ) -> None:
        """A pattern from CSR arrays; raises ValueError for out-of-range or unsorted input."""
    @staticmethod
    def from_coo(
        m: int, n: int, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
    ) -> Pattern:
        """A pattern from coordinates (duplicates merged)."""
    @property
    def shape(self) -> tuple[int, int]: ...
    @property
    def nnz(self) -> int: ...
    @property
    def indptr(self) -> npt.NDArray[np.int64]: ...
    @property
    def indices(self) -> npt.NDArray[np.int64]: ...
    def transpose(self) -> Pattern:
        """The transposed pattern."""
    def is_symmetric(self) -> bool:
        """Whether the pattern equals its transpose."""

def color(
    pattern: Pattern,
    kind: Literal["column", "row", "star", "acyclic"],
    order: str = "natural",
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> npt.NDArray[np.int64]:
    """Colors of the columns, rows or vertices; ``order="best"`` tries the strong orderings
    and improves the best within ``work_budget`` work units (a deterministic default) and,
    when given, ``time_budget`` seconds. The GIL is released; Ctrl-C stops the search."""

def color_hessian_cheapest(
    pattern: Pattern,
    schemes: list[str],
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> tuple[npt.NDArray[np.int64], str]:
    """The coloring of a symmetric pattern needing the fewest products among ``schemes``
    (``star``, ``column``, ``acyclic``; all when empty), and the scheme's name."""

def bicolor(
    pattern: Pattern,
    time_budget: Optional[float] = None,
    seed: int = 0,
    work_budget: Optional[int] = None,
) -> Bicoloring:
    """A two-sided coloring with few JVPs plus VJPs."""

class Bicoloring:
    """Column colors for JVPs and row colors for VJPs (-1: none); called on the flat
    products ``[JVPs (p, m), VJPs (q, n)]`` (each row-major) it returns the nonzeros in CSR
    order."""

    def __init__(
        self,
        pattern: Pattern,
        column_colors: npt.NDArray[np.int64],
        row_colors: npt.NDArray[np.int64],
    ) -> None:
        """Raises ValueError unless every nonzero is recovered."""
    @property
    def column_colors(self) -> npt.NDArray[np.int64]: ...
    @property
    def row_colors(self) -> npt.NDArray[np.int64]: ...
    @property
    def ncolumn_colors(self) -> int: ...
    @property
    def nrow_colors(self) -> int: ...
    @property
    def gather_indices(self) -> npt.NDArray[np.int64]: ...
    def __call__(self, products: npt.NDArray[Any]) -> npt.NDArray[Any]: ...

def is_valid(
    pattern: Pattern,
    colors: npt.NDArray[np.int64],
    kind: Literal["column", "row", "star", "acyclic"],
) -> bool:
    """Whether ``colors`` is a valid coloring of ``kind`` (False for a wrong length)."""

class Decompressor:
    """Recovers the nonzeros (CSR order) from a block of products, one row per color."""

    def __init__(
        self,
        pattern: Pattern,
        colors: npt.NDArray[np.int64],
        kind: Literal["column", "row", "star", "acyclic"],
    ) -> None:
        """Validates the coloring once; raises ValueError when it is not valid."""
    @property
    def ncolors(self) -> int: ...
    @property
    def gather_indices(self) -> Optional[npt.NDArray[np.int64]]:
        """Flat index into the block of each nonzero (None for acyclic colorings)."""
    def __call__(self, block: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """The nonzeros from a ``(ncolors, m)`` block (``(ncolors, n)`` for rows)."""

INSTRUCTIONS: tuple[str, ...]
"""The instruction names of ``Program`` (``Graph.instructions()``'s first items)."""
UNARY_FUNCTIONS: tuple[str, ...]
"""The engine's elementwise functions of one argument (its op table, in order)."""
BINARY_FUNCTIONS: tuple[str, ...]
COMPARISONS: tuple[str, ...]
REDUCTIONS: tuple[str, ...]
LINALG_FUNCTIONS: tuple[str, ...]
ZERO_DERIVATIVE_FUNCTIONS: tuple[str, ...]
"""The unary functions whose derivative is zero (floor, sign, is_finite, ...)."""

class Program:
    """An expression graph compiled for the Rust engine: evaluation with dual numbers over
    many points (vectorised across points, parallel over chunks, GIL released) and global
    sparsity detection. float32 points evaluate in float32, others in float64."""

    def __init__(
        self,
        instructions: list[tuple[str, tuple[int, ...], dict[str, object]]],
        input_lens: list[int],
        param_lens: list[int],
        outputs: list[int],
    ) -> None:
        """Validates ``instructions`` (as ``Graph.instructions()`` returns them); raises
        ValueError naming the instruction index and the problem. Dead nodes are pruned."""
    @property
    def n_inputs(self) -> int:
        """Total length n of the inputs."""
    @property
    def n_outputs(self) -> int:
        """Total length m of the outputs."""
    @property
    def n_elements(self) -> int:
        """Total length of the live nodes (the scalars of one point's evaluation)."""
    @property
    def n_nodes(self) -> int:
        """Number of live nodes."""
    @property
    def vjp_cost(self) -> float:
        """What one VJP (a reverse lane) costs in JVP lanes at one point, products counted
        by their multiply-adds: the ``vjp_cost`` of ``pick_mode``."""
    def eval(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]] = None,
        engine: str = "auto",
    ) -> npt.NDArray[np.floating]:
        """Outputs ``(P, m)`` at ``points`` ``(P, n)``; ``params`` is a list of arrays.
        ``engine``: ``"auto"`` (machine code for 16 or more float64 points where the
        program allows), ``"compiled"`` (machine code or a ValueError saying why not) or
        ``"interpreter"``."""
    def jvp(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]],
        seeds: npt.NDArray[np.floating],
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (P, m), tangents (P, L, m))`` for tangents ``seeds`` ``(L, n)``."""
    def jacobian(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]] = None,
        values: bool = True,
        engine: str = "auto",
    ) -> tuple[Optional[npt.NDArray[np.floating]], npt.NDArray[np.floating]]:
        """``(values (P, m), jacobians (P, m, n))``; ``(None, jacobians)`` without values.
        ``engine`` as for ``eval``."""
    def hessian(
        self, points: npt.NDArray[np.floating], params: Optional[list[npt.ArrayLike]] = None
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (P,), gradients (P, n), hessians (P, n, n))`` of a program with one
        scalar output (ValueError otherwise)."""
    def hvp(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]],
        v: npt.NDArray[np.floating],
    ) -> npt.NDArray[np.floating]:
        """Hessian-vector products ``(P, L, n)`` of a scalar program for ``v`` ``(L, n)``."""
    def jacobian_sparsity(
        self,
    ) -> tuple[int, int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Global Jacobian pattern ``(m, n, indptr, indices)`` (CSR), valid for all inputs."""
    def hessian_sparsity(
        self,
    ) -> tuple[int, int, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Global Hessian pattern ``(n, n, indptr, indices)`` of the sum of the outputs."""
    def gradient1(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The gradient ``(n,)`` of a scalar program without parameters at one float64
        point ``(n,)``."""
    def jacobian_pattern(self) -> Pattern:
        """The global Jacobian pattern as a Pattern."""
    def sparse_jacobian(self, pattern: Pattern) -> SparseJacobian:
        """The Jacobian at one point compiled entry by entry for ``pattern`` (which must
        hold the program's pattern). ValueError for max/min reductions and matrix
        products."""
    def hessian_pattern(self) -> Pattern:
        """The global Hessian pattern of the sum of the outputs as a Pattern."""
    def vjp(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]],
        cotangents: npt.NDArray[np.floating],
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (P, m), vjps (P, L, n))`` for cotangents ``(L, m)`` (the same at every
        point), by reverse mode."""
    def gradient(
        self, points: npt.NDArray[np.floating], params: Optional[list[npt.ArrayLike]] = None
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (P,), gradients (P, n))`` of a program with one scalar output
        (ValueError otherwise), by one reverse sweep."""
    def hvp_reverse(
        self,
        points: npt.NDArray[np.floating],
        params: Optional[list[npt.ArrayLike]],
        v: npt.NDArray[np.floating],
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(gradients (P, n), hvps (P, L, n))`` of a scalar program for ``v`` ``(L, n)``,
        by forward over reverse (one pass per block of 16 directions)."""

class SparseJacobian:
    """A program's sparse Jacobian compiled entry by entry (``Program.sparse_jacobian``)."""

    def __call__(
        self, x: npt.NDArray[np.float64], params: Optional[list[npt.ArrayLike]] = None
    ) -> npt.NDArray[np.float64]:
        """The values ``(nnz,)`` in the pattern's CSR order at the point ``x`` ``(n,)``."""
    @property
    def n_steps(self) -> int:
        """Runtime passes per call (entries not known in advance)."""

# GPU engine (built with the ``gpu`` feature, the default)

GPU_MAX_POINT_ELEMENTS: int
"""Largest program (total node length) that runs as a per-point kernel."""

class GpuUnavailable(RuntimeError):
    """No usable GPU: no Vulkan adapter, or no shader-f64 for float64."""

def gpu_adapter() -> dict[str, Any]:
    """The adapter in use: ``name``, ``device_type``, ``driver``, ``float64``,
    ``max_binding_bytes`` (GpuUnavailable without one)."""

class GpuKernel:
    """A per-point GPU kernel: values ``(P, m)`` and tangents ``(P, m, L)`` of a program;
    the Jacobian (unit seeds) when ``lanes`` is None, else ``lanes`` given directions."""

    def __init__(self, program: Program, dtype: str, lanes: Optional[int] = None) -> None: ...
    @property
    def lanes(self) -> int: ...
    @property
    def source(self) -> str:
        """The generated WGSL."""
    def run(
        self,
        points: npt.NDArray[np.floating],
        params: npt.NDArray[np.floating],
        seeds: npt.NDArray[np.floating],
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """Values and tangents at ``points`` ``(P, n)`` (of the kernel's dtype); ``params``
        flat; ``seeds`` ``(L * n,)`` for a seeded kernel, empty otherwise."""
    def resident(
        self,
        points: npt.NDArray[np.floating],
        params: npt.NDArray[np.floating],
        seeds: npt.NDArray[np.floating],
    ) -> GpuResident:
        """Uploads ``points`` once, for repeated evaluations without transfers."""

class GpuResident:
    """Points and results kept on the GPU."""

    def run(self) -> None:
        """Evaluates at every point and waits; nothing crosses to the host."""
    def read(self) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (P, m), tangents (P, m, L))`` of the last ``run``."""

class GpuArrayKernel:
    """An array-program GPU kernel for one point: one dispatch per instruction."""

    def __init__(self, program: Program, dtype: str, lanes: int) -> None: ...
    @property
    def lanes(self) -> int: ...
    def run(
        self,
        x: npt.NDArray[np.floating],
        params: npt.NDArray[np.floating],
        seeds: npt.NDArray[np.floating],
    ) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
        """``(values (m,), tangents (m, L))`` at ``x`` ``(n,)`` along ``seeds`` ``(L * n,)``."""
