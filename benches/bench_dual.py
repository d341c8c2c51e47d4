"""anydiff's own forward-mode engine (``DualBackend``) against JAX, torch, num-dual and asdex.

Measures in one run (float64, prepared calls, interleaved timings):

* Lotka-Volterra Jacobian at 100,000 points, inputs (x, y, a, b, c, d):
  ``BatchPlan("jacobian", DualBackend)`` / jax.jit(jax.vmap(jax.jacfwd))  (target <= 1.0)
  num-dual's ``jacobian`` per point / anydiff per point                 (target >= 1000)
* tiny gradient (sin(x0) x1 + x1^2): ``prepare_gradient(DualBackend)`` per call, with
  jax.jit(jax.grad) and torch.func.grad alongside                       (target < 2 us)
* Brusselator (N = 32, 128) sparse Jacobian:
  ``SparseBackend(DualBackend, TracerDetector)`` / jax.jit(asdex.jacobian)  (target <= 0.5)
* detection + coloring: asdex.jacobian_coloring / anydiff (jacobian_sparsity +
  color_columns) at N = 128                                             (target >= 50)
  anydiff's at N = 512                                                  (target < 1 s)
* Rosenbrock (n = 1000) sparse Hessian, nested duals and star coloring:
  ``SparseBackend(DualBackend, TracerDetector)`` / jax.jit(asdex.hessian)   (target <= 1.0)
* dense Jacobian of tanh(W x) + sum(sin(x)) at n = m = 10, prepared:
  ``prepare_jacobian(DualBackend)`` / jax.jit(jax.jacfwd)                (target <= 1.0)
* mode choice, the same function R^n -> R^m for (n, m) = (10, 10), (60, 59), (200, 199),
  (200, 20), (20, 200): the mode DualBackend's cost model picks / the faster of the two
  forced modes                                                           (target <= 1.10)

Every figure not met is profiled with cProfile: the JSON gets the share of time in anydiff's
Rust core (``anydiff._core`` methods), in other compiled code (numpy, scipy) and in Python.

Writes benches/results/dual.json and prints every figure with its target.
Usage: python benches/bench_dual.py [--quick] [--out FILE]
"""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp

from anydiff.bench.machine import (
    start_script,
    write_results,
)
from anydiff.bench.problems import brusselator_init, brusselator_rhs, get_problem, to_numpy
from anydiff.bench.report import format_seconds
from anydiff.bench.runner import Settings
from anydiff.bench.timing import Timing, block, measure

RESULTS = Path(__file__).resolve().parent / "results"
N_POINTS = 100_000
N_POINTS_NUM_DUAL = 1_000

Call = Callable[[], Any]
Figures = dict[str, dict[str, Any]]


# --- functions ----------------------------------------------------------------------------


def lotka_volterra(z: Any, xp: Any = np) -> Any:
    """Right-hand side (a x - b x y, c x y - d y) of z = (x, y, a, b, c, d)."""
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return xp.stack([a * x - b * x * y, c * x * y - d * y])


def lotka_volterra_list(z: list[Any]) -> list[Any]:
    """The same on a list of scalars (num-dual's dual numbers)."""
    x, y, a, b, c, d = z
    return [a * x - b * x * y, c * x * y - d * y]


def best_of(call: Call, repeats: int) -> float:
    """Fewest seconds of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        block(call())
        times.append(time.perf_counter() - start)
    return min(times)


# --- profiling ----------------------------------------------------------------------------


def profile(call: Call, seconds: float = 1.0) -> dict[str, Any]:
    """Where the time of ``call`` goes: Rust core, other compiled code, Python.

    Runs ``call`` for about ``seconds`` under cProfile and splits the functions' own time
    (tottime): methods of ``anydiff._core`` objects, other built-ins (numpy, scipy, ...),
    and Python functions; the top Python frames are listed too.
    """
    block(call())
    start = time.perf_counter()
    block(call())
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, min(100_000, int(seconds / once)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(number):
        block(call())
    prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rust = compiled = python = 0.0
    python_frames: list[tuple[float, str]] = []
    compiled_frames: list[tuple[float, str]] = []
    for (filename, line, name), (_, ncalls, tottime, _cum, _callers) in stats.items():
        if filename == "~":
            if "anydiff._core" in name:
                rust += tottime
            else:
                compiled += tottime
                compiled_frames.append((tottime, name))
        else:
            python += tottime
            short = "/".join(Path(filename).parts[-2:])
            python_frames.append((tottime, f"{short}:{line}({name}) x{ncalls // number}"))
    total = rust + compiled + python
    top = sorted(python_frames, reverse=True)[:6]
    top_compiled = sorted(compiled_frames, reverse=True)[:4]
    return {
        "calls_profiled": number,
        "profiled_s_per_call": total / number,
        "rust_core_share": rust / total,
        "other_compiled_share": compiled / total,
        "python_share": python / total,
        "python_function_calls_per_call": sum(v[1] for (f, _, _), v in stats.items() if f != "~")
        / number,
        "top_python_s_per_call": {name: t / number for t, name in top},
        "top_compiled_s_per_call": {name: t / number for t, name in top_compiled},
    }


# --- contenders ---------------------------------------------------------------------------


def lotka_volterra_contenders() -> tuple[dict[str, Call], dict[str, Any]]:
    """Jacobians at 100,000 points: anydiff BatchPlan (compiled by default, and the
    interpreter for reference), jax vmap(jacfwd), num-dual per point."""
    import jax
    import jax.numpy as jnp
    import num_dual

    import anydiff

    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.5, (N_POINTS, 6))
    Xj = jnp.asarray(X)
    plan = anydiff.BatchPlan("jacobian", anydiff.DualBackend(), lotka_volterra, X)
    start = time.perf_counter()
    plan(X)  # the first call compiles the program
    first_call_s = time.perf_counter() - start
    interpreted = anydiff.BatchPlan(
        "jacobian", anydiff.DualBackend(engine="interpreter"), lotka_volterra, X
    )
    native = jax.jit(jax.vmap(jax.jacfwd(lambda z: lotka_volterra(z, jnp))))
    rows = [list(map(float, r)) for r in X[:N_POINTS_NUM_DUAL]]

    def per_point() -> list[Any]:
        return [num_dual.jacobian(lotka_volterra_list, r) for r in rows]

    mine, theirs = plan(X), np.asarray(native(Xj))
    nd = np.array([jac for _, jac in per_point()])
    checks = {
        "jax_matches": bool(np.allclose(mine, theirs, rtol=1e-12, atol=1e-12)),
        "num_dual_matches": bool(np.allclose(mine[:N_POINTS_NUM_DUAL], nd, rtol=1e-12, atol=1e-12)),
        "interpreter_matches": bool(np.array_equal(mine, interpreted(X))),
    }
    calls = {
        "anydiff": lambda: plan(X),
        "anydiff_interpreter": lambda: interpreted(X),
        "jax": lambda: native(Xj),
        "num_dual": per_point,
    }
    return calls, {"checks": checks, "shape": list(mine.shape), "first_call_s": first_call_s}


def gradient_contenders() -> tuple[dict[str, Call], dict[str, Any]]:
    """The tiny 2-input gradient, prepared: anydiff, jax.jit(jax.grad), torch.func.grad."""
    import jax
    import torch
    import torch.func

    import anydiff

    tiny = get_problem("tiny")
    f, x = tiny.function("numpy"), tiny.point("numpy")
    fj, xj = tiny.function("jax"), tiny.point("jax")
    ft, xt = tiny.function("torch"), tiny.point("torch")
    plan = anydiff.prepare_gradient(anydiff.DualBackend(), f, x)
    jgrad = jax.jit(jax.grad(fj))
    tgrad = torch.func.grad(ft)
    ref = np.asarray(jgrad(xj))
    checks = {
        "anydiff_matches": bool(np.allclose(to_numpy(plan(x)), ref, rtol=1e-13)),
        "torch_matches": bool(np.allclose(tgrad(xt).numpy(), ref, rtol=1e-13)),
    }
    assert xt.dtype == torch.float64
    calls = {"anydiff": lambda: plan(x), "jax": lambda: jgrad(xj), "torch": lambda: tgrad(xt)}
    return calls, {"checks": checks}


def dense_function(n: int, m: int, xp: Any = np) -> tuple[Callable[[Any], Any], np.ndarray]:
    """R^n -> R^m, tanh(W x) + sum(sin(x)) with W ~ N(0, 1/n), and a point."""
    rng = np.random.default_rng(n * 1000 + m)
    W = rng.standard_normal((m, n)) / np.sqrt(n)
    Wx = xp.asarray(W)

    def f(x: Any) -> Any:
        return xp.tanh(Wx @ x) + xp.sum(xp.sin(x))

    return f, rng.standard_normal(n)


def dense_jacobian_contenders() -> tuple[dict[str, Call], dict[str, Any]]:
    """The prepared dense Jacobian at n = m = 10: DualBackend, jax.jit(jax.jacfwd), and the
    engine's own call (``Program.jacobian``, for reference)."""
    import jax
    import jax.numpy as jnp

    import anydiff

    f, x = dense_function(10, 10)
    fj, xj = dense_function(10, 10, jnp)[0], jnp.asarray(x)
    plan = anydiff.prepare_jacobian(anydiff.DualBackend(), f, x)
    native = jax.jit(jax.jacfwd(fj))
    program = plan.prepared.program  # type: ignore[attr-defined]
    point = x.reshape(1, -1)
    ref = np.asarray(native(xj))
    checks = {"jax_matches": bool(np.allclose(plan(x), ref, rtol=1e-13, atol=1e-14))}
    calls = {
        "anydiff": lambda: plan(x),
        "jax": lambda: native(xj),
        "engine": lambda: program.jacobian(point, [], False),
    }
    return calls, {"checks": checks, "mode": plan.mode}  # type: ignore[attr-defined]


MODE_SHAPES = ((10, 10), (60, 59), (200, 199), (200, 20), (20, 200))


def mode_contenders(n: int, m: int) -> tuple[dict[str, Call], dict[str, Any]]:
    """DualBackend's dense Jacobian of ``dense_function(n, m)``: the picked mode and both
    forced modes (plans whose ``mode`` is set)."""
    import anydiff

    f, x = dense_function(n, m)
    plans = {}
    for name in ("picked", "forward", "reverse"):
        plans[name] = anydiff.prepare_jacobian(anydiff.DualBackend(), f, x)
        if name != "picked":
            plans[name].mode = name  # type: ignore[attr-defined]
    forward, reverse = plans["forward"](x), plans["reverse"](x)
    checks = {"modes_agree": bool(np.allclose(forward, reverse, rtol=1e-12, atol=1e-13))}
    calls = {name: (lambda p=p: p(x)) for name, p in plans.items()}
    return calls, {"checks": checks, "picked": plans["picked"].mode}  # type: ignore[attr-defined]


def mode_figure(n: int, m: int, t: dict[str, Timing], info: dict[str, Any]) -> dict[str, Any]:
    """The picked mode's median over the faster forced mode's."""
    faster = min(("forward", "reverse"), key=lambda k: t[k].median)
    value = t["picked"].median / t[faster].median
    return {
        "label": f"mode choice n={n} -> m={m} ({info['picked']}) / faster forced ({faster})",
        "kind": "ratio",
        "value": value,
        "target": 1.10,
        "met": value <= 1.10,
        "anydiff_s": t["picked"].median,
        "other_s": t[faster].median,
        "timings": seconds_of(t),
        **info,
    }


def brusselator_contenders(n_grid: int) -> tuple[dict[str, Call], dict[str, Any]]:
    """Sparse Brusselator Jacobian: anydiff (numpy tracing) vs jax.jit(asdex.jacobian)."""
    import asdex
    import jax
    import jax.numpy as jnp

    import anydiff

    x = brusselator_init(n_grid)
    xj = jnp.asarray(x)

    def fj(u: Any) -> Any:
        return brusselator_rhs(u, n_grid, 0.0, "jax")

    def fn(u: Any) -> Any:
        return brusselator_rhs(u, n_grid, 0.0, "numpy")

    native = jax.jit(asdex.jacobian(fj, xj))
    reference = block(native(xj))
    start = time.perf_counter()
    backend = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    plan = anydiff.prepare_jacobian(backend, fn, x)
    prepare_s = time.perf_counter() - start
    start = time.perf_counter()
    mine = plan(x)
    first_call_s = time.perf_counter() - start
    rows, cols = np.asarray(reference.indices).T
    theirs = sp.csr_array((np.asarray(reference.data), (rows, cols)), shape=reference.shape)
    diff = abs(mine - theirs).max()
    info = {
        "anydiff_colors": plan.coloring.ncolors,
        "asdex_colors": int(asdex.jacobian_coloring(fj, xj).num_colors),
        "anydiff_prepare_s": prepare_s,
        "anydiff_first_call_s": first_call_s,
        "nnz": int(mine.nnz),
        "checks": {"matches_asdex": bool(diff <= 1e-9 * abs(mine).max())},
    }
    return {"anydiff": lambda: plan(x), "asdex_jit": lambda: native(xj)}, info


def hessian_contenders() -> tuple[dict[str, Call], dict[str, Any]]:
    """Rosenbrock (n = 1000) sparse Hessian: anydiff nested duals vs jax.jit(asdex.hessian)."""
    import asdex
    import jax

    import anydiff

    problem = get_problem("rosenbrock")
    f, x = problem.function("numpy"), problem.point("numpy")
    fj, xj = problem.function("jax"), problem.point("jax")
    native = jax.jit(asdex.hessian(fj, xj))
    reference = np.asarray(block(native(xj)).todense())
    backend = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    start = time.perf_counter()
    plan = anydiff.prepare_hessian(backend, f, x)
    prepare_s = time.perf_counter() - start
    mine = plan(x)
    info = {
        "anydiff_colors": plan.coloring.ncolors,
        "anydiff_coloring": plan.coloring.kind,
        "asdex_colors": int(asdex.hessian_coloring(fj, xj).num_colors),
        "anydiff_prepare_s": prepare_s,
        "checks": {
            "matches_asdex": bool(np.allclose(mine.toarray(), reference, rtol=1e-10, atol=1e-9))
        },
    }
    return {"anydiff": lambda: plan(x), "asdex_jit": lambda: native(xj)}, info


def detection_figures(figures: Figures, repeats: int) -> None:
    """Detection + coloring: anydiff vs asdex at N = 128, anydiff alone at N = 512."""
    import asdex
    import jax.numpy as jnp

    import anydiff
    from anydiff.coloring import color_columns

    def anydiff_detect(n_grid: int) -> tuple[Call, Call]:
        x = brusselator_init(n_grid)

        def fn(u: Any) -> Any:
            return brusselator_rhs(u, n_grid, 0.0, "numpy")

        def detect_and_color() -> Any:
            return color_columns(anydiff.jacobian_sparsity(fn, x))

        backend = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
        return detect_and_color, lambda: anydiff.prepare_jacobian(backend, fn, x)

    x128 = jnp.asarray(brusselator_init(128))

    def asdex128() -> Any:
        return asdex.jacobian_coloring(lambda u: brusselator_rhs(u, 128, 0.0, "jax"), x128)

    mine128, prepare128 = anydiff_detect(128)
    ours = best_of(mine128, repeats)
    theirs = best_of(asdex128, repeats)
    figures["detect_color/brusselator128"] = {
        "label": "detect+color N=128: asdex / anydiff (speedup)",
        "kind": "speedup",
        "value": theirs / ours,
        "target": 50.0,
        "met": theirs / ours >= 50,
        "anydiff_s": ours,
        "other_s": theirs,
        "anydiff_colors": mine128().ncolors,
        "asdex_colors": int(asdex128().num_colors),
        "anydiff_full_prepare_s": best_of(prepare128, repeats),
    }
    mine512, prepare512 = anydiff_detect(512)
    ours = best_of(mine512, repeats)
    figures["detect_color/brusselator512"] = {
        "label": "detect+color N=512 (524,288 states): anydiff",
        "kind": "seconds",
        "value": ours,
        "target": 1.0,
        "met": ours < 1.0,
        "anydiff_s": ours,
        "other_s": None,
        "anydiff_colors": mine512().ncolors,
        "anydiff_full_prepare_s": best_of(prepare512, 1),
    }


# --- main ---------------------------------------------------------------------------------


def timed(calls: dict[str, Call], settings: Settings) -> dict[str, Timing]:
    """Interleaved timing of ``calls`` with the run's settings."""
    return measure(calls, settings.target, settings.rounds, settings.warmup)


def seconds_of(timings: dict[str, Timing]) -> dict[str, Any]:
    """Medians and rounds for the JSON."""
    return {
        name: {"median_s": t.median, "rounds_s": t.rounds, "calls_per_round": t.calls_per_round}
        for name, t in timings.items()
    }


def ratio_figure(
    label: str, timings: dict[str, Timing], other: str, target: float, info: dict[str, Any]
) -> dict[str, Any]:
    """anydiff's median over ``other``'s."""
    value = timings["anydiff"].median / timings[other].median
    return {
        "label": label,
        "kind": "ratio",
        "value": value,
        "target": target,
        "met": value <= target,
        "anydiff_s": timings["anydiff"].median,
        "other_s": timings[other].median,
        "timings": seconds_of(timings),
        **info,
    }


def collect(settings: Settings, quick: bool) -> tuple[Figures, dict[str, Call]]:
    """Every figure, and the anydiff call behind each (for profiling)."""
    figures: Figures = {}
    anydiff_calls: dict[str, Call] = {}

    calls, info = lotka_volterra_contenders()
    t = timed(calls, settings)
    figures["lotka_volterra/jax"] = ratio_figure(
        f"LV Jacobian x{N_POINTS}: anydiff BatchPlan / jit(vmap(jacfwd))", t, "jax", 1.0, info
    )
    per_point = t["anydiff"].median / N_POINTS
    nd_per_point = t["num_dual"].median / N_POINTS_NUM_DUAL
    figures["lotka_volterra/num_dual"] = {
        "label": "LV Jacobian per point: num-dual / anydiff (speedup)",
        "kind": "speedup",
        "value": nd_per_point / per_point,
        "target": 1000.0,
        "met": nd_per_point / per_point >= 1000.0,
        "anydiff_s": per_point,
        "other_s": nd_per_point,
        "num_dual_points_timed": N_POINTS_NUM_DUAL,
        **info,
    }
    anydiff_calls["lotka_volterra/jax"] = calls["anydiff"]
    anydiff_calls["lotka_volterra/num_dual"] = calls["anydiff"]

    calls, info = gradient_contenders()
    t = timed(calls, settings)
    value = t["anydiff"].median * 1e6
    figures["tiny_gradient"] = {
        "label": "tiny gradient: anydiff DualBackend, us per call",
        "kind": "us_per_call",
        "value": value,
        "target": 2.0,
        "met": value < 2.0,
        "anydiff_s": t["anydiff"].median,
        "other_s": t["jax"].median,
        "torch_s": t["torch"].median,
        "timings": seconds_of(t),
        **info,
    }
    anydiff_calls["tiny_gradient"] = calls["anydiff"]

    for n_grid in (32, 128):
        calls, info = brusselator_contenders(n_grid)
        t = timed(calls, settings)
        key = f"brusselator{n_grid}/sparse_jacobian"
        figures[key] = ratio_figure(
            f"Brusselator N={n_grid} sparse J: anydiff / jit(asdex)", t, "asdex_jit", 0.5, info
        )
        anydiff_calls[key] = calls["anydiff"]

    detection_figures(figures, 1 if quick else 3)

    calls, info = hessian_contenders()
    t = timed(calls, settings)
    figures["rosenbrock1000/sparse_hessian"] = ratio_figure(
        "Rosenbrock n=1000 sparse H: anydiff / jit(asdex)", t, "asdex_jit", 1.0, info
    )
    anydiff_calls["rosenbrock1000/sparse_hessian"] = calls["anydiff"]

    calls, info = dense_jacobian_contenders()
    t = timed(calls, settings)
    info["engine_s"] = t["engine"].median
    figures["dense_jacobian10/jax"] = ratio_figure(
        "dense J n=10: anydiff DualBackend plan / jit(jacfwd)", t, "jax", 1.0, info
    )
    anydiff_calls["dense_jacobian10/jax"] = calls["anydiff"]

    for n, m in MODE_SHAPES:
        calls, info = mode_contenders(n, m)
        figures[f"mode_choice/{n}x{m}"] = mode_figure(n, m, timed(calls, settings), info)
    return figures, anydiff_calls


def shown(figure: dict[str, Any]) -> tuple[str, str]:
    """The value and the target as printed."""
    kind, value, target = figure["kind"], figure["value"], figure["target"]
    if kind == "ratio":
        return f"{value:.3f}", f"<= {target:g}"
    if kind == "speedup":
        return f"{value:.0f}x", f">= {target:g}x"
    if kind == "us_per_call":
        return f"{value:.2f} us", f"< {target:g} us"
    return format_seconds(value), f"< {format_seconds(target)}"


def main() -> int:
    """Measure, print, profile what misses its target, save."""
    args = start_script(__doc__.splitlines()[0], RESULTS / "dual.json")
    settings = Settings.quick() if args.quick else Settings(target=0.3, rounds=7, warmup=3)

    figures, anydiff_calls = collect(settings, args.quick)

    print(f"{'figure':<58} {'anydiff':>10} {'other':>10} {'value':>10} {'target':>10}  met  check")
    for fig in figures.values():
        value, target = shown(fig)
        other = format_seconds(fig["other_s"]) if fig.get("other_s") else "-"
        checks = fig.get("checks", {})
        check = "-" if not checks else ("ok" if all(checks.values()) else "MISMATCH")
        print(
            f"{fig['label']:<58} {format_seconds(fig['anydiff_s']):>10} {other:>10} "
            f"{value:>10} {target:>10}  {'yes' if fig['met'] else 'NO ':<3}  {check}"
        )
    extra = figures["tiny_gradient"]
    print(
        f"  (tiny gradient: jax.jit(jax.grad) {format_seconds(extra['other_s'])}, "
        f"torch.func.grad {format_seconds(extra['torch_s'])})"
    )

    profiles: dict[str, Any] = {}
    done: dict[int, dict[str, Any]] = {}
    for name, fig in figures.items():
        if fig["met"] or name not in anydiff_calls:
            continue
        call = anydiff_calls[name]
        if id(call) not in done:
            done[id(call)] = profile(call, 0.3 if args.quick else 1.0)
        profiles[name] = done[id(call)]
    if profiles:
        print("\nprofile of the anydiff calls that miss their targets (share of own time):")
        print(
            f"{'figure':<34} {'per call':>10} {'Rust core':>10} {'numpy etc':>10} "
            f"{'Python':>8} {'py calls':>9}"
        )
        for name, prof in profiles.items():
            print(
                f"{name:<34} {format_seconds(prof['profiled_s_per_call']):>10} "
                f"{prof['rust_core_share']:>10.0%} {prof['other_compiled_share']:>10.0%} "
                f"{prof['python_share']:>8.0%} {prof['python_function_calls_per_call']:>9.0f}"
            )

    write_results(
        args.out,
        settings.as_dict(),
        figures,
        profiles=profiles,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
