"""Running a benchmark: prepare every contender, check its result, time them interleaved."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from anydiff.bench.contenders import SPARSE_DENSITY, Contender, contenders_for
from anydiff.bench.problems import Problem, to_numpy
from anydiff.bench.progress import Progress
from anydiff.bench.timing import block, measure

__all__ = ["Result", "Settings", "Task", "check", "mostly_zeros", "run", "run_task"]


@dataclass(frozen=True)
class Settings:
    """How long to measure: ``target`` seconds per measurement, ``rounds`` rounds."""

    target: float = 0.2
    rounds: int = 5
    warmup: int = 2

    @classmethod
    def quick(cls) -> Settings:
        """Fewer, shorter measurements (for a first look or CI)."""
        return cls(target=0.03, rounds=5, warmup=1)

    def as_dict(self) -> dict[str, float]:
        """The settings as saved with results."""
        return {"target_s": self.target, "rounds": self.rounds, "warmup": self.warmup}


@dataclass(frozen=True)
class Task:
    """One problem and one operator, with the contenders to compare."""

    problem: Problem
    operator: str
    contenders: tuple[Contender, ...]

    @classmethod
    def of(cls, problem: Problem, operator: str) -> Task:
        """A task with every installed contender that fits (the sparse ones too for a
        Jacobian that is mostly zeros)."""
        sparse = operator == "jacobian" and mostly_zeros(problem)
        return cls(problem, operator, tuple(contenders_for(problem, operator, sparse)))


def mostly_zeros(problem: Problem, min_inputs: int = 32) -> bool:
    """Whether the Jacobian of ``problem`` has at most ``SPARSE_DENSITY`` nonzeros, by
    tracing (False for functions that do not trace, and for fewer than ``min_inputs``)."""
    if problem.traceable is None or problem.n < min_inputs:
        return False
    from anydiff import jacobian_sparsity

    try:
        pattern = jacobian_sparsity(problem.function(problem.traceable), problem.point("numpy"))
    except Exception:  # a function the tracer refuses gets the dense contenders only
        return False
    rows, cols = pattern.shape
    return pattern.nnz <= SPARSE_DENSITY * rows * cols


@dataclass
class Result:
    """One contender on one task.

    ``seconds`` is the time per call of the fastest round (None when preparation failed;
    ``rounds`` holds every round); ``ratio`` is
    it divided by the fastest native call of the task; ``check`` is ``ok``,
    ``reference`` (the result the others were compared with), ``MISMATCH ...`` or
    ``error`` (the contender could not run; ``error`` holds the whole message).
    """

    problem: str
    operator: str
    contender: str
    native: bool
    framework: str
    seconds: Optional[float] = None
    ratio: Optional[float] = None
    check: str = ""
    max_error: Optional[float] = None
    prepare_seconds: Optional[float] = None
    calls_per_round: int = 0
    rounds: list[float] = field(default_factory=list)
    error: Optional[str] = None


def check(value: np.ndarray, reference: np.ndarray, exact: bool) -> tuple[bool, float]:
    """Whether ``value`` matches ``reference``; and the largest error relative to
    ``max(1, max |reference|)``. Finite differences get a looser tolerance."""
    if value.shape != reference.shape:
        return False, float("inf")
    scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
    err = float(np.max(np.abs(value - reference))) / scale if value.size else 0.0
    rtol, atol = (1e-9, 1e-10) if exact else (1e-4, 1e-5)
    return bool(np.allclose(value, reference, rtol=rtol, atol=atol * scale)), err


def _prepare(c: Contender, problem: Problem) -> tuple[Callable[[], Any], np.ndarray, float]:
    start = time.perf_counter()
    call = c.setup(problem)
    value = to_numpy(block(call()))
    return call, value, time.perf_counter() - start


def run_task(
    task: Task, settings: Settings, progress: Optional[Callable[[int], Any]] = None
) -> list[Result]:
    """Prepare, check and time every contender of ``task``."""
    problem, operator = task.problem, task.operator
    results: dict[str, Result] = {}
    calls: dict[str, Callable[[], Any]] = {}
    values: dict[str, np.ndarray] = {}
    for c in task.contenders:
        r = results[c.name] = Result(problem.name, operator, c.name, c.native, c.framework)
        try:
            calls[c.name], values[c.name], r.prepare_seconds = _prepare(c, problem)
        except Exception as err:  # a contender that cannot run is reported, not fatal
            r.check = "error"
            r.error = f"{type(err).__name__}: {err}"
        if progress is not None:
            progress(1)
    ref_name = _reference(task.contenders, values)
    for c in task.contenders:
        r = results[c.name]
        if c.name not in values:
            continue
        if c.name == ref_name:
            r.check, r.max_error = "reference", 0.0
            continue
        ok, r.max_error = check(values[c.name], values[ref_name], c.exact)
        r.check = "ok" if ok else f"MISMATCH (err {r.max_error:.1e})"
    timings = measure(calls, settings.target, settings.rounds, settings.warmup, progress)
    for name, t in timings.items():
        results[name].seconds = t.best
        results[name].calls_per_round = t.calls_per_round
        results[name].rounds = t.rounds
    native = [r.seconds for r in results.values() if r.native and r.seconds is not None]
    base = min(native) if native else None
    for r in results.values():
        if base and r.seconds is not None:
            r.ratio = r.seconds / base
    return list(results.values())


def _reference(contenders: Sequence[Contender], values: dict[str, np.ndarray]) -> str:
    """The result others are checked against: an exact native call, else any exact one."""
    ranked = sorted(contenders, key=lambda c: (not c.exact, not c.native))
    for c in ranked:
        if c.name in values:
            return c.name
    return ""


def run(
    tasks: Sequence[Task], settings: Optional[Settings] = None, show_progress: bool = True
) -> list[Result]:
    """Run ``tasks`` in order, with a progress line over all contenders and rounds."""
    settings = settings or Settings()
    steps = sum(len(t.contenders) * (settings.rounds + 2) for t in tasks)
    bar = Progress(steps, enabled=show_progress)
    results: list[Result] = []
    try:
        for task in tasks:
            bar.describe(f"{task.problem.name} {task.operator}")
            results += run_task(task, settings, bar.update)
    finally:
        bar.close()
    return results
