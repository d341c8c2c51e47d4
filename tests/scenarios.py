"""Test scenarios in the style of DifferentiationInterfaceTest: a function written once for
numpy, JAX and torch (through ``conftest.ns``), two points, and closed-form derivatives.

Closed forms take the full argument list (Constants unwrapped) as numpy arrays and return
the Jacobian in the API's structure: one array of shape ``out_shape + in_shape``, a tuple
per input when several inputs are differentiated, a tuple per output when f returns several.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import anydiff
from conftest import ns


@dataclass
class Scenario:
    name: str
    f: Callable[..., Any]
    args: tuple
    args2: tuple
    jac: Callable[..., Any]
    hess: Optional[Callable[..., Any]] = None  # scalar output, one input
    d2: Optional[Callable[..., Any]] = None  # scalar input: second derivative, out_shape
    diff_positions: tuple = field(init=False)

    def __post_init__(self) -> None:
        self.diff_positions = tuple(
            i for i, a in enumerate(self.args) if not isinstance(a, anydiff.Constant)
        )

    def __repr__(self) -> str:
        return self.name

    @staticmethod
    def unwrap(args: tuple) -> tuple:
        return tuple(a.value if isinstance(a, anydiff.Constant) else a for a in args)

    def value(self, args: tuple) -> Any:
        return self.f(*self.unwrap(args))

    @property
    def n_inputs(self) -> int:
        return len(self.diff_positions)

    @property
    def multi_out(self) -> bool:
        return isinstance(self.value(self.args), tuple)

    @property
    def out_shapes(self) -> list:
        v = self.value(self.args)
        return [np.shape(o) for o in (v if isinstance(v, tuple) else (v,))]

    @property
    def in_shapes(self) -> list:
        return [np.shape(self.args[i]) for i in self.diff_positions]

    @property
    def scalar_input(self) -> bool:
        return self.n_inputs == 1 and self.in_shapes[0] == ()

    @property
    def scalar_output(self) -> bool:
        return not self.multi_out and self.out_shapes[0] == ()

    # --- closed-form products from the closed-form Jacobian --------------------------------

    def block(self, jac: Any, o: int, i: int) -> np.ndarray:
        row = jac[o] if self.multi_out else jac
        return np.asarray(row[i] if self.n_inputs > 1 else row)

    def jvp(self, args: tuple, v: Any) -> Any:
        jac = self.jac(*self.unwrap(args))
        vs = v if self.n_inputs > 1 else (v,)
        outs = []
        for o in range(len(self.out_shapes)):
            outs.append(
                sum(
                    np.tensordot(self.block(jac, o, i), np.asarray(t), np.ndim(t))
                    for i, t in enumerate(vs)
                )
            )
        return tuple(outs) if self.multi_out else outs[0]

    def vjp(self, args: tuple, w: Any) -> Any:
        jac = self.jac(*self.unwrap(args))
        ws = w if self.multi_out else (w,)
        ins = []
        for i in range(self.n_inputs):
            ins.append(
                sum(
                    np.tensordot(np.asarray(c), self.block(jac, o, i), np.ndim(c))
                    for o, c in enumerate(ws)
                )
            )
        return tuple(ins) if self.n_inputs > 1 else ins[0]

    def hvp(self, args: tuple, v: Any) -> Any:
        h = self.hess(*self.unwrap(args))
        return np.tensordot(h, v, np.ndim(v))

    def tangent(self, seed: int = 0) -> Any:
        rng = np.random.default_rng(seed)
        vs = tuple(rng.standard_normal(s) for s in self.in_shapes)
        return vs if self.n_inputs > 1 else vs[0]

    def cotangent(self, seed: int = 1) -> Any:
        rng = np.random.default_rng(seed)
        ws = tuple(rng.standard_normal(s) for s in self.out_shapes)
        return ws if self.multi_out else ws[0]

    # --- callbacks for CallbackBackend, closing over the constants --------------------------

    def _full(self, xs: Any) -> tuple:
        xs = xs if self.n_inputs > 1 else (xs,)
        full = list(self.unwrap(self.args))
        for i, x in zip(self.diff_positions, xs):
            full[i] = x
        return tuple(full)

    def callback_jacobian(self, xs: Any) -> Any:
        return self.jac(*self._full(xs))

    def callback_jvp(self, xs: Any, v: Any) -> Any:
        return self.jvp(self._full(xs), v)

    def callback_vjp(self, xs: Any, w: Any) -> Any:
        return self.vjp(self._full(xs), w)


# --- the functions -----------------------------------------------------------------------

A = np.array([[0.5, -1.0, 0.3], [1.2, 0.1, -0.7], [-0.4, 0.8, 0.2], [0.9, -0.6, 1.1]])
W = np.array([[1.0, -2.0, 0.5], [0.3, 1.5, -0.8]])


def f_scalar_scalar(x):
    N = ns(x)
    return N.sin(x) * N.exp(x)


def f_scalar_vector(x):
    N = ns(x)
    return N.stack([N.sin(x), x * x, N.exp(2 * x)])


def f_scalar_matrix(x):
    N = ns(x)
    return N.reshape(N.stack([x, x * x, x**3, N.sin(x), N.cos(x), N.exp(-x)]), (2, 3))


def f_vector_scalar(x):
    N = ns(x)
    return N.sum(N.sin(x) * x) + N.sum(x * x) ** 2


def f_matrix_scalar(x):
    N = ns(x)
    return N.sum(N.tanh(x) * N.const(W, x)) + N.sum(x) ** 2


def f_vector_vector(x):
    N = ns(x)
    return N.tanh(N.const(A, x) @ x)


def f_vector_matrix(x):
    N = ns(x)
    return x[:, None] * N.sin(x[:2])[None, :]


def f_matrix_matrix(x):
    N = ns(x)
    return N.exp(x) @ x.T


def f_two_vector(x, y):
    N = ns(x)
    return N.sin(x) * y + x * x


def f_two_scalar(x, y):
    N = ns(x)
    return N.sum(N.sin(x) * y) + N.sum(y * y * y)


def f_constant(x, p):
    N = ns(x)
    return N.sum(N.const(p, x) * N.exp(x))


def f_constant_first(c, x):
    N = ns(x)
    return c * N.sin(x)


def f_tuple_out(x):
    N = ns(x)
    return N.sum(x * x), N.sin(x)


# --- closed forms --------------------------------------------------------------------------


def _j_vector_scalar(x):
    return np.cos(x) * x + np.sin(x) + 4 * np.sum(x * x) * x


def _h_vector_scalar(x):
    s = np.sum(x * x)
    return np.diag(2 * np.cos(x) - x * np.sin(x)) + 4 * s * np.eye(len(x)) + 8 * np.outer(x, x)


def _j_matrix_scalar(x):
    return W * (1 - np.tanh(x) ** 2) + 2 * np.sum(x)


def _h_matrix_scalar(x):
    t = np.tanh(x).reshape(-1)
    h = np.diag(W.reshape(-1) * -2 * t * (1 - t * t)) + 2 * np.ones((6, 6))
    return h.reshape(2, 3, 2, 3)


def _j_vector_vector(x):
    return (1 - np.tanh(A @ x) ** 2)[:, None] * A


def _j_vector_matrix(x):
    j = np.zeros((3, 2, 3))
    for i in range(3):
        for k in range(2):
            j[i, k, i] += np.sin(x[k])
            j[i, k, k] += x[i] * np.cos(x[k])
    return j


def _j_matrix_matrix(x):
    e = np.exp(x)
    j = np.zeros((2, 2, 2, 3))
    for i in range(2):
        for jj in range(2):
            for k in range(2):
                for l in range(3):  # noqa: E741
                    j[i, jj, k, l] = (i == k) * e[k, l] * x[jj, l] + e[i, l] * (jj == k)
    return j


def _j_two_vector(x, y):
    return np.diag(np.cos(x) * y + 2 * x), np.diag(np.sin(x))


def _j_two_scalar(x, y):
    return np.cos(x) * np.sum(y, axis=0), np.sin(x)[None, :] + 3 * y * y


X2 = np.array([[0.3, -0.5, 0.8], [-0.2, 0.6, 0.1]])
X2b = np.array([[-0.7, 0.2, 0.4], [0.5, -0.3, 0.9]])
V3 = np.array([0.4, -0.9, 0.6])
V3b = np.array([-0.3, 0.7, 0.2])
P = np.array([0.5, 2.0, -1.5])

SCENARIOS = [
    Scenario(
        "scalar->scalar",
        f_scalar_scalar,
        (np.array(0.7),),
        (np.array(-0.4),),
        jac=lambda x: np.exp(x) * (np.sin(x) + np.cos(x)),
        hess=lambda x: 2 * np.exp(x) * np.cos(x),
        d2=lambda x: 2 * np.exp(x) * np.cos(x),
    ),
    Scenario(
        "scalar->vector",
        f_scalar_vector,
        (np.array(0.7),),
        (np.array(-0.4),),
        jac=lambda x: np.array([np.cos(x), 2 * x, 2 * np.exp(2 * x)]),
        d2=lambda x: np.array([-np.sin(x), 2.0, 4 * np.exp(2 * x)]),
    ),
    Scenario(
        "scalar->matrix",
        f_scalar_matrix,
        (np.array(0.7),),
        (np.array(-0.4),),
        jac=lambda x: np.array([1.0, 2 * x, 3 * x * x, np.cos(x), -np.sin(x), -np.exp(-x)]).reshape(
            2, 3
        ),
        d2=lambda x: np.array([0.0, 2.0, 6 * x, -np.sin(x), -np.cos(x), np.exp(-x)]).reshape(2, 3),
    ),
    Scenario(
        "vector->scalar",
        f_vector_scalar,
        (np.array([0.4, -0.9, 0.6, 0.1]),),
        (np.array([-0.3, 0.7, 0.2, -0.5]),),
        jac=_j_vector_scalar,
        hess=_h_vector_scalar,
    ),
    Scenario(
        "matrix->scalar",
        f_matrix_scalar,
        (X2,),
        (X2b,),
        jac=_j_matrix_scalar,
        hess=_h_matrix_scalar,
    ),
    Scenario("vector->vector", f_vector_vector, (V3,), (V3b,), jac=_j_vector_vector),
    Scenario("vector->matrix", f_vector_matrix, (V3,), (V3b,), jac=_j_vector_matrix),
    Scenario("matrix->matrix", f_matrix_matrix, (X2,), (X2b,), jac=_j_matrix_matrix),
    Scenario("two-inputs->vector", f_two_vector, (V3, -V3b), (V3b, V3), jac=_j_two_vector),
    Scenario("two-inputs->scalar", f_two_scalar, (V3, X2), (V3b, X2b), jac=_j_two_scalar),
    Scenario(
        "constant",
        f_constant,
        (V3, anydiff.Constant(P)),
        (V3b, anydiff.Constant(P)),
        jac=lambda x, p: p * np.exp(x),
        hess=lambda x, p: np.diag(p * np.exp(x)),
    ),
    Scenario(
        "constant-first",
        f_constant_first,
        (anydiff.Constant(2.5), V3),
        (anydiff.Constant(2.5), V3b),
        jac=lambda c, x: np.diag(c * np.cos(x)),
    ),
    Scenario(
        "vector->tuple", f_tuple_out, (V3,), (V3b,), jac=lambda x: (2 * x, np.diag(np.cos(x)))
    ),
]
