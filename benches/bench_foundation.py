"""The foundation targets: anydiff's prepared calls against the native calls they wrap.

Measures in one run, each pair interleaved (float64 everywhere):

* MLP (n = m = 256) Jacobian: JaxBackend(forward) / jax.jit(jax.jacfwd)   (target <= 1.10)
                              TorchBackend(reverse) / torch.func.jacrev   (target <= 1.10)
* Rosenbrock (n = 1000) Hessian: HigherOrderBackend((JaxFwd, JaxRev)) / jax.jit(jax.hessian)
                                                                          (target <= 1.10)
* tiny (2 inputs) gradient: JaxBackend(reverse) minus jax.jit(jax.grad), us per call
                                                                          (target <= 5 us)

Writes benches/results/foundation.json and prints the figures.
Usage: python benches/bench_foundation.py [--quick] [--out FILE]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from anydiff.bench.machine import (
    start_script,
    write_results,
)
from anydiff.bench.problems import get_problem, to_numpy
from anydiff.bench.progress import Progress
from anydiff.bench.report import format_seconds
from anydiff.bench.runner import Settings
from anydiff.bench.timing import block, measure

RESULTS = Path(__file__).resolve().parent / "results"

Call = Callable[[], Any]


def _contenders() -> dict[str, tuple[Call, Call]]:
    """name -> (anydiff call, native call), all prepared."""
    import jax
    import torch.func

    import anydiff

    mlp, rosen, tiny = get_problem("mlp"), get_problem("rosenbrock"), get_problem("tiny")
    pairs: dict[str, tuple[Call, Call]] = {}

    f, x = mlp.function("jax"), mlp.point("jax")
    plan = anydiff.prepare_jacobian(anydiff.JaxBackend("forward"), f, x)
    native = jax.jit(jax.jacfwd(f))
    pairs["mlp_jacobian_jax_forward"] = (lambda: plan(x), lambda: native(x))

    ft, xt = mlp.function("torch"), mlp.point("torch")
    tplan = anydiff.prepare_jacobian(anydiff.TorchBackend("reverse"), ft, xt)
    tnative = torch.func.jacrev(ft)
    pairs["mlp_jacobian_torch_reverse"] = (lambda: tplan(xt), lambda: tnative(xt))

    fr, xr = rosen.function("jax"), rosen.point("jax")
    hb = anydiff.HigherOrderBackend((anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse")))
    hplan = anydiff.prepare_hessian(hb, fr, xr)
    hnative = jax.jit(jax.hessian(fr))
    pairs["rosenbrock_hessian_jax_fwd_over_rev"] = (lambda: hplan(xr), lambda: hnative(xr))

    fs, xs = tiny.function("jax"), tiny.point("jax")
    gplan = anydiff.prepare_gradient(anydiff.JaxBackend("reverse"), fs, xs)
    gnative = jax.jit(jax.grad(fs))
    pairs["tiny_gradient_jax_reverse"] = (lambda: gplan(xs), lambda: gnative(xs))
    return pairs


TARGETS = {
    "mlp_jacobian_jax_forward": (
        "ratio",
        1.10,
        "anydiff(JaxBackend forward) / jax.jit(jax.jacfwd)",
    ),
    "mlp_jacobian_torch_reverse": (
        "ratio",
        1.10,
        "anydiff(TorchBackend reverse) / torch.func.jacrev",
    ),
    "rosenbrock_hessian_jax_fwd_over_rev": (
        "ratio",
        1.10,
        "anydiff(HigherOrder(JaxFwd, JaxRev)) / jax.jit(jax.hessian)",
    ),
    "tiny_gradient_jax_reverse": (
        "overhead_us",
        5.0,
        "anydiff(JaxBackend reverse) - jax.jit(jax.grad), us per call",
    ),
}


def main() -> int:
    """Measure, print, save."""
    args = start_script(__doc__.splitlines()[0], RESULTS / "foundation.json")
    settings = Settings.quick() if args.quick else Settings(target=0.3, rounds=9, warmup=3)

    pairs = _contenders()
    checks = {}
    for name, (mine, native) in pairs.items():
        a, b = to_numpy(block(mine())), to_numpy(block(native()))
        checks[name] = bool(a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-10))
    # Each pair is interleaved on its own: JAX's and torch's thread pools disturb each
    # other when alternated on a small machine, and a ratio needs only its two sides.
    timings = {}
    bar = Progress(len(pairs) * 2 * (settings.rounds + 1))
    bar.describe("foundation")
    try:
        for name, (mine, native) in pairs.items():
            got = measure(
                {"anydiff": mine, "native": native},
                settings.target,
                settings.rounds,
                settings.warmup,
                bar.update,
            )
            timings[f"{name}/anydiff"], timings[f"{name}/native"] = got["anydiff"], got["native"]
    finally:
        bar.close()

    figures = {}
    print(f"{'figure':<62} {'anydiff':>10} {'native':>10} {'value':>9} {'target':>8}  met  check")
    for name, (kind, target, label) in TARGETS.items():
        mine, native = timings[f"{name}/anydiff"], timings[f"{name}/native"]
        if kind == "ratio":
            value = mine.median / native.median
            shown, tshown = f"{value:.3f}", f"<= {target:.2f}"
        else:
            value = (mine.median - native.median) * 1e6
            shown, tshown = f"{value:.2f} us", f"<= {target:.0f} us"
        met = value <= target
        figures[name] = {
            "label": label,
            "kind": kind,
            "value": value,
            "target": target,
            "met": met,
            "anydiff_s": mine.median,
            "native_s": native.median,
            "anydiff_rounds_s": mine.rounds,
            "native_rounds_s": native.rounds,
            "calls_per_round": [mine.calls_per_round, native.calls_per_round],
            "results_match": checks[name],
        }
        print(
            f"{label:<62} {format_seconds(mine.median):>10} {format_seconds(native.median):>10} "
            f"{shown:>9} {tshown:>8}  {'yes' if met else 'NO ':<3}  "
            f"{'ok' if checks[name] else 'MISMATCH'}"
        )

    write_results(
        args.out,
        settings.as_dict(),
        figures,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
