"""Batches that do not fit in memory: points read, differentiated and written one chunk at
a time (``batch_*(..., out=, chunk_size=)``), so peak memory follows the chunk, not the
batch. Chunks of a ``numpy.memmap`` (input or ``out``) are handed back to the page cache
once done, so the mapped files do not pile up in the process's resident memory either."""

from __future__ import annotations

import mmap
from typing import Any, Iterable, Iterator, Optional

import numpy as np

__all__ = [
    "array_chunks",
    "check_chunk_size",
    "check_out",
    "chunk_error",
    "release_pages",
    "stream_into",
]


def check_chunk_size(chunk_size: Any) -> Optional[int]:
    """``chunk_size`` as a positive int (or None)."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be a positive int; got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int; got {chunk_size}")
    return int(chunk_size)


def array_chunks(X: Any, chunk_size: int) -> Iterator[Any]:
    """Consecutive blocks of ``chunk_size`` rows of X (a memmap's read into memory, then
    released from the mapping)."""
    for start in range(0, X.shape[0], chunk_size):
        # Yielded straight from the call, so this frame keeps no reference to the block.
        yield _read(X[start : start + chunk_size])


def _read(part: Any) -> Any:
    if not isinstance(part, np.memmap):
        return part
    block = np.array(part)
    release_pages(part)
    return block


def stream_into(plan: Any, chunks: Iterable[Any], args: tuple, out: Any) -> Any:
    """Evaluates ``plan`` on each chunk and writes the rows into ``out`` in order; with
    ``out=None`` the chunks' results are concatenated (then memory follows the batch)."""
    results: list[Any] = []
    start = 0
    for index, chunk in enumerate(chunks):
        rows = _rows(chunk, index)
        try:
            value = plan(chunk, *args)
        except Exception as err:
            where = f"points {start} to {start + rows - 1}"
            raise chunk_error(err, f"batch_{plan.operator}: chunk {index} ({where})") from err
        del chunk  # the input block goes before the result is copied out
        if out is None:
            results.append(value)
        else:
            if start + rows > out.shape[0]:
                raise ValueError(
                    f"batch_{plan.operator}: out holds {out.shape[0]} points; chunk {index} "
                    f"brings the count to {start + rows}"
                )
            target = out[start : start + rows]
            target[...] = np.asarray(value) if isinstance(out, np.ndarray) else value
            if isinstance(target, np.memmap):
                release_pages(target)
            del value, target  # nothing of this chunk outlives it
        start += rows
    if out is None:
        if not results:
            raise ValueError(f"batch_{plan.operator}: the iterator of chunks gave no chunk")
        ops = plan.plan.signature.user_ops
        return np.concatenate(results) if ops.name == "numpy" else ops.concat(results, 0)
    if start != out.shape[0]:
        raise ValueError(
            f"batch_{plan.operator}: out holds {out.shape[0]} points; the chunks gave {start}"
        )
    return out


def chunk_error(err: Exception, where: str) -> Exception:
    """``err`` again, its message prefixed with the chunk it came from (same type where the
    type can be built from a message, else a RuntimeError)."""
    try:
        return type(err)(f"{where}: {err}")
    except Exception:
        return RuntimeError(f"{where}: {type(err).__name__}: {err}")


def check_out(out: Any, shape: tuple, dtype: np.dtype, operator: str) -> None:
    """``out`` must have the result's shape and dtype (no silent casts)."""
    got_shape = tuple(getattr(out, "shape", ()))
    got_dtype = getattr(out, "dtype", None)
    if got_shape != tuple(shape):
        raise ValueError(f"batch_{operator}: out must have shape {tuple(shape)}; got {got_shape}")
    if isinstance(out, np.ndarray) and np.dtype(got_dtype) != dtype:
        raise TypeError(f"batch_{operator}: out must have dtype {dtype}; got {got_dtype}")


def release_pages(part: np.memmap) -> None:
    """Drops the pages under ``part`` from this process's mapping: the file (or page cache)
    keeps the data, and a later access maps it again. Linux only; elsewhere a no-op."""
    mapping = getattr(part, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if mapping is None or advice is None or part.nbytes == 0 or not part.flags.contiguous:
        return
    base = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    begin = part.ctypes.data - base
    lo = begin - begin % mmap.PAGESIZE
    mapping.madvise(advice, lo, begin + part.nbytes - lo)


def _rows(chunk: Any, index: int) -> int:
    shape = tuple(getattr(chunk, "shape", np.shape(chunk)))
    if not shape:
        raise ValueError(f"chunk {index} has no leading points axis; got shape {shape}")
    return shape[0]
