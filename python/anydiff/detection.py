"""Sparsity detection: where a Jacobian or Hessian can be nonzero.

A detector receives a :class:`SparsityProblem` (the function of one input, the point,
the matrix shape and a way to form dense matrices) and returns a
:class:`~anydiff.coloring.Pattern`. ``KnownPattern`` trusts the user;
``LocalDetector`` probes dense matrices at random points near the input, so its pattern
is valid only near them; ``TracerDetector`` propagates index sets through the traced
function, valid everywhere; ``AutoDetector`` (SparseBackend's default) traces when f
traces and probes otherwise.
"""

from __future__ import annotations

import abc
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from anydiff._arrays import kind_name, to_host
from anydiff._errors import ShapeError
from anydiff._modes import check_option
from anydiff.coloring import Pattern

__all__ = [
    "AbstractDetector",
    "AutoDetector",
    "KnownPattern",
    "LocalDetector",
    "SparsityProblem",
    "TracerDetector",
    "hessian_sparsity",
    "jacobian_sparsity",
]


@dataclass(frozen=True)
class SparsityProblem:
    """What a detector may use: ``f`` of one input at ``x``, and dense matrices there.

    ``shape`` is the matrix shape over flattened inputs and outputs: ``(m, n)`` for a
    Jacobian, ``(n, n)`` for a Hessian. ``dense(x)`` returns that matrix at a point of
    the same shape as ``x`` as a numpy array. ``program()``, where given, returns
    ``(frontend, program)``: f already traced by the plan (an ``anydiff._core.Program``
    whose inputs are x), or None.
    """

    f: Callable[[Any], Any]
    x: Any
    shape: tuple[int, int]
    dense: Callable[[Any], np.ndarray]
    hessian: bool
    program: Optional[Callable[[], Optional[tuple[str, Any]]]] = None


class AbstractDetector(abc.ABC):
    """Finds the sparsity pattern of a Jacobian or Hessian."""

    @abc.abstractmethod
    def detect(self, problem: SparsityProblem) -> Pattern:
        """The pattern of ``problem``'s matrix, shape ``problem.shape``."""


class KnownPattern(AbstractDetector):
    """A pattern the user gives (a Pattern, a scipy.sparse matrix or a dense boolean array).

    With ``check=True`` the preparation also forms one dense matrix at the input (the cost
    of a dense Jacobian or Hessian) and raises ValueError if the function has a nonzero the
    pattern misses. Without the check such an entry is dropped, and since compression adds
    columns (or rows) of one color together, it may also be added into another stored
    entry of its row (or column).
    """

    def __init__(self, pattern: Any, check: bool = False) -> None:
        self.pattern = Pattern.of(pattern)
        self.check = check

    def detect(self, problem: SparsityProblem) -> Pattern:
        what = "Hessian" if problem.hessian else "Jacobian"
        if self.pattern.shape != problem.shape:
            raise ShapeError(
                f"KnownPattern: expected the {what}'s shape {problem.shape} "
                "(outputs x inputs, flattened), got a pattern of shape "
                f"{self.pattern.shape}"
            )
        if self.check:
            dense = np.asarray(problem.dense(problem.x))
            missed = np.argwhere((dense != 0) & ~self.pattern.todense())
            if len(missed):
                i, j = missed[0]
                raise ValueError(
                    f"KnownPattern misses {len(missed)} nonzero(s) of the {what}, the first at "
                    f"({i}, {j}) with value {dense[i, j]:.6g}; expected every nonzero inside the "
                    "pattern"
                )
        return self.pattern

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        return f"KnownPattern({m} x {n}, nnz={self.pattern.nnz})"


class LocalDetector(AbstractDetector):
    """The union of the nonzeros of dense matrices at ``points`` random points near x.

    Valid only near those points: an entry that happens to vanish at every probe (a
    product with a zero, a branch not taken) is missed. Costs ``points`` dense matrices.

    Args:
        points: how many points to probe (the input itself is the first).
        scale: relative size of the random perturbations.
        seed: seed of the perturbations.
    """

    def __init__(self, points: int = 3, scale: float = 1e-2, seed: int = 0) -> None:
        if points < 1:
            raise ValueError(f"points must be at least 1; got {points}")
        self.points, self.scale, self.seed = points, scale, seed

    def detect(self, problem: SparsityProblem) -> Pattern:
        rng = np.random.default_rng(self.seed)
        base = to_host(problem.x)
        mask = np.zeros(problem.shape, dtype=bool)
        for k in range(self.points):
            noise = self.scale * (np.abs(base) + 1.0) * rng.standard_normal(base.shape)
            point = base if k == 0 else base + noise
            mask |= np.asarray(problem.dense(point.astype(base.dtype))) != 0
        if problem.hessian:
            mask |= mask.T
        return Pattern.from_dense(mask)

    def __repr__(self) -> str:
        return f"LocalDetector(points={self.points}, scale={self.scale}, seed={self.seed})"


class TracerDetector(AbstractDetector):
    """Global patterns: index sets propagated through the traced expression graph.

    Valid for every input (and every value of the constants), at the cost of being
    conservative where a value happens to be zero. ``f`` must be traceable by the numpy or
    JAX front end (see :class:`~anydiff.DualBackend`).
    """

    def __init__(self, frontend: str = "auto") -> None:
        from anydiff.ir._compile import FRONTENDS

        self.frontend = check_option("frontend", frontend, FRONTENDS)

    def detect(self, problem: SparsityProblem) -> Pattern:
        return self.program_pattern(self.trace(problem), problem.hessian)

    def trace(self, problem: SparsityProblem) -> Any:
        """``problem.f`` as an ``anydiff._core.Program`` (the plan's own trace when it has
        one from this front end, so that f is traced once)."""
        traced = problem.program() if problem.program is not None else None
        if traced is not None and self.frontend in ("auto", traced[0]):
            return traced[1]
        return self._trace(problem.f, problem.x)

    def pattern(self, f: Callable[[Any], Any], x: Any, hessian: bool = False) -> Pattern:
        """The Jacobian (or, for scalar f, Hessian) pattern of ``f`` at inputs shaped like x."""
        return self.program_pattern(self._trace(f, x), hessian)

    def _trace(self, f: Callable[[Any], Any], x: Any) -> Any:
        from anydiff.ir._compile import TracedProgram, trace

        # A jaxpr is JAX's own record of f, so the value check would only re-check the
        # translation, at the price of running f eagerly: one XLA compilation per
        # operation in a fresh process, ten times the rest of the detection.
        jax_code = self.frontend == "jax" or kind_name(x) == "jax"
        graph, is_param = trace(
            lambda xs, cs: f(xs[0]),
            (x,),
            (),
            self.frontend,  # type: ignore[arg-type]
            check=not jax_code,
        )
        return TracedProgram(graph, is_param).program

    @staticmethod
    def program_pattern(program: Any, hessian: bool) -> Pattern:
        """The Jacobian (or Hessian) pattern of a traced ``anydiff._core.Program``."""
        if hessian:
            if program.n_outputs != 1:
                raise ValueError(
                    f"a Hessian pattern needs a scalar function; got {program.n_outputs} outputs"
                )
            return Pattern._wrap(program.hessian_pattern())
        return Pattern._wrap(program.jacobian_pattern())

    def __repr__(self) -> str:
        return f"TracerDetector(frontend={self.frontend!r})"


DENSE_WARNING_ENTRIES = 1_000_000
"""AutoDetector warns when its fallback forms dense matrices of at least this many entries."""


class AutoDetector(AbstractDetector):
    """SparseBackend's default: :class:`TracerDetector` when f traces (numpy or JAX code),
    else ``fallback`` (a :class:`LocalDetector`, valid only near the input).

    The fallback forms dense matrices; when they hold at least a million entries
    (``m * n >= 10**6``) it warns (``UserWarning``) with the size and the time it took,
    naming ``TracerDetector`` and ``KnownPattern`` as what to pass instead.
    """

    def __init__(self, fallback: Optional[AbstractDetector] = None) -> None:
        if fallback is not None and not isinstance(fallback, AbstractDetector):
            raise TypeError(f"fallback must be an anydiff detector; got {type(fallback).__name__}")
        self.fallback = fallback if fallback is not None else LocalDetector()

    def detect(self, problem: SparsityProblem) -> Pattern:
        tracer = TracerDetector()
        try:
            program = tracer.trace(problem)
        except MemoryError:
            raise
        # f's own code fails on tracers in many ways (a TraceError, or a TypeError from torch
        # or a C extension): all mean "probe instead". Only tracing is guarded: an error
        # while computing the pattern of a traced program is anydiff's and propagates.
        except Exception as err:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        else:
            return tracer.program_pattern(program, problem.hessian)
        start = time.perf_counter()
        pattern = self.fallback.detect(problem)
        seconds = time.perf_counter() - start
        m, n = problem.shape
        if m * n >= DENSE_WARNING_ENTRIES:
            what = "Hessian" if problem.hessian else "Jacobian"
            warnings.warn(
                f"SparseBackend's default detector could not trace f ({reason[:200]}), so "
                f"{self.fallback!r} formed dense {m} x {n} {what}s ({seconds:.2f} s), and its "
                "pattern is valid only near the input; pass detector=TracerDetector() with "
                "traceable numpy/JAX code, or detector=KnownPattern(S) when the pattern is known",
                UserWarning,
                stacklevel=2,
            )
        return pattern

    def __repr__(self) -> str:
        return f"AutoDetector(fallback={self.fallback!r})"


def jacobian_sparsity(f: Callable[[Any], Any], x: Any, frontend: str = "auto") -> Pattern:
    """The Jacobian pattern of ``f`` (one input) valid for all inputs, shape (m, n) over the
    flattened output and input, from index-set propagation through the traced graph."""
    return TracerDetector(frontend).pattern(f, x, hessian=False)


def hessian_sparsity(f: Callable[[Any], Any], x: Any, frontend: str = "auto") -> Pattern:
    """The Hessian pattern of scalar ``f`` valid for all inputs, shape (n, n)."""
    return TracerDetector(frontend).pattern(f, x, hessian=True)
