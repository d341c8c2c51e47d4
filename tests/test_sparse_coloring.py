"""Property tests of the colorings on random patterns: every ordering gives a valid coloring
(by the library's check and by one written here from the definitions), and decompression
of the compressed product recovers the matrix exactly."""

from __future__ import annotations

import numpy as np
import pytest

from anydiff import coloring as C
from sparse_helpers import (
    acyclic_ok,
    columns_ok,
    integer_matrix,
    random_mask,
    random_symmetric_mask,
    rows_ok,
    seed,
    star_ok,
    symmetric_integer_matrix,
)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)
TINY_BUDGET = 1e-3

sizes = st.integers(0, 30)
densities = st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0]) | st.floats(0.0, 1.0)
seeds = st.integers(0, 2**31 - 1)


def orders_to_try(seed_: int) -> list[tuple[str, dict]]:
    """Every ordering; ``best`` with a tiny budget, ``random`` with two seeds, and one
    greedy ordering followed by the improvement pass."""
    out: list[tuple[str, dict]] = [(o, {}) for o in C.ORDERS if o not in ("best", "random")]
    out += [("best", {"time_budget": TINY_BUDGET})]
    out += [("random", {"seed": seed_}), ("random", {"seed": seed_ + 1})]
    out += [("largest_first", {"time_budget": TINY_BUDGET})]
    return out


def check_common(col: C.Coloring, mask: np.ndarray, kind: str) -> None:
    vertices = mask.shape[1] if kind in ("column", "star", "acyclic") else mask.shape[0]
    assert col.kind == kind
    assert col.colors.shape == (vertices,)
    assert col.colors.dtype.kind in "iu"
    assert col.is_valid()
    assert C.is_valid(mask, col)
    assert C.is_valid(col.pattern, col.colors, kind)
    if vertices:
        assert col.colors.min() >= 0
        # every color is used: an empty color would be a wasted product
        assert set(np.unique(col.colors)) == set(range(col.ncolors))
        assert col.ncolors <= vertices
    else:
        assert col.ncolors == 0
    np.testing.assert_array_equal(C.seed_matrix(col), seed(col.colors))
    np.testing.assert_array_equal(col.seed_matrix(), seed(col.colors))


@SETTINGS
@given(m=sizes, n=sizes, density=densities, seed_=seeds)
@example(m=0, n=0, density=0.5, seed_=0)
@example(m=1, n=17, density=0.6, seed_=1)
@example(m=23, n=1, density=0.6, seed_=2)
@example(m=5, n=9, density=0.0, seed_=3)
@example(m=30, n=30, density=1.0, seed_=4)
@example(m=0, n=7, density=1.0, seed_=5)
@example(m=7, n=0, density=1.0, seed_=6)
def test_column_and_row_colorings_valid_and_exact(
    m: int, n: int, density: float, seed_: int
) -> None:
    mask = random_mask(m, n, density, seed_)
    pattern = C.Pattern.from_dense(mask)
    J = integer_matrix(mask, seed_)
    max_row = int(mask.sum(1).max()) if m and n else 0
    max_col = int(mask.sum(0).max()) if m and n else 0
    for order, kw in orders_to_try(seed_):
        cols = C.color_columns(pattern, order, **kw)
        check_common(cols, mask, "column")
        assert columns_ok(mask, cols.colors), (order, kw)
        assert cols.ncolors >= max_row  # columns sharing a row need distinct colors
        got = C.decompress(cols, J @ seed(cols.colors))
        assert got.shape == (m, n)
        np.testing.assert_array_equal(got.toarray(), J)

        rows = C.color_rows(pattern, order, **kw)
        check_common(rows, mask, "row")
        assert rows_ok(mask, rows.colors), (order, kw)
        assert rows.ncolors >= max_col
        got = C.decompress(rows, seed(rows.colors).T @ J)
        assert got.shape == (m, n)
        np.testing.assert_array_equal(got.toarray(), J)


@SETTINGS
@given(m=sizes, n=sizes, density=densities, seed_=seeds)
def test_best_is_no_worse_than_any_greedy_order(m: int, n: int, density: float, seed_: int) -> None:
    pattern = C.Pattern.from_dense(random_mask(m, n, density, seed_))
    for color in (C.color_columns, C.color_rows):
        best = color(pattern, "best", time_budget=TINY_BUDGET).ncolors
        greedy = [color(pattern, o).ncolors for o in C.ORDERS if o not in ("best", "random")]
        assert best <= min(greedy)


@SETTINGS
@given(
    n=sizes,
    density=densities,
    seed_=seeds,
    diagonal=st.sampled_from(["full", "none", "random"]),
)
@example(n=0, density=0.5, seed_=0, diagonal="full")
@example(n=1, density=0.5, seed_=0, diagonal="full")
@example(n=12, density=1.0, seed_=0, diagonal="full")
@example(n=30, density=0.1, seed_=7, diagonal="random")
def test_star_and_acyclic_colorings_valid_and_exact(
    n: int, density: float, seed_: int, diagonal: str
) -> None:
    mask = random_symmetric_mask(n, density, seed_, diagonal)
    pattern = C.Pattern.from_dense(mask)
    assert pattern.is_symmetric()
    H = symmetric_integer_matrix(mask, seed_)
    for order, kw in orders_to_try(seed_):
        star = C.star_coloring(pattern, order, **kw)
        check_common(star, mask, "star")
        acyclic = C.acyclic_coloring(pattern, order, **kw)
        check_common(acyclic, mask, "acyclic")
        if n <= 15:  # the path enumeration is cubic in the degree
            assert star_ok(mask, star.colors), (order, kw)
        assert acyclic_ok(mask, acyclic.colors), (order, kw)
        # two colors of a star coloring induce a star forest, so it is acyclic too
        assert acyclic_ok(mask, star.colors)
        for col in (star, acyclic):
            got = C.decompress(col, H @ seed(col.colors))
            assert got.shape == (n, n)
            np.testing.assert_array_equal(got.toarray(), H)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 8),
    n=st.integers(1, 8),
    k=st.integers(1, 4),
    density=st.floats(0.1, 0.7),
    seed_=seeds,
)
def test_is_valid_agrees_with_the_definitions_on_random_colors(
    m: int, n: int, k: int, density: float, seed_: int
) -> None:
    """``is_valid`` on arbitrary color arrays, valid or not, matches the definitions (for
    symmetric patterns with a full diagonal, the Hessian case, where star and acyclic
    validity are exactly the graph conditions)."""
    rng = np.random.default_rng(seed_)
    mask = random_mask(m, n, density, seed_)
    colors = rng.integers(0, k, n)
    assert C.is_valid(mask, colors, "column") == columns_ok(mask, colors)
    colors = rng.integers(0, k, m)
    assert C.is_valid(mask, colors, "row") == rows_ok(mask, colors)

    sym = random_symmetric_mask(n, density, seed_, "full")
    colors = rng.integers(0, k, n)
    assert C.is_valid(sym, colors, "star") == star_ok(sym, colors)
    assert C.is_valid(sym, colors, "acyclic") == acyclic_ok(sym, colors)


def test_invalid_colorings_are_rejected_by_is_valid_and_decompress() -> None:
    mask = np.array([[1, 1, 0], [0, 1, 1]], dtype=bool)
    pattern = C.Pattern.from_dense(mask)
    bad = C.Coloring(pattern, np.array([0, 0, 1]), "column")  # columns 0, 1 share row 0
    assert not bad.is_valid()
    assert not C.is_valid(pattern, bad)
    with pytest.raises(ValueError, match="column coloring is not valid"):
        C.decompress(bad, np.ones((2, 2)))

    bad_rows = C.Coloring(pattern, np.array([0, 0]), "row")  # rows share column 1
    assert not bad_rows.is_valid()
    with pytest.raises(ValueError, match="row coloring is not valid"):
        C.decompress(bad_rows, np.ones((1, 3)))

    sym = C.Pattern.from_dense(np.ones((3, 3)))
    for kind in ("star", "acyclic"):
        bad_sym = C.Coloring(sym, np.array([0, 1, 1]), kind)
        assert not bad_sym.is_valid()
        with pytest.raises(ValueError, match=f"{kind} coloring is not valid"):
            C.decompress(bad_sym, np.ones((3, 2)))


def test_star_and_acyclic_need_a_symmetric_pattern() -> None:
    for color in (C.star_coloring, C.acyclic_coloring):
        with pytest.raises(ValueError, match=r"symmetric pattern; got a \(2, 3\) pattern"):
            color(np.ones((2, 3)))
        with pytest.raises(ValueError, match="symmetric"):
            color(np.triu(np.ones((3, 3))))


def test_unknown_order_and_kind_list_the_accepted_values() -> None:
    for color in (C.color_columns, C.color_rows, C.star_coloring, C.acyclic_coloring):
        with pytest.raises(ValueError, match=r"order must be one of 'natural'.*'best'; got 'fast'"):
            color(np.eye(3), "fast")
    with pytest.raises(ValueError, match=r"kind must be one of 'column', 'row', 'star', 'acyclic'"):
        C.is_valid(np.eye(2), np.zeros(2, dtype=int), "diagonal")


def test_decompress_rejects_a_compressed_block_of_the_wrong_rank() -> None:
    col = C.color_columns(np.eye(3))
    with pytest.raises(ValueError, match="2-d"):
        C.decompress(col, np.ones(3))


def test_coloring_counts_on_known_patterns() -> None:
    # diagonal: one color; dense: one color per column (or row); tridiagonal: 3 for
    # columns and star, 2 for acyclic (a path is bipartite and has no cycle)
    assert C.color_columns(np.eye(6), "best").ncolors == 1
    assert C.color_rows(np.ones((4, 6)), "best").ncolors == 4
    assert C.color_columns(np.ones((4, 6)), "best").ncolors == 6
    n = 12
    tridiag = np.eye(n, dtype=bool) | np.eye(n, k=1, dtype=bool) | np.eye(n, k=-1, dtype=bool)
    assert C.color_columns(tridiag, "best").ncolors == 3
    assert C.star_coloring(tridiag, "best").ncolors == 3
    assert C.acyclic_coloring(tridiag, "best").ncolors == 2
    text = str(C.star_coloring(tridiag))
    assert "star coloring of a 12 x 12 pattern: 3 colors" in text


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    density=densities,
    seed_=seeds,
    compression=st.sampled_from(["auto", "column", "row"]),
    order=st.sampled_from(C.ORDERS),
    known=st.booleans(),
)
def test_sparse_jacobian_of_a_random_linear_map_is_exact(
    m: int, n: int, density: float, seed_: int, compression: str, order: str, known: bool
) -> None:
    """End to end through SparseBackend with callbacks for both products: the sparse
    Jacobian of x -> A x is A, bit for bit, whatever the compression and ordering."""
    import anydiff

    mask = random_mask(m, n, density, seed_)
    A = integer_matrix(mask, seed_)
    inner = anydiff.CallbackBackend(jvp=lambda x, v: A @ v, vjp=lambda x, w: A.T @ w)
    # the local detector gives the exact pattern of a linear map with zeros (tracing is
    # conservative where a coefficient happens to be zero)
    detector = anydiff.KnownPattern(mask, check=True) if known else anydiff.LocalDetector()
    backend = anydiff.SparseBackend(
        inner, detector=detector, coloring=order, time_budget=TINY_BUDGET, compression=compression
    )
    x = np.linspace(-1.0, 1.0, n)
    plan = anydiff.prepare_jacobian(backend, lambda x: A @ x, x)
    assert plan.pattern == C.Pattern.from_dense(mask)
    if compression != "auto":
        assert plan.coloring.kind == compression
    J = plan(x)
    assert J.shape == (m, n)
    np.testing.assert_array_equal(J.toarray(), A)
