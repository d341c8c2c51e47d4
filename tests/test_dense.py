"""Matrix products on lane blocks (issue 17): the Rust engine's GEMM paths (forward lanes,
reverse sweeps, forward over reverse) against JAX, at sizes around the lane width and the
GEMM threshold, with constant and traced operands, batched, transposed and in float32."""

from __future__ import annotations

import numpy as np
import pytest

import anydiff
from anydiff import _core
from anydiff.backends import DualBackend
from anydiff.ir import trace_numpy

jax = pytest.importorskip("jax")
jnp = jax.numpy
jax.config.update("jax_enable_x64", True)

# (n, m): 1, the lane widths (32 over batches, 128 at one point) plus or minus one, n above
# the widest pass (several passes), products below and above the GEMM threshold
SIZES = [
    (1, 1),
    (1, 70),
    (31, 33),
    (32, 5),
    (33, 64),
    (63, 65),
    (65, 40),
    (127, 3),
    (128, 129),
    (129, 17),
    (200, 20),
    (300, 11),
]


def issue_f(a, xp):
    """The issue's f(x) = tanh(A x) sum(x^2) + sin(A cos x)."""

    def f(x):
        return xp.tanh(a @ x) * xp.sum(x**2) + xp.sin(a @ xp.cos(x))

    return f


def program(f, x):
    """The engine's program of ``f`` (closure constants baked in, no parameters)."""
    graph = trace_numpy(f, (x,), (True,))
    input_lens = [graph.nodes[i].length for i in graph.inputs]
    assert not graph.params
    outputs = [o.node for o in graph.outputs]
    return _core.Program(graph.instructions(), input_lens, [], outputs), []


@pytest.fixture
def rng():
    return np.random.default_rng(17)


@pytest.mark.parametrize("n,m", SIZES)
def test_constant_matrix_jacobian_gradient_hessian(rng, n, m):
    a = rng.normal(size=(m, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f, fj = issue_f(a, np), issue_f(jnp.asarray(a), jnp)
    want = np.asarray(jax.jacfwd(fj)(jnp.asarray(x)))
    got = anydiff.jacobian(DualBackend(), f, x)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    # reverse: gradient of sum(f)
    g = anydiff.gradient(DualBackend(), lambda z: np.sum(f(z)), x)
    gw = np.asarray(jax.grad(lambda z: jnp.sum(fj(z)))(jnp.asarray(x)))
    np.testing.assert_allclose(g, gw, rtol=1e-11, atol=1e-12)
    # forward over reverse: Hessian-vector products
    v = rng.normal(size=n)
    hv = anydiff.hvp(DualBackend(), lambda z: np.sum(f(z)), x, v)
    hvw = jax.jvp(jax.grad(lambda z: jnp.sum(fj(z))), (jnp.asarray(x),), (jnp.asarray(v),))[1]
    np.testing.assert_allclose(hv, hvw, rtol=1e-10, atol=1e-11)
    if n <= 65:  # the Hessian is n x n forward-over-forward: keep it small
        h = anydiff.hessian(DualBackend(), lambda z: np.sum(f(z)), x)
        hw = np.asarray(jax.hessian(lambda z: jnp.sum(fj(z)))(jnp.asarray(x)))
        np.testing.assert_allclose(h, hw, rtol=1e-10, atol=1e-11)


def traced_products(xp, k):
    """Products of two traced operands, matrix times matrix, row vector times matrix,
    transposed layouts, and a batch of products against a constant stack."""
    c = np.linspace(-1.0, 1.0, 3 * k * 2).reshape(3, k, 2)

    def f(x):
        s = xp.reshape(x[: k * k], (k, k))
        v = x[k * k :]
        p = s @ s.T  # traced x traced, transposed operand
        q = v @ s  # a row vector times a traced matrix
        r = xp.sin(s) @ v  # traced matrix times traced vector
        b = xp.matmul(xp.reshape(xp.cos(x[: 3 * k]), (3, 1, k)), c)  # batched, constant
        return xp.concatenate([xp.ravel(p), q * r, xp.ravel(b)])

    return f


@pytest.mark.parametrize("k", [3, 8, 13])
def test_traced_operands_and_batches(rng, k):
    x = rng.normal(size=k * k + k) * 0.5
    f, fj = traced_products(np, k), traced_products(jnp, k)
    want = np.asarray(jax.jacfwd(fj)(jnp.asarray(x)))
    got = anydiff.jacobian(DualBackend(), f, x)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)
    scalar = lambda z: np.sum(f(z) ** 2)  # noqa: E731
    scalar_j = lambda z: jnp.sum(fj(z) ** 2)  # noqa: E731
    g = anydiff.gradient(DualBackend(), scalar, x)
    np.testing.assert_allclose(g, jax.grad(scalar_j)(jnp.asarray(x)), rtol=1e-11, atol=1e-12)
    v = rng.normal(size=x.size)
    hv = anydiff.hvp(DualBackend(), scalar, x, v)
    hw = jax.jvp(jax.grad(scalar_j), (jnp.asarray(x),), (jnp.asarray(v),))[1]
    np.testing.assert_allclose(hv, hw, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("lanes", [1, 3, 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hvp_lanes_through_products(rng, lanes, dtype):
    """Forward over reverse at one point multiplies dual numbers by real GEMMs of their
    parts (a pass over the matrix for few lanes, one packed product for many): HVPs along
    several directions and the Hessian against JAX, with constant and traced operands."""
    k = 8
    a = rng.normal(size=(30, k * k + k)) / 9.0
    fs = [
        (lambda z: np.sum(issue_f(a, np)(z)), lambda z: jnp.sum(issue_f(jnp.asarray(a), jnp)(z))),
        (
            lambda z: np.sum(traced_products(np, k)(z) ** 2),
            lambda z: jnp.sum(traced_products(jnp, k)(z) ** 2),
        ),
    ]
    x = rng.normal(size=k * k + k) * 0.5
    vs = rng.normal(size=(lanes, x.size))
    tol = 1e-10 if dtype == np.float64 else 2e-3
    for f, fj in fs:
        hv = anydiff.hvp(DualBackend(), f, x.astype(dtype), vs.astype(dtype), batched=True)
        assert hv.dtype == dtype
        hess = np.asarray(jax.hessian(fj)(jnp.asarray(x)))
        scale = np.abs(hess).max()
        np.testing.assert_allclose(hv, vs @ hess, rtol=tol, atol=tol * scale)
        h = anydiff.hessian(DualBackend(), f, x.astype(dtype))
        np.testing.assert_allclose(h, hess, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("n,m", [(33, 40), (64, 64), (100, 7)])
def test_forward_reverse_hvp_and_float32_agree(rng, n, m):
    a = rng.normal(size=(m, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    prog, params = program(issue_f(a, np), x)
    pts = x[None, :]
    _, jac = prog.jacobian(pts, params)
    w = rng.normal(size=(3, m))
    _, vj = prog.vjp(pts, params, w)
    np.testing.assert_allclose(vj[0], w @ jac[0], rtol=1e-11, atol=1e-12)
    # several points (the lane engine's multi-point chunks) agree with one point each
    many = rng.normal(size=(5, n))
    _, jm = prog.jacobian(many, params)
    for p in range(5):
        np.testing.assert_allclose(jm[p], prog.jacobian(many[p : p + 1], params)[1][0], 1e-12)
    # float32 evaluates in float32 near the float64 result
    _, j32 = prog.jacobian(pts.astype(np.float32), params)
    assert j32.dtype == np.float32
    np.testing.assert_allclose(j32, jac, rtol=2e-4, atol=2e-4)
    _, vj32 = prog.vjp(pts.astype(np.float32), params, w.astype(np.float32))
    np.testing.assert_allclose(vj32, vj, rtol=2e-4, atol=2e-4)


def mixed_ops(a, xp):
    """Selects, a max with ties, a sort, a solve and products of traced operands: every
    instruction of the reverse lane sweep at one point."""

    def f(x):
        k = a.shape[0]
        s = xp.reshape(x[: k * k], (k, k)) + 3.0 * xp.eye(k)
        v = x[k * k :]
        y = xp.where(v > 0, xp.sqrt(xp.abs(v)), v**3)  # the untaken side has inf partials at 0
        top = xp.max(xp.stack([v, v[::-1]]), axis=0)  # ties in the middle
        srt = xp.sort(xp.sin(v))
        sol = xp.linalg.solve(s, a @ v)
        return xp.concatenate([y * xp.sum(v**2), top, srt, sol, s @ (s @ v)])

    return f


@pytest.mark.parametrize("lanes", [1, 2, 127, 128, 129, 260])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_many_cotangents_at_one_point(rng, lanes, dtype):
    """VJPs of many cotangents at one point (one sweep of lane rows, blocks of 128) equal
    ``w @ J`` from JAX, on the issue's function and on every instruction kind. The truth is
    ``jax.jacfwd``: JAX's reverse mode makes the untaken branch's ``0 * inf`` a NaN."""
    k = 5
    a = rng.normal(size=(k, k))
    x = rng.normal(size=k * k + k) * 0.5
    x[-1] = 0.0  # sqrt(|0|) in the untaken branch of the where
    x[k * k + 1] = x[-2]  # a tie in the max of v and its reverse
    for f, fj, z in [
        (mixed_ops(a, np), mixed_ops(jnp.asarray(a), jnp), x),
        (issue_f(a[:, :3], np), issue_f(jnp.asarray(a[:, :3]), jnp), x[:3]),
    ]:
        want = np.asarray(jax.jacfwd(fj)(jnp.asarray(z)))
        prog, params = program(f, z)
        w = rng.normal(size=(lanes, want.shape[0]))
        _, vj = prog.vjp(z[None, :].astype(dtype), params, w.astype(dtype))
        assert vj.dtype == dtype
        tol = 1e-10 if dtype == np.float64 else 2e-3
        np.testing.assert_allclose(vj[0], w @ want, rtol=tol, atol=tol)
        # several points at once go through the per-chunk sweeps: the same numbers
        _, vj2 = prog.vjp(np.stack([z, z]).astype(dtype), params, w[:3].astype(dtype))
        np.testing.assert_allclose(vj2[1], vj[0][:3], rtol=tol, atol=tol)


@pytest.mark.parametrize("n,m", [(200, 20), (300, 40), (100, 30), (129, 3)])
def test_reverse_jacobian_plans_match_jax(rng, n, m):
    """Wide Jacobians (the cost model picks reverse) against jax.jacrev, in float64 and
    float32, both modes."""
    a = rng.normal(size=(m, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f, fj = issue_f(a, np), issue_f(jnp.asarray(a), jnp)
    want = np.asarray(jax.jacrev(fj)(jnp.asarray(x)))
    plan = anydiff.prepare_jacobian(DualBackend(), f, x)
    assert plan.mode == "reverse"
    np.testing.assert_allclose(plan(x), want, rtol=1e-11, atol=1e-12)
    plan.mode = "forward"
    np.testing.assert_allclose(plan(x), want, rtol=1e-11, atol=1e-12)
    x32 = x.astype(np.float32)
    j32 = anydiff.jacobian(DualBackend(), f, x32)
    assert j32.dtype == np.float32
    np.testing.assert_allclose(j32, want, rtol=1e-3, atol=1e-3)


def test_reverse_lanes_skip_unreached_infinite_rows():
    """Only row 1 of ``a @ x`` is read, and row 0 holds an infinity: its zero adjoint must
    not meet it (a GEMM over the whole block would make inf * 0 = NaN in every lane)."""
    n = 40
    a = np.ones((2, n))
    a[0, 3] = np.inf
    x = np.linspace(0.1, 1.0, n)
    prog, params = program(lambda z: np.concatenate([(a @ z)[1:], z[:2] * 2.0]), x)
    w = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    _, vj = prog.vjp(x[None, :], params, w)
    assert np.all(np.isfinite(vj))
    np.testing.assert_array_equal(vj[0][0], np.ones(n))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dual_products_at_one_point_match_the_loops(rng, dtype):
    """At one point, products of dual numbers run as GEMMs of their parts (constant
    operands as reals); at many points per chunk, element by element. With finite
    matrices both equal jax.hessian; with an infinite constant entry both give the same
    numbers, NaN included (a product over an empty axis, a constant on either side of a
    traced operand)."""
    n = 12
    a = rng.normal(size=(7, n))
    b = rng.normal(size=(n, 3))

    def make(a, xp):
        def f(x):
            s = xp.reshape(x, (3, 4))
            return (
                xp.sum(xp.tanh(a @ x))
                + xp.sum(xp.sin(x @ b) ** 2)
                + xp.sum((s @ s.T) ** 2)
                + xp.sum(x[:0] @ b[:0])
            )

        return f

    x = (rng.normal(size=n) * 0.5).astype(dtype)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    want = np.asarray(jax.hessian(make(jnp.asarray(a), jnp))(jnp.asarray(x, np.float64)))
    a_inf = a.copy()
    a_inf[2, 5] = np.inf
    for mat, truth in [(a, want), (a_inf, None)]:
        f = make(mat, np)
        one = anydiff.hessian(DualBackend(), f, x)
        many = anydiff.batch_hessian(DualBackend(), f, np.stack([x] * 64))
        assert one.dtype == dtype
        if truth is None:
            assert np.isnan(one).any()
        else:
            np.testing.assert_allclose(one, truth, rtol=tol, atol=tol)
        for h in many:
            np.testing.assert_allclose(h, one, rtol=tol, atol=tol)
        v = rng.normal(size=(3, n)).astype(dtype)
        hv = anydiff.hvp(DualBackend(), f, x, v, batched=True)
        finite = np.isfinite(one).all(axis=1)
        expected = (v @ one.T)[:, finite]
        np.testing.assert_allclose(hv[:, finite], expected, rtol=tol * 10, atol=tol * 10)


def test_infinite_matrix_keeps_zero_tangents_zero():
    """A tangent that is exactly zero stays zero through an infinite entry (the GEMM path
    would make inf * 0 = NaN, so it declines to the loop)."""
    n = 40
    a = np.eye(n)
    a[0, 1] = np.inf
    x = np.linspace(0.1, 1.0, n)
    jac = anydiff.jacobian(DualBackend(), lambda z: a @ z, x)
    assert np.isinf(jac[0, 1])
    assert np.all(np.isfinite(np.delete(jac, 0, axis=0)))
    np.testing.assert_array_equal(np.delete(jac, 0, axis=0), np.delete(a, 0, axis=0))


def test_compiled_engine_equals_interpreter(rng):
    a = rng.normal(size=(40, 50)) / 7.0
    x = rng.normal(size=50)
    prog, params = program(issue_f(a, np), x)
    pts = rng.normal(size=(3, 50))
    _, j = prog.jacobian(pts, params)
    try:
        _, jc = prog.jacobian(pts, params, engine="compiled")
    except Exception as e:  # a build without the compiler, or products it declines
        pytest.skip(f"compiled engine unavailable: {e}")
    np.testing.assert_allclose(jc, j, rtol=1e-12, atol=1e-13)


def lane_shapes(a, b, c, xp):
    """Tangent blocks of every shape the product kernels meet: one-hot rows (unit seeds
    through elementwise chains) into ``a @ v`` and ``v @ b``, rows with an exactly zero
    lane (``x * mask``), and dense blocks (``a @ (c @ x)``) into the GEMM."""
    mask = np.ones(a.shape[1])
    mask[::3] = 0.0

    def f(x):
        u = a @ xp.sin(x)  # one-hot lanes, matrix times vector
        w = xp.cos(x * mask) @ b  # one-hot lanes with zero rows, vector times matrix
        z = a @ xp.tanh(c @ x)  # dense lanes
        return xp.concatenate([u * 2.0, w, z - u])

    return f


@pytest.mark.parametrize("n", [5, 127, 128, 129, 260])
def test_one_hot_and_dense_lane_blocks(rng, n):
    m = 9
    a = rng.normal(size=(m, n)) / np.sqrt(n)
    b = rng.normal(size=(n, 4))
    c = rng.normal(size=(n, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f, fj = lane_shapes(a, b, c, np), lane_shapes(*map(jnp.asarray, (a, b, c)), jnp)
    want = np.asarray(jax.jacfwd(fj)(jnp.asarray(x)))
    prog, params = program(f, x)
    _, jac = prog.jacobian(x[None, :], params)
    np.testing.assert_allclose(jac[0], want, rtol=1e-11, atol=1e-12)
    # dense seeds (no one-hot rows anywhere), lane counts around the widths
    for lanes in {1, n - 1, n, n + 1}:
        seeds = rng.normal(size=(lanes, n))
        _, tan = prog.jvp(x[None, :], params, seeds)
        np.testing.assert_allclose(tan[0], seeds @ want.T, rtol=1e-10, atol=1e-11)
    # reverse sweeps and float32 through the same kernels
    w = rng.normal(size=(2, want.shape[0]))
    _, vj = prog.vjp(x[None, :], params, w)
    np.testing.assert_allclose(vj[0], w @ want, rtol=1e-10, atol=1e-11)
    _, j32 = prog.jacobian(x[None, :].astype(np.float32), params)
    assert j32.dtype == np.float32
    np.testing.assert_allclose(j32[0], want, rtol=1e-3, atol=1e-3)


def test_infinite_tangent_in_a_one_hot_lane():
    """d sqrt(x)/dx is infinite at 0: that column of the Jacobian of ``a @ sqrt(x)`` is
    ``a[:, 0] * inf`` (NaN where ``a`` has a zero), and the zero tangents of the other
    lanes stay zero (the engine's convention; JAX's jacfwd spreads 0 * inf to them)."""
    a = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    x = np.array([0.0, 1.0, 4.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        want = a * (0.5 / np.sqrt(x))[None, :]
    prog, params = program(lambda z: a @ np.sqrt(z), x)
    _, jac = prog.jacobian(x[None, :], params)
    np.testing.assert_array_equal(np.isnan(jac[0]), np.isnan(want))
    np.testing.assert_allclose(jac[0], want, rtol=1e-14)


def test_mlp_jacobian_and_gradient(rng):
    """W2 tanh(W1 x) + sin(x): a dense lane block through the second product."""
    n = 150
    w1 = rng.normal(size=(n, n)) / np.sqrt(n)
    w2 = rng.normal(size=(n, n)) / np.sqrt(n)

    def mlp(xp, a, b):
        return lambda x: b @ xp.tanh(a @ x) + xp.sin(x)

    f, fj = mlp(np, w1, w2), mlp(jnp, jnp.asarray(w1), jnp.asarray(w2))
    x = rng.normal(size=n)
    want = np.asarray(jax.jacfwd(fj)(jnp.asarray(x)))
    np.testing.assert_allclose(anydiff.jacobian(DualBackend(), f, x), want, 1e-11, 1e-12)
    g = anydiff.gradient(DualBackend(), lambda z: np.sum(f(z) ** 2), x)
    gw = jax.grad(lambda z: jnp.sum(fj(z) ** 2))(jnp.asarray(x))
    np.testing.assert_allclose(g, gw, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize(
    "n,m,mode",
    [
        (10, 10, "forward"),
        (60, 59, "forward"),
        (200, 199, "forward"),
        (200, 20, "reverse"),
        (20, 200, "forward"),
        (128, 64, "reverse"),
    ],
)
def test_cost_model_counts_products(rng, n, m, mode):
    """The program's cost model (products by their multiply-adds, unit lanes through a
    constant product by their outputs) picks the mode that measured faster on the issue's
    table, and both modes give the same Jacobian."""
    a = rng.normal(size=(m, n)) / np.sqrt(n)
    x = rng.normal(size=n)
    f = issue_f(a, np)
    plan = anydiff.prepare_jacobian(DualBackend(), f, x)
    assert plan.mode == mode
    cost = plan.prepared.program.vjp_cost
    assert np.isfinite(cost) and cost > 0
    picked = plan(x)
    plan.mode = "reverse" if mode == "forward" else "forward"
    np.testing.assert_allclose(plan(x), picked, rtol=1e-12, atol=1e-13)
