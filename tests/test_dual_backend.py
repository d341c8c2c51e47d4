"""DualBackend: the engine behind the API, its front ends, batch operators and detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anydiff
from anydiff.bench.problems import brusselator_init, brusselator_rhs
from anydiff.ir import TraceError

jax = pytest.importorskip("jax")
jnp = jax.numpy


def lotka_volterra(z, xp=np):
    x, y, a, b, c, d = (z[i] for i in range(6))
    return xp.stack([a * x - b * x * y, c * x * y - d * y])


def test_numpy_front_end_covers_everyday_numpy() -> None:
    w = np.random.default_rng(0).normal(size=(4, 4))

    def f(x):
        m = x.reshape(2, 2)
        parts = [
            np.roll(x, 1) * np.sin(x[::-1]),
            np.where(x > 0.1, x**3, -x),
            (w @ np.tanh(x))[:2],
            np.stack([np.sum(m, axis=0), np.max(m, axis=1)]).ravel(),
            np.concatenate([np.exp(x[:1]), np.atleast_1d(np.linalg.norm(x))]),
            np.clip(x, -0.5, 0.5) + np.mean(x) + np.diff(x, prepend=0.0) * 0.0,
        ]
        return np.concatenate(parts)

    x = np.array([0.3, -0.2, 0.7, 1.1])
    got = anydiff.jacobian(anydiff.DualBackend(frontend="numpy"), f, x)
    want = anydiff.jacobian(anydiff.FiniteDifferences("central5"), f, x)
    np.testing.assert_allclose(got, want, atol=1e-7)


def test_jax_front_end_matches_jax() -> None:
    def f(x):
        y = jax.nn.softplus(x) * jnp.cos(x[::-1]) + jnp.pad(x[1:], (0, 1), constant_values=2.0)
        return jnp.concatenate([y, jnp.cumsum(x)[-1:] * 0 + jnp.sum(x**2)[None]])

    x = jnp.array([0.3, -0.2, 0.7, 1.1])
    b = anydiff.DualBackend(frontend="jax")
    np.testing.assert_allclose(anydiff.jacobian(b, f, x), jax.jacfwd(f)(x), atol=1e-13)


def test_batch_operators_match_vmap() -> None:
    b = anydiff.DualBackend()
    points = np.random.default_rng(1).uniform(0.5, 2.0, size=(257, 6))
    want = jax.vmap(jax.jacfwd(lambda z: lotka_volterra(z, jnp)))(points)
    np.testing.assert_allclose(anydiff.batch_jacobian(b, lotka_volterra, points), want, atol=1e-13)

    def g(x):
        return np.sum(np.sin(x) * x[::-1]) + x[0] ** 3

    def g_jax(x):
        return jnp.sum(jnp.sin(x) * x[::-1]) + x[0] ** 3

    np.testing.assert_allclose(
        anydiff.batch_gradient(b, g, points), jax.vmap(jax.grad(g_jax))(points), atol=1e-12
    )
    np.testing.assert_allclose(
        anydiff.batch_hessian(b, g, points[:5]),
        jax.vmap(jax.hessian(g_jax))(points[:5]),
        atol=1e-12,
    )


def test_compiled_and_interpreted_batches_agree() -> None:
    points = np.random.default_rng(2).uniform(0.5, 2.0, size=(300, 6))

    def g(x):
        return np.sum(np.sin(x) * x[::-1]) + np.where(x[0] > 1.0, x[0] ** 3, np.exp(x[1]))

    results = {}
    for engine in ("compiled", "interpreter", "auto"):
        b = anydiff.DualBackend(engine=engine)
        results[engine] = (
            anydiff.batch_jacobian(b, lotka_volterra, points),
            anydiff.batch_gradient(b, g, points),
        )
    for engine in ("interpreter", "auto"):
        for got, want in zip(results[engine], results["compiled"]):
            np.testing.assert_array_equal(got, want)
    want = jax.vmap(jax.jacfwd(lambda z: lotka_volterra(z, jnp)))(points)
    np.testing.assert_allclose(results["compiled"][0], want, atol=1e-13)
    with pytest.raises(ValueError, match="float64 points only"):
        anydiff.batch_jacobian(
            anydiff.DualBackend(engine="compiled"), lotka_volterra, points.astype(np.float32)
        )
    with pytest.raises(ValueError, match="engine must be one of"):
        anydiff.DualBackend(engine="jit")
    with pytest.raises(ValueError, match="is for device='cpu'"):
        anydiff.DualBackend(device="gpu", engine="compiled")


def test_sparse_jacobian_and_hessian_with_global_detection() -> None:
    n_grid = 8
    u0 = brusselator_init(n_grid)

    def f(u):
        return brusselator_rhs(u, n_grid, 0.0, "numpy")

    backend = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    plan = anydiff.prepare_jacobian(backend, f, u0)
    dense = np.asarray(jax.jacfwd(lambda u: brusselator_rhs(u, n_grid, 0.0, "jax"))(u0))
    np.testing.assert_allclose(plan(u0).toarray(), dense, atol=1e-12)
    assert plan.pattern.nnz == 6 * u0.size  # the stencil, including entries zero at u0

    def rosenbrock(x):
        return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)

    x = np.random.default_rng(2).normal(size=30)
    hplan = anydiff.prepare_hessian(backend, rosenbrock, x)
    # the cheapest scheme: a path is a tree, so 2 acyclic colors (star needs 3)
    assert (hplan.coloring.kind, hplan.coloring.ncolors) == ("acyclic", 2)
    dense_h = anydiff.hessian(anydiff.DualBackend(), rosenbrock, x)
    np.testing.assert_allclose(hplan(x).toarray(), dense_h, atol=1e-10)


def test_sparse_jacobians_entry_by_entry_equal_colored_ones() -> None:
    """SparseBackend(DualBackend) computes sparse Jacobians entry by entry where the traced
    program allows (compression="auto") and by colored products otherwise; both agree."""
    n_grid = 8
    u0 = brusselator_init(n_grid) + np.random.default_rng(3).normal(size=2 * n_grid**2)
    scale = np.linspace(0.5, 1.5, u0.size)

    def f(u, s):
        # a stencil, a parameter, a select, a sum and a division
        du = brusselator_rhs(u, n_grid, 0.0, "numpy") * s
        return du + np.where(u > 1.0, np.sin(u), u / (2.0 + u**2)) + np.sum(u[:3]) * 0.5

    def f_jax(u, s):
        du = brusselator_rhs(u, n_grid, 0.0, "jax") * s
        return du + jnp.where(u > 1.0, jnp.sin(u), u / (2.0 + u**2)) + jnp.sum(u[:3]) * 0.5

    plans = {
        compression: anydiff.prepare_jacobian(
            anydiff.SparseBackend(
                anydiff.DualBackend(), detector=anydiff.TracerDetector(), compression=compression
            ),
            f,
            u0,
            anydiff.Constant(scale),
        )
        for compression in ("auto", "column")
    }
    # the entry-by-entry path is taken (not a silent fallback)
    assert plans["auto"].entrywise
    assert not plans["column"].entrywise
    # no coloring is made until something asks for it
    assert plans["auto"]._coloring is None
    for s in (scale, 2.0 * scale):  # the parameter changes between calls
        by_entries = plans["auto"](u0, anydiff.Constant(s))
        colored = plans["column"](u0, anydiff.Constant(s))
        dense = np.asarray(jax.jacfwd(f_jax)(u0, s))
        np.testing.assert_allclose(by_entries.toarray(), dense, rtol=1e-13, atol=1e-10)
        np.testing.assert_allclose(by_entries.toarray(), colored.toarray(), rtol=1e-14, atol=1e-9)
        # the result owns its index arrays
        by_entries.eliminate_zeros()
    assert plans["auto"]._coloring is None
    assert plans["auto"].coloring.ncolors == plans["column"].coloring.ncolors

    # a max reduction: entry by entry does not apply, colored products serve
    def g(u):
        return u * np.max(u[:4]) + np.roll(u, 1)

    backend = anydiff.SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    x = np.random.default_rng(4).normal(size=12)
    gplan = anydiff.prepare_jacobian(backend, g, x)
    assert not gplan.entrywise and gplan._coloring is not None
    got = gplan(x).toarray()
    want = np.asarray(jax.jacfwd(lambda u: u * jnp.max(u[:4]) + jnp.roll(u, 1))(x))
    np.testing.assert_allclose(got, want, atol=1e-14)
    # float32 inputs: colored products in float32
    x32 = x.astype(np.float32)
    plan32 = anydiff.prepare_jacobian(backend, lambda u: np.sin(u) * np.roll(u, 2), x32)
    assert plan32(x32).dtype == np.float32


def test_program_sparse_jacobian_errors() -> None:
    from anydiff import _core
    from anydiff.coloring import Pattern
    from anydiff.ir import trace_numpy

    graph = trace_numpy(lambda u: np.sin(u) * np.roll(u, 1), [np.zeros(5)], [True])
    prog = _core.Program(graph.instructions(), [5], [], [o.node for o in graph.outputs])
    diagonal = Pattern.from_dense(np.eye(5))
    with pytest.raises(ValueError, match="pattern lacks entry"):
        prog.sparse_jacobian(diagonal._core)
    sj = prog.sparse_jacobian(prog.jacobian_pattern())
    with pytest.raises(_core.ShapeError, match="x"):
        sj(np.zeros(4))
    x = np.linspace(0.1, 0.9, 5)
    values = sj(x)
    m, n, indptr, indices = prog.jacobian_sparsity()
    dense = np.zeros((m, n))
    dense[np.repeat(np.arange(m), np.diff(indptr)), indices] = values
    want = np.diag(np.cos(x) * np.roll(x, 1)) + np.sin(x)[:, None] * np.roll(np.eye(5), 1, axis=0)
    np.testing.assert_allclose(dense, want, rtol=1e-15)


_UNARY = [np.sin, np.tanh, np.exp, lambda v: v**2, lambda v: v * 3.0, np.cos]


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 6),
    ops=st.lists(
        st.tuples(st.integers(0, len(_UNARY) - 1), st.integers(0, 5), st.integers(0, 5)),
        min_size=1,
        max_size=8,
    ),
    seed=st.integers(0, 2**16),
)
def test_global_patterns_never_miss_a_nonzero(n: int, ops: list, seed: int) -> None:
    """Random compositions: every nonzero of dense Jacobians at random points is inside the
    traced pattern, which equals the structural dependencies of the composition."""

    def f(x):
        vals = [x[i] for i in range(n)]
        for u, i, j in ops:
            vals.append(_UNARY[u](vals[i % len(vals)]) * vals[j % len(vals)])
        return np.stack(vals[n:])

    pattern = anydiff.jacobian_sparsity(f, np.zeros(n)).todense()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        jac = anydiff.jacobian(anydiff.FiniteDifferences("central5"), f, rng.normal(size=n))
        assert not np.any((np.abs(jac) > 1e-6) & ~pattern)


def test_bad_input_gives_clear_errors() -> None:
    b = anydiff.DualBackend()
    with pytest.raises(TraceError, match=r"np\.where"):
        anydiff.jacobian(b, lambda x: x if x[0] > 0 else -x, np.ones(2))
    with pytest.raises(TraceError, match="unsupported JAX primitive 'nextafter'"):
        anydiff.jacobian(
            anydiff.DualBackend(frontend="jax"), lambda x: jnp.nextafter(x, 2.0), jnp.ones(2)
        )
    with pytest.raises(TraceError, match="loop condition depends on the input"):
        anydiff.jacobian(
            anydiff.DualBackend(frontend="jax"),
            lambda x: jax.lax.while_loop(lambda v: v[0] < 10.0, lambda v: v * 2.0, x),
            jnp.ones(2),
        )
    with pytest.raises(TypeError, match="floating point"):
        anydiff.jacobian(b, lambda x: x, np.ones(2, dtype=np.int64))
    plan = anydiff.prepare_jacobian(b, lambda x: np.sin(x), np.ones(3))
    with pytest.raises(anydiff.PreparationMismatchError, match="shape"):
        plan(np.ones(4))
    with pytest.raises(ValueError, match="device"):
        anydiff.DualBackend(device="tpu")
