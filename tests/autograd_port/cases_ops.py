"""autograd's tests/test_scalar_ops.py, test_binary_ops.py, test_truediv.py, and the
derivative checks of test_graphs.py, test_jacobian.py and test_logic.py that need no
nested ``grad`` (a nested derivative inside f is autograd's API, not numpy code)."""

# ruff: noqa: E731 (autograd's tests name their functions as lambdas; kept for the port)
from __future__ import annotations

import itertools
import operator

import numpy
from harness import Case, check, rng_for


def cases() -> list[Case]:
    out: list[Case] = []

    def add(name: str, fun, *args, **opts) -> None:
        k = sum(c.name.startswith(f"{name}[") for c in out)
        out.append(check(f"{name}[{k}]", fun, *args, **opts))

    # --- test_scalar_ops -------------------------------------------------------------------
    f = "test_scalar_ops"
    rng = rng_for(f)
    randn = lambda: float(rng.standard_normal())
    rand = lambda: float(rng.random())
    for name in ("abs", "absolute"):
        fun = lambda np, x, name=name: 3.0 * getattr(np, name)(x)
        add(f"{f}.test_{name}", fun, 1.1)
        add(f"{f}.test_{name}", fun, -1.1)
        add(f"{f}.test_{name}", fun, 0.0, order=1)
    add(f"{f}.test_sign", lambda np, x: 3.0 * np.sign(x), 1.1)
    add(f"{f}.test_sign", lambda np, x: 3.0 * np.sign(x), -1.1)
    points = {
        "sin": randn(), "exp": randn(), "log": abs(randn()), "log2": abs(randn()),
        "log10": abs(randn()), "log1p": abs(randn()), "expm1": abs(randn()),
        "exp2": abs(randn()), "cos": randn(), "tan": randn(), "cosh": randn(),
        "sinh": randn(), "tanh": randn(), "arccos": 0.1, "arcsin": 0.1, "arctan": 0.2,
        "arccosh": randn() ** 2 + 1.2, "arcsinh": randn(), "arctanh": 0.2,
        "sqrt": 10.0 * rand(), "rad2deg": 10.0 * rand(), "deg2rad": 10.0 * rand(),
        "radians": 10.0 * rand(), "degrees": 10.0 * rand(), "sinc": 10.0 * rand(),
    }  # fmt: skip
    for name, x in points.items():
        add(f"{f}.test_{name}", lambda np, x, name=name: 3.0 * getattr(np, name)(x), x)
    add(f"{f}.test_neg", lambda np, x: 3.0 * -x, randn())
    y = randn() ** 2 + 1.0
    add(f"{f}.test_power_arg0", lambda np, x: np.power(x, y), rand() ** 2 + 1.0)
    # d/dx x**0 = 0 (autograd asserts it); JAX's rule gives 0 * 0**-1 = NaN at x = 0
    add(
        f"{f}.test_power_arg0",
        lambda np, x: np.power(x, 0.0),
        0.0,
        truth=lambda np, x: x * 0.0 + 1.0,
    )
    x0 = randn() ** 2
    add(f"{f}.test_power_arg1", lambda np, y: np.power(x0, y), rand() ** 2)
    add(f"{f}.test_power_arg1_zero", lambda np, y: np.power(0.0, y), rand() ** 2)
    for name in ("mod", "divide", "multiply", "true_divide"):
        fun = lambda np, x, y, name=name: getattr(np, name)(x, y)
        add(f"{f}.test_{name}_arg0", fun, rand(), rand())
        add(f"{f}.test_{name}_arg1", fun, rand(), rand(), argnums=1)
    add(f"{f}.test_reciprocal", lambda np, x: np.reciprocal(x), rand())
    add(f"{f}.test_negative", lambda np, x: np.negative(x), rand())

    # --- test_binary_ops and test_truediv ---------------------------------------------------
    f = "test_binary_ops"
    rs = numpy.random.RandomState(0)
    allargs = [2.0, rs.randn(4), rs.randn(3, 4), rs.randn(1, 4)]
    pairs = list(itertools.product(allargs, allargs))
    gap = lambda a: numpy.sqrt(numpy.asarray(a) ** 2 + 0.5)
    for a, b in pairs:
        add(f"{f}.test_mul", lambda np, x, y: x * y, a, b)
        add(f"{f}.test_add", lambda np, x, y: x + y, a, b)
        add(f"{f}.test_sub", lambda np, x, y: x - y, a, b)
        add(f"{f}.test_div", lambda np, x, y: x / y, gap(a), gap(b))
        if a is not b:
            add(f"{f}.test_mod", lambda np, x, y: x % y, gap(a), gap(b))
        add(f"{f}.test_pow", lambda np, x, y: x**y, numpy.abs(a) + 1.1, b)
        add(f"{f}.test_arctan2", lambda np, x, y: np.arctan2(x, y), a, b)
        # JAX's hypot goes through max/min of |x|, |y|: its second derivative is 0 where
        # x == y (true: y^2 / r^3); the closed form is the reference
        add(
            f"{f}.test_hypot",
            lambda np, x, y: np.hypot(x, y),
            a,
            b,
            truth=lambda np, x, y: np.sqrt(x * x + y * y),
        )
        add("test_truediv.test_div", lambda np, x, y: x / y, gap(a), gap(b))
    compare = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]
    for a, b in pairs:
        for i, cmp in enumerate(compare):
            lhs = (lambda x, y: x) if i == 0 else (lambda x, y: y)  # autograd compares x < x first
            fun = lambda np, x, y, cmp=cmp, lhs=lhs: np.sum(cmp(x, lhs(x, y))) + 0.0
            add(f"{f}.test_comparison_grads", fun, a, b, argnums=(0, 1))

    # --- test_graphs (the checks without a nested grad) -------------------------------------
    f = "test_graphs"
    rng = rng_for(f)
    R = lambda *shape: rng.standard_normal(shape)
    add(f"{f}.test_grad_fanout", lambda np, x: np.sin(np.sin(x) + np.sin(x)), float(R()))
    add(f"{f}.test_grad_const", lambda np, x: 1.0, 2.0)
    add(f"{f}.test_grad_identity", lambda np, x: x, 2.0)
    randv = R(10)
    add(f"{f}.test_hess_vector_prod", lambda np, x: np.sin(np.dot(x, randv)), R(10))
    add(f"{f}.test_mutating_outgrad", lambda np, a: _outgrad(a), R(5))
    add(f"{f}.test_mutating_outgrad_from_indexing", lambda np, a: _outgrad_index(a), R(5))
    add(f"{f}.test_third_derivative", lambda np, x: np.sin(np.sin(x) + np.sin(x)), float(R()))
    two = lambda np, x, y: np.sin(np.sin(x) + np.sin(y))
    add(f"{f}.test_third_derivative_other_args", two, float(R()), float(R()))
    add(f"{f}.test_third_derivative_other_args2", two, float(R()), float(R()), argnums=1)
    singles = [
        ("test_singleton_array_output", lambda np, x: np.sum(np.sin(x), keepdims=True), (3, 3)),
        ("test_singleton_array_output_axis0", lambda np, x: np.sum(np.sin(x), axis=0), (3, 1)),
        ("test_singleton_array_output_axis1", lambda np, x: np.sum(np.sin(x), axis=1), (1, 3)),
        (
            "test_singleton_array_output_axis0_keepdims",
            lambda np, x: np.sum(np.sin(x), axis=0, keepdims=True),
            (3, 1),
        ),
        (
            "test_singleton_array_output_axis1_keepdims",
            lambda np, x: np.sum(np.sin(x), axis=1, keepdims=True),
            (1, 3),
        ),
    ]
    for name, fun, shape in singles:
        add(f"{f}.{name}", fun, R(*shape))

    # --- test_jacobian ----------------------------------------------------------------------
    f = "test_jacobian"
    add(
        f"{f}.test_jacobian_against_grad",
        lambda np, x: np.sum(np.sin(x), axis=1, keepdims=True),
        R(1, 3),
    )
    add(f"{f}.test_jacobian_scalar_to_vector", lambda np, x: np.array([x, x**2, x**3]), float(R()))
    stacked = lambda np, x: np.array([np.sum(x**3), np.prod(np.sin(x) + np.sin(x))])
    add(f"{f}.test_jacobian_against_stacked_grads", stacked, R(5))
    add(
        f"{f}.test_jacobian_higher_order",
        lambda np, x: np.sin(np.outer(x, x)) + np.cos(np.dot(x, x)),
        R(2),
    )

    # --- test_logic: an assertion on the values inside f (data-dependent) -------------------
    add(
        "test_logic.test_assert",
        lambda np, x: _assert_close(np, x),
        numpy.array([1.0, 2.0, 3.0]),
    )
    return out


def _outgrad(a):
    b = a + 1.0
    c = b + 1.5
    d = a + b
    return d + c


def _outgrad_index(a):
    b = a + 1.0
    c = b[0] + 1.5
    d = a + b
    return d + c


def _assert_close(np, x):
    assert np.allclose(x, (x * 3.0) / 3.0)
    return np.sum(x)
