"""Stiff ODE: the Brusselator (N = 32, 64) solved by scipy's BDF with anydiff's sparse Jacobian
and with scipy's finite differences over ``jac_sparsity``.

Each solve (t in [0, 11.5], rtol 1e-6, atol 1e-8) is timed whole, the contenders interleaved
in rounds; preparation (detection, coloring, compilation) is timed apart. Target: anydiff's
solve no slower than scipy's (ratio <= 1). nfev, njev and nlu come from one extra solve.
The right-hand sides are those of examples/brusselator_ode.py.

Writes benches/results/ode.json. Usage: python benches/bench_ode.py [--quick] [--out FILE]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from anydiff.bench.machine import (
    load_average,
    start_script,
    write_results,
)
from anydiff.bench.problems import brusselator_init
from anydiff.bench.report import format_seconds
from anydiff.bench.timing import measure

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from brusselator_ode import ATOL, RTOL, T_SPAN, jax_rhs, numpy_rhs  # noqa: E402

Call = Callable[[], Any]


def contenders(n_grid: int) -> tuple[dict[str, Call], dict[str, Any]]:
    """name -> one whole BDF solve; plus preparation times and colors."""
    from scipy.integrate import solve_ivp

    import anydiff
    from anydiff.ode import ode_jacobian

    y0 = brusselator_init(n_grid)
    f, fj = numpy_rhs(n_grid), jax_rhs(n_grid)
    info: dict[str, Any] = {"states": int(y0.size)}
    start = time.perf_counter()
    jac_jax = ode_jacobian(fj, y0, backend=anydiff.JaxBackend("forward"))
    info["prepare_s/anydiff_jax_forward"] = time.perf_counter() - start
    start = time.perf_counter()
    known = anydiff.KnownPattern(jac_jax.pattern)  # LocalDetector by FD: 3 n evaluations
    jac_fd = ode_jacobian(f, y0, backend=anydiff.FiniteDifferences(), detector=known)
    info["prepare_s/anydiff_fd"] = time.perf_counter() - start
    info["colors/anydiff_jax_forward"] = jac_jax.ncolors
    info["colors/anydiff_fd"] = jac_fd.ncolors
    sparsity = jac_jax.jac_sparsity

    def solver(**options: Any) -> Call:
        return lambda: solve_ivp(f, T_SPAN, y0, method="BDF", rtol=RTOL, atol=ATOL, **options)

    calls = {
        "scipy_jac_sparsity": solver(jac_sparsity=sparsity),
        "anydiff_jax_forward": solver(jac=jac_jax.jac),
        "anydiff_fd": solver(jac=jac_fd.jac),
    }
    return calls, info


def main() -> int:
    """Measure, print, save."""
    args = start_script(__doc__.splitlines()[0], RESULTS / "ode.json")
    rounds, warmup = (1, 0) if args.quick else (3, 1)
    load_before = load_average()
    figures: dict[str, Any] = {}
    print(f"{'figure':<58} {'anydiff':>9} {'scipy':>9} {'ratio':>6} {'target':>7}  met")
    for n_grid in (32, 64):
        calls, info = contenders(n_grid)
        stats = {}
        for name, call in calls.items():
            sol = call()
            stats[name] = {
                "nfev": int(sol.nfev),
                "njev": int(sol.njev),
                "nlu": int(sol.nlu),
                "final": sol.y[:, -1],
            }
        reference = stats["scipy_jac_sparsity"]["final"]
        for s in stats.values():
            s["rel_diff_final"] = float(
                np.max(np.abs(s.pop("final") - reference)) / np.max(np.abs(reference))
            )
        t = measure(calls, target=0.5, rounds=rounds, warmup=warmup)
        for name in ("anydiff_jax_forward", "anydiff_fd"):
            mine, other = t[name], t["scipy_jac_sparsity"]
            ratio = mine.median / other.median
            label = f"Brusselator N={n_grid} BDF solve: {name} / scipy jac_sparsity"
            figures[f"ode/brusselator{n_grid}/{name}"] = {
                "label": label,
                "kind": "ratio",
                "value": ratio,
                "target": 1.0,
                "met": ratio <= 1.0,
                "anydiff_s": mine.median,
                "scipy_s": other.median,
                "anydiff_rounds_s": mine.rounds,
                "scipy_rounds_s": other.rounds,
                "anydiff_stats": stats[name],
                "scipy_stats": stats["scipy_jac_sparsity"],
                **info,
            }
            print(
                f"{label:<58} {format_seconds(mine.median):>9} "
                f"{format_seconds(other.median):>9} {ratio:>6.3f} {'<= 1':>7}  "
                f"{'yes' if ratio <= 1.0 else 'NO'}"
            )
        for name, s in stats.items():
            print(
                f"    {name:<22} nfev {s['nfev']:>5}  njev {s['njev']:>3}  nlu {s['nlu']:>4}  "
                f"rel diff {s['rel_diff_final']:.1e}"
            )
        print(f"    {info}")
    settings = {
        "rounds": rounds,
        "warmup": warmup,
        "method": "BDF",
        "rtol": RTOL,
        "atol": ATOL,
        "t_span": list(T_SPAN),
    }
    write_results(args.out, settings, figures, load_average_before=load_before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
