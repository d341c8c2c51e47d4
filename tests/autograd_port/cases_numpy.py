"""autograd's tests/test_numpy.py (the differentiation checks; the version check and the
tests of autograd's own wrappers, ``make_diagonal`` and boxes, are autograd internals)."""

# ruff: noqa: E731 (autograd's tests name their functions as lambdas; kept for the port)
from __future__ import annotations

from harness import Case, check, combo, rng_for

FILE = "test_numpy"


def cases() -> list[Case]:
    out: list[Case] = []

    def named(test: str):
        rng = rng_for(f"{FILE}.{test}")
        return f"{FILE}.{test}", lambda *shape: rng.standard_normal(shape)

    def add(test: str, fun, *args, **opts) -> None:
        k = sum(c.name.startswith(f"{FILE}.{test}[") for c in out)
        out.append(check(f"{FILE}.{test}[{k}]", fun, *args, **opts))

    n, R = named("test_dot")
    dot = lambda np, x, y: np.dot(x, y)
    mat1, mat2, v1, v2, v3 = R(10, 11), R(10, 11), R(10), R(11), R(11)
    for a, b in ((mat1, v2), (mat1, mat2.T), (v1, mat1), (v2, v3)):
        add("test_dot", dot, a, b)
    n, R = named("test_dot_with_floats")
    mat1, v1, f1 = R(10, 11), R(10), float(R())
    for a, b in ((mat1, f1), (f1, mat1), (v1, f1), (f1, v1)):
        add("test_dot_with_floats", dot, a, b)
    n, R = named("test_outer")
    v2, v3 = R(11), R(11)
    for _ in range(3):
        add("test_outer", lambda np, x, y: np.outer(x, y), v2, v3)

    simple = [
        ("test_max", lambda np, x: np.max(x), (10, 11)),
        ("test_max_axis", lambda np, x: np.max(x, axis=1), (3, 4, 5)),
        ("test_max_axis_keepdims", lambda np, x: np.max(x, axis=1, keepdims=True), (3, 4, 5)),
        ("test_min", lambda np, x: np.min(x), (10, 11)),
        ("test_min_axis", lambda np, x: np.min(x, axis=1), (3, 4, 5)),
        ("test_min_axis_keepdims", lambda np, x: np.min(x, axis=1, keepdims=True), (3, 4, 5)),
        ("test_sum_1", lambda np, x: np.sum(x), (10, 11)),
        ("test_sum_2", lambda np, x: np.sum(x, axis=0), (10, 11)),
        ("test_sum_3", lambda np, x: np.sum(x, axis=0, keepdims=True), (10, 11)),
        ("test_sum_with_axis_tuple", lambda np, x: np.sum(x, axis=(1, 2)), (10, 11, 7)),
        ("test_flipud", lambda np, x: np.flipud(x), (10, 11)),
        ("test_fliplr", lambda np, x: np.fliplr(x), (10, 11)),
        ("test_rot90", lambda np, x: np.rot90(x), (10, 11)),
        ("test_cumsum_axis0", lambda np, x: np.cumsum(x, axis=0), (10, 11)),
        ("test_cumsum_axis1", lambda np, x: np.cumsum(x, axis=1), (10, 11)),
        ("test_cumsum_1d", lambda np, x: np.cumsum(x), (10,)),
        ("test_cumsum_no_axis", lambda np, x: np.cumsum(x), (10, 11)),
        ("test_mean_1", lambda np, x: np.mean(x), (10, 11)),
        ("test_mean_2", lambda np, x: np.mean(x, axis=0), (10, 11)),
        ("test_mean_3", lambda np, x: np.mean(x, axis=0, keepdims=True), (10, 11)),
        ("test_index_ints", lambda np, x: x[3, 0, 1], (5, 6, 4)),
        ("test_index_slice", lambda np, x: x[::-1, 2:4, :], (5, 6, 4)),
        ("test_index_lists", lambda np, x: x[[0, 1, 2], :, :], (5, 6, 4)),
        ("test_index_mixed", lambda np, x: x[3, 2:, [1, 3]], (5, 6, 4)),
        ("test_vector_slice", lambda np, x: x[2:4], (5,)),
        ("test_index_slice_fanout", lambda np, x: x[::-1, 2:4, :] + x[::-1, 3:5, :], (5, 6, 4)),
        ("test_index_multiple_slices", lambda np, x: x[2:6][1:3], (7,)),
        ("test_reshape_method", lambda np, x: x.reshape((5 * 4, 6)), (5, 6, 4)),
        ("test_reshape_call", lambda np, x: np.reshape(x, (5 * 4, 6)), (5, 6, 4)),
        ("test_reshape_method_nolist", lambda np, x: x.reshape(5 * 4, 6), (5, 6, 4)),
        ("test_ravel_method", lambda np, x: x.ravel(), (5, 6, 4)),
        ("test_ravel_call", lambda np, x: np.ravel(x), (5, 6, 4)),
        ("test_flatten_method", lambda np, x: x.flatten(), (5, 6, 4)),
        ("test_diag", lambda np, x: np.diag(x), (10, 10)),
        ("test_transpose", lambda np, x: x.T, (8, 8)),
        ("test_roll", lambda np, x: np.roll(x, 2, axis=1), (4, 5)),
        ("test_roll_no_axis", lambda np, x: np.roll(x, 2, axis=1), (4, 5)),
        ("test_triu", lambda np, x: np.triu(x, k=2), (5, 5)),
        ("test_tril", lambda np, x: np.tril(x, k=2), (5, 5)),
        ("test_array_from_arrays", lambda np, x: np.array([x, x]), (3, 2)),
        ("test_array_from_arrays_2", lambda np, x: np.array([[2 * x, x + 1], [x, x]]), (3, 2)),
        ("test_len", lambda np, x: x if len(x) == 3 else None, (3, 2)),
        ("test_r_basic", lambda np, x: np.r_[x], (3, 2)),
        ("test_r_double", lambda np, x: np.r_[x, x], (3, 2)),
        ("test_squeeze_func", lambda np, x: np.squeeze(x), (5, 1, 4)),
        ("test_squeeze_method", lambda np, x: x.squeeze(), (5, 1, 4)),
        ("test_repeat", lambda np, x: np.repeat(x, 2, axis=1), (5, 3, 4)),
        ("test_repeat_axis1_rep1", lambda np, x: np.repeat(x, 1, axis=1), (5, 3, 4)),
        ("test_repeat_axis0", lambda np, x: np.repeat(x, 2, axis=0), (5, 3)),
        ("test_repeat_1d_axis0", lambda np, x: np.repeat(x, 2, axis=0), (5,)),
        ("test_repeat_axis0_rep1", lambda np, x: np.repeat(x, 1, axis=0), (5, 1)),
        ("test_expand_dims", lambda np, x: np.expand_dims(x, 2), (5, 1, 4)),
        ("test_index_dot_slices", lambda np, x: np.dot(x[:2], x[2:]), (4,)),
    ]
    for test, fun, shape in simple:
        n, R = named(test)
        add(test, fun, R(*shape))
    # jax.numpy spells these differently (keywords min/max; an index list must be an array)
    n, R = named("test_clip")
    add(
        "test_clip",
        lambda np, x: np.clip(x, a_min=0.1, a_max=1.1),
        R(5, 5),
        ref=lambda np, x: np.clip(x, min=0.1, max=1.1),
    )
    for test, index in (("test_multi_index", [0, 0]), ("test_multi_index2", [0, 1, 0])):
        n, R = named(test)
        add(
            test,
            lambda np, x, i=index: np.sum(x[i]),
            R(3),
            ref=lambda np, x, i=index: np.sum(x[np.asarray(i)]),
        )

    # numpy's reductions on a product (autograd's "plain numpy reductions on a box")
    n, R = named("test_plain_numpy_reductions_on_box")
    base = abs(R(5)) + 0.5
    for red in ("sum", "prod", "max", "min"):
        add(
            "test_plain_numpy_reductions_on_box",
            lambda np, a, red=red: getattr(np, red)(np.exp(a) * base),
            0.7,
        )
    add("test_non_numpy_sum", lambda np, x, y: sum([x, y]), R(10, 11), R(10, 11))
    for xs in ("list", "tuple"):
        wrap = list if xs == "list" else tuple
        # jax.numpy takes no lists: its reference converts the list first
        for stat in ("mean", "std", "var"):
            add(
                f"test_{stat}_list_of_boxes",
                lambda np, x, w=wrap, s=stat: getattr(np, s)(w([x, x + 2])),
                0.0,
                ref=lambda np, x, s=stat: getattr(np, s)(np.asarray([x, x + 2])),
            )

    n, R = named("test_simple_append")
    as_array = lambda np, a, b, **k: np.append(np.asarray(a), np.asarray(b), **k)
    add(
        "test_simple_append_list",
        lambda np, a, b: np.append(a, b),
        [1.0, 2.0, 3.0],
        4.0,
        argnums=(0, 1),
        ref=as_array,
    )
    add("test_simple_append_arr", lambda np, a, b: np.append(a, b), R(3), 4.0, argnums=(0, 1))
    add(
        "test_simple_append_list_2D",
        lambda np, a, b: np.append(a, b, axis=0),
        [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        [[7.0, 8.0, 9.0]],
        argnums=(0, 1),
        ref=lambda np, a, b: as_array(np, a, b, axis=0),
    )
    n, R = named("test_concatenate")
    A, B = R(5, 6, 4), R(4, 6, 4)
    add("test_simple_concatenate", lambda np, x, A=A: np.concatenate((A, x)), B)
    A, B = R(5, 6, 4), R(5, 6, 4)
    add("test_concatenate_axis_0", lambda np, x, B=B: np.concatenate((B, x, B)), A)
    add("test_concatenate_axis_1", lambda np, x, B=B: np.concatenate((B, x, B), axis=1), A)
    add("test_concatenate_axis_1_unnamed", lambda np, x, B=B: np.concatenate((B, x, B), 1), A)

    n, R = named("test_trace")
    rng = rng_for(n)
    o = int(rng.integers(-9, 11))
    add("test_trace", lambda np, x, o=o: np.trace(x, offset=o), R(10, 11))
    o = int(rng.integers(-9, 11))
    add("test_trace2", lambda np, x, o=o: np.trace(x, offset=o), R(11, 10))
    o = int(rng.integers(-5, 6))
    add("test_trace_extradims", lambda np, x, o=o: np.trace(x, offset=o), R(5, 6, 4, 3))

    n, R = named("test_prod")
    add("test_prod_1", lambda np, x: np.prod(x), R(2, 3) ** 2 / 10.0 + 0.1)
    add("test_prod_2", lambda np, x: np.prod(x, axis=0), R(2, 3) ** 2 + 0.1)
    add("test_prod_3", lambda np, x: np.prod(x, axis=0, keepdims=True), R(2, 3) ** 2 + 0.1)
    add("test_prod_4", lambda np, x: np.prod(x), R(7) ** 2 + 0.1)

    arrays = [
        ("test_1d_array", lambda np, x: np.array([x, x * 1.0, x + 2.5])),
        ("test_2d_array", lambda np, x: np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])),
        ("test_1d_array_fanout", lambda np, x: _twice(np.array([x, x * 1.0, x + 2.5]))),
        (
            "test_2d_array_fanout",
            lambda np, x: _twice(np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])),
        ),
        ("test_array_from_scalar", lambda np, x: np.array(x)),
        ("test_scalar_array_box_attributes", lambda np, x: _attributes(np, x) ** 2),
    ]
    for test, fun in arrays:
        add(test, fun, 3.0)

    n, R = named("test_r")
    c = R(3, 2)
    add("test_no_relation", lambda np, x: c, R(3, 2))
    add("test_r_no_relation", lambda np, x: np.r_[c], R(3, 2))
    add("test_r_node_and_const", lambda np, x: np.r_[x, c], R(3, 2))
    add("test_r_mixed", lambda np, x: np.r_[x, c, x], R(3, 2))
    c10 = R(10)
    add("test_r_slicing", lambda np, x: np.r_[x, c10, 1:10], R(10))
    add("test_c_", lambda np, x: np.c_[x, c, x], R(3, 2))
    add("test_c_mixed", lambda np, x: np.c_[x, c, x], R(3, 2))

    for fn in ("var", "std"):
        n, R = named(f"test_{fn}_ddof")
        B, C, D = R(3), R(3, 4), R(1, 3)
        get = lambda np, fn=fn: getattr(np, fn)
        out.extend(
            combo(
                n,
                get,
                (0,),
                [[B, C, D]],
                {"axis": [None], "keepdims": [True, False], "ddof": [0, 1]},
            )
        )
        out.extend(
            combo(
                n + "_b",
                get,
                (0,),
                [[C, D]],
                {"axis": [None, 1], "keepdims": [True, False], "ddof": [2]},
            )
        )

    n, R = named("test_where")
    C = R(4, 5) > 0
    add("test_where", lambda np, x, y, C=C: np.where(C, x, y), R(4, 5), R(4, 5))
    add(
        "test_tensordot_kwargs_by_position",
        lambda np, x: np.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2),
        1.0,
    )
    n, R = named("test_cast_to_int")
    inds = _ones_column()

    def cast_to_int(np, W):
        np.concatenate((W, inds), axis=1)
        new_W = W[:, :-1]
        new_inds = np.int64(W[:, -1])
        return new_W[new_inds].sum()

    add("test_cast_to_int", cast_to_int, R(5, 10))
    n, R = named("test_diagonal")
    add("test_diagonal", lambda np, D: np.diagonal(D, axis1=-1, axis2=-2), R(4, 4))
    add("test_diagonal", lambda np, D: np.diagonal(D, axis1=-1, axis2=-2), R(3, 4, 4))
    n, R = named("test_nan_to_num")
    y = _nan_to_num_offsets()
    add("test_nan_to_num", lambda np, x: np.sum(np.sin(np.nan_to_num(x + y))), R(4))

    add("test_max_equal_values", lambda np, x: np.max(np.array([x, x])), 1.0)
    eq2d = lambda np, x: np.max(np.array([[x, x], [x, 0.5]]), axis=1)
    add("test_max_equal_values_2d", eq2d, 1.0)
    add("test_max_equal_values_2d", eq2d, -1.0)
    three = lambda np, x: np.min(
        np.array([[x, x, x], [x, 0.5, 0.5], [0.5, 0.5, 0.5], [x, x, 0.5]]), axis=0
    )
    add("test_min_3_way_equality", three, 1.0)
    add("test_min_3_way_equality", three, -1.0)
    add("test_maximum_equal_values", lambda np, x: np.maximum(x, x), 1.0)
    meq = lambda np, x: np.maximum(np.array([x, x, 0.5]), np.array([[x, 0.5, x], [x, x, 0.5]]))
    for v in (1.0, -1.0, 2.0):
        add("test_maximum_equal_values_2d", meq, v)
    for num in (0, 1, 5):
        lin = lambda np, x, y, num=num: np.linspace(x, y, num)
        for a, b in ((1.2, 3.4), (1.2, -3.4), (1.2, 1.2)):
            add("test_linspace", lin, a, b)
    add(
        "test_astype",
        lambda np, x: np.sum(np.sin(x.astype("float64"))),
        _arange3(),
        out_dtype="float32",
    )
    n, R = named("test_gradient")
    for shape in ((10,), (10, 10), (10, 10, 10)):
        add("test_gradient", lambda np, x: np.gradient(x), R(*shape))
    for a in (None, 0, 1, -1, (0, 1), (0, -1)):
        add("test_gradient", lambda np, x, a=a: np.gradient(x, axis=a), R(10, 10, 10))
    return out


def _twice(a):
    return a + a


def _attributes(np, x):
    if not (x.shape == () and x.ndim == 0 and x.size == 1 and x.dtype == np.float64):
        raise AssertionError("a 0-d float64 array was expected")
    return x


def _ones_column():
    import numpy

    return numpy.ones(5)[:, None]


def _nan_to_num_offsets():
    import numpy

    return numpy.array([0.0, numpy.nan, numpy.inf, -numpy.inf])


def _arange3():
    import numpy

    return numpy.arange(3, dtype="float32")
