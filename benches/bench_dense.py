"""The dual engine on dense matrix products (issue 17) against JAX, measured in one run.

* f(x) = tanh(A x) sum(x^2) + sin(A cos x), A dense m x n: prepared ``DualBackend``
  Jacobian / the faster of jax.jit(jax.jacfwd) and jax.jit(jax.jacrev)   (target <= 1.2)
* MLP 256 (the foundation bench's problem): DualBackend Jacobian / jax.jit(jax.jacfwd)
                                                                          (target <= 1.2)
* gradient of sum(f) at n = 200: prepared DualBackend gradient / jax.jit(jax.grad)
                                                                          (target <= 1.5)
* held-out shapes of f (100 -> 30, 30 -> 100, 128 -> 64, 64 -> 128, 300 -> 40), and the
  issue's table in float32 (both sides float32)                          (target <= 1.2)
* HVP and Hessian of sum(f) at n = 200: DualBackend / jax.jit(jvp(grad)) and
  jax.jit(jax.hessian), forward over reverse through the products        (target <= 1.5)

Float64 unless named, interleaved rounds (the fastest round of each contender). Each
Jacobian row also records its cold call: anydiff's preparation and first call against the
first (tracing and compiling) call of the faster JAX transform.
Writes benches/results/dense.json.
Usage: python benches/bench_dense.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [(10, 10), (60, 59), (200, 199), (200, 20), (20, 200)]
HELD_OUT = [(100, 30), (30, 100), (128, 64), (64, 128), (300, 40)]


def best_of(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Seconds per call of each contender in its fastest round: ``repeats`` interleaved
    rounds, each the mean of enough calls to take about 10 ms (anydiff's bench timing)."""
    from anydiff.bench.timing import measure

    return {name: t.best for name, t in measure(calls, target=0.01, rounds=repeats).items()}


def first_call(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()`` and the seconds it took."""
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def issue_f(a: Any, xp: Any) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        return xp.tanh(a @ x) * xp.sum(x**2) + xp.sin(a @ xp.cos(x))

    return f


def main() -> int:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import anydiff
    from anydiff.backends import DualBackend
    from anydiff.bench.problems import get_problem

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    repeats = parser.parse_args().repeats
    rng = np.random.default_rng(0)
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, ours: float, theirs: float, target: float, against: str) -> None:
        ratio = ours / theirs
        rows[name] = {"anydiff_s": ours, "jax_s": theirs, "ratio": ratio, "target": target}
        mark = "ok" if ratio <= target else "MISSED"
        print(
            f"{name:34s} anydiff {ours * 1e6:9.1f} us  {against} {theirs * 1e6:9.1f} us"
            f"  ratio {ratio:6.2f} (target <= {target}) {mark}",
            flush=True,
        )

    def jacobian_row(n: int, m: int, dtype: type, label: str) -> None:
        a = (rng.normal(size=(m, n)) / np.sqrt(n)).astype(dtype)
        x = rng.normal(size=n).astype(dtype)
        fj, xj = issue_f(jnp.asarray(a), jnp), jnp.asarray(x)

        # cold: preparation and first call (ours), tracing and compilation (JAX's)
        def prepare_and_call() -> tuple[Any, Any]:
            plan = anydiff.prepare_jacobian(DualBackend(), issue_f(a, np), x)
            return plan, plan(x)

        (plan, ours), cold = first_call(prepare_and_call)
        fwd, rev = jax.jit(jax.jacfwd(fj)), jax.jit(jax.jacrev(fj))
        jac_fwd, cold_fwd = first_call(lambda: np.asarray(fwd(xj)))
        _, cold_rev = first_call(lambda: np.asarray(rev(xj)))
        err = np.abs(np.asarray(ours) - jac_fwd).max()
        tol = 1e-9 if dtype == np.float64 else 1e-3
        assert err < tol, f"Jacobian {n}->{m} ({label}) differs from JAX's by {err}"
        calls = {"ours": partial(plan, x), "fwd": partial(fwd, xj), "rev": partial(rev, xj)}
        t = best_of(calls, repeats)
        name = f"jacobian {n}->{m}{label}"
        row(name, t["ours"], min(t["fwd"], t["rev"]), 1.2, "best JAX")
        jax_cold = cold_fwd if t["fwd"] <= t["rev"] else cold_rev
        rows[name].update(anydiff_cold_s=cold, jax_cold_s=jax_cold)
        print(f"{'':34s} cold: anydiff {cold * 1e3:7.2f} ms  JAX {jax_cold * 1e3:7.2f} ms")

    for n, m in SIZES:
        jacobian_row(n, m, np.float64, "")
    for n, m in HELD_OUT:
        jacobian_row(n, m, np.float64, " (held out)")
    for n, m in SIZES:
        jacobian_row(n, m, np.float32, " float32")

    mlp = get_problem("mlp")
    f, x = mlp.function("numpy"), mlp.point("numpy")
    fj, xj = mlp.function("jax"), mlp.point("jax")
    plan = anydiff.prepare_jacobian(DualBackend(), f, x)
    fwd = jax.jit(jax.jacfwd(fj))
    t = best_of({"ours": partial(plan, x), "jax": partial(fwd, xj)}, repeats)
    row("mlp 256 jacobian", t["ours"], t["jax"], 1.2, "jacfwd  ")

    n = 200
    a = rng.normal(size=(n - 1, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f, fj = issue_f(a, np), issue_f(jnp.asarray(a), jnp)
    gplan = anydiff.prepare_gradient(DualBackend(), lambda z: np.sum(f(z)), x)
    grad = jax.jit(jax.grad(lambda z: jnp.sum(fj(z))))
    xj = jnp.asarray(x)
    t = best_of({"ours": partial(gplan, x), "jax": partial(grad, xj)}, repeats)
    row("gradient sum(f) n=200", t["ours"], t["jax"], 1.5, "grad    ")

    def total(z: Any, xp: Any, mat: Any) -> Any:
        return xp.sum(issue_f(mat, xp)(z))

    v = rng.normal(size=n)
    fs, aj = partial(total, xp=np, mat=a), jnp.asarray(a)
    fjs = partial(total, xp=jnp, mat=aj)
    hplan = anydiff.prepare_hvp(DualBackend(), fs, x)
    hvp = jax.jit(lambda z, t: jax.jvp(jax.grad(fjs), (z,), (t,))[1])
    vj = jnp.asarray(v)
    err = np.abs(np.asarray(hplan(x, v=v)) - np.asarray(hvp(xj, vj))).max()
    assert err < 1e-9, f"HVP differs from JAX's by {err}"
    t = best_of({"ours": partial(hplan, x, v=v), "jax": partial(hvp, xj, vj)}, repeats)
    row("hvp sum(f) n=200", t["ours"], t["jax"], 1.5, "jvp(grad)")
    Hplan = anydiff.prepare_hessian(DualBackend(), fs, x)
    hess = jax.jit(jax.hessian(fjs))
    err = np.abs(np.asarray(Hplan(x)) - np.asarray(hess(xj))).max()
    assert err < 1e-9, f"Hessian differs from JAX's by {err}"
    t = best_of({"ours": partial(Hplan, x), "jax": partial(hess, xj)}, repeats)
    row("hessian sum(f) n=200", t["ours"], t["jax"], 1.5, "hessian ")

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dense.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
