"""The engine's op table, driven from Python through ``Graph``: every function of the
tables against the numpy reference interpreter (values) and finite differences or closed
forms (derivatives), in float64 and float32, at ordinary and edge points; the new
instructions (prod/argmax reductions, sort, linear algebra, custom derivative rules);
compiled kernels against the interpreter; and clear errors."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from anydiff import _core
from anydiff.ir import _reference
from anydiff.ir._graph import BINARY, COMPARE, LINALG, REDUCE, UNARY, ZERO_DERIVATIVE, Graph, Value


def program(graph: Graph, out: Value) -> Any:
    graph.set_outputs([out])
    lens = [graph.nodes[i].length for i in graph.inputs]
    return _core.Program(graph.instructions(), lens, [], [out.node])


def fd_jacobian(prog: Any, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = h
        cols.append((prog.eval((x + e)[None])[0] - prog.eval((x - e)[None])[0]) / (2 * h))
    return np.stack(cols, axis=-1)


def test_tables_come_from_the_engine_and_the_reference_covers_them() -> None:
    assert set(_core.UNARY_FUNCTIONS) == UNARY
    assert set(_core.BINARY_FUNCTIONS) == BINARY
    assert set(_core.COMPARISONS) == COMPARE
    assert set(_core.REDUCTIONS) == REDUCE
    assert set(_core.LINALG_FUNCTIONS) == LINALG
    assert set(_reference._UNARY) == UNARY
    assert set(_reference._BINARY) == BINARY
    assert set(_reference._COMPARE) == COMPARE
    assert set(_reference._REDUCE) == REDUCE
    assert {"stop_gradient", "is_finite", "floor", "sign", "trunc"} <= ZERO_DERIVATIVE


DOMAIN = {
    "log": (0.2, 5.0), "log1p": (-0.5, 3.0), "log2": (0.2, 5.0), "log10": (0.2, 5.0),
    "sqrt": (0.2, 5.0), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9),
    "acosh": (1.1, 4.0), "erf_inv": (-0.9, 0.9), "lgamma": (0.2, 6.0),
    "digamma": (0.2, 6.0), "tan": (-1.2, 1.2),
}  # fmt: skip
EDGES = np.array([0.0, -0.0, 1e-300, -1e-300, 1e300, -1e300, np.inf, -np.inf, np.nan])
# where the derivative is not the value's
CUSTOM_DERIVATIVE = {"stop_gradient": 0.0, "perturbation": 1.0}


@pytest.mark.parametrize("fn", sorted(UNARY))
def test_unary_function(fn: str) -> None:
    g = Graph()
    x = g.input((7,))
    prog = program(g, g.unary(fn, x))
    lo, hi = DOMAIN.get(fn, (-2.0, 2.0))
    pts = np.linspace(lo, hi, 7) + 0.013
    with np.errstate(all="ignore"):
        want = _reference.evaluate(g, [pts])[0]
    vals, jac = prog.jacobian(pts[None])
    assert np.allclose(vals[0], want, rtol=1e-12, atol=1e-14, equal_nan=True), fn
    d = np.diag(jac[0])
    if fn in CUSTOM_DERIVATIVE:
        assert np.all(d == CUSTOM_DERIVATIVE[fn])
    elif fn in ZERO_DERIVATIVE:
        assert np.all(d == 0.0)
    else:
        assert np.allclose(d, np.diag(fd_jacobian(prog, pts)), rtol=1e-6, atol=1e-7), fn
    # reverse mode, nested duals and forward over reverse agree with forward mode
    total = program(g, g.reduce("sum", g.unary(fn, x), (0,)))
    _, grad = total.gradient(pts[None])
    assert np.allclose(grad[0], d, rtol=1e-14, atol=1e-15, equal_nan=True), fn
    _, grad2, hess = total.hessian(pts[None])
    assert np.allclose(grad2[0], d, rtol=1e-14, atol=1e-15, equal_nan=True), fn
    hvp = total.hvp(pts[None], None, np.eye(7))[0]
    assert np.allclose(hvp, hess[0], rtol=1e-12, atol=1e-14, equal_nan=True), fn
    # float32 points: the float32 engine
    v32, j32 = prog.jacobian(pts.astype(np.float32)[None])
    assert v32.dtype == np.float32
    assert np.allclose(v32[0], want, rtol=2e-5, atol=1e-6, equal_nan=True), fn
    assert np.allclose(np.diag(j32[0]), d, rtol=1e-3, atol=1e-4, equal_nan=True), fn
    # edge points: the reference's value where it has one
    g.set_outputs([g.unary(fn, x)])
    with np.errstate(all="ignore"):
        ref = _reference.evaluate(g, [np.resize(EDGES, 7)])[0]
        got = prog.eval(np.resize(EDGES, 7)[None], engine="interpreter")[0]
    finite = np.isfinite(ref) | np.isinf(ref)
    if fn not in ("lgamma", "digamma"):  # scipy's conventions at the poles differ from JAX's
        assert np.allclose(got[finite], ref[finite], rtol=1e-12, atol=1e-300), fn


@pytest.mark.parametrize("fn", sorted(BINARY))
def test_binary_function(fn: str) -> None:
    g = Graph()
    x = g.input((2, 5))
    out = g.binary(fn, g.gather(x, np.arange(5)), g.gather(x, 5 + np.arange(5)))
    prog = program(g, out)
    pts = np.array([[0.7, 1.9, 2.5, 0.4, 1.5], [0.3, -1.1, 2.5, 2.0, 1.5]]).ravel()
    vals, jac = prog.jacobian(pts[None])
    assert np.allclose(vals[0], _reference.evaluate(g, [pts])[0], rtol=1e-14)
    fd = fd_jacobian(prog, pts)
    # ties: max/min split the derivative, rem jumps
    ties = (pts[:5] == pts[5:]) & (fn in ("max", "min", "rem"))
    cols = np.concatenate([~ties, ~ties])
    assert np.allclose(jac[0][:, cols], fd[:, cols], rtol=1e-6, atol=1e-7), fn
    if fn in ("max", "min"):
        # ties split the derivative evenly (JAX)
        for i in np.flatnonzero(ties):
            assert jac[0][i, i] == jac[0][i, 5 + i] == 0.5


def test_pow_conventions() -> None:
    g = Graph()
    x = g.input((2,))
    prog = program(g, g.binary("pow", g.gather(x, [0]), g.gather(x, [1])))
    _, jac = prog.jacobian(np.array([[0.0, 2.5]]))
    assert np.array_equal(jac[0], [[0.0, 0.0]])  # d/dy 0^y = 0 (JAX, autograd)
    _, jac = prog.jacobian(np.array([[0.0, 0.0]]))
    assert np.array_equal(jac[0], [[0.0, 0.0]])  # x^0 is the constant 1
    _, grad = prog.gradient(np.array([[0.0, 0.0]]))
    assert np.array_equal(grad[0], [0.0, 0.0])


def test_reductions_ties_zeros_and_nan() -> None:
    g = Graph()
    x = g.input((2, 4))
    outs = {fn: g.reduce(fn, x, (1,)) for fn in ("max", "min", "prod", "argmax", "argmin")}
    pts = np.array([[3.0, 1.0, 3.0, 3.0], [0.0, 2.0, -1.0, 0.0]]).ravel()
    for fn, out in outs.items():
        prog = program(g, out)
        vals, jac = prog.jacobian(pts[None])
        assert np.array_equal(vals[0], _reference.evaluate(g, [pts])[0]), fn
        if fn == "max":
            assert np.allclose(jac[0][0, :4], [1 / 3, 0, 1 / 3, 1 / 3])
            assert np.array_equal(jac[0][1, 4:], [0, 1, 0, 0])
        if fn == "min":
            assert np.array_equal(jac[0][0, :4], [0, 1, 0, 0])
        if fn == "prod":
            assert np.array_equal(jac[0][1, 4:], [0.0, 0.0, 0.0, 0.0])  # two zeros
            assert np.array_equal(jac[0][0, :4], [9.0, 27.0, 9.0, 9.0])
        if fn.startswith("arg"):
            assert not np.any(jac[0])
        _, grad = program(g, g.reduce("sum", out, (0,))).gradient(pts[None])
        assert np.allclose(grad[0], jac[0].sum(axis=0)), fn
    # a NaN member: NaN value, NaN tangent where the group carries one
    prog = program(g, outs["max"])
    vals, jac = prog.jacobian(np.array([[1.0, np.nan, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]]))
    assert np.isnan(vals[0][0]) and np.all(np.isnan(jac[0][0, :4])) and not np.any(jac[0][0, 4:])
    # cumulative max at ties: the prefix's maximal elements share the derivative
    g = Graph()
    x = g.input((3,))
    prog = program(g, g.cumulative("max", x, 0))
    _, jac = prog.jacobian(np.array([[1.0, 1.0, 0.5]]))
    assert np.allclose(jac[0], [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]])


def test_sort_and_argsort() -> None:
    g = Graph()
    x = g.input((2, 3))
    prog = program(g, g.sort(x, axis=1))
    pts = np.array([[3.0, 1.0, 2.0, np.nan, -0.0, 0.0]])
    vals, jac = prog.jacobian(pts)
    assert np.array_equal(vals[0][:3], [1.0, 2.0, 3.0])
    assert np.array_equal(np.signbit(vals[0][3:5]), [True, False]) and np.isnan(vals[0][5])
    assert np.array_equal(jac[0][:3, :3], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    prog = program(g, g.argsort(x, axis=0))
    assert np.array_equal(prog.eval(pts)[0], [0, 1, 1, 1, 0, 0])


def _jax_reference(f: Callable, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(f(jnp.asarray(x))), np.asarray(jax.jacfwd(f)(jnp.asarray(x)))


A = np.array([[2.0, 0.5, 0.1], [0.3, 1.5, -0.2], [0.1, 0.4, 3.0]])


def _lower(a: Any) -> Any:
    """The symmetric matrix of the lower triangle of ``a``."""
    return jnp.tril(a) + jnp.tril(a, -1).T


LINALG_CASES: dict[str, tuple[Callable[[Graph, Value], Value], Callable, np.ndarray]] = {
    "solve": (lambda g, a: g.solve(a, g.transpose(a)), lambda a: jnp.linalg.solve(a, a.T), A),
    "solve_vector": (
        lambda g, a: g.solve(a, g.gather(a, [0, 1, 2])),
        lambda a: jnp.linalg.solve(a, a[0]),
        A,
    ),
    "inv_batch": (lambda g, a: g.inv(a), jnp.linalg.inv, np.stack([A, A.T, A @ A])),
    "det": (lambda g, a: g.det(a), jnp.linalg.det, np.stack([A, -A])),
    "slogdet": (lambda g, a: g.slogdet(a)[1], lambda a: jnp.linalg.slogdet(a)[1], -A),
    # the engine reads the lower triangle: the symmetric matrix made from it
    "cholesky": (lambda g, a: g.cholesky(a), lambda a: jnp.linalg.cholesky(_lower(a)), A @ A.T),
    "eigvals": (lambda g, a: g.eigh(a)[0], lambda a: jnp.linalg.eigvalsh(_lower(a)), A + A.T),
    "svdvals": (lambda g, a: g.svd(a)[1], lambda a: jnp.linalg.svd(a, compute_uv=False), A),
    "pinv": (lambda g, a: g.pinv(a), jnp.linalg.pinv, A[:, :2]),
    "triangular": (
        lambda g, a: g.triangular_solve(a, g.transpose(a), lower=True),
        lambda a: jax.scipy.linalg.solve_triangular(a, a.T, lower=True),
        A,
    ),
    "lu": (lambda g, a: g.lu(a)[0], lambda a: jax.scipy.linalg.lu_factor(a)[0], A),
}


@pytest.mark.parametrize("name", sorted(LINALG_CASES))
def test_linear_algebra(name: str) -> None:
    build, jax_fn, x = LINALG_CASES[name]
    g = Graph()
    a = g.input(x.shape)
    out = build(g, a)
    prog = program(g, out)
    want_v, want_j = _jax_reference(jax_fn, x)
    vals, jac = prog.jacobian(x.reshape(1, -1))
    assert np.allclose(vals[0].reshape(want_v.shape), want_v, rtol=1e-12, atol=1e-13)
    assert np.allclose(jac[0].reshape(want_j.shape), want_j, rtol=1e-10, atol=1e-11)
    v32, _ = prog.jacobian(x.reshape(1, -1).astype(np.float32))
    assert np.allclose(v32[0].reshape(want_v.shape), want_v, rtol=1e-4, atol=1e-5)
    total = program(g, g.reduce("sum", g.unary("square", out), tuple(range(len(out.shape)))))
    with jax.enable_x64(True):
        want_h = np.asarray(jax.hessian(lambda z: jnp.sum(jax_fn(z) ** 2))(jnp.asarray(x)))
    _, _, hess = total.hessian(x.reshape(1, -1))
    assert np.allclose(hess[0], want_h.reshape(x.size, x.size), rtol=1e-8, atol=1e-9)


def test_eigenvectors_are_normalised_and_degenerate_derivatives_are_nan() -> None:
    g = Graph()
    a = g.input((3, 3))
    w, v = g.eigh(a)
    prog = program(g, v)
    sym = A + A.T
    vecs = prog.eval(sym.reshape(1, -1))[0].reshape(3, 3)
    big = np.argmax(np.abs(vecs), axis=0)
    assert np.all(vecs[big, np.arange(3)] > 0)
    assert np.allclose(vecs @ np.diag(np.linalg.eigvalsh(sym)) @ vecs.T, sym)
    _, jac = program(g, w).jacobian(np.eye(3).reshape(1, -1))
    assert np.all(np.isnan(jac[0][:, 0]))


def test_custom_jvp_rule() -> None:
    """``Graph.custom_jvp``: the primal's value with the rule's first and second
    derivatives (here sin with the rule of 2 x: derivative 2x... at each point)."""
    g = Graph()
    x = g.input((2,))
    (y,) = g.custom_jvp(
        lambda a: [g.unary("sin", a[0])],
        lambda a, t: [g.binary("mul", g.binary("mul", g.const(2.0), a[0]), t[0])],
        [x],
    )
    total = program(g, g.reduce("sum", y, (0,)))
    pts = np.array([[0.3, -2.0]])
    value, grad, hess = total.hessian(pts)
    assert value[0] == pytest.approx(np.sin(pts).sum())
    assert np.allclose(grad[0], 2 * pts[0]) and np.allclose(hess[0], 2 * np.eye(2))
    _, rgrad = total.gradient(pts)
    assert np.allclose(rgrad[0], 2 * pts[0])
    assert np.allclose(total.hvp(pts, None, np.eye(2))[0], 2 * np.eye(2))


def test_compiled_kernels_match_the_interpreter_and_decline_what_they_lack() -> None:
    g = Graph()
    x = g.input((4,))
    out = g.concat(
        [g.reduce("prod", x, (0,)), g.reduce("max", x, (0,)), g.reduce("argmin", x, (0,))],
        (3,),
    )
    prog = program(g, out)
    pts = np.random.default_rng(0).choice([0.0, 1.0, -2.0, 3.0], size=(64, 4))
    v1, j1 = prog.jacobian(pts, engine="compiled")
    v2, j2 = prog.jacobian(pts, engine="interpreter")
    assert np.array_equal(v1, v2) and np.array_equal(j1, j2)
    sorted_prog = program(g, g.sort(x))
    with pytest.raises(ValueError, match="interpreter"):
        sorted_prog.jacobian(pts, engine="compiled")


def test_clear_errors() -> None:
    g = Graph()
    x = g.input((4,))
    with pytest.raises(ValueError, match=r"unknown unary function .gamma.*lgamma"):
        g.unary("gamma", x)
    with pytest.raises(ValueError, match="unknown linear algebra function"):
        g.linalg("qr", [x], 1, 2, 2)
    with pytest.raises(ValueError, match="square"):
        g.det(Value(g, x.node, (2, 2, 1)))
    bad = [("input", (), {"index": 0, "len": 4}), ("sort", (0, 0), {"segment": 3})]
    with pytest.raises(ValueError, match="segment length 3 does not divide the length 4"):
        _core.Program(bad, [4], [], [1])
    bad = [
        ("input", (), {"index": 0, "len": 4}),
        ("linalg", (0,), {"fn": "det", "batch": 1, "m": 3, "n": 3, "k": 0}),
    ]
    with pytest.raises(ValueError, match=r"det of .* needs 9"):
        _core.Program(bad, [4], [], [1])
    bad = [("input", (), {"index": 0, "len": 4}), ("nope", (0,), {})]
    with pytest.raises(ValueError, match=r"unknown op .nope.*linalg"):
        _core.Program(bad, [4], [], [1])


def test_gpu_refuses_what_it_lacks() -> None:
    try:
        _core.gpu_adapter()
    except Exception:
        pytest.skip("no GPU adapter")
    g = Graph()
    x = g.input((2,))
    prog = program(g, g.unary("lgamma", x))
    with pytest.raises(ValueError, match="lgamma"):
        _core.GpuKernel(prog, "float32", None)
    prog = program(g, g.inv(Value(g, g.concat([x, x], (4,)).node, (2, 2))))
    with pytest.raises(ValueError, match="CPU engine"):
        _core.GpuKernel(prog, "float32", None)
