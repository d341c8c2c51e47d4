"""Sparse differentiation: colorings and sparse Jacobians/Hessians against asdex, sparsejac, scipy.

Measures in one run (float64, prepared calls, interleaved timings):

* colors of the Brusselator N = 32 Jacobian (Julia layout, interleaved (N, N, 2) layout,
  3 random permutations) and of other stencils: anydiff best / natural, asdex, scipy
  ``group_columns``                                                  (target: anydiff <= 8)
* coloring time of the Brusselator N = 512 pattern, greedy and default ``best``
                                                                    (target < 0.5 s)
* the default ``best`` gives the same colors in 5 runs beside a CPU hog
* the pattern set (anydiff.bench.patterns): column, star and Hessian counts (Poisson 5-point
  64^2: 5, 7-point 16^3: <= 8; Hessian products <= min(star, column))
* cold ``jacobian_sparsity`` (fresh process) of the Brusselator N = 128 in JAX: asdex /
  anydiff                                                            (target >= 20)
* asdex detection + coloring at N = 128 (for reference)
* sparse Jacobian of the Brusselator (N = 32, 128) with JAX forward: anydiff (scipy and BCOO
  output) vs jax.jit(asdex.jacobian) vs sparsejac                    (target <= 1.2)
* the same by finite differences: anydiff vs scipy's approx_derivative (target < 1)
* Rosenbrock (n = 1000) sparse Hessian: anydiff vs jax.jit(asdex.hessian) (target <= 1.5)

Writes benches/results/sparse.json and prints every figure with its target.
Usage: python benches/bench_sparse.py [--quick] [--out FILE]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import scipy.sparse as sp

from anydiff.bench.machine import (
    load_average,
    start_script,
    write_results,
)
from anydiff.bench.problems import brusselator_init, brusselator_rhs, get_problem, to_numpy
from anydiff.bench.report import format_seconds
from anydiff.bench.runner import Settings
from anydiff.bench.timing import block, measure
from anydiff.coloring import Pattern, color_columns

RESULTS = Path(__file__).resolve().parent / "results"

Call = Callable[[], Any]
Figures = dict[str, dict[str, Any]]


# --- patterns -----------------------------------------------------------------------------


def brusselator_pattern(n_grid: int) -> Pattern:
    """The Brusselator Jacobian's pattern in Julia's layout (index i + N j + N^2 k)."""
    size = n_grid * n_grid
    j, i = np.divmod(np.arange(size), n_grid)
    rows, cols = [], []
    for k in (0, 1):
        row = i + n_grid * j + size * k
        for di, dj in ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)):
            rows.append(row)
            cols.append((i + di) % n_grid + n_grid * ((j + dj) % n_grid) + size * k)
        rows.append(row)  # u^2 v couples u and v at the same point
        cols.append(i + n_grid * j + size * (1 - k))
    return Pattern.from_coo((2 * size, 2 * size), np.concatenate(rows), np.concatenate(cols))


def permuted(pattern: Pattern, perm: np.ndarray) -> Pattern:
    """``P A P^T``: rows and columns renumbered, old index ``perm[new]``."""
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(len(perm))
    rows, cols = pattern.coo()
    return Pattern.from_coo(pattern.shape, inverse[rows], inverse[cols])


def interleaved(n_grid: int) -> np.ndarray:
    """The permutation to the (N, N, 2) row-major layout: new index 2 (i + N j) + k."""
    size = n_grid * n_grid
    point, k = np.divmod(np.arange(2 * size), 2)
    return point + size * k


def grid_pattern(shape: tuple[int, ...], offsets: list[tuple[int, ...]]) -> Pattern:
    """A stencil on a non-periodic grid: row p couples to p + offset inside the grid."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    rows, cols = [], []
    for off in offsets:
        src = tuple(slice(max(0, -o), s - max(0, o)) for o, s in zip(off, shape))
        dst = tuple(slice(max(0, o), s - max(0, -o) + 0) for o, s in zip(off, shape))
        rows.append(index[src].ravel())
        cols.append(index[dst].ravel())
    n = index.size
    return Pattern.from_coo((n, n), np.concatenate(rows), np.concatenate(cols))


def other_patterns() -> dict[str, Pattern]:
    """3-D 7-point, 2-D 9-point, banded and random patterns."""
    seven = [(0, 0, 0)] + [tuple(s * (a == d) for a in range(3)) for d in range(3) for s in (1, -1)]
    nine = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)]
    band = [(d,) for d in range(-5, 6)]
    rng = np.random.default_rng(0)
    n = 1000
    rand_cols = np.concatenate([rng.choice(n, 5, replace=False) for _ in range(n)])
    return {
        "stencil_3d_7pt_16^3": grid_pattern((16, 16, 16), seven),  # type: ignore[arg-type]
        "stencil_2d_9pt_64^2": grid_pattern((64, 64), nine),
        "banded_hbw5_n1000": grid_pattern((n,), band),
        "random_1000x1000_5_per_row": Pattern.from_coo(
            (n, n), np.repeat(np.arange(n), 5), rand_cols
        ),
    }


def asdex_pattern(pattern: Pattern) -> Any:
    """The pattern as asdex's SparsityPattern."""
    import asdex

    rows, cols = pattern.coo()
    return asdex.SparsityPattern.from_coo(
        rows.astype(np.int32), cols.astype(np.int32), pattern.shape
    )


def scipy_matrix(pattern: Pattern) -> Any:
    """The pattern as a scipy CSC matrix of ones."""
    return sp.csc_matrix(pattern.tocsr(np.ones(pattern.nnz)))


def count_colors(pattern: Pattern) -> dict[str, int]:
    """Column colors by each contender."""
    import asdex
    from scipy.optimize._numdiff import group_columns

    best = color_columns(pattern, order="best", time_budget=2.0)
    natural = color_columns(pattern)
    _, asdex_colors = asdex.color_cols(asdex_pattern(pattern))
    groups = group_columns(scipy_matrix(pattern))
    for c in (best, natural):
        assert c.is_valid()
    return {
        "anydiff_best": best.ncolors,
        "anydiff_natural": natural.ncolors,
        "asdex": int(asdex_colors),
        "scipy_group_columns": int(groups.max()) + 1,
    }


# --- functions ----------------------------------------------------------------------------


def jax_brusselator(n_grid: int) -> Callable[[Any], Any]:
    """The Brusselator right-hand side at t = 0 on JAX arrays."""
    return lambda u: brusselator_rhs(u, n_grid, 0.0, "jax")


def numpy_brusselator_batched(n_grid: int) -> Callable[[np.ndarray], np.ndarray]:
    """The right-hand side at t = 0 on numpy arrays of shape (..., 2 N^2) (vectorized)."""
    a = 10.0 * (n_grid - 1) ** 2

    def f(u: np.ndarray) -> np.ndarray:
        grid = u.reshape(*u.shape[:-1], 2, n_grid, n_grid)
        uu, vv = grid[..., 0, :, :], grid[..., 1, :, :]

        def lap(w: np.ndarray) -> np.ndarray:
            return (
                np.roll(w, 1, -2)
                + np.roll(w, -1, -2)
                + np.roll(w, 1, -1)
                + np.roll(w, -1, -1)
                - 4.0 * w
            )

        u2v = uu * uu * vv
        du = a * lap(uu) + 1.0 + u2v - 4.4 * uu
        dv = a * lap(vv) + 3.4 * uu - u2v
        return np.concatenate([du, dv], axis=-2).reshape(u.shape)

    return f


# --- measurements -------------------------------------------------------------------------


def coloring_counts(figures: Figures) -> None:
    """Colors of the Brusselator N = 32 in five layouts and of the other stencils."""
    base = brusselator_pattern(32)
    layouts = {"julia": base, "interleaved_NN2": permuted(base, interleaved(32))}
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(base.shape[1])
        layouts[f"random_perm_{seed}"] = permuted(base, perm)
    for name, pattern in layouts.items():
        counts = count_colors(pattern)
        figures[f"colors/brusselator32/{name}"] = {
            "label": f"colors, Brusselator N=32 {name}: anydiff best",
            "kind": "colors",
            "value": counts["anydiff_best"],
            "target": 8,
            "met": counts["anydiff_best"] <= 8,
            "counts": counts,
        }
    for name, pattern in other_patterns().items():
        counts = count_colors(pattern)
        others = min(counts["asdex"], counts["scipy_group_columns"])
        figures[f"colors/{name}"] = {
            "label": f"colors, {name}: anydiff best vs best of asdex/scipy",
            "kind": "colors_vs_others",
            "value": counts["anydiff_best"],
            "target": others,
            "met": counts["anydiff_best"] <= others,
            "counts": counts,
            "max_row_nnz": int(np.diff(pattern.indptr).max()),
        }


def best_of(call: Call, repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls (for one-off operations like coloring)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def coloring_times(figures: Figures, quick: bool) -> None:
    """Coloring time at N = 512; asdex detection + coloring at N = 128."""
    import jax.numpy as jnp

    start = time.perf_counter()
    big = brusselator_pattern(512)
    build = time.perf_counter() - start
    seconds = best_of(lambda: color_columns(big), 1 if quick else 3)
    ncolors = color_columns(big).ncolors
    figures["coloring_time/brusselator512/anydiff_natural"] = {
        "label": "coloring time, Brusselator N=512 (524,288 columns), anydiff greedy",
        "kind": "seconds",
        "value": seconds,
        "target": 0.5,
        "met": seconds < 0.5,
        "ncolors": ncolors,
        "pattern_build_s": build,
        "columns": big.shape[1],
    }
    lf = best_of(lambda: color_columns(big, order="largest_first"), 1)
    figures["coloring_time/brusselator512/anydiff_largest_first"] = {
        "label": "coloring time, N=512, anydiff largest_first (reference)",
        "kind": "seconds_info",
        "value": lf,
        "target": None,
        "met": None,
        "ncolors": color_columns(big, order="largest_first").ncolors,
    }
    import asdex

    f128 = jax_brusselator(128)
    x128 = jnp.asarray(brusselator_init(128))
    start = time.perf_counter()
    colored = asdex.jacobian_coloring(f128, x128)
    elapsed = time.perf_counter() - start
    figures["coloring_time/brusselator128/asdex_detect_and_color"] = {
        "label": "asdex detection + coloring, Brusselator N=128 (reference)",
        "kind": "seconds_info",
        "value": elapsed,
        "target": None,
        "met": None,
        "ncolors": int(colored.num_colors),
    }
    p128 = brusselator_pattern(128)
    seconds = best_of(lambda: color_columns(p128, order="best"), 1 if quick else 3)
    figures["coloring_time/brusselator128/anydiff_best_known_pattern"] = {
        "label": "anydiff coloring (best, default budget), N=128 known pattern (reference)",
        "kind": "seconds_info",
        "value": seconds,
        "target": None,
        "met": None,
        "ncolors": color_columns(p128, order="best").ncolors,
    }


def best_time(figures: Figures, quick: bool) -> None:
    """Default ``best`` at N = 512 (deterministic work budget)."""
    big = brusselator_pattern(512)
    seconds = best_of(lambda: color_columns(big, order="best"), 1 if quick else 3)
    figures["coloring_time/brusselator512/anydiff_best"] = {
        "label": "coloring time, Brusselator N=512, anydiff best (default budget)",
        "kind": "seconds",
        "value": seconds,
        "target": 0.5,
        "met": seconds < 0.5,
        "ncolors": color_columns(big, order="best").ncolors,
        "natural_ncolors": color_columns(big).ncolors,
    }


def reproducibility(figures: Figures) -> None:
    """Five default ``best`` colorings of the Brusselator N = 128 beside a CPU hog."""
    import subprocess
    import sys

    pattern = brusselator_pattern(128)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        colorings = [color_columns(pattern, order="best") for _ in range(5)]
    finally:
        hog.kill()
        hog.wait()
    counts = [c.ncolors for c in colorings]
    same = all(np.array_equal(c.colors, colorings[0].colors) for c in colorings)
    figures["colors/brusselator128/best_reproducible"] = {
        "label": "colors, Brusselator N=128, 5 default best runs beside a CPU hog: distinct",
        "kind": "colors",
        "value": len(set(counts)),
        "target": 1,
        "met": same,
        "counts": {f"run{i}": k for i, k in enumerate(counts)},
    }


def pattern_set(figures: Figures) -> None:
    """Column, star, acyclic and Hessian (cheapest scheme) counts on the pattern set."""
    from anydiff.bench.patterns import PATTERN_SET
    from anydiff.coloring import acyclic_coloring, hessian_coloring, star_coloring

    targets = {"poisson5 64^2": 5, "poisson7 16^3": 8}
    for name, make in PATTERN_SET.items():
        pattern = make()
        counts = {
            "natural": color_columns(pattern).ncolors,
            "column_best": color_columns(pattern, order="best").ncolors,
            "star_best": star_coloring(pattern, order="best").ncolors,
            "acyclic_best": acyclic_coloring(pattern, order="best").ncolors,
        }
        direct = hessian_coloring(pattern, "direct")
        auto = hessian_coloring(pattern)
        counts[f"hessian_direct ({direct.kind})"] = direct.ncolors
        counts[f"hessian_auto ({auto.kind})"] = auto.ncolors
        if name in targets:
            figures[f"colors/set/{name}"] = {
                "label": f"colors, {name}: anydiff column best",
                "kind": "colors",
                "value": counts["column_best"],
                "target": targets[name],
                "met": counts["column_best"] <= targets[name],
                "counts": counts,
            }
        cap = min(counts["star_best"], counts["column_best"])
        figures[f"hessian_products/set/{name}"] = {
            "label": f"Hessian products, {name}: direct scheme vs min(star, column)",
            "kind": "colors",
            "value": direct.ncolors,
            "target": cap,
            "met": direct.ncolors <= cap and auto.ncolors <= cap,
            "counts": counts,
        }


_COLD = """
import sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from anydiff.bench.problems import brusselator_init, brusselator_rhs
n = 128
x = jnp.asarray(brusselator_init(n))
f = lambda u: brusselator_rhs(u, n, 0.0, "jax")
if sys.argv[1] == "anydiff":
    from anydiff.detection import jacobian_sparsity as detect
else:
    from asdex import jacobian_sparsity as detect
start = time.perf_counter()
detect(f, x)
print(time.perf_counter() - start)
"""


def cold_detection(figures: Figures) -> None:
    """``jacobian_sparsity`` in a fresh process, anydiff vs asdex (interleaved, 5 each;
    the ratio of the medians)."""
    import subprocess
    import sys

    def run(which: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _COLD, which], capture_output=True, text=True, check=True
        )
        return float(out.stdout.split()[-1])

    times: dict[str, list[float]] = {"anydiff": [], "asdex": []}
    for _ in range(5):
        for which in times:
            times[which].append(run(which))
    ratio = float(np.median(times["asdex"]) / np.median(times["anydiff"]))
    figures["detection/brusselator128/cold_asdex_over_anydiff"] = {
        "label": "cold jacobian_sparsity, Brusselator N=128 (JAX): asdex / anydiff",
        "kind": "ratio_at_least",
        "value": ratio,
        "target": 20.0,
        "met": ratio >= 20.0,
        "seconds": times,
    }


def jacobian_contenders(n_grid: int) -> tuple[dict[str, Call], dict[str, Any]]:
    """Prepared sparse Brusselator Jacobians: anydiff (JAX, FD), asdex, sparsejac, scipy."""
    import asdex
    import jax
    import jax.numpy as jnp
    from jax.experimental import sparse as jsparse
    from scipy.optimize._numdiff import approx_derivative, group_columns

    import anydiff

    pattern = brusselator_pattern(n_grid)
    known = anydiff.KnownPattern(pattern)
    x_np = brusselator_init(n_grid) * (1.0 + 0.1 * np.random.default_rng(0).random(2 * n_grid**2))
    x = jnp.asarray(x_np)
    f = jax_brusselator(n_grid)
    fwd = anydiff.JaxBackend("forward")
    calls: dict[str, Call] = {}
    info: dict[str, Any] = {}

    p_scipy = anydiff.prepare_jacobian(
        anydiff.SparseBackend(fwd, detector=known, format="scipy"), f, x
    )
    p_bcoo = anydiff.prepare_jacobian(
        anydiff.SparseBackend(fwd, detector=known, format="bcoo"), f, x
    )
    calls["anydiff_jax_scipy"] = lambda: p_scipy(x)
    calls["anydiff_jax_bcoo"] = lambda: p_bcoo(x)
    info["anydiff_colors"] = p_scipy.coloring.ncolors
    if n_grid <= 32:  # LocalDetector forms dense Jacobians: small N only
        start = time.perf_counter()
        local = anydiff.prepare_jacobian(anydiff.SparseBackend(fwd), f, x)
        info["anydiff_local_detector_prepare_s"] = time.perf_counter() - start
        info["local_detector_pattern_equal"] = bool(local.pattern == pattern)
    asdex_jac = jax.jit(asdex.jacobian(f, x))
    calls["asdex_jit_bcoo"] = lambda: asdex_jac(x)
    info["asdex_colors"] = int(asdex.jacobian_coloring(f, x).num_colors)
    try:
        import sparsejac

        rows, cols = pattern.coo()
        bcoo = jsparse.BCOO(
            (jnp.ones(pattern.nnz), jnp.asarray(np.stack([rows, cols], 1))), shape=pattern.shape
        )
        sj = jax.jit(sparsejac.jacfwd(f, sparsity=bcoo))
        block(sj(x))
        calls["sparsejac_jit_bcoo"] = lambda: sj(x)
    except Exception as exc:  # recorded, not fatal: sparsejac may not support this jax
        info["sparsejac_error"] = f"{type(exc).__name__}: {exc}"[:300]

    fnp = numpy_brusselator_batched(n_grid)
    for vec in (False, True):
        backend = anydiff.SparseBackend(
            anydiff.FiniteDifferences("forward", vectorized=vec), detector=known
        )
        plan = anydiff.prepare_jacobian(backend, fnp, x_np)
        calls[f"anydiff_fd_{'vectorized' if vec else 'loop'}"] = (lambda p: lambda: p(x_np))(plan)
    matrix = scipy_matrix(pattern)
    own = group_columns(matrix)
    info["scipy_groups"] = int(own.max()) + 1
    calls["scipy_approx_derivative_own_groups"] = lambda: approx_derivative(
        fnp, x_np, method="2-point", sparsity=(matrix, own)
    )
    ours = p_scipy.coloring.colors
    calls["scipy_approx_derivative_anydiff_groups"] = lambda: approx_derivative(
        fnp, x_np, method="2-point", sparsity=(matrix, ours)
    )

    # Every contender must give the same Jacobian (finite differences to 1e-5).
    exact = p_scipy(x).toarray() if n_grid <= 32 else None
    checks = {}
    for name, call in calls.items():
        got = block(call())
        if exact is None:
            continue
        dense = got.todense() if hasattr(got, "todense") else got
        dense = np.asarray(to_numpy(dense.toarray() if hasattr(dense, "toarray") else dense))
        tol = 1e-5 if "fd" in name or "scipy" in name else 1e-12
        checks[name] = bool(np.allclose(dense, exact, rtol=tol, atol=tol * np.abs(exact).max()))
    info["checks"] = checks
    return calls, info


def hessian_contenders() -> tuple[dict[str, Call], dict[str, Any]]:
    """Rosenbrock (n = 1000) sparse Hessian: anydiff vs jax.jit(asdex.hessian)."""
    import asdex
    import jax

    import anydiff

    problem = get_problem("rosenbrock")
    f, x = problem.function("jax"), problem.point("jax")
    inner = anydiff.HigherOrderBackend(
        (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
    )
    p_scipy = anydiff.prepare_hessian(anydiff.SparseBackend(inner, format="scipy"), f, x)
    p_bcoo = anydiff.prepare_hessian(anydiff.SparseBackend(inner, format="bcoo"), f, x)
    native = jax.jit(asdex.hessian(f, x))
    calls = {
        "anydiff_scipy": lambda: p_scipy(x),
        "anydiff_bcoo": lambda: p_bcoo(x),
        "asdex_jit_bcoo": lambda: native(x),
    }
    exact = np.asarray(jax.hessian(f)(x))
    checks = {
        "anydiff_scipy": bool(np.allclose(p_scipy(x).toarray(), exact, rtol=1e-10, atol=1e-9)),
        "anydiff_bcoo": bool(
            np.allclose(np.asarray(p_bcoo(x).todense()), exact, rtol=1e-10, atol=1e-9)
        ),
        "asdex_jit_bcoo": bool(
            np.allclose(np.asarray(native(x).todense()), exact, rtol=1e-10, atol=1e-9)
        ),
    }
    info = {
        "anydiff_colors": p_scipy.coloring.ncolors,
        "anydiff_coloring": p_scipy.coloring.kind,
        "asdex_colors": int(asdex.hessian_coloring(f, x).num_colors),
        "checks": checks,
    }
    return calls, info


def ratio_figure(
    figures: Figures,
    key: str,
    label: str,
    timings: dict,
    mine: str,
    other: str,
    target: float,
    info: Optional[dict] = None,
) -> None:
    """A figure ``timings[mine] / timings[other]`` with its target."""
    a, b = timings[mine], timings[other]
    value = a.median / b.median
    figures[key] = {
        "label": label,
        "kind": "ratio",
        "value": value,
        "target": target,
        "met": value <= target,
        "anydiff_s": a.median,
        "other_s": b.median,
        "anydiff": mine,
        "other": other,
        "anydiff_rounds_s": a.rounds,
        "other_rounds_s": b.rounds,
        **(info or {}),
    }


def timed(figures: Figures, settings: Settings) -> dict[str, Any]:
    """Sparse Jacobian and Hessian timings; returns every median and the check details."""
    medians: dict[str, Any] = {}
    for n_grid in (32, 128):
        calls, info = jacobian_contenders(n_grid)
        jax_calls = {k: v for k, v in calls.items() if "fd" not in k and "scipy_approx" not in k}
        fd_calls = {k: v for k, v in calls.items() if k not in jax_calls}
        t = measure(jax_calls, settings.target, settings.rounds, settings.warmup)
        t.update(measure(fd_calls, settings.target, settings.rounds, settings.warmup))
        medians[f"brusselator{n_grid}"] = {**{k: v.median for k, v in t.items()}, "info": info}
        ratio_figure(
            figures,
            f"jacobian/brusselator{n_grid}/jax_bcoo_vs_asdex",
            f"Brusselator N={n_grid} sparse J: anydiff(JaxFwd, bcoo) / jit(asdex)",
            t,
            "anydiff_jax_bcoo",
            "asdex_jit_bcoo",
            1.2,
        )
        ratio_figure(
            figures,
            f"jacobian/brusselator{n_grid}/jax_scipy_vs_asdex",
            f"Brusselator N={n_grid} sparse J: anydiff(JaxFwd, scipy) / jit(asdex)",
            t,
            "anydiff_jax_scipy",
            "asdex_jit_bcoo",
            1.2,
        )
        scipy_best = min(
            ("scipy_approx_derivative_own_groups", "scipy_approx_derivative_anydiff_groups"),
            key=lambda k: t[k].median,
        )
        for variant in ("loop", "vectorized"):
            ratio_figure(
                figures,
                f"jacobian/brusselator{n_grid}/fd_{variant}_vs_scipy",
                f"Brusselator N={n_grid} sparse J: anydiff(FD {variant}) / scipy approx_derivative",
                t,
                f"anydiff_fd_{variant}",
                scipy_best,
                1.0,
            )
    calls, info = hessian_contenders()
    t = measure(calls, settings.target, settings.rounds, settings.warmup)
    medians["rosenbrock1000"] = {**{k: v.median for k, v in t.items()}, "info": info}
    ratio_figure(
        figures,
        "hessian/rosenbrock1000/bcoo_vs_asdex",
        "Rosenbrock n=1000 sparse H: anydiff(Fwd-over-Rev, bcoo) / jit(asdex)",
        t,
        "anydiff_bcoo",
        "asdex_jit_bcoo",
        1.5,
        {"colors": info["anydiff_colors"]},
    )
    ratio_figure(
        figures,
        "hessian/rosenbrock1000/scipy_vs_asdex",
        "Rosenbrock n=1000 sparse H: anydiff(Fwd-over-Rev, scipy) / jit(asdex)",
        t,
        "anydiff_scipy",
        "asdex_jit_bcoo",
        1.5,
    )
    return medians


def print_table(figures: Figures, medians: dict[str, Any]) -> None:
    """Every figure with its target and whether it is met, then the raw medians."""
    print(f"\n{'figure':<78} {'value':>10} {'target':>10}  met")
    for fig in figures.values():
        value, target, kind = fig["value"], fig["target"], fig["kind"]
        if kind.startswith("seconds"):
            shown = format_seconds(value)
            tshown = "-" if target is None else f"< {format_seconds(target)}"
        elif kind == "ratio":
            shown, tshown = f"{value:.3f}", f"<= {target:.2f}"
        elif kind == "ratio_at_least":
            shown, tshown = f"{value:.1f}", f">= {target:.0f}"
        else:
            shown, tshown = str(value), f"<= {target}"
        met = "-" if fig["met"] is None else ("yes" if fig["met"] else "NO")
        print(f"{fig['label']:<78} {shown:>10} {tshown:>10}  {met}")
        if "counts" in fig:
            print("    " + ", ".join(f"{k} {v}" for k, v in fig["counts"].items()))
    for problem, values in medians.items():
        print(f"\n{problem}: median seconds per call")
        for name, seconds in values.items():
            if name != "info":
                print(f"    {name:<44} {format_seconds(seconds):>10}")
        print(f"    info: {values['info']}")


def main() -> int:
    """Measure, print, save."""
    args = start_script(__doc__.splitlines()[0], RESULTS / "sparse.json")
    settings = Settings.quick() if args.quick else Settings(target=0.2, rounds=7, warmup=3)
    load_before = load_average()
    figures: Figures = {}
    coloring_counts(figures)
    coloring_times(figures, args.quick)
    best_time(figures, args.quick)
    reproducibility(figures)
    pattern_set(figures)
    cold_detection(figures)
    medians = timed(figures, settings)
    print_table(figures, medians)
    write_results(
        args.out,
        settings.as_dict(),
        figures,
        load_average_before=load_before,
        medians_s=medians,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
