"""Sparse Jacobians: the Brusselator of DESIGN.md with every inner backend, result formats,
prepared plans, and local sparsity detection."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import anydiff
from anydiff import KnownPattern, LocalDetector, SparseBackend
from anydiff.bench.problems import BRUSSELATOR_CHECKS, brusselator_init, brusselator_rhs
from anydiff.coloring import Pattern
from conftest import HAS_JAX, HAS_TORCH, need
from sparse_helpers import brusselator_pattern, dense

pytestmark = [
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta"),
    pytest.mark.filterwarnings("ignore:Sparse invariant checks are implicitly disabled"),
]


def brusselator(n_grid: int, framework: str) -> Any:
    def f(u: Any) -> Any:
        return brusselator_rhs(u, n_grid, 0.0, framework)

    return f


def point(n_grid: int, framework: str, shift: float = 0.0) -> Any:
    """The initial state (plus ``shift`` times a fixed perturbation) as a framework array."""
    u = brusselator_init(n_grid)
    u = u + shift * np.random.default_rng(7).uniform(-1.0, 1.0, u.shape)
    if framework == "jax":
        import jax.numpy as jnp

        return jnp.asarray(u)
    if framework == "torch":
        import torch

        return torch.from_numpy(u)
    return u


def jacfwd(f: Any, x: Any) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    return np.asarray(jax.jit(jax.jacfwd(f))(jnp.asarray(np.asarray(x))))


# --- the Brusselator definition ------------------------------------------------------------


@pytest.mark.parametrize("framework", ["numpy", "jax", "torch"])
def test_brusselator_check_values(framework: str) -> None:
    need({"numpy": "numpy", "jax": "jax", "torch": "torch"}[framework])
    du = dense(brusselator_rhs(point(32, framework), 32, 0.0, framework))
    assert du.shape == (2048,)
    for index, value in BRUSSELATOR_CHECKS.items():  # 1-based Julia indices
        np.testing.assert_allclose(du[index - 1], value, rtol=1e-13, err_msg=f"du[{index}]")
    assert sorted(BRUSSELATOR_CHECKS) == [34, 1058, 2000, 2048]


def test_brusselator_initial_state_in_julia_layout() -> None:
    n = 8
    u0 = brusselator_init(n)
    x = np.linspace(0.0, 1.0, n)
    i, j = 3, 5  # u at index i + N j depends on y = x[j]; v at N^2 + i + N j on x[i]
    np.testing.assert_allclose(u0[i + n * j], 22.0 * (x[j] * (1 - x[j])) ** 1.5, rtol=1e-15)
    np.testing.assert_allclose(u0[n * n + i + n * j], 27.0 * (x[i] * (1 - x[i])) ** 1.5)


# --- sparse Jacobians of the Brusselator -------------------------------------------------

N_SMALL = 8


def sparse_backends() -> list[Any]:
    out = []
    if HAS_JAX:
        out += [
            pytest.param("jax", lambda: anydiff.JaxBackend("forward"), 1e-12, id="jax-fwd"),
            pytest.param("jax", lambda: anydiff.JaxBackend("reverse"), 1e-12, id="jax-rev"),
        ]
    if HAS_TORCH:
        out += [
            pytest.param("torch", lambda: anydiff.TorchBackend("reverse"), 1e-12, id="torch-rev")
        ]
    out += [
        pytest.param(
            "numpy", lambda: anydiff.FiniteDifferences(method="central"), 1e-6, id="fd-central"
        )
    ]
    return out


@pytest.mark.parametrize("framework, make, rtol", sparse_backends())
def test_brusselator_sparse_jacobian_equals_dense(framework: str, make: Any, rtol: float) -> None:
    need("jax")  # the reference is jax.jacfwd
    f = brusselator(N_SMALL, framework)
    x = point(N_SMALL, framework)
    J = anydiff.jacobian(SparseBackend(make()), f, x)
    assert isinstance(J, sp.csr_array)  # host inputs give scipy
    want = jacfwd(brusselator(N_SMALL, "jax"), x)
    assert J.shape == want.shape == (2 * N_SMALL**2, 2 * N_SMALL**2)
    scale = np.abs(want).max()
    np.testing.assert_allclose(J.toarray(), want, rtol=rtol, atol=rtol * scale)
    # structure: the default LocalDetector finds the stencil, including the entries
    # d(du)/dv = u^2 that vanish at the boundary rows of u0 (u0 = 0 where y is 0 or 1)
    stencil = brusselator_pattern(N_SMALL)
    np.testing.assert_array_equal(Pattern.from_scipy(J).todense(), stencil)
    assert np.all(np.diff(J.indptr) == 6)


@pytest.mark.parametrize("framework, make, rtol", sparse_backends())
def test_brusselator_known_pattern_gives_the_same(framework: str, make: Any, rtol: float) -> None:
    need("jax")
    f = brusselator(N_SMALL, framework)
    x = point(N_SMALL, framework)
    stencil = brusselator_pattern(N_SMALL)
    detected = anydiff.jacobian(SparseBackend(make()), f, x)
    for known in (stencil, sp.csr_array(stencil), Pattern.from_dense(stencil)):
        backend = SparseBackend(make(), detector=KnownPattern(known, check=True))
        J = anydiff.jacobian(backend, f, x)
        assert isinstance(J, sp.csr_array)
        np.testing.assert_array_equal(J.indptr, detected.indptr)
        np.testing.assert_array_equal(J.indices, detected.indices)
        np.testing.assert_allclose(J.data, detected.data, rtol=rtol, atol=rtol * 1e3)


@pytest.fixture(scope="module")
def brusselator32() -> Any:
    """The N = 32 Brusselator, JAX forward, best coloring (the default work budget)."""
    need("jax")
    backend = SparseBackend(anydiff.JaxBackend("forward"), coloring="best")
    f = brusselator(32, "jax")
    x = point(32, "jax")
    return f, x, anydiff.prepare_jacobian(backend, f, x)


def test_brusselator32_jax_equals_dense(brusselator32: Any) -> None:
    f, x, plan = brusselator32
    J = plan(x)
    want = jacfwd(f, x)
    assert J.shape == (2048, 2048)
    rows, cols = plan.pattern.coo()
    np.testing.assert_allclose(J.data, want[rows, cols], rtol=1e-12, atol=1e-9)
    outside = np.ones(want.shape, dtype=bool)
    outside[rows, cols] = False
    assert not np.any(want[outside])  # nothing dense is missing from the sparse result
    # DESIGN.md: 6 nonzeros in every row and column
    assert plan.pattern == Pattern.from_dense(brusselator_pattern(32))
    assert np.all(plan.pattern.todense().sum(0) == 6)
    assert np.all(plan.pattern.todense().sum(1) == 6)


def test_brusselator32_best_coloring_has_at_most_8_colors(brusselator32: Any) -> None:
    _, _, plan = brusselator32
    assert plan.coloring.kind == "column"  # forward mode: JVPs
    assert plan.coloring.is_valid() and plan.coloring.ncolors <= 9
    # with ten times the default work (deterministic, unlike a wall-clock budget): 6
    # nonzeros in a row need 6 colors; 7 is the best known
    more = anydiff.coloring.color_columns(plan.pattern, "best", work_budget=4 * 10**8)
    assert more.is_valid() and 6 <= more.ncolors <= 8, more


# --- formats, values, prepared plans -----------------------------------------------------


def test_bcoo_format_equals_dense() -> None:
    need("jax")
    from jax.experimental.sparse import BCOO

    f = brusselator(N_SMALL, "jax")
    want = jacfwd(f, point(N_SMALL, "numpy"))
    for x in (point(N_SMALL, "jax"), point(N_SMALL, "numpy")):
        for inner in (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse")):
            J = anydiff.jacobian(SparseBackend(inner, format="bcoo"), f, x)
            assert isinstance(J, BCOO)
            assert J.shape == want.shape
            assert J.nse == 6 * 2 * N_SMALL**2
            np.testing.assert_allclose(np.asarray(J.todense()), want, rtol=1e-12, atol=1e-9)


def test_torch_format_is_a_sparse_csr_tensor() -> None:
    torch = need("torch")
    need("jax")
    f = brusselator(N_SMALL, "torch")
    x = point(N_SMALL, "torch")
    want = jacfwd(brusselator(N_SMALL, "jax"), x.numpy())
    J = anydiff.jacobian(SparseBackend(anydiff.TorchBackend("reverse"), format="torch"), f, x)
    assert isinstance(J, torch.Tensor)
    assert J.layout == torch.sparse_csr
    assert tuple(J.shape) == want.shape
    assert J.dtype == torch.float64
    np.testing.assert_allclose(J.to_dense().numpy(), want, rtol=1e-12, atol=1e-9)
    # a CPU tensor is a host input: scipy by default
    J = anydiff.jacobian(SparseBackend(anydiff.TorchBackend("reverse")), f, x)
    assert isinstance(J, sp.csr_array)


def test_value_and_jacobian_returns_the_value() -> None:
    need("jax")
    f = brusselator(N_SMALL, "jax")
    x = point(N_SMALL, "numpy")
    value, J = anydiff.value_and_jacobian(SparseBackend(anydiff.JaxBackend("forward")), f, x)
    np.testing.assert_allclose(np.asarray(value), brusselator_rhs(x, N_SMALL), rtol=1e-14)
    assert isinstance(J, sp.csr_array)
    np.testing.assert_allclose(J.toarray(), jacfwd(f, x), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_prepared_plan_at_a_second_point(mode: str) -> None:
    need("jax")
    f = brusselator(N_SMALL, "jax")
    x0, x1 = point(N_SMALL, "numpy"), point(N_SMALL, "numpy", shift=0.5)
    plan = anydiff.prepare_jacobian(SparseBackend(anydiff.JaxBackend(mode)), f, x0)
    assert isinstance(plan, anydiff.SparseJacobianPlan)
    assert plan.coloring.kind == ("column" if mode == "forward" else "row")
    assert plan.coloring.pattern == plan.pattern
    for x in (x1, x0, x1):
        J = plan(x)
        np.testing.assert_allclose(J.toarray(), jacfwd(f, x), rtol=1e-12, atol=1e-9)
    value, J = plan.value_and_jacobian(x1)
    np.testing.assert_allclose(np.asarray(value), brusselator_rhs(x1, N_SMALL), rtol=1e-14)
    np.testing.assert_allclose(J.toarray(), jacfwd(f, x1), rtol=1e-12, atol=1e-9)


def test_editing_a_result_leaves_the_plan_intact() -> None:
    """scipy edits index arrays in place (eliminate_zeros, sort_indices): a returned
    matrix that shared them with the plan's pattern corrupted every later call."""

    def f(x: Any) -> Any:
        return x**2 + np.roll(x, 1)

    x0, x1 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 2.0, 3.0])
    backend = SparseBackend(anydiff.DualBackend(), detector=anydiff.TracerDetector())
    plan = anydiff.prepare_jacobian(backend, f, x0)
    J0 = plan(x0)
    assert J0[0, 0] == 0.0  # a structural nonzero whose value is zero here
    J0.eliminate_zeros()
    assert J0.nnz == 7
    want = np.diag(2 * x1) + np.roll(np.eye(4), 1, axis=0)
    assert plan(x1).nnz == 8
    np.testing.assert_array_equal(plan(x1).toarray(), want)


def test_compression_choice_with_a_backend_doing_both() -> None:
    """A CallbackBackend with both products can be told which compression to use; "auto"
    takes the one with fewer colors."""
    rng = np.random.default_rng(3)
    mask = np.eye(6, dtype=bool) | np.eye(6, k=2, dtype=bool)
    mask[0, :] = True  # a dense row: columns need 6 colors, rows need fewer
    A = np.where(mask, rng.standard_normal(mask.shape), 0.0)
    backend = anydiff.CallbackBackend(jvp=lambda x, v: A @ v, vjp=lambda x, w: A.T @ w)

    def f(x: Any) -> Any:
        return A @ x

    plans = {
        c: anydiff.prepare_jacobian(
            SparseBackend(backend, detector=KnownPattern(mask), compression=c), f, np.ones(6)
        )
        for c in ("column", "row", "auto")
    }
    for c in ("column", "row"):
        assert plans[c].coloring.kind == c
        np.testing.assert_allclose(plans[c](np.ones(6)).toarray(), A, rtol=1e-15)
    assert plans["column"].coloring.ncolors == 6
    assert plans["row"].coloring.ncolors < 6
    assert plans["auto"].coloring.kind == "row"
    assert plans["auto"].coloring.ncolors == plans["row"].coloring.ncolors
    # a backend whose VJPs cost several JVPs keeps columns unless rows save enough
    backend.vjp_cost = 6.0 / plans["row"].coloring.ncolors + 0.01
    auto = SparseBackend(backend, detector=KnownPattern(mask))
    assert anydiff.prepare_jacobian(auto, f, np.ones(6)).coloring.kind == "column"
    backend.vjp_cost = 6.0 / plans["row"].coloring.ncolors - 0.01
    assert anydiff.prepare_jacobian(auto, f, np.ones(6)).coloring.kind == "row"


def test_dual_backend_compresses_columns_when_rows_save_little() -> None:
    """DualBackend's JVP lanes share one pass while each VJP is a reverse sweep: where rows
    need fewer colors, but not five times fewer, it must still take columns."""
    mask = np.eye(6, dtype=bool) | np.eye(6, k=2, dtype=bool)
    mask[0, :] = True  # columns need 6 colors, rows fewer
    A = np.where(mask, np.arange(1.0, 37.0).reshape(6, 6), 0.0)
    backend = SparseBackend(anydiff.DualBackend(), detector=KnownPattern(mask))
    rows = SparseBackend(anydiff.DualBackend(), detector=KnownPattern(mask), compression="row")
    x = np.ones(6)
    assert anydiff.prepare_jacobian(rows, lambda v: A @ v, x).coloring.ncolors < 6
    plan = anydiff.prepare_jacobian(backend, lambda v: A @ v, x)
    assert plan.coloring.kind == "column"
    np.testing.assert_array_equal(plan(x).toarray(), A)


def test_structurally_zero_jacobian() -> None:
    need("jax")
    import jax.numpy as jnp

    def f(x: Any) -> Any:
        return jnp.zeros(3) + 1.0

    J = anydiff.jacobian(SparseBackend(anydiff.JaxBackend("forward")), f, np.ones(4))
    assert isinstance(J, sp.csr_array)
    assert J.shape == (3, 4) and J.nnz == 0


def test_constant_arguments_are_not_differentiated() -> None:
    need("jax")
    f = brusselator(N_SMALL, "jax")
    x = point(N_SMALL, "numpy")

    def g(u: Any, scale: Any) -> Any:
        return scale * f(u)

    J = anydiff.jacobian(SparseBackend(anydiff.JaxBackend("forward")), g, x, anydiff.Constant(2.0))
    np.testing.assert_allclose(J.toarray(), 2.0 * jacfwd(f, x), rtol=1e-12, atol=1e-9)


# --- local detection -----------------------------------------------------------------------


def product(x: Any) -> Any:
    """f(x) = (x0 x1, x2): d f0 / d x1 = x0 is zero exactly where x0 = 0."""
    import jax.numpy as jnp

    return jnp.stack([x[0] * x[1], x[2]])


X_ZERO = np.array([0.0, 2.0, 3.0])  # d f0 / d x1 vanishes here
X_OTHER = np.array([1.5, 2.0, 3.0])


def test_local_detector_finds_a_data_dependent_zero_with_random_probes() -> None:
    need("jax")
    backend = SparseBackend(anydiff.JaxBackend("forward"), detector=LocalDetector(points=3))
    plan = anydiff.prepare_jacobian(backend, product, X_ZERO)
    np.testing.assert_array_equal(plan.pattern.todense(), [[1, 1, 0], [0, 0, 1]])
    J = plan(X_ZERO)
    assert J.nnz == 3  # the entry is stored, with its value 0 at this point
    np.testing.assert_array_equal(J.toarray(), [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(plan(X_OTHER).toarray(), [[2.0, 1.5, 0.0], [0.0, 0.0, 1.0]])


def test_local_detector_with_one_point_misses_it() -> None:
    """Documented locality: with ``points=1`` only the input itself is probed, so an entry
    that vanishes there is not in the pattern, and stays zero at every later point."""
    need("jax")
    backend = SparseBackend(anydiff.JaxBackend("forward"), detector=LocalDetector(points=1))
    plan = anydiff.prepare_jacobian(backend, product, X_ZERO)
    np.testing.assert_array_equal(plan.pattern.todense(), [[1, 0, 0], [0, 0, 1]])
    J = plan(X_OTHER)
    assert J.nnz == 2
    assert J[0, 1] == 0.0  # the true value is 1.5: missed


def test_local_detector_is_seeded_and_validates_points() -> None:
    assert repr(LocalDetector(points=2, scale=0.1, seed=4)) == (
        "LocalDetector(points=2, scale=0.1, seed=4)"
    )
    with pytest.raises(ValueError, match="points must be at least 1; got 0"):
        LocalDetector(points=0)


def test_custom_detector_plugs_in() -> None:
    need("jax")
    seen: list[Any] = []

    class Tridiagonal(anydiff.AbstractDetector):
        def detect(self, problem: Any) -> Pattern:
            seen.append(problem)
            n = problem.shape[1]
            return Pattern.from_dense(np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1))

    import jax.numpy as jnp

    def f(x: Any) -> Any:
        return x * x + jnp.concatenate([x[1:], jnp.zeros(1)]) + jnp.roll(x, 1).at[0].set(0.0)

    x = np.arange(1.0, 6.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        J = anydiff.jacobian(
            SparseBackend(anydiff.JaxBackend("forward"), detector=Tridiagonal()), f, x
        )
    np.testing.assert_allclose(J.toarray(), jacfwd(f, x), rtol=1e-15)
    (problem,) = seen
    assert problem.shape == (5, 5) and not problem.hessian
    np.testing.assert_allclose(problem.dense(x), jacfwd(f, x))


# --- bicolorings: JVPs and VJPs together --------------------------------------------------


def two_sided(n: int, dense: int, xp: Any) -> Any:
    """``dense`` full rows and ``dense`` full columns over a diagonal (an arrowhead)."""

    def f(x: Any) -> Any:
        y = x**2 * (1.0 + xp.sum(x[:dense] ** 3))
        full = xp.sum(xp.sin(x)) * (1.0 + xp.arange(dense, dtype=x.dtype))
        return xp.concatenate([y[:dense] + full, y[dense:]])

    return f


def banded_dense(n: int, xp: Any) -> Any:
    """A tridiagonal Jacobian with one dense row (the last) and one dense column (the
    first): one-sided colorings need n products, a bicoloring a few."""

    def f(x: Any) -> Any:
        mid = x[1:-1] * x[:-2] - x[2:] ** 2 + x[0] * x[1:-1]
        ends = xp.stack([x[0] * x[1], xp.sum(x**2) + x[-2] * x[-1]])
        return xp.concatenate([ends[:1], mid, ends[1:]])

    return f


def jax_x64() -> None:
    need("jax")
    import jax

    jax.config.update("jax_enable_x64", True)


def jax_callbacks(f: Any) -> Any:
    """A CallbackBackend whose JVPs and VJPs are JAX's: a backend with both products."""
    import jax

    def jvp(x: Any, v: Any) -> Any:
        return np.asarray(jax.jvp(f, (x,), (v,))[1])

    def vjp(x: Any, w: Any) -> Any:
        return np.asarray(jax.vjp(f, x)[1](w)[0])

    return anydiff.CallbackBackend(jvp=jvp, vjp=vjp)


INNERS = ["jax_forward", "jax_reverse", "jax_callbacks", "dual", "finite_diff"]


@pytest.mark.parametrize(
    "case,inner,dtype",
    [(case, inner, np.float64) for case in ("arrowhead", "banded+dense") for inner in INNERS]
    + [("arrowhead", inner, np.float32) for inner in ("jax_callbacks", "dual", "finite_diff")],
)
def test_two_sided_patterns_match_jacfwd(case: str, inner: str, dtype: Any) -> None:
    """Where the inner backend computes JVPs and VJPs, an arrowhead is bicolored (JVPs and
    VJPs together, a handful of products); otherwise a one-sided coloring, and the repr
    says a bicoloring was missed. Every result matches jax.jacfwd."""
    jax_x64()
    import jax.numpy as jnp

    n = 40

    def make(xp: Any) -> Any:
        return two_sided(n, 2, xp) if case == "arrowhead" else banded_dense(n, xp)

    jax_fn = make(jnp)
    backend = {
        "jax_forward": lambda: anydiff.JaxBackend("forward"),
        "jax_reverse": lambda: anydiff.JaxBackend("reverse"),
        "jax_callbacks": lambda: jax_callbacks(jax_fn),
        "dual": anydiff.DualBackend,
        "finite_diff": lambda: anydiff.FiniteDifferences(),
    }[inner]()
    f = jax_fn if inner.startswith("jax") else make(np)
    x = np.linspace(0.1, 0.9, n).astype(dtype)
    x_in = jnp.asarray(x) if inner in ("jax_forward", "jax_reverse") else x
    plan = anydiff.prepare_jacobian(SparseBackend(backend), f, x_in)
    want = jacfwd(jax_fn, x.astype(np.float64))
    got = plan(x_in).toarray()
    tol = {np.float64: 1e-12, np.float32: 1e-5}[dtype]
    if inner == "finite_diff":
        tol = 1e-5 if dtype == np.float64 else 3e-3
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)
    coloring = plan.coloring
    one_sided = min(
        anydiff.coloring.color_columns(plan.pattern, "best").ncolors,
        anydiff.coloring.color_rows(plan.pattern, "best").ncolors,
    )
    if inner in ("jax_callbacks", "dual"):
        assert coloring.kind == "bicoloring"
        assert coloring.ncolors <= 6 < one_sided
        assert f"bicoloring, {coloring.ncolors} products" in repr(plan)
    else:  # one mode only: a one-sided coloring, and the repr says what was missed
        assert coloring.kind == ("row" if inner == "jax_reverse" else "column")
        missing = "JVPs" if inner == "jax_reverse" else "VJPs"
        assert "a bicoloring would need" in repr(plan)
        assert f"computes no {missing}" in repr(plan)


def test_bicoloring_needs_auto_compression() -> None:
    jax_x64()
    import jax.numpy as jnp

    f = two_sided(30, 1, jnp)
    x = np.linspace(0.1, 0.9, 30)
    for compression in ("column", "row"):
        backend = SparseBackend(jax_callbacks(f), compression=compression)
        plan = anydiff.prepare_jacobian(backend, f, x)
        assert plan.coloring.kind == compression
        assert "bicoloring" not in repr(plan)
