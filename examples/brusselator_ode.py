"""Solve the stiff 2-D Brusselator with scipy's BDF and four Jacobians.

The Brusselator (Hairer & Wanner, Solving ODEs II, IV.10; the form of DiffEqBenchmarks.jl)
on an N x N periodic grid: ``anydiff.bench.problems.brusselator_rhs``.

For N = 32 and N = 64 (2 N^2 states, t in [0, 11.5]) the same right-hand side is solved with

* ``dense``: anydiff's dense Jacobian (JaxBackend forward), an n x n array per evaluation;
* ``scipy jac_sparsity``: scipy's own finite differences over column groups of the pattern;
* ``anydiff jax``: ``ode_jacobian`` with ``JaxBackend("forward")``, a sparse matrix from one
  JVP per color;
* ``anydiff fd``: ``ode_jacobian`` with ``FiniteDifferences()`` and the pattern found by the
  JAX one (``KnownPattern``), one evaluation of f per color.

It prints the solve time (preparation apart), nfev, njev, nlu and the number of colors, and
exits non-zero unless every final state agrees with scipy's within a relative 1e-4.
Usage: python examples/brusselator_ode.py [--sizes 32 64] [--dense-max 32]
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np
from scipy.integrate import solve_ivp

import anydiff
from anydiff.bench.problems import brusselator_init, brusselator_rhs
from anydiff.ode import ode_jacobian

T_SPAN = (0.0, 11.5)
RTOL, ATOL = 1e-6, 1e-8
AGREEMENT = 1e-4


def numpy_rhs(n_grid: int) -> Callable[[float, np.ndarray], np.ndarray]:
    """``f(t, y)`` on numpy arrays; the forcing switches on at t = 1.1."""

    def f(t: float, y: np.ndarray) -> np.ndarray:
        return brusselator_rhs(y, n_grid, float(t), "numpy")

    return f


def jax_rhs(n_grid: int) -> Callable[[Any, Any], Any]:
    """``f(t, y)`` on JAX arrays with ``t`` traced: the forcing is a ``jnp.where`` on t."""
    import jax.numpy as jnp

    x = np.linspace(0.0, 1.0, n_grid)
    disk = ((x[None, :] - 0.3) ** 2 + (x[:, None] - 0.6) ** 2 <= 0.1**2).ravel()
    forcing = jnp.asarray(np.concatenate([5.0 * disk, np.zeros(n_grid * n_grid)]))

    def f(t: Any, y: Any) -> Any:
        # brusselator_rhs at t = 0 has no forcing; it is added here for a traced t.
        return brusselator_rhs(y, n_grid, 0.0, "jax") + jnp.where(t >= 1.1, forcing, 0.0)

    return f


def solve(f: Callable, y0: np.ndarray, **options: Any) -> tuple[Any, float]:
    """``solve_ivp`` with BDF; returns the solution and its wall time."""
    start = time.perf_counter()
    sol = solve_ivp(f, T_SPAN, y0, method="BDF", rtol=RTOL, atol=ATOL, **options)
    elapsed = time.perf_counter() - start
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol, elapsed


def run(n_grid: int, dense_max: int) -> bool:
    """Solve at one grid size, print a table; True when the final states agree."""
    import jax.numpy as jnp

    y0 = brusselator_init(n_grid)
    n = y0.size
    f, fj = numpy_rhs(n_grid), jax_rhs(n_grid)
    probe = np.random.default_rng(0).uniform(0.5, 2.0, n)
    for t in (0.0, 2.0):  # the JAX and numpy right-hand sides are the same function
        diff = np.max(np.abs(np.asarray(fj(t, jnp.asarray(probe))) - f(t, probe)))
        assert diff <= 1e-9 * np.max(np.abs(f(t, probe))), diff

    rows: list[tuple[str, float, float, Any, int]] = []
    finals: dict[str, np.ndarray] = {}

    def record(name: str, prep: float, sol: Any, elapsed: float, colors: int) -> None:
        rows.append((name, prep, elapsed, sol, colors))
        finals[name] = sol.y[:, -1]

    start = time.perf_counter()
    sparse_jax = ode_jacobian(fj, y0, backend=anydiff.JaxBackend("forward"))
    prep_jax = time.perf_counter() - start
    start = time.perf_counter()
    # The pattern is the one just detected: LocalDetector with finite differences would
    # cost 3 n evaluations of f (about 20 s at N = 64).
    known = anydiff.KnownPattern(sparse_jax.pattern)
    sparse_fd = ode_jacobian(f, y0, backend=anydiff.FiniteDifferences(), detector=known)
    prep_fd = time.perf_counter() - start
    sparsity = sparse_jax.jac_sparsity

    sol, elapsed = solve(f, y0, jac_sparsity=sparsity)
    record("scipy jac_sparsity", 0.0, sol, elapsed, 0)
    sol, elapsed = solve(f, y0, jac=sparse_jax.jac)
    record("anydiff sparse (jax fwd)", prep_jax, sol, elapsed, sparse_jax.ncolors)
    sol, elapsed = solve(f, y0, jac=sparse_fd.jac)
    record("anydiff sparse (fd)", prep_fd, sol, elapsed, sparse_fd.ncolors)
    if n_grid <= dense_max:
        start = time.perf_counter()
        dense = anydiff.prepare_jacobian(
            anydiff.JaxBackend("forward"), fj, anydiff.Constant(0.0), y0
        )
        prep = time.perf_counter() - start

        def dense_jac(t: float, y: np.ndarray) -> Any:
            return dense(anydiff.Constant(float(t)), y)

        sol, elapsed = solve(f, y0, jac=dense_jac)
        record("anydiff dense (jax fwd)", prep, sol, elapsed, n)

    reference = finals["scipy jac_sparsity"]
    print(
        f"\nBrusselator N = {n_grid}: {n} states, BDF, rtol {RTOL:g}, atol {ATOL:g}, "
        f"t in {list(T_SPAN)}"
    )
    print(
        f"{'Jacobian':<26} {'prep s':>7} {'solve s':>8} {'nfev':>6} {'njev':>5} {'nlu':>5} "
        f"{'colors':>6} {'rel diff':>9}"
    )
    ok = True
    for name, prep, elapsed, sol, colors in rows:
        rel = np.max(np.abs(sol.y[:, -1] - reference)) / np.max(np.abs(reference))
        ok &= bool(rel < AGREEMENT)
        shown = "-" if colors == 0 else ("dense" if colors == n else str(colors))
        print(
            f"{name:<26} {prep:>7.2f} {elapsed:>8.2f} {sol.nfev:>6} {sol.njev:>5} "
            f"{sol.nlu:>5} {shown:>6} {rel:>9.1e}"
        )
    if n_grid > dense_max:
        print(
            f"(dense skipped at N = {n_grid}: an LU of a {n} x {n} dense matrix per "
            "Jacobian takes seconds; --dense-max raises the limit)"
        )
    print("final states agree" if ok else f"final states DIFFER (relative > {AGREEMENT:g})")
    return ok


def main() -> int:
    """Solve at each size; exit status 1 when any comparison fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="grid sizes N")
    parser.add_argument("--dense-max", type=int, default=32, help="largest N solved densely")
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    results = [run(n_grid, args.dense_max) for n_grid in args.sizes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
