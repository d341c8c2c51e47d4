"""Reverse mode of the Rust IR engine (``Program.vjp``, ``.gradient``, ``.hvp_reverse``)
against JAX (``jax.vjp``, ``jax.grad``, ``jax.hessian``) and the forward paths."""

from __future__ import annotations

import numpy as np
import pytest

from anydiff import _core
from anydiff.ir import trace_jax, trace_numpy

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)


def compile_graph(graph):
    input_lens = [graph.nodes[i].length for i in graph.inputs]
    param_lens = [graph.nodes[i].length for i in graph.params]
    outputs = [o.node for o in graph.outputs]
    return _core.Program(graph.instructions(), input_lens, param_lens, outputs)


def lotka_volterra(z):
    xp = jnp if isinstance(z, jax.Array) else np
    x, y, a, b, c, d = z[0], z[1], z[2], z[3], z[4], z[5]
    return xp.stack([a * x - b * x * y, c * x * y - d * y])


def lv_scalar(z):
    """A scalar variant of Lotka-Volterra: the squared norm of the right-hand side."""
    xp = jnp if isinstance(z, jax.Array) else np
    r = lotka_volterra(z)
    return xp.sum(r * r)


def rosenbrock(x):
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def composite(x):
    xp = jnp if isinstance(x, jax.Array) else np
    y = xp.sin(x) * xp.exp(-(x**2)) + xp.tanh(x[::-1]) / (1.5 + xp.cos(x))
    z = xp.maximum(y, 0.1 * x) + xp.sqrt(x**2 + 1.0) - xp.log1p(x**2)
    w = xp.where(x > 0.0, z, y * 2.0)
    return xp.concatenate([w, xp.stack([xp.sum(w * x), xp.max(y), xp.min(z)])])


def composite_scalar(x):
    xp = jnp if isinstance(x, jax.Array) else np
    c = composite(x)
    return xp.sum(c * xp.arctan(c)) + xp.cos(x[0]) * xp.cos(x[1]) * xp.cos(x[2])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def jax_vjp(f, x, w):
    _, pullback = jax.vjp(f, jnp.asarray(x))
    return np.stack([np.asarray(pullback(jnp.asarray(wl))[0]) for wl in w])


def test_lotka_volterra_vjp_many_points(rng):
    prog = compile_graph(trace_numpy(lotka_volterra, [np.zeros(6)], [True]))
    pts = rng.uniform(0.5, 1.5, size=(2000, 6))
    w = rng.normal(size=(3, 2))
    vals, vj = prog.vjp(pts, [], w)
    assert vals.shape == (2000, 2) and vj.shape == (2000, 3, 6)
    np.testing.assert_allclose(vals, prog.eval(pts, []), rtol=1e-15)
    _, jac = prog.jacobian(pts, [])
    np.testing.assert_allclose(vj, np.einsum("lr,prj->plj", w, jac), rtol=1e-13, atol=1e-14)
    for p in range(0, 2000, 400):
        np.testing.assert_allclose(vj[p], jax_vjp(lotka_volterra, pts[p], w), rtol=1e-13)
    # float32 points run in float32
    v32, vj32 = prog.vjp(pts.astype(np.float32), [], w)
    assert v32.dtype == np.float32 and vj32.dtype == np.float32
    np.testing.assert_allclose(vj32, vj, rtol=1e-4, atol=1e-4)


def test_lv_scalar_gradient_and_hvp(rng):
    prog = compile_graph(trace_numpy(lv_scalar, [np.zeros(6)], [True]))
    pts = rng.uniform(0.5, 1.5, size=(500, 6))
    vals, grad = prog.gradient(pts)
    want = jax.vmap(jax.value_and_grad(lv_scalar))(jnp.asarray(pts))
    np.testing.assert_allclose(vals, np.asarray(want[0]), rtol=1e-14)
    np.testing.assert_allclose(grad, np.asarray(want[1]), rtol=1e-13, atol=1e-14)
    v = rng.normal(size=(4, 6))
    g2, hv = prog.hvp_reverse(pts, None, v)
    np.testing.assert_allclose(g2, grad, rtol=1e-14)
    hess = jax.vmap(jax.hessian(lv_scalar))(jnp.asarray(pts))
    np.testing.assert_allclose(
        hv, np.einsum("pij,lj->pli", np.asarray(hess), v), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(hv, prog.hvp(pts, [], v), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [12, 1000])
def test_rosenbrock_gradient_and_hvp(rng, n):
    prog = compile_graph(trace_numpy(rosenbrock, [np.zeros(n)], [True]))
    pts = rng.normal(size=(3, n))
    vals, grad = prog.gradient(pts, [])
    assert vals.shape == (3,) and grad.shape == (3, n)
    # star coloring of the tridiagonal Hessian: 3 colors
    s = (np.arange(n)[None, :] % 3 == np.arange(3)[:, None]).astype(float)
    g2, hs = prog.hvp_reverse(pts, [], s)
    assert hs.shape == (3, 3, n)
    np.testing.assert_allclose(g2, grad, rtol=1e-14)
    for p in range(3):
        x = jnp.asarray(pts[p])
        np.testing.assert_allclose(vals[p], float(rosenbrock(x)), rtol=1e-13)
        np.testing.assert_allclose(grad[p], np.asarray(jax.grad(rosenbrock)(x)), rtol=1e-12)
        want = jax.vmap(lambda v, x=x: jax.jvp(jax.grad(rosenbrock), (x,), (v,))[1])(jnp.asarray(s))
        np.testing.assert_allclose(hs[p], np.asarray(want), rtol=1e-12, atol=1e-10)
    if n <= 50:
        hess = np.stack([np.asarray(jax.hessian(rosenbrock)(jnp.asarray(x))) for x in pts])
        v = rng.normal(size=(19, n))  # two blocks of lanes
        _, hv = prog.hvp_reverse(pts, [], v)
        np.testing.assert_allclose(hv, np.einsum("pij,lj->pli", hess, v), rtol=1e-11, atol=1e-10)


def test_brusselator_vjp():
    from anydiff.bench.problems import brusselator_rhs

    nx = 8
    f = lambda u: brusselator_rhs(u, nx)  # noqa: E731
    fj = lambda u: brusselator_rhs(u, nx, framework="jax")  # noqa: E731
    prog = compile_graph(trace_numpy(f, [np.zeros(2 * nx * nx)], [True]))
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.0, size=(3, 2 * nx * nx))
    w = rng.normal(size=(5, 2 * nx * nx))
    vals, vj = prog.vjp(x, [], w)
    np.testing.assert_allclose(vals, prog.eval(x, []), rtol=1e-15)
    for p in range(3):
        np.testing.assert_allclose(vj[p], jax_vjp(fj, x[p], w), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("frontend", ["numpy", "jax"])
def test_composite_vjp_gradient_hvp(rng, frontend):
    trace = trace_numpy if frontend == "numpy" else trace_jax
    n = 7
    prog = compile_graph(trace(composite, [np.zeros(n)], [True]))
    pts = rng.normal(size=(20, n))
    w = rng.normal(size=(2, n + 3))
    _, vj = prog.vjp(pts, [], w)
    for p in range(20):
        np.testing.assert_allclose(vj[p], jax_vjp(composite, pts[p], w), rtol=1e-10, atol=1e-12)
    sprog = compile_graph(trace(composite_scalar, [np.zeros(n)], [True]))
    vals, grad = sprog.gradient(pts)
    v = rng.normal(size=(3, n))
    g2, hv = sprog.hvp_reverse(pts, [], v)
    np.testing.assert_allclose(g2, grad, rtol=1e-14)
    for p in range(20):
        x = jnp.asarray(pts[p])
        np.testing.assert_allclose(vals[p], float(composite_scalar(x)), rtol=1e-12)
        np.testing.assert_allclose(
            grad[p], np.asarray(jax.grad(composite_scalar)(x)), rtol=1e-10, atol=1e-12
        )
        h = np.asarray(jax.hessian(composite_scalar)(x))
        np.testing.assert_allclose(hv[p], v @ h.T, rtol=1e-9, atol=1e-10)


def _random_function(seed, n):
    """A random composition of elementwise functions, reductions, slices and matmuls."""
    r = np.random.default_rng(seed)
    steps = r.integers(0, 8, size=10)
    mat = r.normal(size=(n, n)) / n

    def f(x):
        xp = jnp if isinstance(x, jax.Array) else np
        y = x
        for s in steps:
            if s == 0:
                y = xp.sin(y) + y
            elif s == 1:
                y = xp.tanh(y) * y[::-1]
            elif s == 2:
                y = xp.exp(-(y**2)) + xp.roll(y, 1)
            elif s == 3:
                y = (mat @ y) + xp.cos(y)
            elif s == 4:
                y = xp.maximum(y, 0.3 * x)
            elif s == 5:
                y = y / (2.0 + y**2) + xp.sum(y) * 0.1
            elif s == 6:
                y = xp.where(y > 0.0, y**3, xp.arctan(y))
            else:
                y = xp.sqrt(1.0 + y**2) - xp.max(y) * 0.2
        return xp.concatenate([y, xp.stack([xp.sum(y * x), xp.min(y)])])

    def fs(x):
        xp = jnp if isinstance(x, jax.Array) else np
        return xp.sum(xp.sin(f(x)))

    return f, fs


@pytest.mark.parametrize("seed", range(8))
def test_random_compositions(seed):
    n = 6
    f, fs = _random_function(seed, n)
    rng = np.random.default_rng(100 + seed)
    prog = compile_graph(trace_numpy(f, [np.zeros(n)], [True]))
    sprog = compile_graph(trace_numpy(fs, [np.zeros(n)], [True]))
    pts = rng.normal(size=(10, n))
    w = rng.normal(size=(3, n + 2))
    _, vj = prog.vjp(pts, [], w)
    _, jac = prog.jacobian(pts, [])
    np.testing.assert_allclose(vj, np.einsum("lr,prj->plj", w, jac), rtol=1e-11, atol=1e-12)
    _, grad = sprog.gradient(pts)
    v = rng.normal(size=(2, n))
    g2, hv = sprog.hvp_reverse(pts, [], v)
    _, g3, hess = sprog.hessian(pts)
    np.testing.assert_allclose(grad, g3, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(g2, grad, rtol=1e-14)
    np.testing.assert_allclose(hv, np.einsum("pij,lj->pli", hess, v), rtol=1e-9, atol=1e-10)
    for p in range(3):
        x = jnp.asarray(pts[p])
        # random compositions can be badly conditioned: compare to the largest entry
        want = jax_vjp(f, pts[p], w)
        np.testing.assert_allclose(vj[p], want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
        want = np.asarray(jax.grad(fs)(x))
        np.testing.assert_allclose(grad[p], want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


def test_mlp_vjp_with_params(rng):
    n = 16

    def mlp(x, w1, w2):
        return w2 @ jnp.tanh(w1 @ x) + jnp.sin(x)

    w1, w2 = rng.normal(size=(n, n)) / n, rng.normal(size=(n, n)) / n
    prog = compile_graph(trace_jax(mlp, [np.zeros(n), w1, w2], [True, False, False]))
    pts = rng.normal(size=(5, n))
    w = rng.normal(size=(2, n))
    _, vj = prog.vjp(pts, [w1, w2], w)
    for p in range(5):
        want = jax_vjp(lambda x: mlp(x, w1, w2), pts[p], w)
        np.testing.assert_allclose(vj[p], want, rtol=1e-11, atol=1e-13)


def test_errors():
    prog = compile_graph(trace_numpy(lotka_volterra, [np.zeros(6)], [True]))
    pts = np.ones((3, 6))
    with pytest.raises(ValueError, match="scalar output"):
        prog.gradient(pts)
    with pytest.raises(ValueError, match="scalar output"):
        prog.hvp_reverse(pts, [], np.ones((1, 6)))
    with pytest.raises(_core.ShapeError, match="cotangents"):
        prog.vjp(pts, [], np.ones((1, 3)))
    with pytest.raises(_core.ShapeError, match=r"expected \(P, 6\)"):
        prog.vjp(np.ones((3, 5)), [], np.ones((1, 2)))
    with pytest.raises(_core.ShapeError):
        prog.vjp(pts, [np.ones(2)], np.ones((1, 2)))
    sprog = compile_graph(trace_numpy(rosenbrock, [np.zeros(4)], [True]))
    with pytest.raises(_core.ShapeError, match="v"):
        sprog.hvp_reverse(np.ones((2, 4)), [], np.ones((2, 3)))
    # no points, no cotangents
    vals, vj = prog.vjp(np.ones((0, 6)), [], np.ones((2, 2)))
    assert vals.shape == (0, 2) and vj.shape == (0, 2, 6)
    vals, vj = prog.vjp(pts, [], np.ones((0, 2)))
    assert vj.shape == (3, 0, 6)
