"""``batch_*`` on dask.arrays: lazy results, equal to the in-memory ones, one plan per
worker process, errors that name the block; a LocalCluster of two worker processes."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

import anydiff as ad

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import dask_cases  # noqa: E402

X = np.random.default_rng(5).random((2000, 6))


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path  # the worker processes import dask_cases
    os.environ["JAX_ENABLE_X64"] = "1"  # as the tests' process (conftest)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _executing(dask_worker: Any) -> int:
    return len(dask_worker.state.executing)


def _quiet(client: Any) -> None:
    """Wait until no worker runs a task (a test whose compute raised leaves its other
    blocks running, and they may prepare plans while a later test counts them)."""
    deadline = time.monotonic() + 60
    while any(client.run(_executing).values()) and time.monotonic() < deadline:
        time.sleep(0.05)


BACKENDS = {
    "dual": (ad.DualBackend(), dask_cases.lotka_volterra),
    "fd": (ad.FiniteDifferences(), dask_cases.lotka_volterra),
    "jax": (ad.JaxBackend(), dask_cases.lotka_volterra_jax),
    "torch": (ad.TorchBackend(), dask_cases.lotka_volterra_torch),
}


@pytest.mark.parametrize("name", list(BACKENDS))
def test_dask_results_equal_the_in_memory_results(client: Any, name: str) -> None:
    backend, f = BACKENDS[name]
    lazy = ad.batch_jacobian(backend, f, da.from_array(X, chunks=(250, 6)))
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (250,) * 8
    expected = ad.batch_jacobian(backend, f, X)
    got = lazy.compute()
    expected = expected.numpy() if hasattr(expected, "numpy") else np.asarray(expected)
    assert got.dtype == expected.dtype
    assert np.array_equal(got, expected)


def test_the_plan_is_prepared_once_per_worker_process(client: Any) -> None:
    _quiet(client)
    before = client.run(dask_cases.preparations)
    lazy = ad.batch_jacobian(ad.DualBackend(), dask_cases.lotka_volterra, da.from_array(X, 100))
    assert np.array_equal(
        lazy.compute(), ad.batch_jacobian(ad.DualBackend(), dask_cases.lotka_volterra, X)
    )
    after = client.run(dask_cases.preparations)
    added = {w: after[w] - before[w] for w in after}
    assert len(added) == 2 and set(added.values()) <= {0, 1} and sum(added.values()) >= 1, added


def test_a_worker_configured_unlike_the_caller_is_named(client: Any) -> None:
    pytest.importorskip("jax")
    client.run(dask_cases.set_x64, False)
    try:
        b, f = BACKENDS["jax"]
        lazy = ad.batch_jacobian(b, f, da.from_array(X, chunks=(1000, 6)))
        with pytest.raises(TypeError, match="worker computed float32 where the caller"):
            lazy.compute()
    finally:
        client.run(dask_cases.set_x64, True)


def test_a_failing_block_reaches_the_caller_with_its_message(client: Any) -> None:
    bad = X.copy()
    bad[1234, 0] = -1.0
    lazy = ad.batch_jacobian(
        ad.FiniteDifferences(), dask_cases.fails_on_negative, da.from_array(bad, 500)
    )
    with pytest.raises(ValueError, match=r"dask block 2 \(points 1000 to 1499\).*negative state"):
        lazy.compute()


def test_nothing_is_computed_at_call_time() -> None:
    calls = []

    def record(block: np.ndarray) -> np.ndarray:
        calls.append(len(block))
        return block

    X_lazy = da.from_array(X, chunks=(500, 6)).map_blocks(record, dtype=X.dtype)
    calls.clear()  # map_blocks called record on an empty block to infer its meta
    lazy = ad.batch_gradient(ad.DualBackend(), lambda z: (z * z).sum(), X_lazy)
    assert calls == [] and lazy.shape == X.shape
    assert np.array_equal(lazy.compute(scheduler="sync"), 2 * X)


def test_other_axes_are_rechunked_and_chunk_size_rechunks_the_points() -> None:
    lazy = ad.batch_jacobian(
        ad.DualBackend(), dask_cases.lotka_volterra, da.from_array(X, (700, 2)), chunk_size=300
    )
    assert lazy.chunks[0][0] == 300 and lazy.chunks[1:] == ((2,), (6,))
    expected = ad.batch_jacobian(ad.DualBackend(), dask_cases.lotka_volterra, X)
    assert np.array_equal(lazy.compute(scheduler="sync"), expected)


def test_unknown_chunk_sizes_and_out_are_refused_clearly() -> None:
    D = da.from_array(X, 500)
    unknown = D[D[:, 0] > 0.5]
    with pytest.raises(ValueError, match="known chunk sizes"):
        ad.batch_jacobian(ad.DualBackend(), dask_cases.lotka_volterra, unknown)
    with pytest.raises(TypeError, match=r"lazy dask\.array"):
        ad.batch_jacobian(ad.DualBackend(), dask_cases.lotka_volterra, D, out=np.empty(1))


def test_two_lazy_results_computed_together_keep_their_own_values() -> None:
    # each call's blocks have keys of their own (a shared name would alias the two)
    b, f = ad.DualBackend(), dask_cases.lotka_volterra
    first = ad.batch_jacobian(b, f, da.from_array(X[:1000], 250))
    second = ad.batch_jacobian(b, f, da.from_array(X[1000:], 250))
    got_first, got_second = da.compute(first, second, scheduler="sync")
    assert np.array_equal(got_first, ad.batch_jacobian(b, f, X[:1000]))
    assert np.array_equal(got_second, ad.batch_jacobian(b, f, X[1000:]))


SPARSE = {
    "dual": (ad.SparseBackend(ad.DualBackend()), dask_cases.lotka_volterra),
    "jax": (ad.SparseBackend(ad.JaxBackend()), dask_cases.lotka_volterra_jax),
}


@pytest.mark.parametrize("name", list(SPARSE))
def test_sparse_jacobians_over_dask_share_one_pattern_and_equal_the_in_memory_ones(
    client: Any, name: str
) -> None:
    b, f = SPARSE[name]
    _quiet(client)
    before = client.run(dask_cases.preparations)
    lazy = ad.batch_sparse_jacobian(b, f, da.from_array(X, chunks=(250, 6)))
    expected = ad.batch_sparse_jacobian(b, f, X)
    assert lazy.pattern == expected.pattern and lazy.pattern.nnz == 8
    assert isinstance(lazy.values, da.Array) and lazy.values.chunks == ((250,) * 8, (8,))
    got = lazy.values.compute()
    assert got.dtype == expected.values.dtype and np.array_equal(got, expected.values)
    added = {w: n - before[w] for w, n in client.run(dask_cases.preparations).items()}
    assert set(added.values()) <= {0, 1} and sum(added.values()) >= 1, added
    # the values are the dense Jacobians' entries at the pattern, point by point
    dense = np.asarray(ad.batch_jacobian(b.inner, f, X))
    rows, cols = expected.pattern.coo()
    assert np.allclose(expected.values, dense[:, rows, cols], rtol=1e-14, atol=0)
    assert np.array_equal(lazy.matrix(3).toarray(), expected.matrix(3).toarray())


def test_sparse_jacobians_compute_nothing_at_call_time() -> None:
    calls = []

    def record(block: np.ndarray) -> np.ndarray:
        calls.append(len(block))
        return block

    X_lazy = da.from_array(X, chunks=(500, 6)).map_blocks(record, dtype=X.dtype)
    calls.clear()
    b = ad.SparseBackend(ad.DualBackend(), detector=ad.TracerDetector())
    lazy = ad.batch_sparse_jacobian(b, dask_cases.lotka_volterra, X_lazy, chunk_size=1000)
    assert calls == [] and lazy.values.shape == (len(X), lazy.pattern.nnz)
    assert lazy.values.chunks[0] == (1000, 1000)
    expected = ad.batch_sparse_jacobian(b, dask_cases.lotka_volterra, X).values
    assert np.array_equal(lazy.values.compute(scheduler="sync"), expected)


def test_a_failing_sparse_block_reaches_the_caller_with_its_message(client: Any) -> None:
    bad = X.copy()
    bad[1234, 0] = -1.0
    b = ad.SparseBackend(ad.FiniteDifferences(), detector=ad.KnownPattern(np.eye(6)))
    lazy = ad.batch_sparse_jacobian(b, dask_cases.fails_on_negative, da.from_array(bad, 500))
    with pytest.raises(ValueError, match=r"dask block 2 \(points 1000 to 1499\).*negative state"):
        lazy.values.compute()


def test_batch_sparse_jacobian_refuses_what_it_cannot_give() -> None:
    f = dask_cases.lotka_volterra
    with pytest.raises(TypeError, match="needs a SparseBackend"):
        ad.batch_sparse_jacobian(ad.DualBackend(), f, X)
    with pytest.raises(ValueError, match="format must be 'scipy'"):
        ad.batch_sparse_jacobian(ad.SparseBackend(ad.JaxBackend(), format="bcoo"), f, X)
    with pytest.raises(TypeError, match="numpy array"):
        ad.batch_sparse_jacobian(ad.SparseBackend(ad.DualBackend()), f, X.tolist())
    with pytest.raises(ValueError, match="at least one point"):
        ad.batch_sparse_jacobian(ad.SparseBackend(ad.DualBackend()), f, X[:0])


def test_sparse_jacobians_in_memory_float32_and_constants() -> None:
    def scaled(x: Any, c: Any) -> Any:
        return x[1:] * x[:-1] * c

    points = X[:50].astype(np.float32)
    b = ad.SparseBackend(ad.DualBackend())
    got = ad.batch_sparse_jacobian(b, scaled, points, ad.Constant(np.float32(2.0)))
    assert got.values.dtype == np.float32 and got.values.shape == (50, 10) and len(got) == 50
    for i in (0, 49):
        dense = ad.jacobian(ad.DualBackend(), scaled, points[i], ad.Constant(np.float32(2.0)))
        assert np.array_equal(got.matrix(i).toarray(), np.asarray(dense))


def test_a_detector_that_probes_values_sees_the_first_point_not_a_point_of_ones() -> None:
    def branch(z: Any) -> Any:  # the second output depends on z[1] only where z[0] > 2
        return np.stack([z[0] * z[1], np.where(z[0] > 2.0, z[1] * z[1], 0.0)])

    points = X[:40] + np.array([3.0, 0, 0, 0, 0, 0])  # every point has z[0] > 2
    b = ad.SparseBackend(ad.DualBackend(), detector=ad.LocalDetector())
    lazy = ad.batch_sparse_jacobian(b, branch, da.from_array(points, 10))
    expected = ad.batch_sparse_jacobian(b, branch, points)
    assert lazy.pattern == expected.pattern and lazy.pattern.nnz == 3
    assert np.array_equal(lazy.values.compute(scheduler="sync"), expected.values)
