"""anydiff's own forward-mode engine: trace once, evaluate dual numbers in Rust."""

from __future__ import annotations

import weakref
from typing import Any, Callable, Optional

import numpy as np

from anydiff import _core
from anydiff._arrays import ops_named
from anydiff._layout import Layout
from anydiff._modes import check_option
from anydiff._tree import leaves, map_leaves
from anydiff.backends.base import AbstractForwardMode, AbstractReverseMode, Function
from anydiff.ir._compile import (
    FRONTENDS,
    Frontend,
    TracedProgram,
    constant_key,
    flat_points,
    is_parameter,
    trace,
)

__all__ = ["DualBackend"]


class DualBackend(AbstractForwardMode, AbstractReverseMode):
    """anydiff's engine: f is traced into an expression graph (from numpy code or from a
    JAX function's jaxpr), then evaluated in Rust with multi-lane dual numbers — all
    Jacobian columns of a point in one pass, many points at once (``batch_jacobian``) —
    and swept in reverse for VJPs and gradients; Hessian-vector products are
    forward-over-reverse (up to 16 directions per pass).

    Args:
        device: ``"cpu"``, or ``"gpu"`` for forward mode on a Vulkan GPU through wgpu
            (``jacobian``, ``batch_jacobian``, ``batch_gradient``, JVPs, and so the
            colored sparse Jacobians of ``SparseBackend``): kernels generated from the
            traced program, one invocation per point for small programs, one dispatch
            per instruction for array programs (stencils, discretised PDEs). Reverse mode and
            second order (VJPs, Hessians, HVPs) run on the CPU engine either way.
            ``ANYDIFF_WGPU_ADAPTER`` picks an adapter by name; ``ANYDIFF_WGPU_NO_F64=1``
            opens it without shader-f64 (float32 only).
        dtype: for ``device="gpu"``, ``"float32"`` or ``"float64"`` (which needs an
            adapter with shader-f64); by default the inputs' dtype.
        frontend: ``"numpy"`` traces numpy code with tracer arrays, ``"jax"`` translates
            the jaxpr; ``"auto"`` uses JAX for JAX inputs and numpy otherwise, falling back
            to JAX when numpy tracing fails.
        engine: on the CPU, how ``batch_jacobian`` (and ``batch_gradient``) evaluate at
            many float64 points. ``"compiled"`` compiles the program to machine code
            (Cranelift, on first use) — one loop over points with every number in
            registers — and raises where it cannot (float32 points, more than 64 inputs,
            programs past the compiler's size limits); ``"interpreter"`` runs the
            instruction-by-instruction engine; ``"auto"`` (default) compiles for batches
            of 16 float64 points or more where the program allows and interprets
            otherwise (``ANYDIFF_JIT=0`` turns compiling off). Both give the same numbers.

    f must be traceable: no Python branching on input values (use ``np.where``), static
    shapes and indices. Constants that are arrays or numbers are parameters of the traced
    program and may change between calls; other constants are baked in.
    """

    array_kind = "numpy"
    vjp_cost = 5.0
    """JVP lanes share one forward pass, each VJP is its own reverse sweep: nine VJPs of
    the Brusselator at N=128 took 10 ms, ten JVP lanes 2 ms."""

    def __init__(
        self,
        device: str = "cpu",
        frontend: Frontend = "auto",
        dtype: Optional[str] = None,
        engine: str = "auto",
    ) -> None:
        self.device = check_option("device", device, ("cpu", "gpu"))
        self.frontend = check_option("frontend", frontend, FRONTENDS)
        self.engine = check_option("engine", engine, ("auto", "compiled", "interpreter"))
        if engine != "auto" and device != "cpu":
            raise ValueError(f"engine={engine!r} is for device='cpu'; got device={device!r}")
        if dtype is not None:
            check_option("dtype", dtype, ("float32", "float64"))
            if device != "gpu":
                raise ValueError(f"dtype={dtype!r} is for device='gpu'; got device={device!r}")
        self.dtype = dtype
        self._compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
        if device == "gpu":
            if not hasattr(_core, "gpu_adapter"):
                raise RuntimeError(
                    "this build of anydiff has no GPU engine (built without the 'gpu' feature)"
                )
            _core.gpu_adapter()  # fail here, with the reason, when there is no usable GPU

    def pushforward_batch(self, f: Function, xs: tuple, tangents: tuple) -> Any:
        """JVPs of any callable (traced on every call: plans use the cached programs)."""
        inputs = Layout.of(tuple(xs))
        program = _Compiled(lambda a, c: f(*a), self.frontend, gpu=self._gpu())
        k = len(tangents[0])
        dtype = np.result_type(*(np.asarray(x).dtype for x in xs))
        seeds = inputs.flatten_rows(ops_named("numpy"), tuple(np.asarray(t) for t in tangents), k)
        rows = program.jvp_rows(xs, (), np.asarray(seeds, dtype=dtype))
        return program.outputs.split_rows(rows, k)

    def pullback_batch(self, f: Function, xs: tuple, cotangents: Any) -> tuple:
        """VJPs of any callable (traced on every call: plans use the cached programs)."""
        inputs = Layout.of(tuple(xs))
        program = _Compiled(lambda a, c: f(*a), self.frontend)
        dtype = np.result_type(*(np.asarray(x).dtype for x in xs))
        program._program(tuple(np.asarray(x) for x in xs), ())
        k = len(leaves(cotangents)[0])
        ws = program.outputs.flatten_rows(ops_named("numpy"), map_leaves(np.asarray, cotangents), k)
        rows = program.vjp_rows(xs, (), np.asarray(ws, dtype=dtype))
        return tuple(leaves(inputs.split_rows(rows, k)))

    def native(
        self, operator: str, fn: Function, inputs: Layout, dtype: np.dtype
    ) -> Optional[Callable]:
        compiled = self._compiled.get(fn)
        if compiled is None:
            # one traced function per plan function, whichever operators ask for it
            compiled = self._compiled[fn] = _Compiled(
                fn, self.frontend, gpu=self._gpu(), engine=self.engine
            )
        return {
            "jvp_rows": compiled.jvp_rows,
            "vjp_rows": compiled.vjp_rows,
            "gradient": compiled.gradient,
            "gradient_only": compiled.gradient_only,
            "hessian": compiled.hessian,
            "hvp_rows": compiled.hvp_rows,
            "batch_jacobian": compiled.batch_jacobian,
            "batch_hessian": compiled.batch_hessian,
            "resident_batch_jacobian": (
                compiled.resident_batch_jacobian if self.device == "gpu" else None
            ),
            "sparse_jacobian": compiled.sparse_jacobian if self.device == "cpu" else None,
        }.get(operator)

    def _gpu(self) -> Optional[_GpuKernels]:
        return _GpuKernels(self.dtype) if self.device == "gpu" else None


class _GpuKernels:
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
        if seeds is None and per_point and pts.shape[1] <= _GPU_MAX_LANES:
            return self._kernel(prog, dtype, None).run(pts, flat, np.zeros(0, dtype))
        if seeds is None:
            seeds = np.eye(pts.shape[1], dtype=dtype)
        seeds = np.asarray(seeds, dtype=dtype)
        blocks = [
            np.ascontiguousarray(seeds[s : s + _GPU_MAX_LANES])
            for s in range(0, max(len(seeds), 1), _GPU_MAX_LANES)
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


_GPU_MAX_LANES = 64
"""Most directions one GPU kernel carries (its tangents live in registers)."""


class _Compiled:
    """``fn(xs, cs)`` traced at its first call and kept per constant layout."""

    def __init__(
        self,
        fn: Function,
        frontend: Frontend,
        fixed_shapes: bool = True,
        gpu: Optional[_GpuKernels] = None,
        engine: str = "auto",
    ) -> None:
        self.fn, self.frontend, self.gpu, self.engine = fn, frontend, gpu, engine
        self._fixed_shapes = fixed_shapes
        self._only: Optional[TracedProgram] = None
        self._programs: dict[Any, TracedProgram] = {}
        self._params: dict[Any, tuple[bool, ...]] = {}
        self.outputs: Layout = Layout((), False)

    def _program(self, xs: tuple, cs: tuple) -> TracedProgram:
        if not cs and self._only is not None:
            # Without constants a plan's inputs always have the shapes it was prepared
            # with (its signature checks them), so there is exactly one program.
            return self._only
        shapes = tuple(np.shape(x) for x in xs) + tuple(is_parameter(c) for c in cs)
        is_param = self._params.get(shapes)
        key = None
        if is_param is not None:
            key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
            prog = self._programs.get(key)
            if prog is not None:
                return prog
        graph, is_param = trace(self.fn, xs, cs, self.frontend, is_param)
        self._params[shapes] = is_param
        key = shapes + tuple(constant_key(c, p) for c, p in zip(cs, is_param))
        prog = self._programs[key] = TracedProgram(graph, is_param)
        self._only = prog if not cs and self._fixed_shapes else None
        self.outputs = Layout(tuple(o.shape for o in graph.outputs), len(graph.outputs) > 1)
        return prog

    def jvp_rows(self, xs: tuple, cs: tuple, seeds: Any) -> np.ndarray:
        prog = self._program(xs, cs)
        seeds = np.asarray(seeds)
        dtype = seeds.dtype
        points, params = flat_points(xs, dtype), prog.params(cs, dtype)
        if self.gpu is not None:
            _, tangents = self.gpu.run(prog, points, params, seeds)
            return tangents[0].T.astype(dtype, copy=False)
        _, tangents = prog.program.jvp(points, params, seeds)
        return tangents[0]

    def vjp_rows(self, xs: tuple, cs: tuple, cotangents: Any) -> np.ndarray:
        prog = self._program(xs, cs)
        w = np.asarray(cotangents)
        _, rows = prog.program.vjp(flat_points(xs, w.dtype), prog.params(cs, w.dtype), w)
        return rows[0]

    def gradient(self, xs: tuple, cs: tuple, dtype: np.dtype) -> tuple[Any, np.ndarray]:
        """Value and flat gradient of a scalar program at one point, by one reverse sweep
        (cheaper than forward lanes even for two inputs)."""
        prog = self._program(xs, cs)
        x = xs[0]
        if len(xs) == 1 and type(x) is np.ndarray and x.dtype == dtype:
            points = x.reshape(1, -1)  # the hot path of a prepared gradient
        else:
            points = flat_points(xs, dtype)
        values, grad = prog.program.gradient(points, prog.params(cs, dtype))
        return values[0], grad[0]

    def gradient_only(self, xs: tuple, cs: tuple, dtype: np.dtype) -> Optional[tuple]:
        """The gradient shaped like each input, or None where the general path is needed
        (several inputs, parameters, another array type)."""
        prog = self._only if self._only is not None and not cs else self._program(xs, cs)
        x = xs[0]
        if len(xs) == 1 and not cs and type(x) is np.ndarray and x.dtype == dtype:
            if x.ndim == 1 and dtype == np.float64:
                return (prog.program.gradient1(x),)
            return (prog.program.gradient(x.reshape(1, -1))[1].reshape(x.shape),)
        return None

    def hessian(self, xs: tuple, cs: tuple, dtype: np.dtype) -> tuple[Any, np.ndarray, np.ndarray]:
        """Value, gradient and dense Hessian at one point (forward-over-reverse with the
        identity as directions)."""
        value, grad, hess = self._hessians(xs, cs, 1, dtype)
        return value[0], grad[0], hess[0]

    def hvp_rows(self, xs: tuple, cs: tuple, v: Any) -> np.ndarray:
        prog = self._program(xs, cs)
        v = np.asarray(v)
        _, hvps = prog.program.hvp_reverse(flat_points(xs, v.dtype), prog.params(cs, v.dtype), v)
        return hvps[0]

    def _hessians(
        self, xs: tuple, cs: tuple, batch: Optional[int], dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        point = xs if batch == 1 else tuple(np.asarray(x)[0] for x in xs)
        prog = self._program(point, cs)
        points, params = (
            flat_points(xs, dtype, None if batch == 1 else batch),
            prog.params(cs, dtype),
        )
        n = points.shape[1]
        values = prog.program.eval(points, params)[:, 0]
        grad, hess = prog.program.hvp_reverse(points, params, np.eye(n, dtype=dtype))
        return values, grad, hess

    def batch_jacobian(
        self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype, values: bool = True
    ) -> tuple[Optional[np.ndarray], np.ndarray]:
        """Values (P, m) (None when not asked for) and Jacobians (P, m, n) at P points
        (inputs lead with the batch)."""
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self._program(point, cs)
        points, params = flat_points(xs, dtype, batch), prog.params(cs, dtype)
        if self.gpu is not None:
            vals, jac = self.gpu.run(prog, points, params, None)
            return (vals if values else None), jac
        return prog.program.jacobian(points, params, values, engine=self.engine)

    def sparse_jacobian(self, pattern: Any) -> Callable[[tuple, tuple], Optional[np.ndarray]]:
        """A function giving the Jacobian's values on ``pattern`` (a ``coloring.Pattern``
        holding the traced program's pattern) in CSR order, computed entry by entry
        (``_core.Program.sparse_jacobian``: constant entries worked out once, no
        coloring); it returns None where that does not apply (float32 inputs, programs
        with max/min reductions or matrix products), and colored products serve then."""
        kernels: dict[int, Any] = {}

        def values(xs: tuple, cs: tuple) -> Optional[np.ndarray]:
            if any(np.asarray(x).dtype != np.float64 for x in xs):
                return None
            prog = self._program(xs, cs)
            key = id(prog)
            if key not in kernels:
                try:
                    kernels[key] = (prog, prog.program.sparse_jacobian(pattern._core))
                except ValueError:
                    kernels[key] = (prog, None)
            kernel = kernels[key][1]
            if kernel is None:
                return None
            x = flat_points(xs, np.dtype(np.float64))[0]
            return kernel(x, prog.params(cs, np.dtype(np.float64)))

        return values

    def resident_batch_jacobian(self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype) -> Any:
        """Points uploaded once to the GPU with room for their values and Jacobians: an
        object with ``run()`` and ``read() -> (values (P, m), jacobians (P, m, n))``."""
        assert self.gpu is not None, "resident evaluation is for device='gpu'"
        point = tuple(np.asarray(x)[0] for x in xs)
        prog = self._program(point, cs)
        return self.gpu.resident(prog, flat_points(xs, dtype, batch), prog.params(cs, dtype))

    def batch_hessian(
        self, xs: tuple, cs: tuple, batch: int, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Values (P,), gradients (P, n) and Hessians (P, n, n) at P points."""
        return self._hessians(xs, cs, batch, dtype)
