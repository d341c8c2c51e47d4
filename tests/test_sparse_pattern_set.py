"""The real-pattern set: each method's color count (so that regressions show), the Hessian
scheme choice, bicolorings, reproducible colorings, and detection's numpy index maps."""

from __future__ import annotations

import numpy as np
import pytest

from anydiff import coloring as C
from anydiff.bench.patterns import PATTERN_SET, arrowhead, stencil

# counts reached with the default (deterministic) budget; lower is fine, higher regresses
RECORDED: dict[str, dict[str, int]] = {
    "poisson5 64^2": {"column": 5, "star": 5, "hessian": 4},
    "poisson7 16^3": {"column": 7, "star": 7, "hessian": 6},
    "fe laplacian q1 (9-point) 64^2": {"column": 9, "star": 9, "hessian": 6},
    "q1 laplacian 3-D (27-point) 12^3": {"column": 27, "star": 27, "hessian": 17},
    "q1 elasticity 24x24": {"column": 18, "star": 18, "hessian": 12},
    "brusselator 32": {"column": 9, "star": 8, "hessian": 6},
}


def test_every_pattern_has_recorded_counts() -> None:
    assert sorted(RECORDED) == sorted(PATTERN_SET)


@pytest.mark.parametrize("name", sorted(PATTERN_SET))
def test_counts_do_not_regress_and_hessian_takes_the_cheapest(name: str) -> None:
    p = PATTERN_SET[name]()
    column = C.color_columns(p, "best")
    star = C.star_coloring(p, "best")
    auto = C.hessian_coloring(p)
    direct = C.hessian_coloring(p, "direct")
    for c in (column, star, auto, direct):
        assert C.is_valid(p, c)
    assert direct.kind in ("star", "column")
    assert auto.ncolors <= direct.ncolors <= min(star.ncolors, column.ncolors)
    counts = {"column": column.ncolors, "star": star.ncolors, "hessian": auto.ncolors}
    for method, most in RECORDED[name].items():
        assert counts[method] <= most, (method, counts)


def test_poisson_5_point_reaches_the_optimum() -> None:
    p = PATTERN_SET["poisson5 64^2"]()
    assert C.color_columns(p, "best").ncolors == 5


def test_poisson_7_point_reaches_the_optimum() -> None:
    """A distance-2 coloring of the 3-D grid: 7 is the clique bound (a row's columns)."""
    p = PATTERN_SET["poisson7 16^3"]()
    c = C.color_columns(p, "best")
    assert c.ncolors == 7
    assert C.is_valid(p, c)


def test_best_is_reproducible() -> None:
    p = PATTERN_SET["brusselator 32"]()
    first = C.color_columns(p, "best")
    again = C.color_columns(p, "best")
    np.testing.assert_array_equal(first.colors, again.colors)
    seeded = C.color_columns(p, "best", seed=3)
    assert C.is_valid(p, seeded)


@pytest.mark.parametrize("n,dense", [(50, 1), (200, 2)])
def test_bicoloring_of_an_arrowhead_recovers_the_matrix(n: int, dense: int) -> None:
    p = arrowhead(n, dense)
    bi = C.bicoloring(p)
    assert bi.ncolors <= 2 * dense + 2 < C.color_columns(p, "best").ncolors
    rng = np.random.default_rng(0)
    rows, cols = p.coo()
    j = np.zeros(p.shape)
    j[rows, cols] = rng.standard_normal(rows.size)
    sc, sr = bi.seed_matrices()
    got = bi.decompress(j @ sc, sr.T @ j).toarray()
    np.testing.assert_array_equal(got, j)


def test_bicoloring_rejects_colors_that_miss_a_nonzero() -> None:
    p = arrowhead(4, 1)
    with pytest.raises(ValueError, match="cannot recover"):
        C.Bicoloring.from_colors(p, np.zeros(4, dtype=np.int64), -np.ones(4, dtype=np.int64))


def test_hessian_coloring_options() -> None:
    p = stencil((8, 8), [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)])
    for scheme in ("star", "acyclic", "column"):
        assert C.hessian_coloring(p, scheme).kind == scheme
    with pytest.raises(ValueError, match="scheme must be one of"):
        C.hessian_coloring(p, "row")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="work_budget"):
        C.color_columns(p, "best", work_budget=-1)


def test_sparse_hessian_plan_says_its_scheme() -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import anydiff

    def f(x: object) -> object:
        return jnp.sum((x[1:] - x[:-1] ** 2) ** 2) + jnp.sum(x**4)  # type: ignore[index,operator]

    n = 40
    x = np.linspace(-1.0, 1.0, n)
    pattern = stencil((n,), [(0,), (1,), (-1,)])
    want = np.asarray(jax.hessian(f)(jnp.asarray(x)))
    inner = anydiff.HigherOrderBackend(
        (anydiff.JaxBackend("forward"), anydiff.JaxBackend("reverse"))
    )
    for scheme in ("auto", "direct", "column"):
        backend = anydiff.SparseBackend(
            inner, anydiff.KnownPattern(pattern), hessian_coloring=scheme
        )
        plan = anydiff.prepare_hessian(backend, f, x)
        kind = plan.coloring.kind
        assert f"{kind} coloring, {plan.coloring.ncolors} products" in repr(plan)
        assert kind == scheme or scheme in ("auto", "direct")
        np.testing.assert_allclose(plan(x).toarray(), want, rtol=1e-12, atol=1e-12)


def test_detection_index_maps_match_jax() -> None:
    jax = pytest.importorskip("jax")
    from jax import lax

    from anydiff.ir.jaxpr import _move_indices

    rng = np.random.default_rng(1)
    for _ in range(100):
        shape = tuple(int(d) for d in rng.integers(0, 4, size=rng.integers(1, 3)))
        x = np.arange(int(np.prod(shape))).reshape(shape)
        config = [(int(rng.integers(-2, 3)), int(rng.integers(-2, 3)), int(rng.integers(0, 3)))
                  for _ in shape]  # fmt: skip
        try:
            want = np.asarray(lax.pad(jax.numpy.asarray(x), jax.numpy.asarray(-1), config))
        except Exception:  # a negative padding larger than the operand
            continue
        got = _move_indices("pad", [x, np.asarray(-1)], {"padding_config": config})
        assert got is not None
        np.testing.assert_array_equal(got[0], want)
    x = np.arange(24).reshape(2, 3, 4)
    cases = [
        ("transpose", {"permutation": (2, 0, 1)}, lax.transpose(x, (2, 0, 1))),
        ("slice", {"start_indices": (0, 1, 0), "limit_indices": (2, 3, 4), "strides": (1, 1, 2)},
         lax.slice(x, (0, 1, 0), (2, 3, 4), (1, 1, 2))),
        ("rev", {"dimensions": (0, 2)}, lax.rev(x, (0, 2))),
        ("broadcast_in_dim", {"shape": (5, 2, 3, 4), "broadcast_dimensions": (1, 2, 3)},
         lax.broadcast_in_dim(x, (5, 2, 3, 4), (1, 2, 3))),
    ]  # fmt: skip
    for name, params, want in cases:
        got = _move_indices(name, [x], params)
        assert got is not None
        np.testing.assert_array_equal(got[0], np.asarray(want))
