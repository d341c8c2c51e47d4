"""autograd's tests/test_linalg.py, real-valued tests (``eig`` of a real matrix is complex in
general and has no real-valued derivative to compare: left out with the complex tests)."""

# ruff: noqa: E731 (autograd's tests name their functions as lambdas; kept for the port)
from __future__ import annotations

from harness import Case, check, rng_for

FILE = "test_linalg"


def _T(np, a):
    return np.swapaxes(a, -1, -2)


def _symmetrize(np, a):
    lower = np.tril(a)
    return (lower + _T(np, lower)) / 2.0


def cases() -> list[Case]:
    out: list[Case] = []

    def add(test: str, fun, *args, **opts) -> None:
        k = sum(c.name.startswith(f"{FILE}.{test}[") for c in out)
        out.append(check(f"{FILE}.{test}[{k}]", fun, *args, **opts))

    def named(test: str):
        rng = rng_for(f"{FILE}.{test}")
        return lambda *shape: rng.standard_normal(shape)

    def rand_psd(R, d):
        m = R(d, d)
        return m @ m.T

    import numpy

    eye = numpy.eye

    R = named("test_inv")
    mat = R(8, 8)
    add("test_inv", lambda np, x: np.linalg.inv(x), mat @ mat + eye(8))
    R = named("test_pinv")
    for m in range(2, 8):
        add("test_pinv", lambda np, x: np.linalg.pinv(x), R(5, m))
        add("test_pinv", lambda np, x: np.linalg.pinv(x), R(2, 5, m))
    for m in range(2, 8):
        low = lambda np, x: np.linalg.pinv(_T(np, x) @ x)
        add("test_pinv_low_rank", low, R(5, m))
        add("test_pinv_low_rank", low, R(2, 5, m))
    R = named("test_inv_3d")
    add("test_inv_3d", lambda np, x: np.linalg.inv(x), R(4, 4, 4) + 5 * eye(4))
    add("test_inv_3d", lambda np, x: np.linalg.inv(x), R(4, 4, 4, 4) + 5 * eye(4))
    R = named("test_solve")
    B = R(8, 7)
    add("test_solve_arg1", lambda np, a: np.linalg.solve(a, B), R(8, 8) + 10.0 * eye(8))
    b = R(8)
    add("test_solve_arg1_1d", lambda np, a: np.linalg.solve(a, b), R(8, 8) + 10.0 * eye(8))
    A6 = R(6, 6) + eye(6)
    add("test_solve_arg2", lambda np, x: np.linalg.solve(A6, x), R(6, 5))
    B3 = R(5, 4)
    add(
        "test_solve_arg1_3d",
        lambda np, a: np.linalg.solve(a, B3[..., None])[..., 0],
        R(5, 4, 4) + 5 * eye(4),
    )
    B33 = R(5, 4, 6)
    add("test_solve_arg1_3d_3d", lambda np, a: np.linalg.solve(a, B33), R(5, 4, 4) + 5 * eye(4))
    R = named("test_det")
    add("test_det", lambda np, x: np.linalg.det(x), R(6, 6))
    add("test_det_3d", lambda np, x: np.linalg.det(x), R(3, 3, 3))
    R = named("test_slogdet")
    mat = R(6, 6)
    add("test_slogdet", lambda np, x: np.linalg.slogdet(x)[1], mat)
    add("test_slogdet", lambda np, x: np.linalg.slogdet(x)[1], -mat)
    stack = numpy.stack([rand_psd(R, 5) + 5 * eye(5) for _ in range(3)])
    add("test_slogdet_3d", lambda np, x: np.sum(np.linalg.slogdet(x)[1]), stack)

    R = named("test_norm")
    add("test_vector_2norm", lambda np, x: np.linalg.norm(x), R(6))
    pair = lambda np, x: np.linalg.norm(np.asarray([x, x + 2]))  # jax.numpy takes no lists
    add("test_norm_list_of_boxes", lambda np, x: np.linalg.norm([x, x + 2]), 0.0, ref=pair)
    add("test_norm_list_of_boxes", lambda np, x: np.linalg.norm((x, x + 2)), 0.0, ref=pair)
    add("test_frobenius_norm", lambda np, x: np.linalg.norm(x), R(6, 5))
    add("test_frobenius_norm_axis", lambda np, x: np.linalg.norm(x, axis=(0, 1)), R(6, 5, 4))
    for o in range(2, 5):
        add("test_vector_norm_ord", lambda np, x, o=o: np.linalg.norm(x, ord=o), R(6))
    for axis in range(3):
        add("test_norm_axis", lambda np, x, a=axis: np.linalg.norm(x, axis=a), R(6, 5, 4))
    add("test_norm_nuclear", lambda np, x: np.linalg.norm(x, ord="nuc"), R(6, 5), order=1)
    add(
        "test_norm_nuclear_axis",
        lambda np, x: np.linalg.norm(x, ord="nuc", axis=(0, 1)),
        R(6, 5, 4),
        order=1,
    )

    R = named("test_eigh")
    eigh_l = lambda np, x: tuple(np.linalg.eigh(x))
    eigh_u = lambda np, x: tuple(np.linalg.eigh(x, "U"))
    add("test_eigvalh_lower", eigh_l, R(6, 6))
    add("test_eigvalh_upper", eigh_u, R(6, 6))
    m = R(2, 3, 6, 6) + 10 * eye(6)[None, None, ...]
    hmat = numpy.einsum("...ij,...kj->...ik", m, m)
    add("test_eigvalh_lower_broadcasting", eigh_l, hmat)
    add("test_eigvalh_upper_broadcasting", eigh_u, hmat)

    R = named("test_cholesky")
    chol = lambda np, a: np.linalg.cholesky(_symmetrize(np, a))
    add("test_cholesky", chol, rand_psd(R, 6))
    add("test_cholesky_broadcast", chol, numpy.stack([rand_psd(R, 6) for _ in range(3)]))
    z = numpy.random.RandomState(0).randn(6)
    add(
        "test_cholesky_reparameterization_trick",
        lambda np, a: np.linalg.norm(np.dot(np.linalg.cholesky(_symmetrize(np, a)), z)),
        rand_psd(R, 6),
    )

    R = named("test_svd")
    svd = lambda np, x: tuple(np.linalg.svd(x, full_matrices=False))
    for test, shape in (
        ("test_svd_wide_2d", (3, 5)),
        ("test_svd_wide_3d", (4, 3, 5)),
        ("test_svd_square_2d", (4, 4)),
        ("test_svd_square_3d", (3, 4, 4)),
        ("test_svd_tall_2d", (5, 3)),
        ("test_svd_tall_3d", (4, 5, 3)),
    ):
        add(test, svd, R(*shape))
    only_s = lambda np, x: np.linalg.svd(x, full_matrices=False, compute_uv=False)
    add("test_svd_only_s_2d", only_s, R(5, 3))
    add("test_svd_only_s_3d", only_s, R(4, 5, 3))
    return out
