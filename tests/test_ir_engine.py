"""The Rust IR engine (``anydiff._core.Program``) against the numpy reference
interpreter and JAX: values, Jacobians, Hessians, HVPs and global sparsity."""

from __future__ import annotations

import numpy as np
import pytest

from anydiff import _core
from anydiff.ir import trace_jax, trace_numpy
from anydiff.ir._reference import evaluate

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)


def compile_graph(graph):
    input_lens = [graph.nodes[i].length for i in graph.inputs]
    param_lens = [graph.nodes[i].length for i in graph.params]
    outputs = [o.node for o in graph.outputs]
    return _core.Program(graph.instructions(), input_lens, param_lens, outputs)


def lotka_volterra(z):
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return (
        jnp.stack([a * x - b * x * y, c * x * y - d * y])
        if isinstance(z, jax.Array)
        else np.stack([a * x - b * x * y, c * x * y - d * y])
    )


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_jax(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def composite(x):
    """Random-ish composition touching many ops."""
    y = np.sin(x) * np.exp(-(x**2)) + np.tanh(x[::-1]) / (1.5 + np.cos(x))
    z = np.maximum(y, 0.1 * x) + np.sqrt(x**2 + 1.0) - np.log1p(x**2)
    w = np.where(x > 0.0, z, y * 2.0)
    return np.concatenate([w, np.stack([np.sum(w * x), np.max(y), np.min(z)])])


def composite_jax(x):
    y = jnp.sin(x) * jnp.exp(-(x**2)) + jnp.tanh(x[::-1]) / (1.5 + jnp.cos(x))
    z = jnp.maximum(y, 0.1 * x) + jnp.sqrt(x**2 + 1.0) - jnp.log1p(x**2)
    w = jnp.where(x > 0.0, z, y * 2.0)
    return jnp.concatenate([w, jnp.array([jnp.sum(w * x), jnp.max(y), jnp.min(z)])])


def mlp_jax(x, w1, w2):
    return w2 @ jnp.tanh(w1 @ x) + jnp.sin(x)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_lotka_volterra_many_points(rng):
    graph = trace_numpy(lotka_volterra, [np.zeros(6)], [True])
    prog = compile_graph(graph)
    assert (prog.n_inputs, prog.n_outputs) == (6, 2)
    pts = rng.uniform(0.5, 1.5, size=(1000, 6))
    vals = prog.eval(pts, [])
    ref = np.stack([evaluate(graph, [p])[0] for p in pts[:50]])
    np.testing.assert_allclose(vals[:50], ref, rtol=1e-14)
    v2, jac = prog.jacobian(pts, [])
    np.testing.assert_allclose(v2, vals, rtol=1e-15)
    want = jax.vmap(jax.jacfwd(lotka_volterra))(jnp.asarray(pts))
    np.testing.assert_allclose(jac, np.asarray(want), rtol=1e-13, atol=1e-14)
    # float32 points evaluate in float32
    v32, j32 = prog.jacobian(pts.astype(np.float32), [])
    assert v32.dtype == np.float32 and j32.dtype == np.float32
    np.testing.assert_allclose(j32, jac, rtol=1e-5, atol=1e-5)
    # without values: no values array, the same Jacobians
    none, j2 = prog.jacobian(pts, [], values=False)
    assert none is None
    np.testing.assert_array_equal(j2, jac)
    m, n, indptr, indices = prog.jacobian_sparsity()
    assert (m, n) == (2, 6)
    dense = np.zeros((2, 6), bool)
    for i in range(2):
        dense[i, indices[indptr[i] : indptr[i + 1]]] = True
    assert np.array_equal(dense, np.any(np.asarray(want) != 0, axis=0))


def test_jvp_matches_jacobian(rng):
    graph = trace_numpy(composite, [np.zeros(7)], [True])
    prog = compile_graph(graph)
    pts = rng.normal(size=(33, 7))
    seeds = rng.normal(size=(19, 7))  # more than one 16-lane block
    vals, tan = prog.jvp(pts, [], seeds)
    _, jac = prog.jacobian(pts, [])
    assert tan.shape == (33, 19, 10)
    np.testing.assert_allclose(tan, np.einsum("pmn,ln->plm", jac, seeds), rtol=1e-10, atol=1e-12)
    for p in range(5):
        np.testing.assert_allclose(vals[p], evaluate(graph, [pts[p]])[0], rtol=1e-13, atol=1e-15)
    # seeds that cannot be borrowed (strided, Fortran-ordered, float32, lists) are converted
    wide = np.zeros((19, 14))
    wide[:, ::2] = seeds
    for other in (wide[:, ::2], np.asfortranarray(seeds), seeds.tolist()):
        np.testing.assert_array_equal(prog.jvp(pts, [], other)[1], tan)
    s32 = seeds.astype(np.float32)
    want = prog.jvp(pts, [], s32.astype(float))[1]
    np.testing.assert_array_equal(prog.jvp(pts, [], s32)[1], want)


def test_one_point_jvp_split_over_threads():
    """One point of an array program with many lanes: the lanes are split into one
    pass per thread, each writing its own part of the output."""
    n = 8000  # enough work for the split (BY_PASS_MIN_WORK)
    graph = trace_numpy(lambda x: np.sin(x) * np.roll(x, 1) + x**2, [np.zeros(n)], [True])
    prog = compile_graph(graph)
    x = np.linspace(-1.0, 1.0, n)[None, :]
    seeds = np.zeros((40, n))
    for lane in range(40):
        seeds[lane, lane::40] = 1.0  # 40 colors of a banded pattern
    vals, tan = prog.jvp(x, [], seeds)
    xs = x[0]
    np.testing.assert_allclose(vals[0], np.sin(xs) * np.roll(xs, 1) + xs**2, rtol=1e-15)
    # d/dx_j: cos(x_j) x_{j-1} + 2 x_j on the diagonal, sin(x_{j+1}) from the roll
    diag = np.cos(xs) * np.roll(xs, 1) + 2 * xs
    sub = np.sin(np.roll(xs, -1))
    for lane in (0, 17, 39):
        want = seeds[lane] * diag + np.roll(seeds[lane], 1) * np.roll(sub, 1)
        np.testing.assert_allclose(tan[0, lane], want, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("frontend", ["numpy", "jax"])
def test_composite_against_jax(rng, frontend):
    if frontend == "numpy":
        graph = trace_numpy(composite, [np.zeros(7)], [True])
    else:
        graph = trace_jax(composite_jax, [np.zeros(7)], [True])
    prog = compile_graph(graph)
    pts = rng.normal(size=(20, 7))
    vals, jac = prog.jacobian(pts, [])
    for p in range(pts.shape[0]):
        np.testing.assert_allclose(
            vals[p], np.asarray(composite_jax(jnp.asarray(pts[p]))), rtol=1e-12, atol=1e-14
        )
        np.testing.assert_allclose(
            jac[p],
            np.asarray(jax.jacfwd(composite_jax)(jnp.asarray(pts[p]))),
            rtol=1e-10,
            atol=1e-12,
        )
    # the global pattern never misses a nonzero
    m, n, indptr, indices = prog.jacobian_sparsity()
    pattern = np.zeros((m, n), bool)
    for i in range(m):
        pattern[i, indices[indptr[i] : indptr[i + 1]]] = True
    assert not np.any((np.abs(jac).max(axis=0) != 0) & ~pattern)


def test_rosenbrock_hessian_and_hvp(rng):
    n = 12
    graph = trace_numpy(rosenbrock, [np.zeros(n)], [True])
    prog = compile_graph(graph)
    pts = rng.normal(size=(5, n))
    vals, grad, hess = prog.hessian(pts, [])
    assert vals.shape == (5,) and grad.shape == (5, n) and hess.shape == (5, n, n)
    for p in range(5):
        x = jnp.asarray(pts[p])
        np.testing.assert_allclose(vals[p], float(rosenbrock_jax(x)), rtol=1e-13)
        np.testing.assert_allclose(grad[p], np.asarray(jax.grad(rosenbrock_jax)(x)), rtol=1e-12)
        np.testing.assert_allclose(
            hess[p], np.asarray(jax.hessian(rosenbrock_jax)(x)), rtol=1e-12, atol=1e-10
        )
    v = rng.normal(size=(3, n))
    hv = prog.hvp(pts, [], v)
    np.testing.assert_allclose(hv, np.einsum("pij,lj->pli", hess, v), rtol=1e-11, atol=1e-10)
    # tridiagonal Hessian pattern, exactly
    nn, n2, indptr, indices = prog.hessian_sparsity()
    assert (nn, n2) == (n, n)
    pattern = np.zeros((n, n), bool)
    for i in range(n):
        pattern[i, indices[indptr[i] : indptr[i + 1]]] = True
    want = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) <= 1
    assert np.array_equal(pattern, want)
    with pytest.raises(ValueError, match="scalar output"):
        compile_graph(trace_numpy(lotka_volterra, [np.zeros(6)], [True])).hessian(pts[:, :6], [])


def test_mlp_with_params(rng):
    n = 16
    w1, w2 = rng.normal(size=(n, n)) / n, rng.normal(size=(n, n)) / n
    graph = trace_jax(mlp_jax, [np.zeros(n), w1, w2], [True, False, False])
    prog = compile_graph(graph)
    pts = rng.normal(size=(4, n))
    vals, jac = prog.jacobian(pts, [w1, w2])
    for p in range(4):
        x = jnp.asarray(pts[p])
        np.testing.assert_allclose(vals[p], np.asarray(mlp_jax(x, w1, w2)), rtol=1e-12)
        want = jax.jacfwd(mlp_jax)(x, w1, w2)
        np.testing.assert_allclose(jac[p], np.asarray(want), rtol=1e-11, atol=1e-13)
    # params change per call without recompiling
    vals2 = prog.eval(pts, [2 * w1, w2])
    np.testing.assert_allclose(vals2[0], np.asarray(mlp_jax(jnp.asarray(pts[0]), 2 * w1, w2)))


def test_brusselator_values_jacobian_and_pattern():
    from anydiff.bench.problems import brusselator_rhs

    nx = 8
    graph = trace_numpy(lambda u: brusselator_rhs(u, nx), [np.zeros(2 * nx * nx)], [True])
    prog = compile_graph(graph)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, size=(1, 2 * nx * nx))
    vals = prog.eval(x, [])
    np.testing.assert_allclose(vals[0], evaluate(graph, [x[0]])[0], rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(vals[0], brusselator_rhs(x[0], nx), rtol=1e-13, atol=1e-10)
    _, jac = prog.jacobian(x, [])
    want = jax.jacfwd(lambda u: brusselator_rhs(u, nx, framework="jax"))(jnp.asarray(x[0]))
    np.testing.assert_allclose(jac[0], np.asarray(want), rtol=1e-12, atol=1e-9)
    m, n, indptr, indices = prog.jacobian_sparsity()
    assert m == n == 2 * nx * nx
    assert np.all(np.diff(indptr) == 6)
    pattern = np.zeros((m, n), bool)
    for i in range(m):
        pattern[i, indices[indptr[i] : indptr[i + 1]]] = True
    assert np.array_equal(pattern, np.asarray(want) != 0)


def test_shape_and_program_errors():
    graph = trace_numpy(lotka_volterra, [np.zeros(6)], [True])
    prog = compile_graph(graph)
    with pytest.raises(_core.ShapeError, match=r"expected \(P, 6\)"):
        prog.eval(np.zeros((3, 5)), [])
    with pytest.raises(_core.ShapeError):
        prog.eval(np.zeros(6), [])
    with pytest.raises(_core.ShapeError, match="seeds"):
        prog.jvp(np.zeros((3, 6)), [], np.zeros((2, 4)))
    with pytest.raises(_core.ShapeError, match="params"):
        prog.eval(np.zeros((3, 6)), [np.zeros(2)])
    bad = [("input", (), {"index": 0, "len": 2}), ("binary", (0, 5), {"fn": "add"})]
    with pytest.raises(ValueError, match=r"instruction 1 \(binary\)"):
        _core.Program(bad, [2], [], [1])
    bad = [("input", (), {"index": 0, "len": 2}), ("unary", (0,), {"fn": "nope"})]
    with pytest.raises(ValueError, match=r"instruction 1.*nope"):
        _core.Program(bad, [2], [], [1])
    bad = [("input", (), {"index": 0, "len": 2}), ("gather", (0,), {"indices": np.array([0, 2])})]
    with pytest.raises(ValueError, match=r"instruction 1 \(gather\).*index 2"):
        _core.Program(bad, [2], [], [1])
    with pytest.raises(ValueError, match="unknown op"):
        _core.Program([("frob", (), {})], [], [], [0])
    with pytest.raises(ValueError, match="output"):
        _core.Program([("input", (), {"index": 0, "len": 2})], [2], [], [3])


def test_dead_nodes_are_pruned():
    graph = trace_numpy(lambda x: x[0] * 2.0 + 0.0 * np.sum(np.exp(x)), [np.zeros(3)], [True])
    prog = compile_graph(graph)
    assert prog.n_nodes <= len(graph.nodes)
    np.testing.assert_allclose(prog.eval(np.array([[1.0, 2.0, 3.0]]), []), [[2.0]])


# --- compiled kernels (engine="compiled") -------------------------------------------------

SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 1e300, np.inf, -np.inf, np.nan])


def with_specials(pts):
    """``pts`` with special values (zeros, huge, infinities, NaN) in their first rows."""
    pts = pts.copy()
    k = len(SPECIAL)
    for j in range(pts.shape[1]):
        pts[:k, j] = np.roll(SPECIAL, j)
    return pts


@pytest.mark.parametrize("name", ["lotka_volterra", "composite", "mlp"])
def test_compiled_kernels_equal_the_interpreter(rng, name):
    n = 7 if name == "composite" else 6
    params = []
    if name == "mlp":
        w1, w2 = rng.normal(size=(n, n)) / n, rng.normal(size=(n, n)) / n
        graph = trace_jax(mlp_jax, [np.zeros(n), w1, w2], [True, False, False])
        params = [w1, w2]
    else:
        f = lotka_volterra if name == "lotka_volterra" else composite
        graph = trace_numpy(f, [np.zeros(n)], [True])
    prog = compile_graph(graph)
    pts = with_specials(rng.normal(size=(3001, n)))  # more than one parallel chunk
    with np.errstate(all="ignore"):
        v_ref, j_ref = prog.jacobian(pts, params, engine="interpreter")
        v, j = prog.jacobian(pts, params, engine="compiled")
        none, j_only = prog.jacobian(pts, params, values=False, engine="compiled")
        e = prog.eval(pts, params, engine="compiled")
        auto = prog.jacobian(pts, params)[1]
    # the same rules in the same order: equal numbers, NaNs in the same places
    np.testing.assert_array_equal(v, v_ref)
    np.testing.assert_array_equal(j, j_ref)
    np.testing.assert_array_equal(e, v_ref)
    np.testing.assert_array_equal(auto, j_ref)
    assert none is None
    np.testing.assert_array_equal(j_only, j_ref)
    # and against JAX where the numbers are finite
    f_jax = {"lotka_volterra": lotka_volterra, "composite": composite_jax}.get(name)
    if f_jax is not None:
        want = np.asarray(jax.vmap(jax.jacfwd(f_jax))(jnp.asarray(pts[20:80])))
        np.testing.assert_allclose(j[20:80], want, rtol=1e-12, atol=1e-13)


def test_compiled_engine_errors_and_fallbacks(rng):
    prog = compile_graph(trace_numpy(lotka_volterra, [np.zeros(6)], [True]))
    pts = rng.normal(size=(50, 6))
    with pytest.raises(ValueError, match="engine must be 'auto', 'compiled' or 'interpreter'"):
        prog.jacobian(pts, [], engine="jit")
    with pytest.raises(ValueError, match="float64 points only; got float32"):
        prog.jacobian(pts.astype(np.float32), [], engine="compiled")
    # the interpreter still reports shapes, whatever the engine
    with pytest.raises(_core.ShapeError, match=r"expected \(P, 6\)"):
        prog.jacobian(np.zeros((3, 5)), [], engine="compiled")
    with pytest.raises(_core.ShapeError, match="params"):
        prog.eval(np.zeros((3, 6)), [np.zeros(2)], engine="compiled")
    # strided points are copied, not misread
    wide = np.zeros((50, 12))
    wide[:, ::2] = pts
    np.testing.assert_array_equal(
        prog.jacobian(wide[:, ::2], [], engine="compiled")[1],
        prog.jacobian(pts, [], engine="interpreter")[1],
    )
    # a program past the compiler's limits: an error when forced, the interpreter on auto
    big = compile_graph(trace_numpy(lambda x: np.sin(x) * x[0], [np.zeros(80)], [True]))
    x = rng.normal(size=(40, 80))
    with pytest.raises(ValueError, match="too large to compile: 80 inputs"):
        big.jacobian(x, [], engine="compiled")
    np.testing.assert_array_equal(
        big.jacobian(x, [])[1], big.jacobian(x, [], engine="interpreter")[1]
    )
    # values alone need no lanes, so they compile
    np.testing.assert_array_equal(
        big.eval(x, [], engine="compiled"), big.eval(x, [], engine="interpreter")
    )
