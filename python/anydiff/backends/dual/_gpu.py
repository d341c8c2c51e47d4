"""GPU kernels (wgpu) of one traced function, made on first use and kept by its plan."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from anydiff import _core
from anydiff.ir._compile import TracedProgram

__all__ = ["GPU_MAX_LANES", "GpuKernels"]

GPU_MAX_LANES = 64
"""Most directions one GPU kernel carries (its tangents live in registers)."""


class GpuKernels:
    """GPU kernels of one function's programs, per program, dtype and lane count."""

    def __init__(self, dtype: Optional[str]) -> None:
        self.dtype = dtype
        self._kernels: dict[tuple[int, str, Optional[int]], Any] = {}

    def dtype_for(self, dtype: np.dtype) -> np.dtype:
        """The kernel dtype: the backend's, else the inputs' (float32 or float64)."""
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)

    def run(
        self, prog: TracedProgram, points: np.ndarray, params: list, seeds: Optional[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values (P, m) and tangents (P, m, L): the Jacobian without ``seeds``, else the
        JVPs along the rows of ``seeds`` (L, n), at most 64 per kernel. Programs small
        enough run one invocation per point; larger (array) programs one dispatch per
        instruction, point by point."""
        dtype = self.dtype_for(points.dtype)
        pts = np.ascontiguousarray(points, dtype=dtype)
        flat = self._flat_params(params, dtype)
        per_point = prog.program.n_elements <= _core.GPU_MAX_POINT_ELEMENTS
        if seeds is None and per_point and pts.shape[1] <= GPU_MAX_LANES:
            return self._kernel(prog, dtype, None).run(pts, flat, np.zeros(0, dtype))
        if seeds is None:
            seeds = np.eye(pts.shape[1], dtype=dtype)
        seeds = np.asarray(seeds, dtype=dtype)
        blocks = [
            np.ascontiguousarray(seeds[s : s + GPU_MAX_LANES])
            for s in range(0, max(len(seeds), 1), GPU_MAX_LANES)
        ]
        if per_point:
            runs = [self._kernel(prog, dtype, len(b)).run(pts, flat, b.ravel()) for b in blocks]
            return runs[0][0], np.concatenate([t for _, t in runs], axis=2)
        values, tangents = [], []
        for x in pts:
            runs = [self._array_kernel(prog, dtype, len(b)).run(x, flat, b.ravel()) for b in blocks]
            values.append(runs[0][0])
            tangents.append(np.concatenate([t for _, t in runs], axis=1))
        return np.stack(values), np.stack(tangents)

    def resident(self, prog: TracedProgram, points: np.ndarray, params: list) -> Any:
        """``points`` on the GPU for a per-point Jacobian kernel (see ``run``)."""
        if prog.program.n_elements > _core.GPU_MAX_POINT_ELEMENTS or points.shape[1] > 64:
            raise ValueError(
                "resident evaluation needs a per-point program with at most "
                f"{_core.GPU_MAX_POINT_ELEMENTS} scalars and 64 inputs; this one has "
                f"{prog.program.n_elements} and {points.shape[1]}"
            )
        dtype = self.dtype_for(points.dtype)
        pts = np.ascontiguousarray(points, dtype=dtype)
        flat = self._flat_params(params, dtype)
        return self._kernel(prog, dtype, None).resident(pts, flat, np.zeros(0, dtype))

    @staticmethod
    def _flat_params(params: list, dtype: np.dtype) -> np.ndarray:
        if not params:
            return np.zeros(0, dtype)
        return np.concatenate([np.ravel(p) for p in params]).astype(dtype)

    def _array_kernel(self, prog: TracedProgram, dtype: np.dtype, lanes: int) -> Any:
        key = (id(prog), dtype.name, -lanes)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = self._kernels[key] = _core.GpuArrayKernel(prog.program, dtype.name, lanes)
        return kernel

    def _kernel(self, prog: TracedProgram, dtype: np.dtype, lanes: Optional[int]) -> Any:
        key = (id(prog), dtype.name, lanes)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = self._kernels[key] = _core.GpuKernel(prog.program, dtype.name, lanes)
        return kernel
