"""Differential scenarios for the numpy front end: each is a function written against a
numpy-like namespace (``fun(np, *args)``), its argument shapes, a domain for random
points and edge points (zeros, ties, infinities, NaN in a ``where`` branch not taken).
tests/test_numpy_frontend.py runs them through ``DualBackend()`` on plain numpy code and
compares value, Jacobian and Hessian with JAX on the same function in jax.numpy.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy
import scipy.sparse

__all__ = ["SCENARIOS", "Scenario"]

INF, NAN = math.inf, math.nan


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    fun: Callable[..., Any]
    shapes: tuple = ((4,),)
    domain: tuple[float, float] = (-2.0, 2.0)
    edges: tuple = ()
    """Extra points: one tuple of arrays (or numbers) per point."""
    ref: Optional[Callable[..., Any]] = None
    """The jax.numpy spelling, where it differs."""
    float32: bool = True
    """Whether the float32 check applies (f keeps float32 when its inputs are)."""
    rtol: float = 1e-7


def _v(*values: float) -> numpy.ndarray:
    return numpy.array(values, dtype=numpy.float64)


ZERO = (_v(0.0, 0.0, 0.0, 0.0),)
TIES = (_v(1.0, 1.0, -0.5, -0.5),)
INFS = (_v(INF, -INF, 1.0, 0.0),)
MIXED = (_v(0.0, -1.5, 1.5, 0.0),)

_M = numpy.array([[1.0, -2.0, 0.5, 0.0], [0.3, 0.7, -1.1, 2.0], [1.5, 0.0, 0.2, -0.4]])


def _unary(
    name: str, domain: tuple[float, float] = (-2.0, 2.0), edges: tuple = (ZERO, TIES), **kw: Any
) -> Scenario:
    return Scenario(
        name, lambda np, x, n=name: getattr(np, n)(x) * 1.0, domain=domain, edges=edges, **kw
    )


def _binary(
    name: str, domain: tuple[float, float] = (-2.0, 2.0), edges: tuple = (), **kw: Any
) -> Scenario:
    return Scenario(
        name,
        lambda np, x, y, n=name: getattr(np, n)(x, y),
        shapes=((4,), (4,)),
        domain=domain,
        edges=edges,
        **kw,
    )


SAME = (_v(1.0, -1.0, 0.5, 2.0), _v(1.0, -1.0, 0.5, 2.0))
POSITIVE_SAME = (_v(1.0, 0.25, 0.5, 2.0), _v(1.0, 0.25, 0.5, 2.0))


def _nan_ignoring(jnp: Any, pick: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """fmax/fmin with autograd's tie convention (1/2 to each side, as np.maximum), where
    JAX's jnp.fmax gives the whole derivative to the second operand."""
    return lambda x, y: jnp.where(jnp.isnan(y), x, jnp.where(jnp.isnan(x), y, pick(x, y)))


ZEROS2 = (_v(0.0, 0.0, 1.0, -1.0), _v(0.0, 1.0, 0.0, 0.0))

_SPARSE = scipy.sparse.csr_matrix(
    numpy.array([[1.0, 0.0, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [0.5, 3.0, 0.0, 1.0]])
)

SCENARIOS: list[Scenario] = [
    # --- elementwise ----------------------------------------------------------------------
    *[
        _unary(n)
        for n in (
            "sin",
            "cos",
            "tanh",
            "arctan",
            "sinh",
            "cosh",
            "exp",
            "expm1",
            "exp2",
            "negative",
            "square",
            "arcsinh",
            "positive",
            "conjugate",
            "conj",
            "real",
            "deg2rad",
            "rad2deg",
            "radians",
            "degrees",
            "fabs",
            "absolute",
            "abs",
            "sign",
            "floor",
            "ceil",
            "rint",
            "trunc",
            "sinc",
        )
    ],
    # cbrt'' is infinite at 0 with no sign: no edge at 0
    _unary("cbrt", edges=(TIES,)),
    _unary("fix", ref=lambda np, x: np.trunc(x) * 1.0),
    _unary("tan", (-1.2, 1.2)),
    _unary("log", (0.1, 3.0), edges=((_v(1.0, 1.0, 2.0, 0.5),),)),
    _unary("log1p", (-0.5, 3.0)),
    _unary("log2", (0.1, 3.0), edges=()),
    _unary("log10", (0.1, 3.0), edges=()),
    _unary("sqrt", (0.1, 3.0), edges=()),
    _unary("reciprocal", (0.5, 3.0), edges=()),
    _unary("arcsin", (-0.9, 0.9), edges=(ZERO,)),
    _unary("arccos", (-0.9, 0.9), edges=()),
    _unary("arctanh", (-0.9, 0.9), edges=(ZERO,)),
    _unary("arccosh", (1.1, 3.0), edges=()),
    Scenario("imag", lambda np, x: np.imag(x) + x),
    Scenario("angle", lambda np, x: np.angle(x) + x, edges=((_v(-1.0, -1.5, 1.5, 2.0),),)),
    Scenario("nan_to_num", lambda np, x: np.nan_to_num(x * 2.0), edges=(INFS,)),
    Scenario(
        "nan_to_num_args",
        lambda np, x: np.nan_to_num(np.log(x), nan=1.0, posinf=5.0, neginf=-5.0),
        domain=(0.5, 2.0),
        edges=((_v(0.0, 1.0, INF, 2.0),),),
        # JAX's derivative at log(0) is 0 * inf = NaN; nan_to_num is constant there
        ref=lambda np, x: np.where(
            x == 0.0, -5.0, np.nan_to_num(np.log(np.where(x == 0.0, 1.0, x)), posinf=5.0)
        ),
    ),
    Scenario("isfinite_where", lambda np, x: np.where(np.isfinite(x), x, 0.0), edges=(INFS,)),
    Scenario("isnan_where", lambda np, x: np.where(np.isnan(x / x), 1.0, x), edges=(ZERO, MIXED)),
    Scenario("isinf_where", lambda np, x: np.where(np.isinf(x), 2.0, x * x), edges=(INFS,)),
    Scenario("round", lambda np, x: np.round(x * 3.0, 1) + x),
    Scenario("around_neg", lambda np, x: np.around(x * 30.0, -1) + x),
    _binary("add", edges=(SAME,)),
    _binary("subtract", edges=(SAME,)),
    _binary("multiply", edges=(SAME, ZEROS2)),
    _binary("divide", domain=(0.5, 2.0), edges=(SAME,)),
    _binary("true_divide", domain=(0.5, 2.0)),
    _binary("power", domain=(0.5, 2.0), edges=(POSITIVE_SAME,)),
    _binary("float_power", domain=(0.5, 2.0)),
    _binary("arctan2", edges=(SAME,)),
    _binary("hypot", domain=(0.5, 2.0)),
    _binary("maximum", edges=(SAME,)),
    _binary("minimum", edges=(SAME,)),
    _binary("fmax", edges=(SAME,), ref=lambda np, x, y: _nan_ignoring(np, np.maximum)(x, y)),
    _binary("fmin", edges=(SAME,), ref=lambda np, x, y: _nan_ignoring(np, np.minimum)(x, y)),
    # infinite operands: JAX's own rule is off there (d/dy logaddexp(inf, 1) = e); see
    # test_numpy_frontend.py::test_logaddexp_at_infinities
    _binary("logaddexp", edges=(SAME,)),
    _binary("logaddexp2", edges=(SAME,)),
    _binary("remainder", domain=(0.3, 2.0)),
    _binary("mod", domain=(0.3, 2.0)),
    _binary("fmod", domain=(0.3, 2.0)),
    Scenario(
        "remainder_neg",
        lambda np, x, y: np.remainder(x, -y),
        shapes=((4,), (4,)),
        domain=(0.3, 2.0),
    ),
    Scenario(
        "mod_operator", lambda np, x, y: (x * 3.0) % y, shapes=((4,), (4,)), domain=(0.3, 2.0)
    ),
    Scenario(
        "floor_divide",
        lambda np, x, y: np.floor_divide(x, y) + x,
        shapes=((4,), (4,)),
        domain=(0.3, 2.0),
    ),
    Scenario(
        "divmod", lambda np, x, y: np.stack(np.divmod(x, y)), shapes=((4,), (4,)), domain=(0.3, 2.0)
    ),
    Scenario("fmax_nan", lambda np, x: np.fmax(x, np.nan) + np.fmin(np.nan, x * 2.0)),
    Scenario(
        "fmax_nan_inside",
        lambda np, x: np.fmax(np.log(x), 0.0),
        edges=((_v(-1.0, 0.5, 2.0, -3.0),),),
    ),
    Scenario(
        "maximum_nan",
        lambda np, x: np.maximum(np.log(x), 0.0),
        edges=((_v(-1.0, 0.5, 2.0, -3.0),),),
    ),
    Scenario(
        "max_plus_min_ties",
        lambda np, x, y: np.maximum(x, y) + np.minimum(x, y),
        shapes=((4,), (4,)),
        edges=(SAME,),
    ),
    Scenario("power_int", lambda np, x: x**3 + x**-2 + x**0, domain=(0.5, 2.0)),
    Scenario("power_zero_base", lambda np, y: np.power(0.0, y + 3.0), domain=(0.5, 2.0)),
    # x**0 is the constant 1, also at 0 (JAX: 0 * 0**-1 = NaN)
    Scenario(
        "power_of_zero_exp",
        lambda np, x: np.power(x, 0.0),
        edges=(ZERO,),
        ref=lambda np, x: x * 0.0 + 1.0,
    ),
    Scenario("heaviside", lambda np, x: np.heaviside(x, 0.5) + x, edges=(ZERO,)),
    Scenario("clip", lambda np, x: np.clip(x, -0.5, 1.0), edges=((_v(-0.5, 1.0, 0.0, 3.0),),)),
    Scenario(
        "clip_minmax", lambda np, x: np.clip(x, min=-0.5), ref=lambda np, x: np.clip(x, min=-0.5)
    ),
    # JAX differentiates the branch not taken (0 * NaN); the reference guards it
    Scenario(
        "where_untaken_nan",
        lambda np, x: np.where(x > 0, np.log(x), x),
        edges=(ZERO, MIXED),
        ref=lambda np, x: np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), x),
    ),
    Scenario(
        "where_untaken_sqrt",
        lambda np, x: np.where(x > 0, np.sqrt(x), 0.0),
        edges=(ZERO, MIXED),
        ref=lambda np, x: np.where(x > 0, np.sqrt(np.where(x > 0, x, 1.0)), 0.0),
    ),
    Scenario("where_scalar_cond", lambda np, x: np.where(x[0] > 0, x, -x)),
    Scenario(
        "logical",
        lambda np, x: np.where(np.logical_and(x > -1, np.logical_not(x > 1)) | (x > 1.5), x, 0.0),
    ),
    Scenario("select", lambda np, x: np.select([x > 1, x < 0], [x * 2, np.sin(x)], default=x**2)),
    Scenario("isclose", lambda np, x: np.where(np.isclose(x, 1.0), 0.0, x), edges=(TIES,)),
    # --- reductions -------------------------------------------------------------------------
    Scenario("sum", lambda np, x: np.sum(x * x)),
    Scenario("sum_axis", lambda np, x: np.sum(x, axis=0), shapes=((3, 4),)),
    Scenario(
        "sum_keepdims", lambda np, x: np.sum(x, axis=(0, 2), keepdims=True), shapes=((2, 3, 2),)
    ),
    Scenario(
        "sum_where_initial",
        lambda np, x: np.sum(x, where=numpy.array([True, False, True, True]), initial=1.5),
    ),
    Scenario("sum_where_traced", lambda np, x: np.sum(x, where=x > 0)),
    Scenario("mean", lambda np, x: np.mean(np.sin(x), axis=1), shapes=((3, 4),)),
    Scenario("mean_where", lambda np, x: np.mean(x, where=x > -1.0)),
    Scenario("max", lambda np, x: np.max(x), edges=(TIES,)),
    Scenario("max_axis", lambda np, x: np.max(x, axis=1, keepdims=True), shapes=((3, 4),)),
    Scenario("amin", lambda np, x: np.amin(x, axis=0), shapes=((3, 4),)),
    Scenario(
        "max_where_initial",
        lambda np, x: np.max(x, where=numpy.array([True, False, True, False]), initial=0.5),
    ),
    Scenario("min_initial", lambda np, x: np.min(x, initial=-0.25), edges=(TIES,)),
    Scenario("prod", lambda np, x: np.prod(x), edges=(ZERO, MIXED)),
    Scenario("prod_axis", lambda np, x: np.prod(x, axis=1), shapes=((3, 5),)),
    Scenario("prod_where", lambda np, x: np.prod(x, where=numpy.array([True, True, False, True]))),
    Scenario("var", lambda np, x: np.var(x), edges=(MIXED,)),
    Scenario("var_ddof", lambda np, x: np.var(x, axis=1, ddof=1, keepdims=True), shapes=((3, 4),)),
    Scenario("std", lambda np, x: np.std(x, axis=0), shapes=((3, 4),)),
    Scenario("ptp", lambda np, x: np.ptp(x, axis=1), shapes=((3, 4),)),
    Scenario(
        "average",
        lambda np, x: np.average(x, axis=1, weights=numpy.array([1.0, 2.0, 0.5, 1.0])),
        shapes=((3, 4),),
    ),
    Scenario("trace", lambda np, x: np.trace(x, offset=1), shapes=((3, 4),)),
    Scenario("cumsum", lambda np, x: np.cumsum(x, axis=1), shapes=((3, 4),)),
    Scenario("cumsum_flat", lambda np, x: np.cumsum(x), shapes=((3, 4),)),
    Scenario("cumprod", lambda np, x: np.cumprod(x), edges=(ZERO, MIXED)),
    Scenario("cumprod_axis", lambda np, x: np.cumprod(x, axis=0), shapes=((5, 2),)),
    Scenario("nansum", lambda np, x: np.nansum(np.where(x > 0, x, np.nan))),
    Scenario("nanmean", lambda np, x: np.nanmean(np.where(x > -1, x, np.nan))),
    Scenario("nanmax", lambda np, x: np.nanmax(np.where(x > 0, np.nan, x))),
    Scenario("all_any", lambda np, x: np.where(np.all(x > -3.0) & np.any(x > 0.0), x, -x)),
    Scenario(
        "add_reduce",
        lambda np, x: np.add.reduce(x, axis=1) * np.maximum.reduce(x, axis=1),
        shapes=((3, 4),),
    ),
    Scenario("accumulate", lambda np, x: np.multiply.accumulate(x) + np.add.accumulate(x)),
    # --- products and linear algebra -------------------------------------------------------------
    Scenario("matmul", lambda np, a, b: a @ b, shapes=((3, 4), (4, 2))),
    Scenario("matmul_vec", lambda np, a, b: a @ b, shapes=((3, 4), (4,))),
    Scenario("matmul_batch", lambda np, a, b: np.matmul(a, b), shapes=((2, 3, 4), (4, 2))),
    Scenario("dot_1d", lambda np, a, b: np.dot(a, b), shapes=((4,), (4,))),
    Scenario("dot_nd", lambda np, a, b: np.dot(a, b), shapes=((2, 3), (2, 3, 2))),
    Scenario("dot_3d_3d", lambda np, a, b: np.dot(a, b), shapes=((2, 2, 3), (2, 3, 2))),
    Scenario("dot_scalar", lambda np, a: np.dot(a, 2.5)),
    Scenario("dot_method", lambda np, a, b: a.dot(b), shapes=((3, 4), (4,))),
    Scenario("vdot", lambda np, a, b: np.vdot(a, b), shapes=((2, 3), (2, 3))),
    Scenario("inner", lambda np, a, b: np.inner(a, b), shapes=((2, 3), (4, 3))),
    Scenario("outer", lambda np, a, b: np.outer(a, b), shapes=((3,), (4,))),
    Scenario(
        "tensordot",
        lambda np, a, b: np.tensordot(a, b, axes=([0, 2], [2, 1])),
        shapes=((2, 3, 2), (3, 2, 2)),
    ),
    Scenario("tensordot_int", lambda np, a, b: np.tensordot(a, b, 1), shapes=((2, 3), (3, 2))),
    Scenario(
        "einsum_matmul", lambda np, a, b: np.einsum("ij,jk->ik", a, b), shapes=((2, 3), (3, 4))
    ),
    Scenario("einsum_trace", lambda np, a: np.einsum("ii", a), shapes=((3, 3),)),
    Scenario("einsum_diag", lambda np, a: np.einsum("ii->i", a), shapes=((3, 3),)),
    Scenario(
        "einsum_batch",
        lambda np, a, b: np.einsum("bij,bjk->bki", a, b),
        shapes=((2, 2, 3), (2, 3, 2)),
    ),
    Scenario(
        "einsum_ellipsis",
        lambda np, a, b: np.einsum("...i,...i->...", a, b),
        shapes=((2, 3), (2, 3)),
    ),
    Scenario("einsum_implicit", lambda np, a, b: np.einsum("ij,jk", a, b), shapes=((2, 3), (3, 2))),
    Scenario(
        "einsum_three",
        lambda np, a, b, c: np.einsum("i,ij,j->", a, b, c),
        shapes=((2,), (2, 3), (3,)),
    ),
    Scenario("kron", lambda np, a, b: np.kron(a, b), shapes=((2, 2), (2, 3))),
    Scenario("cross", lambda np, a, b: np.cross(a, b), shapes=((2, 3), (2, 3))),
    Scenario(
        "cross_axes",
        lambda np, a, b: np.cross(a, b, axisa=0, axisb=0, axisc=0),
        shapes=((3, 2), (3, 2)),
    ),
    Scenario(
        "multi_dot", lambda np, a, b, c: np.linalg.multi_dot([a, b, c]), shapes=((3,), (3, 4), (4,))
    ),
    Scenario(
        "matrix_power",
        lambda np, a: np.linalg.matrix_power(a, 3),
        shapes=((3, 3),),
        domain=(-1.0, 1.0),
    ),
    Scenario("norm", lambda np, x: np.linalg.norm(x), shapes=((3, 4),)),
    Scenario(
        "norm_vec_ord",
        lambda np, x: (
            np.linalg.norm(x, ord=3) + np.linalg.norm(x, ord=1) + np.linalg.norm(x, ord=np.inf)
        ),
    ),
    Scenario(
        "norm_vec_ord_neg", lambda np, x: np.linalg.norm(x, ord=-np.inf) + np.linalg.norm(x, ord=0)
    ),
    Scenario("norm_axis", lambda np, x: np.linalg.norm(x, axis=1, keepdims=True), shapes=((3, 4),)),
    Scenario("norm_mat_1", lambda np, x: np.linalg.norm(x, ord=1), shapes=((3, 4),)),
    Scenario("norm_mat_inf", lambda np, x: np.linalg.norm(x, ord=-np.inf), shapes=((3, 4),)),
    Scenario(
        "norm_mat_fro_axes",
        lambda np, x: np.linalg.norm(x, ord="fro", axis=(2, 0)),
        shapes=((2, 3, 2),),
    ),
    Scenario("norm_mat_2", lambda np, x: np.linalg.norm(x, ord=2), shapes=((3, 4),)),
    Scenario("norm_mat_neg2", lambda np, x: np.linalg.norm(x, ord=-2), shapes=((3, 4),)),
    Scenario(
        "norm_mat_nuc", lambda np, x: np.linalg.norm(x, ord="nuc", axis=(1, 2)), shapes=((2, 3, 2),)
    ),
    # --- decompositions and solvers ------------------------------------------------------
    Scenario(
        "solve", lambda np, a, b: np.linalg.solve(a + 4.0 * np.eye(3), b), shapes=((3, 3), (3,))
    ),
    Scenario(
        "solve_matrix",
        lambda np, a, b: np.linalg.solve(a + 4.0 * np.eye(3), b),
        shapes=((3, 3), (3, 2)),
    ),
    Scenario("inv", lambda np, a: np.linalg.inv(a + 4.0 * np.eye(3)), shapes=((3, 3),)),
    Scenario("det", lambda np, a: np.linalg.det(a), shapes=((2, 3, 3),)),
    Scenario("slogdet", lambda np, a: np.linalg.slogdet(a + 4.0 * np.eye(3))[1], shapes=((3, 3),)),
    Scenario(
        "cholesky", lambda np, a: np.linalg.cholesky(a @ a.T + 3.0 * np.eye(3)), shapes=((3, 3),)
    ),
    Scenario("eigvalsh", lambda np, a: np.linalg.eigvalsh(a + a.T), shapes=((3, 3),)),
    Scenario(
        "svdvals",
        lambda np, a: np.linalg.svd(a, compute_uv=False),
        shapes=((3, 2),),
        ref=lambda np, a: np.linalg.svd(a, compute_uv=False),
    ),
    Scenario("pinv", lambda np, a: np.linalg.pinv(a), shapes=((3, 2),)),
    Scenario("cov", lambda np, x: np.cov(x), shapes=((2, 5),)),
    # --- structure ---------------------------------------------------------------------------
    Scenario("index", lambda np, x: x[1:, ::-1][:, [0, 2]], shapes=((3, 4),)),
    Scenario("index_none", lambda np, x: x[None, :, 1] * x[:, None, 2], shapes=((3, 4),)),
    Scenario(
        "reshape_F",
        lambda np, x: np.reshape(x, (4, 3), order="F") * x.reshape(2, 6).T.reshape(4, 3),
        shapes=((3, 4),),
    ),
    Scenario("ravel_F", lambda np, x: x.ravel(order="F"), shapes=((3, 4),)),
    Scenario("transpose", lambda np, x: np.transpose(x, (2, 0, 1)), shapes=((2, 3, 2),)),
    Scenario(
        "swap_move_roll",
        lambda np, x: np.rollaxis(np.moveaxis(np.swapaxes(x, 0, 2), 0, 1), 2),
        shapes=((2, 3, 2),),
    ),
    Scenario("squeeze_expand", lambda np, x: np.expand_dims(np.squeeze(x), 0), shapes=((3, 1, 2),)),
    Scenario("broadcast_to", lambda np, x: np.broadcast_to(x, (2, 4))),
    Scenario(
        "flips",
        lambda np, x: np.flip(x) + np.fliplr(x) + np.flipud(x) + np.rot90(x, 2),
        shapes=((3, 3),),
    ),
    Scenario("roll", lambda np, x: np.roll(x, 1, axis=0) * np.roll(x, -2), shapes=((3, 4),)),
    Scenario("tile_repeat", lambda np, x: np.concatenate([np.tile(x, 2), np.repeat(x, 2)])),
    Scenario(
        "repeats_array",
        lambda np, x: np.repeat(x, np.array([1, 0, 2, 1])),
        ref=lambda np, x: np.repeat(x, np.array([1, 0, 2, 1]), total_repeat_length=4),
    ),
    Scenario("diag", lambda np, x: np.diag(x, 1), shapes=((3,),)),
    Scenario("diag_2d", lambda np, x: np.diag(x, -1), shapes=((3, 3),)),
    Scenario("diagflat", lambda np, x: np.diagflat(x)),
    Scenario("diagonal", lambda np, x: np.diagonal(x, 0, 2, 0), shapes=((2, 3, 2),)),
    Scenario("triu_tril", lambda np, x: np.triu(x, 1) - np.tril(x, -1), shapes=((3, 4),)),
    Scenario("take", lambda np, x: np.take(x, np.array([3, 0, 0]), axis=1), shapes=((2, 4),)),
    Scenario(
        "take_along_axis",
        lambda np, x: np.take_along_axis(x, numpy.array([[0, 2], [1, 1]]), axis=1),
        shapes=((2, 3),),
    ),
    Scenario(
        "compress",
        lambda np, x: np.compress(np.array([True, False, True]), x, axis=0),
        shapes=((3, 2),),
        ref=lambda np, x: x[np.array([0, 2])],
    ),
    Scenario(
        "concatenate", lambda np, x, y: np.concatenate([x, y, x], axis=1), shapes=((2, 2), (2, 1))
    ),
    Scenario(
        "concat_none", lambda np, x, y: np.concatenate([x, y], axis=None), shapes=((2, 2), (3,))
    ),
    Scenario("stack", lambda np, x, y: np.stack([x, y], axis=1), shapes=((3,), (3,))),
    Scenario(
        "hvd_stack",
        lambda np, x, y: np.hstack([x, y]) + np.vstack([x, y]).ravel() + np.dstack([x, y]).ravel(),
        shapes=((3,), (3,)),
    ),
    Scenario("column_stack", lambda np, x, y: np.column_stack([x, y]), shapes=((3,), (3,))),
    Scenario("block", lambda np, x, y: np.block([[x, y], [y, x]]), shapes=((2, 2), (2, 2))),
    Scenario("append", lambda np, x: np.append(x, x[:2] * 2.0)),
    Scenario("insert_delete", lambda np, x: np.insert(np.delete(x, 1), 2, x[0] * 3.0)),
    Scenario(
        "split",
        lambda np, x: np.concatenate(np.split(x, [1, 3], axis=1)[::-1], axis=1),
        shapes=((2, 4),),
    ),
    Scenario("array_split", lambda np, x: np.array_split(x, 3)[1] * np.array_split(x, 3)[0][0]),
    Scenario(
        "hvd_split",
        lambda np, x: np.hsplit(x, 2)[1] + np.vsplit(x, 2)[0] + np.dsplit(x, 2)[1],
        shapes=((2, 2, 2),),
    ),
    Scenario(
        "atleast", lambda np, x: np.atleast_3d(x[0]) * np.atleast_2d(x).sum() + np.atleast_1d(x[1])
    ),
    Scenario("linspace", lambda np, x: np.linspace(x[0], x[1], 5) * x[2]),
    Scenario("linspace_vec", lambda np, x: np.linspace(x[:2], x[2:], 3, endpoint=False, axis=1)),
    Scenario("linspace_tie", lambda np, x: np.linspace(x[0], x[1], 4), edges=(TIES,)),
    Scenario("logspace", lambda np, x: np.logspace(x[0], x[1], 3)),
    Scenario("meshgrid", lambda np, x, y: np.stack(np.meshgrid(x, y)), shapes=((3,), (2,))),
    Scenario("diff", lambda np, x: np.diff(x, n=2, axis=0), shapes=((4, 2),)),
    Scenario("diff_prepend", lambda np, x: np.diff(x, prepend=0.5, append=x[:1])),
    Scenario("ediff1d", lambda np, x: np.ediff1d(x, to_begin=x[2:], to_end=1.0)),
    Scenario("gradient", lambda np, x: np.stack(np.gradient(x)), shapes=((3, 4),)),
    Scenario(
        "gradient_coords",
        lambda np, x: np.gradient(x, numpy.array([0.0, 0.5, 1.5, 1.7]), edge_order=2),
        ref=lambda np, x: (
            np.asarray(
                numpy.gradient(
                    numpy.eye(4), numpy.array([0.0, 0.5, 1.5, 1.7]), edge_order=2, axis=0
                )
            )
            @ x
        ),
    ),
    Scenario("trapezoid", lambda np, x: np.trapezoid(x, dx=0.5, axis=0), shapes=((4, 2),)),
    Scenario("convolve", lambda np, x: np.convolve(x, numpy.array([0.5, 1.0, -2.0]), mode="same")),
    Scenario("correlate", lambda np, x, y: np.correlate(x, y, mode="full"), shapes=((4,), (2,))),
    Scenario(
        "polyval", lambda np, x: np.polyval(x, 0.7) + np.polyval(numpy.array([1.0, -2.0, 0.5]), x)
    ),
    Scenario("sort", lambda np, x: np.sort(x) * numpy.arange(1.0, 5.0), domain=(-2.0, 2.0)),
    Scenario("sort_axis0", lambda np, x: np.sort(x, axis=0), shapes=((3, 2),)),
    Scenario("partition_kth", lambda np, x: np.partition(x, 2)[2] * x),
    Scenario("median", lambda np, x: np.median(x, axis=1), shapes=((2, 5),)),
    Scenario(
        "quantile", lambda np, x: np.quantile(x, numpy.array([0.1, 0.5, 0.8])), shapes=((6,),)
    ),
    Scenario(
        "percentile_axis",
        lambda np, x: np.percentile(x, 30.0, axis=0, keepdims=True),
        shapes=((4, 2),),
    ),
    Scenario(
        "sparse_matmul",
        lambda np, x: _SPARSE @ x,
        shapes=((4,),),
        ref=lambda np, x: _SPARSE.toarray() @ x,
    ),
    Scenario(
        "sparse_matmul_2d",
        lambda np, x: _SPARSE @ x,
        shapes=((4, 2),),
        ref=lambda np, x: _SPARSE.toarray() @ x,
    ),
    Scenario(
        "pad_constant",
        lambda np, x: np.pad(x, ((1, 0), (2, 1)), constant_values=((5.0, 1.0), (2.0, -3.0))),
        shapes=((2, 3),),
    ),
    Scenario("pad_edge", lambda np, x: np.pad(x, 2, mode="edge"), shapes=((2, 2),)),
    Scenario("pad_reflect", lambda np, x: np.pad(x, 3, mode="reflect")),
    Scenario("pad_symmetric", lambda np, x: np.pad(x, (2, 5), mode="symmetric")),
    Scenario("pad_wrap", lambda np, x: np.pad(x, (1, 6), mode="wrap")),
    Scenario("pad_mean", lambda np, x: np.pad(x, ((1, 2), (0, 1)), mode="mean"), shapes=((2, 3),)),
    Scenario(
        "pad_median", lambda np, x: np.pad(x, ((1, 1), (2, 0)), mode="median"), shapes=((3, 3),)
    ),
    Scenario("pad_max_stat", lambda np, x: np.pad(x, 2, mode="maximum", stat_length=2)),
    Scenario("pad_min", lambda np, x: np.pad(x, (1, 1), mode="minimum"), shapes=((2, 3),)),
    Scenario(
        "pad_ramp",
        lambda np, x: np.pad(
            x, ((1, 2), (2, 0)), mode="linear_ramp", end_values=((1.0, -1.0), (0.5, 2.0))
        ),
        shapes=((2, 3),),
    ),
    Scenario(
        "choose",
        lambda np, x, y: np.choose(numpy.array([0, 1, 1, 0]), [x, y]),
        shapes=((4,), (4,)),
        ref=lambda np, x, y: np.choose(numpy.array([0, 1, 1, 0]), [x, y], mode="clip"),
    ),
    Scenario(
        "apply_along_axis",
        lambda np, x: np.apply_along_axis(lambda r: r * r.sum(), 1, x),
        shapes=((2, 3),),
    ),
    # --- creation, writes, views -------------------------------------------------------------
    Scenario("array_list", lambda np, x: np.array([x[0] * x[1] - x[2], x[2] * x[3] - x[0]])),
    Scenario("array_nested", lambda np, x: np.array([[x[0], 1.0], [x[1] * 2.0, x[3]]])),
    Scenario("asarray_list", lambda np, x: np.asarray([np.sin(x[0]), x[1]]) * 2.0),
    Scenario(
        "zeros_like_write",
        lambda np, x: _ode(np, x),
        shapes=((6,),),
        ref=lambda np, x: _ode_jax(np, x),
    ),
    Scenario("view_writes", lambda np, x: _views(np, x), ref=lambda np, x: _views_jax(np, x)),
    Scenario("full_like", lambda np, x: np.full_like(x, 2.5) * x + np.ones_like(x)),
]


def _ode(np: Any, u: Any) -> Any:
    """A 1-d diffusion right-hand side written as most ODE code is (slice assignment)."""
    du = np.zeros_like(u)
    du[1:-1] = u[:-2] - 2.0 * u[1:-1] + u[2:]
    du[0] = -u[0]
    du[-1] += u[-1] * u[0]
    return du


def _ode_jax(jnp: Any, u: Any) -> Any:
    du = jnp.zeros_like(u)
    du = du.at[1:-1].set(u[:-2] - 2.0 * u[1:-1] + u[2:])
    du = du.at[0].set(-u[0])
    return du.at[-1].add(u[-1] * u[0])


def _views(np: Any, x: Any) -> Any:
    """Writes through views reach the base; a copy is independent."""
    y = x.copy()
    v = y[1:]
    v *= 2.0
    v[0] = x[0] * x[3]
    w = y.reshape(2, 2).T
    w[0, 1] += 1.0
    c = y.copy()
    c[0] = 100.0
    return y + c[1:].sum()


def _views_jax(jnp: Any, x: Any) -> Any:
    y = x.at[1:].multiply(2.0)
    y = y.at[1].set(x[0] * x[3])
    y = y.at[2].add(1.0)  # w[0, 1] of y.reshape(2, 2).T is y[2]
    c = y.at[0].set(100.0)
    return y + c[1:].sum()
