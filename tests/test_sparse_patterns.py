"""Pattern objects: the constructors agree, round trips, transpose, symmetry, text, equality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from anydiff import ShapeError
from anydiff.coloring import Pattern
from sparse_helpers import random_mask

MASK = np.array(
    [
        [1, 0, 1, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 1, 1, 0, 1],
    ],
    dtype=bool,
)


def all_constructions(mask: np.ndarray) -> dict[str, Pattern]:
    rows, cols = np.nonzero(mask)
    csr = sp.csr_array(mask.astype(float))
    # coordinates shuffled and duplicated: from_coo merges and sorts them
    order = np.random.default_rng(0).permutation(len(rows))
    dup_rows, dup_cols = np.concatenate([rows[order], rows]), np.concatenate([cols[order], cols])
    return {
        "coo": Pattern.from_coo(mask.shape, rows, cols),
        "coo-shuffled-duplicated": Pattern.from_coo(mask.shape, dup_rows, dup_cols),
        "csr": Pattern.from_csr(mask.shape, csr.indptr, csr.indices),
        "dense-bool": Pattern.from_dense(mask),
        "dense-float": Pattern.from_dense(np.where(mask, 2.5, 0.0)),
        "scipy-csr": Pattern.from_scipy(csr),
        "scipy-csc": Pattern.from_scipy(sp.csc_matrix(mask.astype(float))),
        "scipy-coo-duplicated": Pattern.from_scipy(
            sp.coo_array((np.ones(len(dup_rows)), (dup_rows, dup_cols)), shape=mask.shape)
        ),
        "of-pattern": Pattern.of(Pattern.from_dense(mask)),
        "of-scipy": Pattern.of(csr),
        "of-dense": Pattern.of(mask),
    }


@pytest.mark.parametrize("seed_", range(4))
@pytest.mark.parametrize("shape", [(3, 5), (0, 0), (1, 7), (6, 1), (4, 0), (8, 8)])
def test_constructors_agree(shape: tuple[int, int], seed_: int) -> None:
    mask = random_mask(*shape, 0.4, seed_)
    built = all_constructions(mask)
    reference = built["dense-bool"]
    for name, pattern in built.items():
        assert pattern == reference, name
        assert pattern.shape == shape, name
        assert pattern.nnz == int(mask.sum()), name
        np.testing.assert_array_equal(pattern.todense(), mask, err_msg=name)
        assert pattern.indptr.shape == (shape[0] + 1,), name
        assert pattern.indices.shape == (int(mask.sum()),), name


def test_csr_arrays_and_coo() -> None:
    p = Pattern.from_dense(MASK)
    np.testing.assert_array_equal(p.indptr, [0, 2, 2, 5])
    np.testing.assert_array_equal(p.indices, [0, 2, 1, 2, 4])
    rows, cols = p.coo()
    np.testing.assert_array_equal(rows, [0, 0, 2, 2, 2])
    np.testing.assert_array_equal(cols, [0, 2, 1, 2, 4])
    csr = p.tocsr(np.arange(1.0, 6.0))
    assert isinstance(csr, sp.csr_array)
    np.testing.assert_array_equal(
        csr.toarray(), [[1, 0, 2, 0, 0], [0, 0, 0, 0, 0], [0, 3, 4, 0, 5]]
    )
    # every matrix owns its arrays: editing one leaves the next intact
    csr.data[:] = 0.0
    csr.eliminate_zeros()
    again = p.tocsr(np.arange(1.0, 6.0, dtype=np.float32))
    assert again.dtype == np.float32 and again.nnz == 5
    np.testing.assert_array_equal(again.indices, [0, 2, 1, 2, 4])
    with pytest.raises(ValueError, match="expected 5 values"):
        p.tocsr(np.zeros(4))


def test_todense_round_trip() -> None:
    for seed_ in range(5):
        mask = random_mask(7, 11, 0.3, seed_)
        dense = Pattern.from_dense(mask).todense()
        assert dense.dtype == bool
        np.testing.assert_array_equal(dense, mask)
        assert Pattern.from_dense(dense) == Pattern.from_dense(mask)


@pytest.mark.parametrize("shape", [(3, 5), (0, 0), (2, 0), (9, 9)])
def test_save_load_round_trip(tmp_path, shape: tuple[int, int]) -> None:
    p = Pattern.from_dense(random_mask(*shape, 0.5, 3))
    path = tmp_path / f"pattern_{shape[0]}x{shape[1]}.npz"
    p.save(path)
    q = Pattern.load(path)
    assert q == p
    assert q.shape == shape
    np.testing.assert_array_equal(q.todense(), p.todense())
    # str paths work as well as Path objects
    p.save(str(tmp_path / "again.npz"))
    assert Pattern.load(str(tmp_path / "again.npz")) == p


def test_transpose() -> None:
    p = Pattern.from_dense(MASK)
    t = p.T
    assert t.shape == (5, 3)
    np.testing.assert_array_equal(t.todense(), MASK.T)
    assert p == t.T
    assert Pattern.from_dense(np.zeros((0, 4))).T.shape == (4, 0)


def test_is_symmetric() -> None:
    assert Pattern.from_dense(np.eye(4)).is_symmetric()
    assert Pattern.from_dense(np.ones((3, 3))).is_symmetric()
    assert Pattern.from_dense(np.zeros((0, 0))).is_symmetric()
    assert not Pattern.from_dense(np.triu(np.ones((3, 3)))).is_symmetric()
    assert not Pattern.from_dense(np.ones((2, 3))).is_symmetric()
    mask = random_mask(10, 10, 0.3, 1)
    assert Pattern.from_dense(mask | mask.T).is_symmetric()


def test_str_and_repr_are_readable() -> None:
    p = Pattern.from_dense(MASK)
    text = str(p)
    lines = text.splitlines()
    assert lines[0] == "Pattern 3 x 5, 5 nonzeros (33.33%)"
    assert lines[1:] == ["  x.x..", "  .....", "  .xx.x"]
    assert "Pattern 0 x 0, 0 nonzeros" in str(Pattern.from_dense(np.zeros((0, 0))))
    big = str(Pattern.from_dense(np.eye(100)))
    assert big == "Pattern 100 x 100, 100 nonzeros (1.00%)"  # no grid for large patterns
    r = repr(p)
    assert r.startswith("Pattern(") and "shape=(3, 5)" in r
    assert "_core" not in r


def test_equality_and_hash() -> None:
    a = Pattern.from_dense(MASK)
    b = Pattern.from_coo((3, 5), [2, 0, 2, 0, 2], [4, 0, 1, 2, 2])
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != Pattern.from_dense(MASK.T)
    assert a != Pattern.from_coo((3, 6), *np.nonzero(MASK))  # same entries, other shape
    assert a != Pattern.from_coo((3, 5), [0], [0])
    assert a != "pattern" and a != MASK.tolist()


def test_bad_constructions_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="outside the pattern shape"):
        Pattern.from_coo((2, 2), [0, 5], [0, 1])
    with pytest.raises(ValueError, match="non-negative"):
        Pattern.from_coo((2, 2), [0, -1], [0, 1])
    with pytest.raises(TypeError, match="integers"):
        Pattern.from_coo((2, 2), [0.0], [1.0])
    with pytest.raises(ValueError, match="2-d"):
        Pattern.from_dense(np.ones(3))
    with pytest.raises(ValueError, match=r"shape must be \(m, n\)"):
        Pattern.from_coo((2, 2, 2), [0], [0])
    with pytest.raises(ShapeError, match="indptr"):
        Pattern.from_csr((2, 2), [0, 1], [1])
