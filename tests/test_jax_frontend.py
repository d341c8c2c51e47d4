"""The JAX front end against JAX itself: values, Jacobians (``jax.jacfwd``) and Hessians
(``jax.hessian``) of functions written with jax.numpy, at ordinary and edge points, in
float64 and float32, through the engine directly and through ``DualBackend(frontend="jax")``.

Agreement means: where JAX's number is finite ours is close to it; where JAX's is infinite
ours is the same infinity; where JAX gives NaN ours is not checked (JAX's NaN is no
definition: reverse mode through an untaken ``where`` side, ``0 * inf``), except where the
engine's own convention is asserted separately below.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anydiff
from anydiff import _core
from anydiff.ir import TraceError, trace_jax

Fn = Callable[[Any], Any]


def _wide(f: Fn, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """JAX's value, Jacobian and Hessian (of the sum) in float64."""
    with jax.enable_x64(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xj = jnp.asarray(x, jnp.float64)
        v = np.asarray(f(xj))
        jac = np.asarray(jax.jacfwd(f)(xj))
        hess = np.asarray(jax.hessian(lambda z: jnp.sum(f(z)))(xj))
    return v, jac, hess


class _Traced:
    """``f`` traced by the JAX front end: its program and that of the sum of its output."""

    def __init__(self, f: Fn, x: np.ndarray) -> None:
        graph = trace_jax(f, [np.zeros(x.shape)], [True])
        out = graph.outputs[0]
        total = graph.reduce("sum", out, tuple(range(len(out.shape)))) if out.shape else out
        instructions = graph.instructions()
        self.program = _core.Program(instructions, [x.size], [], [out.node])
        self.total = _core.Program(instructions, [x.size], [], [total.node])
        self.shapes = (out.shape, x.shape)

    def __call__(self, x: np.ndarray, dtype: Any = np.float64) -> tuple[np.ndarray, ...]:
        """Value, Jacobian and Hessian of the sum at ``x`` in ``dtype``."""
        out_shape, in_shape = self.shapes
        pts = np.asarray(x, dtype).reshape(1, -1)
        values, jac = self.program.jacobian(pts, engine="interpreter")
        _, _, hess = self.total.hessian(pts)
        return (
            values[0].reshape(out_shape),
            jac[0].reshape((*out_shape, *in_shape)),
            hess[0].reshape((*in_shape, *in_shape)),
        )


def _engine(f: Fn, x: np.ndarray, dtype: Any = np.float64) -> tuple[np.ndarray, ...]:
    return _Traced(f, x)(x, dtype)


def agree(got: Any, want: Any, rtol: float = 1e-9, atol: float = 1e-11) -> bool:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return False
    finite = np.isfinite(want)
    infinite = np.isinf(want)
    close = np.isclose(got[finite], want[finite], rtol=rtol, atol=atol)
    return bool(np.all(close) and np.array_equal(got[infinite], want[infinite]))


def check(f: Fn, x: Any, *, hessian: bool = True, rtol: float = 1e-9, atol: float = 1e-11) -> None:
    x = np.asarray(x, np.float64)
    v, jac, hess = _wide(f, x)
    traced = _Traced(f, x)
    ev, ej, eh = traced(x)
    assert agree(ev, v, rtol, atol), (ev, v)
    assert agree(ej, jac, rtol, atol), (ej, jac)
    if hessian:
        assert agree(eh, hess, 10 * rtol, 10 * atol), (eh, hess)
    # float32 points: the float32 engine, to float32 accuracy
    fv, fj, _ = traced(x, np.float32)
    assert agree(fv, v, 2e-4, 1e-5), (fv, v)
    assert agree(fj, jac, 2e-3, 1e-4), (fj, jac)


X3 = np.array([0.3, -1.2, 2.0])
POS3 = np.array([0.4, 1.3, 2.5])
UNIT3 = np.array([-0.7, 0.2, 0.55])
M3 = np.array([[2.0, 0.5, 0.1], [0.3, 1.5, -0.2], [0.1, 0.4, 3.0]])
M4 = np.eye(4) * 2 + 0.1 * np.arange(16.0).reshape(4, 4)

ELEMENTWISE: dict[str, tuple[Fn, list[Any]]] = {
    "sin": (jnp.sin, [X3]),
    "tan": (jnp.tan, [X3]),
    "exp2": (jnp.exp2, [X3]),
    "expm1": (jnp.expm1, [X3, np.zeros(3)]),
    "log1p": (jnp.log1p, [POS3]),
    "log2": (jnp.log2, [POS3]),
    "cbrt": (jnp.cbrt, [X3]),
    "arcsinh": (jnp.arcsinh, [X3]),
    "arctanh": (jnp.arctanh, [UNIT3]),
    # (at 0 the second derivative is NaN here, -inf in JAX's forward over reverse)
    "sqrt": (jnp.sqrt, [POS3, np.array([1e-30, 1.0, 4.0])]),
    "abs": (jnp.abs, [X3]),
    "reciprocal": (jnp.reciprocal, [X3]),
    "square": (jnp.square, [X3]),
    "power": (lambda x: x[0] ** x[1], [np.array([1.5, 2.5]), np.array([0.0, 2.0])]),
    "power_const": (lambda x: jnp.power(2.5, x), [X3]),
    "arctan2": (lambda x: jnp.arctan2(x[0], x[1]), [np.array([0.3, -1.2])]),
    # at |x| == |y| JAX's Hessian is 0 (test_hypot_has_the_functions_derivatives)
    "hypot": (lambda x: jnp.hypot(x[0], x[1]), [np.array([0.3, -1.2]), np.array([0.0, 0.0])]),
    "maximum": (lambda x: jnp.maximum(x[:2], x[1:]), [X3, np.array([1.0, 1.0, 1.0])]),
    "max_plus_min": (
        lambda x: jnp.maximum(x[0], x[1]) + jnp.minimum(x[0], x[1]),
        [np.array([1.0, 1.0]), np.array([2.0, -1.0])],
    ),
    "fmod": (lambda x: jnp.fmod(x, 0.7), [X3]),
    "mod": (lambda x: jnp.mod(x, 0.7), [X3]),
    "floor_divide": (lambda x: jnp.floor_divide(x, 0.7) * x, [X3]),
    "round": (lambda x: jnp.round(x) * x, [X3]),
    "lax_round": (lambda x: jax.lax.round(x * 2.0) * x, [np.array([0.25, -1.25, 0.7])]),
    "clip": (lambda x: jnp.clip(x, -1.0, 1.0), [X3]),
    "clamp_tie": (lambda x: jax.lax.clamp(0.0, x, 1.0), [np.array([0.0, 1.0, 0.5])]),
    "sign": (lambda x: jnp.sign(x) * x**2, [X3]),
    "where": (lambda x: jnp.where(x > 0, jnp.log(x), x), [X3]),
    "where_nan_branch": (lambda x: jnp.where(x > 0, jnp.sqrt(x), 0.0), [X3]),
    "nan_to_num": (lambda x: jnp.nan_to_num(jnp.log(x)), [X3]),
    "isfinite": (lambda x: jnp.where(jnp.isfinite(jnp.log(x)), x, 0.0), [X3]),
    "sinc": (jnp.sinc, [X3, np.zeros(3)]),
    "logaddexp": (lambda x: jnp.logaddexp(x[0], x[1]), [np.array([1.0, 1.0]), X3[:2]]),
    "logaddexp2": (lambda x: jnp.logaddexp2(x[0], x[1]), [np.array([1.0, 1.0])]),
    "relu": (jax.nn.relu, [X3]),
    "softplus": (jax.nn.softplus, [X3, np.zeros(3)]),
    "gelu": (jax.nn.gelu, [X3]),
    "silu": (jax.nn.silu, [X3]),
    "elu": (jax.nn.elu, [X3]),
    "sigmoid": (jax.nn.sigmoid, [X3]),
    "logit": (jss.logit, [np.array([0.2, 0.5, 0.9])]),
    "xlogy": (lambda x: jss.xlogy(x, x + 1.0), [POS3, np.zeros(3)]),
    "xlog1py": (lambda x: jss.xlog1py(x, x), [POS3]),
    "entr": (jss.entr, [POS3]),
    "gammaln": (jss.gammaln, [POS3, np.array([-0.5, -1.5, 7.0])]),
    "digamma": (jss.digamma, [POS3, np.array([-0.5, -1.5, 7.0])]),
    "erf": (jss.erf, [X3]),
    "erfc": (jss.erfc, [X3, np.array([4.0, 6.0, -3.0])]),
    "erfinv": (jss.erfinv, [UNIT3]),
    "ndtr": (jss.ndtr, [X3]),
    "ndtri": (jss.ndtri, [np.array([0.1, 0.5, 0.95])]),
    "log_ndtr": (jss.log_ndtr, [X3, np.array([-10.0, 5.0, 0.0])]),
    "betaln": (lambda x: jss.betaln(x[:2], x[1:]), [POS3]),
    "deg2rad": (jnp.deg2rad, [X3]),
    "heaviside": (lambda x: jnp.heaviside(x, 0.5) * x, [X3]),
}

REDUCTIONS: dict[str, tuple[Fn, list[Any]]] = {
    "softmax": (jax.nn.softmax, [X3, np.zeros(3)]),
    "log_softmax": (jax.nn.log_softmax, [X3]),
    "logsumexp": (jss.logsumexp, [X3, np.array([-np.inf, 0.0, 1.0])]),
    "logsumexp_b": (lambda x: jss.logsumexp(x, b=jnp.array([1.0, 2.0, 0.5])), [X3]),
    "prod": (jnp.prod, [X3, np.array([0.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0])]),
    "cumprod": (jnp.cumprod, [X3, np.array([2.0, 0.0, 3.0])]),
    "cumsum": (jnp.cumsum, [X3]),
    "cummax": (jax.lax.cummax, [X3, np.array([1.0, 1.0, 1.0])]),
    "cummin": (lambda x: jax.lax.cummin(x, reverse=True), [X3, np.array([1.0, 1.0, 0.5])]),
    "cumlogsumexp": (jax.lax.cumlogsumexp, [X3]),
    "max": (jnp.max, [X3, np.array([3.0, 1.0, 3.0])]),
    "min": (jnp.min, [X3, np.array([1.0, 1.0, 1.0])]),
    "ptp": (jnp.ptp, [X3]),
    "var": (jnp.var, [X3]),
    "std": (lambda x: jnp.std(x, ddof=1), [X3]),
    "norm": (jnp.linalg.norm, [X3]),
    "mean_where": (lambda x: jnp.mean(x, where=x > 0), [X3]),
    "sort": (jnp.sort, [X3, np.array([2.0, 1.0, 2.0])]),
    "sort_desc": (lambda x: jnp.sort(x, descending=True), [X3]),
    "argsort_use": (lambda x: x * jnp.argsort(x), [X3]),
    "median": (jnp.median, [np.array([2.0, 1.0, 5.0, 0.3]), X3]),
    "percentile": (lambda x: jnp.percentile(x, 30.0), [np.array([2.0, 1.0, 5.0, 0.3])]),
    "partition": (lambda x: jnp.partition(x, 1), [X3]),
    "argmax_use": (lambda x: x * jnp.argmax(x), [X3]),
    "one_hot_argmax": (lambda x: x * jax.nn.one_hot(jnp.argmax(x), 3), [X3]),
    "top_k": (lambda x: jax.lax.top_k(x, 2)[0], [X3]),
    "diag": (lambda x: jnp.diag(x), [X3]),
    "trace_outer": (lambda x: jnp.trace(jnp.outer(x, x)), [X3]),
    "kron": (lambda x: jnp.kron(x, x), [X3]),
    "einsum": (lambda x: jnp.einsum("i,j->ij", x, x), [X3]),
    "cross": (lambda x: jnp.cross(x, x[::-1]), [X3]),
    "polyval": (lambda x: jnp.polyval(x, x), [X3]),
    "diff": (jnp.diff, [X3]),
    "empty_axes": (
        lambda x: (
            x
            + jnp.sum(x[:0].reshape(3, 0), axis=1)
            + jnp.prod(x[:0].reshape(0, 3), axis=1).sum()
            + jnp.cumsum(x[:0].reshape(2, 0), axis=1).sum()
        ),
        [X3],
    ),
    "linspace": (lambda x: jnp.linspace(x[0], x[1], 4), [X3]),
}

CONTROL: dict[str, tuple[Fn, list[Any]]] = {
    "fori_loop": (lambda x: jax.lax.fori_loop(0, 3, lambda i, c: c * x + i, x), [X3]),
    "scan": (lambda x: jax.lax.scan(lambda c, a: (c * a, c + a), 1.0, x)[1], [X3]),
    "scan_reverse": (
        lambda x: jax.lax.scan(lambda c, a: (c + a**2, c * a), 0.5, x, reverse=True)[1],
        [X3],
    ),
    "cond": (lambda x: jax.lax.cond(x[0] > 0, lambda: x**2, lambda: -x), [X3, -X3]),
    "switch": (
        lambda x: jax.lax.switch(jnp.argmax(x), [jnp.sin, jnp.cos, jnp.tanh], x),
        [X3, np.array([3.0, 0.0, 1.0])],
    ),
    "stop_gradient": (lambda x: x * jax.lax.stop_gradient(x), [X3]),
    "checkpoint": (jax.checkpoint(lambda x: jnp.sin(x) * x), [X3]),
    "jit_inside": (jax.jit(lambda x: jnp.tanh(x) @ x), [X3]),
}

LINALG: dict[str, tuple[Fn, list[Any]]] = {
    "det3": (jnp.linalg.det, [M3]),
    "det4": (jnp.linalg.det, [M4]),
    "det_batch": (jnp.linalg.det, [np.stack([M3, M3.T])]),
    "slogdet": (lambda a: jnp.linalg.slogdet(a)[1], [M4, -M3]),
    "inv": (jnp.linalg.inv, [M3]),
    "solve": (lambda a: jnp.linalg.solve(a, a[0]), [M3]),
    "solve_matrix": (lambda a: jnp.linalg.solve(a, a.T), [M4]),
    "cholesky": (lambda a: jnp.linalg.cholesky(a @ a.T), [M3]),
    "eigvalsh": (lambda a: jnp.linalg.eigvalsh(a + a.T), [M3]),
    "eigh_reconstruct": (
        lambda a: (lambda w, v: v @ jnp.diag(jnp.exp(w)) @ v.T)(*jnp.linalg.eigh(a + a.T)),
        [M3],
    ),
    "svdvals": (lambda a: jnp.linalg.svd(a, compute_uv=False), [M3, M3[:, :2]]),
    "svd_reconstruct": (
        lambda a: (lambda u, s, vt: (u * s**2) @ vt)(*jnp.linalg.svd(a, full_matrices=False)),
        [M3[:, :2], M3[:2]],
    ),
    "pinv": (jnp.linalg.pinv, [M3[:, :2], M3[:2]]),
    "norm2": (lambda a: jnp.linalg.norm(a, 2), [M3]),
    "nuclear": (lambda a: jnp.linalg.norm(a, "nuc"), [M3]),
    "solve_triangular": (lambda a: jax.scipy.linalg.solve_triangular(a, a[0], lower=True), [M3]),
    "solve_triangular_t": (
        lambda a: jax.scipy.linalg.solve_triangular(a, a, trans=1, unit_diagonal=True),
        [M3],
    ),
    "lu": (lambda a: jax.scipy.linalg.lu(a)[2], [M3]),
    "lu_factor": (lambda a: jax.scipy.linalg.lu_factor(a)[0], [M3]),
    "lstsq": (lambda a: jnp.linalg.lstsq(a, a[:, 0])[0], [M3]),
    "cho_solve": (
        lambda a: jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(a @ a.T), a[0]),
        [M3],
    ),
    "matrix_power": (lambda a: jnp.linalg.matrix_power(a, 3), [M3]),
}

CASES = {**ELEMENTWISE, **REDUCTIONS, **CONTROL, **LINALG}


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_jax(name: str) -> None:
    f, points = CASES[name]
    for x in points:
        check(f, x)


@pytest.mark.parametrize(
    "name", ["relu", "softplus", "logaddexp", "sinc", "max_plus_min", "prod", "det4", "pinv"]
)
def test_through_dual_backend(name: str) -> None:
    """The same through ``DualBackend(frontend="jax")``'s plans (with JAX's x64 on)."""
    f, points = CASES[name]
    b = anydiff.DualBackend(frontend="jax")
    with jax.enable_x64(True):
        for x in points:
            x = np.asarray(x, np.float64)
            _, jac, hess = _wide(f, x)
            assert agree(anydiff.jacobian(b, f, x), jac)
            assert agree(anydiff.hessian(b, lambda z: jnp.sum(f(z)), x), hess, 1e-8, 1e-10)
            g = anydiff.gradient(b, lambda z: jnp.sum(f(z)), x)
            assert agree(g, jac.reshape(-1, *x.shape).sum(axis=0))


def test_custom_rules_of_the_issue() -> None:
    """JAX's custom derivatives, honoured: the numbers issue #11 names."""
    b = anydiff.DualBackend(frontend="jax")
    with jax.enable_x64(True):
        g = anydiff.gradient(b, lambda x: jnp.logaddexp(x[0], x[1]), np.array([1.0, 1.0]))
        assert np.allclose(g, [0.5, 0.5])
        assert anydiff.derivative(b, jax.nn.softplus, 0.0) == pytest.approx(0.5)
        assert anydiff.derivative(b, jax.nn.relu, 0.0) == 0.0
        second = anydiff.second_derivative(b, jnp.sinc, 0.0)
        assert second == pytest.approx(-(math.pi**2) / 3, rel=1e-12)
        grad = anydiff.gradient(
            b, lambda x: jnp.maximum(x[0], x[1]) + jnp.minimum(x[0], x[1]), np.array([2.0, 2.0])
        )
        assert np.array_equal(grad, [1.0, 1.0])
        assert np.allclose(
            anydiff.gradient(b, lambda x: jnp.hypot(x[0], x[1]), np.array([1.0, 1.0])),
            [math.sqrt(0.5)] * 2,
        )


def test_engine_conventions_where_jax_gives_nan() -> None:
    """Where JAX's own modes disagree or give NaN, the engine's answer is the function's
    derivative, the same in every mode."""
    b = anydiff.DualBackend(frontend="jax")
    with jax.enable_x64(True):
        # x ** 0.0 at 0: JAX's jacfwd gives NaN, its jacrev 0; the constant 1 has derivative 0
        f = lambda x: x**0.0  # noqa: E731
        x = np.array([0.0, 2.0])
        assert np.array_equal(anydiff.jacobian(b, f, x), np.zeros((2, 2)))
        assert np.array_equal(anydiff.vjp(b, f, x, np.ones(2)), np.zeros(2))
        # d/dy 0 ** y = 0 (JAX and autograd)
        g = anydiff.gradient(b, lambda y: jnp.sum(jnp.power(0.0, y)), np.array([1.5, 2.0]))
        assert np.array_equal(g, [0.0, 0.0])
        # NaN on the untaken side of a where stays out of gradients and Hessians
        f = lambda x: jnp.sum(jnp.where(x > 0, jnp.sqrt(x), 0.0))  # noqa: E731
        x = np.array([-1.0, 0.0, 4.0])
        assert np.array_equal(anydiff.gradient(b, f, x), [0.0, 0.0, 0.25])
        h = anydiff.hessian(b, f, x)
        assert np.all(np.isfinite(h)) and h[2, 2] == pytest.approx(-1 / 32)
        # std over slices of one element is constantly 0: every derivative 0, in every mode
        # and order (JAX: NaN from sqrt at 0), as the numpy front end has it
        for f, x in (
            (jnp.std, np.array(3.5)),
            (lambda z: jnp.sum(jnp.std(z, axis=0)), np.array([[0.3, -1.2, 0.5]])),
            (lambda z: jnp.sum(jnp.std(z, axis=1, keepdims=True) ** 2), np.ones((3, 1))),
        ):
            assert np.array_equal(anydiff.gradient(b, f, x), np.zeros_like(x))
            assert np.array_equal(anydiff.hessian(b, f, x), np.zeros(x.shape * 2))
            assert np.array_equal(anydiff.jacobian(b, f, x), np.zeros_like(x))
        # more than one element per slice: JAX's std, derivatives included
        f = lambda z: jnp.sum(jnp.std(z, axis=0))  # noqa: E731
        x = np.array([[0.3, -1.2], [0.5, 2.0]])
        assert agree(anydiff.hessian(b, f, x), jax.hessian(f)(x))
        assert agree(anydiff.gradient(b, f, x), jax.grad(f)(x))


def test_hypot_has_the_functions_derivatives() -> None:
    """``jnp.hypot`` goes through ``max``/``min`` of ``|x|``, ``|y|``, so JAX's Hessian is 0
    wherever ``|x| == |y|``; the front end gives the function's own (``[[y^2, -xy], [-xy,
    x^2]] / r^3``), also near overflow, and JAX's derivative where both are zero."""
    b = anydiff.DualBackend(frontend="jax")
    f = lambda x: jnp.hypot(x[0], x[1])  # noqa: E731
    for x in ([1.0, 1.0], [-2.0, 2.0], [3.0, -4.0], [1e200, 1e200], [2e-200, -3e-200]):
        x = np.array(x)
        r = math.hypot(*x)
        c = x / r
        assert np.allclose(anydiff.gradient(b, f, x), c, rtol=1e-14, atol=0)
        h = anydiff.hessian(b, f, x) * r
        want = np.array([[c[1] ** 2, -c[0] * c[1]], [-c[0] * c[1], c[0] ** 2]])
        assert np.allclose(h, want, rtol=1e-13, atol=1e-15), (x, h, want)
    x = np.zeros(2)
    assert np.array_equal(anydiff.gradient(b, f, x), [0.5, 0.5])  # JAX's
    assert np.array_equal(anydiff.hessian(b, f, x), np.zeros((2, 2)))
    assert np.array_equal(
        anydiff.jacobian(b, lambda x: jnp.hypot(x, 2.0 * x), x), np.eye(2) * 0.5 * 3
    )


def test_float64_tracing_with_jax_x64_off() -> None:
    """JAX's default (x64 off) would trace float64 inputs in float32; the front end
    traces in float64 whatever the flag says."""
    x = np.array([0.1, 1.7, 3.3])
    with jax.enable_x64(False):
        graph = trace_jax(lambda z: jnp.exp(z) / 3.0 + jnp.sin(z) * 0.1, [np.zeros(3)], [True])
    prog = _core.Program(graph.instructions(), [3], [], [graph.outputs[0].node])
    want = np.exp(x) / 3.0 + np.sin(x) * 0.1
    assert np.allclose(prog.eval(x[None])[0], want, rtol=1e-15, atol=0)
    _, jac = prog.jacobian(x[None])
    assert np.allclose(np.diag(jac[0]), np.exp(x) / 3.0 + np.cos(x) * 0.1, rtol=1e-15)


def test_custom_vjp_functions() -> None:
    @jax.custom_vjp
    def f(x: Any, y: Any) -> Any:
        return jnp.sin(x) * y

    f.defvjp(lambda x, y: (f(x, y), (jnp.cos(x), y)), lambda r, g: (r[0] * g * r[1], None))
    b = anydiff.DualBackend(frontend="jax")
    x = np.array([0.3, -1.2, 2.0])
    with jax.enable_x64(True):
        want = np.asarray(jax.jacrev(lambda z: f(z, 2.5))(jnp.asarray(x)))
        assert np.allclose(anydiff.jacobian(b, lambda z: f(z, 2.5), x), want)
        h = anydiff.hessian(b, lambda z: jnp.sum(f(z, 2.5)), x)
        assert np.allclose(h, np.diag(-2.5 * np.sin(x)))


@pytest.mark.parametrize(
    ("f", "message"),
    [
        (lambda x: jnp.nextafter(x, 2.0), "unsupported JAX primitive 'nextafter'"),
        (
            lambda x: jax.lax.while_loop(lambda v: v[0] < 10.0, lambda v: v * 2.0, x),
            "loop condition depends on the input",
        ),
        (lambda x: x[jnp.argmax(x)], "data-dependent"),
        (lambda x: jnp.bitwise_and(jnp.argmax(x), 1) * x, "bitwise"),
        (lambda x: jnp.linalg.svd(jnp.outer(x, x[:2]))[0], "full_matrices=False"),
        (lambda x: jax.lax.linalg.eigh(jnp.outer(x, x), subset_by_index=(0, 1))[0], "eigh"),
        (jss.gamma, "bitcast_convert_type"),
        (lambda x: x if x[0] > 0 else -x, "needs a concrete one"),
    ],
)
def test_refusals_are_clear(f: Fn, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        trace_jax(f, [np.zeros(3)], [True])


@pytest.mark.parametrize("name", ["relu", "logaddexp", "sort", "cummax", "det3"])
def test_value_in_refusal_free_float32(name: str) -> None:
    """float32 inputs through DualBackend give float32 results close to JAX's."""
    f, points = CASES[name]
    x = np.asarray(points[0], np.float32)
    jac = anydiff.jacobian(anydiff.DualBackend(frontend="jax"), f, x)
    assert jac.dtype == np.float32
    assert agree(jac, _wide(f, x.astype(np.float64))[1], 1e-4, 1e-5)


# --- random programs --------------------------------------------------------------------

_UNARY_OPS: list[Fn] = [
    jnp.sin, jnp.cos, jnp.tanh, jnp.arctan, jax.nn.sigmoid, jax.nn.softplus, jnp.square,
    lambda z: jnp.exp(-(z**2)), lambda z: z / (1.0 + z**2), jnp.abs, jax.nn.relu,
    lambda z: jnp.log1p(z**2), jss.erf,
]  # fmt: skip
_BINARY_OPS: list[Callable[[Any, Any], Any]] = [
    jnp.add, jnp.subtract, jnp.multiply, jnp.maximum, jnp.minimum,
    lambda a, b: a / (1.0 + b**2), jnp.logaddexp,
    lambda a, b: jnp.hypot(a, b + 0.1234567),  # no tie |a| == |b| (see the hypot test)
]  # fmt: skip


def _program(ops: list[tuple[int, int, int, int]]) -> Fn:
    """A function of x (3) built from ``(kind, op, i, j)`` steps on a growing list."""

    def f(x: Any) -> Any:
        vals = [x[0], x[1], x[2], jnp.sum(x * x)]
        for kind, op, i, j in ops:
            a, c = vals[i % len(vals)], vals[j % len(vals)]
            if kind == 0:
                vals.append(_UNARY_OPS[op % len(_UNARY_OPS)](a))
            else:
                vals.append(_BINARY_OPS[op % len(_BINARY_OPS)](a, c))
        return jnp.stack(vals[-2:])

    return f


@settings(max_examples=20, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 20), st.integers(0, 30), st.integers(0, 30)),
        min_size=1,
        max_size=8,
    ),
    # six digits: the same point in float32 (no value that underflows there)
    x=st.lists(st.floats(-2.0, 2.0).map(lambda v: round(v, 6)), min_size=3, max_size=3),
)
def test_random_programs_agree_with_jax(
    ops: list[tuple[int, int, int, int]], x: list[float]
) -> None:
    f = _program(ops)
    check(f, np.array(x), rtol=1e-8, atol=1e-10)


def test_eigenvector_signs_are_refused_unless_f_is_sign_invariant() -> None:
    """JAX's eigh/svd vectors carry LAPACK's signs, the engine's its own: f depending on
    them is refused at preparation, also where the signs happen to agree there; a
    sign-invariant f (or one that gives the vectors the engine's signs) matches JAX."""

    def engine_signs(v: np.ndarray) -> bool:
        return bool(np.all(np.take_along_axis(v, np.abs(v).argmax(0)[None], 0) > 0))

    rng = np.random.default_rng(3)
    mats = [m + m.T for m in rng.standard_normal((40, 3, 3))]
    with jax.enable_x64(True):
        vecs = [np.asarray(jnp.linalg.eigh(a)[1]) for a in mats]
        same = next(a for a, v in zip(mats, vecs) if engine_signs(v))
        other = next(a for a, v in zip(mats, vecs) if not engine_signs(v))
        b = anydiff.DualBackend(frontend="jax")
        for a in (same, other):
            with pytest.raises(TraceError, match="sign"):
                anydiff.jacobian(b, lambda a: jnp.linalg.eigh(a)[1][:, 0], a)
            with pytest.raises(TraceError, match="sign"):
                anydiff.jacobian(
                    b, lambda a: jnp.sum(jnp.linalg.svd(a, full_matrices=False)[2], axis=1), a[:2]
                )

        def signed(a: Any) -> Any:
            v = jnp.linalg.eigh(a)[1]
            return v * jnp.where(jnp.max(v, axis=-2) >= -jnp.min(v, axis=-2), 1.0, -1.0)

        for f in (signed, lambda a: jnp.linalg.eigh(a)[1] ** 2):
            for a in (same, other):
                value, J = anydiff.value_and_jacobian(b, f, a)
                assert agree(value, f(a)) and agree(J, jax.jacfwd(f)(a), 1e-8, 1e-10)
