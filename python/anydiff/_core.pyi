"""Type stubs of anydiff._core, the compiled Rust extension (hand-written; the reference)."""

from typing import Callable, Literal, Optional

import numpy as np
import numpy.typing as npt

__version__: str

class ShapeError(ValueError):
    """An array had the wrong shape: the message says what was expected and what came."""

def assemble(
    oracle: Callable[[int, int], npt.NDArray[np.floating]],
    n: int,
    m: int,
    mode: Literal["forward", "reverse"],
    dtype: Literal["float32", "float64"],
    batch_size: Optional[int] = None,
    memory_cap: int = ...,
    symmetrize: bool = False,
) -> npt.NDArray[np.floating]:
    """Assemble a dense m x n Jacobian from blocks of products.

    ``oracle(start, k)`` returns the products against basis vectors ``start..start+k``: a
    ``(k, m)`` array of JVPs (``mode="forward"``) or a ``(k, n)`` array of VJPs
    (``mode="reverse"``) of ``dtype``. With ``symmetrize=True`` the square result is
    replaced by ``(J + J^T) / 2``. The GIL is released between calls.

    Raises:
        ShapeError: a block of the wrong shape, or ``symmetrize`` with ``n != m``.
        TypeError: a block that is not a 2-d array of ``dtype``.
        Exception: whatever ``oracle`` raises, unchanged.
    """

def block_ranges(
    seeds: int,
    length: int,
    itemsize: int,
    batch_size: Optional[int] = None,
    memory_cap: int = ...,
) -> list[tuple[int, int]]:
    """The ``(start, stop)`` blocks the batching policy splits ``seeds`` products into."""

def pick_mode(n: int, m: int) -> Literal["forward", "reverse"]:
    """``"forward"`` when n inputs need no more JVPs than m outputs need VJPs."""

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
