"""autograd's tests/test_systematic.py, real-valued combinations."""

# ruff: noqa: E731 (autograd's tests name their functions as lambdas; kept for the port)
from __future__ import annotations

import operator as op

from harness import (
    Case,
    binary_ufunc_check,
    binary_ufunc_check_no_same_args,
    combo,
    rng_for,
    stat_check,
    unary_ufunc_check,
)

FILE = "test_systematic"


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.extend

    # array statistics
    for fn in ("max", "mean", "min", "sum", "prod", "var"):
        add(stat_check(f"{FILE}.test_{fn}", lambda np, fn=fn: getattr(np, fn)))
    # the std of one element is constantly 0: derivative 0, where JAX's sqrt rule gives NaN
    add(stat_check(f"{FILE}.test_std", lambda np: np.std, truth=_std_truth))

    # unary ufuncs: (name, getter, lims)
    unary = [
        ("sin", lambda np: np.sin, (-2, 2)),
        ("abs", lambda np: np.abs, (0.1, 4.0)),
        ("absolute", lambda np: np.absolute, (0.1, 4.0)),
        ("arccosh", lambda np: np.arccosh, (1.1, 4.0)),
        ("arcsinh", lambda np: np.arcsinh, (-0.9, 0.9)),
        ("arctanh", lambda np: np.arctanh, (-0.9, 0.9)),
        ("ceil", lambda np: np.ceil, (-1.5, 1.5)),
        ("cos", lambda np: np.cos, (-2, 2)),
        ("cosh", lambda np: np.cosh, (-2, 2)),
        ("deg2rad", lambda np: np.deg2rad, (-2, 2)),
        ("degrees", lambda np: lambda x: np.degrees(x) / 50.0, (-2, 2)),
        ("exp", lambda np: np.exp, (-2, 2)),
        ("exp2", lambda np: np.exp2, (-2, 2)),
        ("expm1", lambda np: np.expm1, (-2, 2)),
        ("fabs", lambda np: np.fabs, (-2, 2)),
        ("floor", lambda np: np.floor, (-1.5, 1.5)),
        ("log", lambda np: np.log, (0.2, 2.0)),
        ("log10", lambda np: np.log10, (0.2, 2.0)),
        ("log1p", lambda np: np.log1p, (0.2, 2.0)),
        ("log2", lambda np: np.log2, (0.2, 2.0)),
        ("rad2deg", lambda np: lambda x: np.rad2deg(x) / 50.0, (-2, 2)),
        ("radians", lambda np: np.radians, (-2, 2)),
        ("sign", lambda np: np.sign, (-2, 2)),
        ("sinh", lambda np: np.sinh, (-2, 2)),
        ("sqrt", lambda np: np.sqrt, (1.0, 3.0)),
        ("square", lambda np: np.square, (-2, 2)),
        ("tan", lambda np: np.tan, (-1.1, 1.1)),
        ("tanh", lambda np: np.tanh, (-2, 2)),
        ("real", lambda np: np.real, (-2, 2)),
        ("imag", lambda np: np.imag, (-2, 2)),
        ("conj", lambda np: np.conj, (-2, 2)),
        ("conjugate", lambda np: np.conjugate, (-2, 2)),
        ("angle", lambda np: np.angle, (-2, 2)),
    ]
    for name, get, lims in unary:
        add(unary_ufunc_check(f"{FILE}.test_{name}", get, lims))
    # np.real_if_close has no jax.numpy twin: on real input it is the identity
    add(
        unary_ufunc_check(
            f"{FILE}.test_real_ic", lambda np: np.real_if_close, ref=lambda np, x: x * 1.0
        )
    )

    # binary ufuncs
    add(binary_ufunc_check(f"{FILE}.test_add", lambda np: np.add))
    add(binary_ufunc_check(f"{FILE}.test_logaddexp", lambda np: np.logaddexp))
    add(binary_ufunc_check(f"{FILE}.test_logaddexp2", lambda np: np.logaddexp2))
    add(
        binary_ufunc_check_no_same_args(
            f"{FILE}.test_remainder", lambda np: np.remainder, (-0.9, 0.9), (0.7, 1.9)
        )
    )
    add(
        binary_ufunc_check(f"{FILE}.test_true_divide", lambda np: np.true_divide, lims_b=(0.8, 1.2))
    )
    add(binary_ufunc_check_no_same_args(f"{FILE}.test_mod", lambda np: np.mod, lims_b=(0.8, 2.1)))
    add(
        binary_ufunc_check(
            f"{FILE}.test_true_divide_neg", lambda np: np.true_divide, lims_b=(-0.3, -2.0)
        )
    )
    add(
        binary_ufunc_check_no_same_args(
            f"{FILE}.test_mod_neg", lambda np: np.mod, lims_b=(-0.3, -2.0)
        )
    )
    add(binary_ufunc_check(f"{FILE}.test_op_mul", lambda np: op.mul))
    add(binary_ufunc_check(f"{FILE}.test_op_add", lambda np: op.add))
    add(binary_ufunc_check(f"{FILE}.test_op_sub", lambda np: op.sub))
    add(
        binary_ufunc_check_no_same_args(f"{FILE}.test_op_mod", lambda np: op.mod, lims_b=(0.3, 2.0))
    )
    add(
        binary_ufunc_check_no_same_args(
            f"{FILE}.test_op_mod_neg", lambda np: op.mod, lims_b=(-0.3, -2.0)
        )
    )

    add(_misc())
    return out


def _misc() -> list[Case]:
    out: list[Case] = []
    add = out.extend

    def named(test: str):
        rng = rng_for(f"{FILE}.{test}")
        return f"{FILE}.{test}", lambda *shape: rng.standard_normal(shape)

    n, R = named("test_transpose")
    add(
        combo(
            n,
            lambda np: np.transpose,
            [0],
            [[R(2, 3, 4)]],
            {"axes": [None, [0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0], [1, 0, 2], [1, 2, 0]]},
        )
    )
    n, R = named("test_moveaxis")
    add(
        combo(
            n,
            lambda np: np.moveaxis,
            [0],
            [[R(2, 3, 4)]],
            {"source": [0, 1, 2], "destination": [0, 1, 2]},
        )
    )
    n, R = named("test_repeat")
    add(
        combo(
            n,
            lambda np: np.repeat,
            [0],
            [[R(2, 3, 4), R(3, 1)]],
            {"repeats": [0, 1, 2], "axis": [None, 0, 1]},
        )
    )
    n, R = named("test_diff")
    add(combo(n, lambda np: np.diff, [0], [[R(5, 5), R(5, 5, 5)]], {"n": [1, 2], "axis": [0, 1]}))
    add(combo(n + "_b", lambda np: np.diff, [0], [[R(1), R(1, 1)]], {"axis": [0]}))
    add(combo(n + "_c", lambda np: np.diff, [0], [[R(1, 1), R(3, 1)]], {"axis": [1]}))
    n, R = named("test_gradient")
    add(combo(n, lambda np: np.gradient, [0], [[R(5, 5), R(5, 5, 5)]], {"axis": [None, 0, 1, -1]}))
    add(combo(n + "_b", lambda np: np.gradient, [0], [[R(5, 5, 5)]], {"axis": [(0, 1), (0, -1)]}))
    n, R = named("test_tile")
    add(combo(n, lambda np: np.tile, [0], [[R(2, 1, 3, 1)]], {"reps": [(1, 4, 1, 2)]}))
    add(
        combo(n + "_b", lambda np: np.tile, [0], [[R(1, 2)]], {"reps": [(1, 2), (2, 3), (3, 2, 1)]})
    )
    add(combo(n + "_c", lambda np: np.tile, [0], [[R(1)]], {"reps": [(2,), 2]}))
    n, R = named("test_kron")
    add(
        combo(
            n,
            lambda np: np.kron,
            [0, 1],
            [
                [R(5, 5), R(4, 4), R(5), R(5, 1), R(1, 5), R()],
                [R(3, 3), R(2, 2), R(3), R(1, 3), R(3, 1), R()],
            ],
        )
    )
    n, R = named("test_inner")
    add(combo(n, lambda np: np.inner, [0, 1], [[1.5, R(3), R(2, 3)], [0.3, R(3), R(4, 3)]]))
    n, R = named("test_dot")
    add(
        combo(
            n,
            lambda np: np.dot,
            [0, 1],
            [[1.5, R(3), R(2, 3), R(2, 2, 3)], [0.3, R(3), R(3, 4), R(2, 3, 4)]],
        )
    )
    n, R = named("test_outer")
    add(combo(n, lambda np: np.outer, [0, 1], [[R(3)], [R(3)]]))
    n, R = named("test_matmul")
    add(
        combo(
            n,
            lambda np: np.matmul,
            [0, 1],
            [[R(3), R(2, 3), R(2, 2, 3)], [R(3), R(3, 4), R(2, 3, 4)]],
        )
    )
    n, R = named("test_matmul_broadcast")
    add(combo(n, lambda np: np.matmul, [0, 1], [[R(1, 2, 2)], [R(3, 2, 1)]]))

    tensordot = lambda np: np.tensordot
    n, R = named("test_tensordot_1")
    add(
        combo(
            n,
            tensordot,
            [0, 1],
            [[R(1, 3), R(2, 3, 2)], [R(3), R(3, 1), R(3, 4, 2)]],
            {"axes": [[(1,), (0,)]]},
        )
    )
    n, R = named("test_tensordot_2")
    add(
        combo(
            n,
            tensordot,
            [0, 1],
            [[R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)]],
            {"axes": [[(0,), (1,)]]},
        )
    )
    n, R = named("test_tensordot_3")
    add(
        combo(
            n,
            tensordot,
            [0, 1],
            [[R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)]],
            {"axes": [[(0, 1), (1, 2)], [(1, 0), (2, 1)]]},
        )
    )
    n, R = named("test_tensordot_4")
    add(
        combo(
            n, tensordot, [0, 1], [[R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)]], {"axes": [1, 2]}
        )
    )
    n, R = named("test_tensordot_5")
    add(combo(n, tensordot, [0, 1], [[R(4)], [R()]], {"axes": [0]}))
    n, R = named("test_tensordot_6")
    add(combo(n, tensordot, [0, 1], [[R(2, 6)], [R(6, 3)]], {"axes": [[[-1], [0]]]}))
    n, R = named("test_tensordot_7")
    add(combo(n, tensordot, [0, 1], [[R(2, 6)], [R(6, 3)]], {"axes": [[-1, 0]]}))
    n, R = named("test_tensordot_8")
    add(combo(n, tensordot, [0, 1], [[R(2)], [R(2, 2)]], {"axes": [[0, 1]]}))

    for fn in ("maximum", "fmax", "minimum", "fmin"):
        n, R = named(f"test_{fn}")
        shapes = [R(1), R(1, 4), R(3, 4)]
        add(combo(n, lambda np, fn=fn: getattr(np, fn), [0, 1], [shapes, [R(1), R(1, 4), R(3, 4)]]))
    n, R = named("test_sort")
    add(combo(n, lambda np: np.sort, [0], [[R(1), R(7)]]))
    n, R = named("test_partition")
    # which elements land left and right of kth is unspecified in numpy; compare the
    # values that partition does specify: a[kth], and the sorted halves
    add(
        combo(
            n,
            lambda np: lambda a, kth: _partition_spec(np, np.partition(a, kth), kth),
            [0],
            [[R(7), R(14)]],
            {"kth": [0, 3, 6]},
        )
    )
    for fn in ("atleast_1d", "atleast_2d"):
        n, R = named(f"test_{fn}")
        args = [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)]
        add(combo(n, lambda np, fn=fn: getattr(np, fn), [0], [args]))
    n, R = named("test_atleast_3d")
    args = [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5), R(2, 4, 3, 5)]
    add(combo(n, lambda np: np.atleast_3d, [0], [args]))

    einsum = lambda np: np.einsum
    n, R = named("test_einsum_transpose")
    add(combo(n, einsum, [1], [["ij->ji"], [R(1, 1), R(4, 4), R(3, 4)]]))
    n, R = named("test_einsum_matmult")
    add(combo(n, einsum, [1, 2], [["ij,jk->ik"], [R(2, 3)], [R(3, 4)]]))
    n, R = named("test_einsum_matmult_broadcast")
    add(
        combo(
            n,
            einsum,
            [1, 2],
            [["...ij,...jk->...ik"], [R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)]],
        )
    )
    n, R = named("test_einsum_matmult_broadcast_leadzero")
    add(combo(n, einsum, [1, 2], [["...ij,...jk->...ik"], [R(0, 2, 3)], [R(0, 3, 4)]]))
    n, R = named("test_einsum_covsum")
    add(combo(n, einsum, [1, 2], [["ijk,lji->lki"], [R(3, 4, 4)], [R(4, 4, 3)]]))
    n, R = named("test_einsum_ellipses")
    add(
        combo(
            n,
            einsum,
            [1, 2],
            [["...jk,...lj->...lk", "...,...->..."], [R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]],
        )
    )
    n, R = named("test_einsum_ellipses_tail")
    add(
        combo(
            n,
            einsum,
            [1, 2],
            [["jk...,lj...->lk..."], [R(3, 2), R(3, 2, 4)], [R(2, 3), R(2, 3, 4)]],
        )
    )
    n, R = named("test_einsum_ellipses_center")
    add(
        combo(
            n,
            einsum,
            [1, 2],
            [["j...k,lj...->lk..."], [R(2, 2), R(2, 2, 2)], [R(2, 2), R(2, 2, 2)]],
        )
    )
    n, R = named("test_einsum_three_args")
    add(combo(n, einsum, [1, 2], [["ijk,lji,lli->lki"], [R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)]]))
    n, R = named("test_einsum2_transpose")
    add(combo(n, einsum, [0], [[R(1, 1), R(4, 4), R(3, 4)], [(0, 1)], [(1, 0)]]))
    n, R = named("test_einsum2_matmult")
    add(combo(n, einsum, [0, 2], [[R(2, 3)], [(0, 1)], [R(3, 4)], [(1, 2)], [(0, 2)]]))
    n, R = named("test_einsum2_matmult_broadcast")
    add(
        combo(
            n,
            einsum,
            [0, 2],
            [
                [R(2, 3), R(2, 2, 3)],
                [(Ellipsis, 0, 1)],
                [R(3, 4), R(2, 3, 4)],
                [(Ellipsis, 1, 2)],
                [(Ellipsis, 0, 2)],
            ],
        )
    )
    n, R = named("test_einsum2_covsum")
    add(
        combo(
            n, einsum, [0, 2], [[R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)], [(3, 2, 0)]]
        )
    )
    n, R = named("test_einsum2_three_args")
    add(
        combo(
            n,
            einsum,
            [0, 2],
            [
                [R(3, 4, 4)],
                [(0, 1, 2)],
                [R(4, 4, 3)],
                [(3, 1, 0)],
                [R(4, 4, 3)],
                [(3, 3, 0)],
                [(3, 2, 0)],
            ],
        )
    )
    n, R = named("test_einsum_naked_sum")
    add(combo(n, einsum, [1, 2], [["k,nk->"], [R(5)], [R(10, 5)]]))
    n, R = named("test_einsum_naked_sum2")
    add(combo(n, einsum, [1], [["abcd->bd"], [R(3, 2, 3, 2)]]))
    n, R = named("test_einsum_naked_sum_ellipsis")
    add(combo(n, einsum, [1, 2], [["...k,...nk->..."], [R(3, 5)], [R(3, 10, 5)]]))
    n, R = named("test_einsum_no_output_indices")
    add(combo(n, einsum, [1, 2], [["ij,k"], [R(3, 4)], [R(3)]]))

    n, R = named("test_trace")
    add(
        combo(
            n,
            lambda np: np.trace,
            [0],
            [[R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)]],
            {"offset": [-1, 0, 1]},
        )
    )
    n, R = named("test_diag")
    add(combo(n, lambda np: np.diag, [0], [[R(5, 5)]], {"k": [-1, 0, 1]}))
    n, R = named("test_diag_flat")
    add(combo(n, lambda np: np.diag, [0], [[R(5)]], {"k": [-1, 0, 1]}))
    for fn, shape in (
        ("tril", (5, 5)),
        ("triu", (5, 5)),
        ("tril_3d", (5, 5, 4)),
        ("triu_3d", (5, 5, 4)),
    ):
        n, R = named(f"test_{fn}")
        add(combo(n, lambda np, f=fn[:4]: getattr(np, f), [0], [[R(*shape)]], {"k": [-1, 0, 1]}))
    n, R = named("test_swapaxes")
    add(
        combo(
            n, lambda np: np.swapaxes, [0], [[R(3, 4, 5)]], {"axis1": [0, 1, 2], "axis2": [0, 1, 2]}
        )
    )
    n, R = named("test_rollaxis")
    add(
        combo(
            n, lambda np: np.rollaxis, [0], [[R(2, 3, 4)]], {"axis": [0, 1, 2], "start": [0, 1, 2]}
        )
    )
    n, R = named("test_cross")
    add(
        combo(
            n,
            lambda np: np.cross,
            [0, 1],
            [[R(3, 3)], [R(3, 3)]],
            {
                "axisa": [-1, 0, 1],
                "axisb": [-1, 0, 1],
                "axisc": [-1, 0, 1],
                "axis": [None, -1, 0, 1],
            },
        )
    )

    for fn, shape, secs in (
        ("vsplit_2d", (4, 8), [4, [1, 2]]),
        ("vsplit_3d", (4, 4, 4), [2, [1, 2]]),
        ("hsplit_2d", (4, 8), [4, [1, 2]]),
        ("hsplit_3d", (4, 4, 4), [2, [1, 2]]),
        ("dsplit_3d", (4, 4, 4), [2, [1, 2]]),
    ):
        n, R = named(f"test_{fn}")
        add(combo(n, lambda np, f=fn[:6]: getattr(np, f), [0], [[R(*shape)], secs]))
    n, R = named("test_split_1d")
    add(combo(n, lambda np: np.split, [0], [[R(1), R(7)], [1]], {"axis": [0]}))
    n, R = named("test_split_2d")
    add(combo(n, lambda np: np.split, [0], [[R(4, 8)], [4, [1, 2]]], {"axis": [0, 1]}))
    n, R = named("test_split_3d")
    add(combo(n, lambda np: np.split, [0], [[R(4, 4, 4)], [2, [1, 2]]], {"axis": [0, 1, 2]}))
    n, R = named("test_array_split_1d")
    add(combo(n, lambda np: np.array_split, [0], [[R(1), R(7)], [1, 3]], {"axis": [0]}))
    n, R = named("test_array_split_2d")
    add(combo(n, lambda np: np.array_split, [0], [[R(7, 7)], [4, [3, 5]]], {"axis": [0, 1]}))
    n, R = named("test_array_split_3d")
    add(combo(n, lambda np: np.array_split, [0], [[R(7, 7, 7)], [4, [3, 5]]], {"axis": [0, 1, 2]}))

    concat = lambda np: np.concatenate
    n, R = named("test_concatenate_1ist")
    add(combo(n, concat, [0], [[(R(1), R(3))]], {"axis": [0]}))
    n, R = named("test_concatenate_tuple")
    add(combo(n, concat, [0], [[[R(1), R(3)]]], {"axis": [0]}))
    n, R = named("test_concatenate_2d")
    add(combo(n, concat, [0], [[(R(2, 2), R(2, 2))]], {"axis": [0, 1]}))
    n, R = named("test_concatenate_3d")
    add(combo(n, concat, [0], [[(R(2, 2, 2), R(2, 2, 2))]], {"axis": [0, 1, 2]}))
    stacks = [
        ("vstack_1d", "vstack", lambda R: [R(2), (R(2), R(2))]),
        ("vstack_2d", "vstack", lambda R: [R(2, 3), (R(2, 4), R(1, 4))]),
        ("vstack_3d", "vstack", lambda R: [R(2, 3, 4), (R(2, 3, 4), R(5, 3, 4))]),
        ("hstack_1d", "hstack", lambda R: [R(2), (R(2), R(2))]),
        ("hstack_2d", "hstack", lambda R: [R(3, 2), (R(3, 4), R(3, 5))]),
        ("hstack_3d", "hstack", lambda R: [R(2, 3, 4), (R(2, 1, 4), R(2, 5, 4))]),
        ("row_stack_1d", "row_stack", lambda R: [R(2), (R(2), R(2))]),
        ("row_stack_2d", "row_stack", lambda R: [R(2, 3), (R(2, 4), R(1, 4))]),
        ("column_stack_1d", "column_stack", lambda R: [R(2), (R(2), R(2))]),
        ("column_stack_2d", "column_stack", lambda R: [R(2, 2), (R(2, 2), R(2, 2))]),
    ]
    for test, fn, make in stacks:
        n, R = named(f"test_{test}")
        # jax.numpy has no row_stack (numpy's alias of vstack)
        ref = (lambda np, a: np.vstack(a)) if fn == "row_stack" else None
        add(combo(n, lambda np, fn=fn: getattr(np, fn), [0], [make(R)], ref=ref))
    n, R = named("test_stack_1d")
    add(combo(n, lambda np: np.stack, [0], [[(R(2),), (R(2), R(2))]], {"axis": [0, 1]}))
    n, R = named("test_select")
    conds = [R(3, 4, 5) > 0, R(3, 4, 5) > 0, R(3, 4, 5) > 0]
    add(
        combo(
            n,
            lambda np: np.select,
            [1],
            [[conds], [[R(3, 4, 5), R(3, 4, 5), R(3, 4, 5)]]],
            {"default": [0.0, 1.1]},
        )
    )
    n, R = named("test_pad")
    add(
        combo(
            n,
            lambda np: np.pad,
            [0],
            [
                [R(2, 2)],
                [0, 3, (3,), (3, 2), ((3, 2),), ((1, 2), (3, 4)), ((0, 0), (0, 0))],
                ["constant"],
            ],
        )
    )
    return out


def _partition_spec(np, p, kth):
    """What ``np.partition`` specifies: a[kth], everything left of it (sorted) and right."""
    return (np.sort(p[:kth]), p[kth], np.sort(p[kth + 1 :]))


def _std_truth(np, x, **kwargs):
    """``std`` whose derivative is 0 where the variance is 0 (a constant function there)."""
    var = np.var(x, **kwargs)
    positive = var > 0
    return np.sqrt(np.where(positive, var, 1.0)) * positive
