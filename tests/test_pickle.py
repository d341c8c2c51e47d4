"""Plans travel: every plan kind pickles (pickle and cloudpickle) and gives bit-identical
results after unpickling in a fresh process."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import anydiff as ad
from anydiff.coloring import Pattern

HERE = Path(__file__).parent

_UNPICKLE_AND_RUN = """
import pickle, sys
import jax
jax.config.update("jax_enable_x64", True)  # as in the process that pickled
import pickle_cases
with open(sys.argv[1], "rb") as fh:
    plans = pickle.load(fh)
results = {name: pickle_cases.run(plan, args) for name, plan, args in plans}
with open(sys.argv[2], "wb") as fh:
    pickle.dump(results, fh)
"""


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("module", ["pickle", "cloudpickle"])
def test_every_plan_kind_round_trips_bit_identically_in_a_fresh_process(
    module: str, tmp_path: Path
) -> None:
    pickler = pytest.importorskip(module)
    sys.path.insert(0, str(HERE))
    try:
        import pickle_cases
    finally:
        sys.path.remove(str(HERE))
    cases = pickle_cases.cases()
    expected = {name: pickle_cases.run(plan, args) for name, plan, args in cases}
    plans_file, results_file = tmp_path / "plans.pkl", tmp_path / "results.pkl"
    plans_file.write_bytes(pickler.dumps(cases))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run(
        [sys.executable, "-c", _UNPICKLE_AND_RUN, str(plans_file), str(results_file)],
        check=True,
        env=env,
        timeout=300,
    )
    got = pickle.loads(results_file.read_bytes())
    assert set(got) == set(expected)
    different = [name for name in expected if not _same(expected[name], got[name])]
    assert not different, [(expected[n], got[n]) for n in different[:2]]


def test_a_lambda_under_plain_pickle_is_named_in_the_error() -> None:
    plan = ad.prepare_jacobian(ad.DualBackend(), lambda x: x * x, np.ones(2))
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(plan)


def test_a_lambda_travels_with_cloudpickle() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    x = np.array([0.5, -2.0])
    plan = ad.prepare_jacobian(ad.DualBackend(), lambda x: x * x, x)
    again = pickle.loads(cloudpickle.dumps(plan))
    assert np.array_equal(again(x), plan(x))


def test_a_batch_plan_carries_one_point_not_the_batch() -> None:
    X = np.ones((100_000, 3))
    plan = ad.BatchPlan("jacobian", ad.DualBackend(), np.sin, X)
    assert len(pickle.dumps(plan)) < 10_000


def test_patterns_and_colorings_pickle() -> None:
    pattern = Pattern.from_dense(np.eye(4) + np.eye(4, k=1))
    coloring = ad.coloring.color_columns(pattern)
    again = pickle.loads(pickle.dumps(pattern))
    assert again.shape == pattern.shape
    assert np.array_equal(again.indptr, pattern.indptr)
    assert np.array_equal(again.indices, pattern.indices)
    back = pickle.loads(pickle.dumps(coloring))
    assert np.array_equal(back.colors, coloring.colors) and back.is_valid()


def _dense(value: Any) -> Any:
    return value.toarray() if hasattr(value, "toarray") else value


def _count_preparations(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[int]:
    """A counter of ``cls.__init__`` calls (the plan's preparation)."""
    count = [0]
    init = cls.__init__

    def counted(self: Any, *args: Any, **options: Any) -> None:
        count[0] += 1
        init(self, *args, **options)

    monkeypatch.setattr(cls, "__init__", counted)
    return count


@pytest.mark.parametrize("kind", ["jacobian", "batch", "sparse"])
def test_an_unpickled_plan_is_prepared_at_its_first_use_not_at_unpickling(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, X = np.array([0.7, -1.3, 2.1]), np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    plan = {
        "jacobian": lambda: ad.prepare_jacobian(ad.DualBackend(), np.sin, x),
        "batch": lambda: ad.BatchPlan("jacobian", ad.DualBackend(), np.sin, X),
        "sparse": lambda: ad.prepare_jacobian(ad.SparseBackend(ad.DualBackend()), np.sin, x),
    }[kind]()
    arg = X if kind == "batch" else x
    expected = plan(arg)
    count = _count_preparations(monkeypatch, type(plan))
    again = pickle.loads(pickle.dumps(plan))
    twice = pickle.loads(pickle.dumps(again))  # an unprepared plan pickles as its recipe
    assert count[0] == 0
    assert type(again) is type(plan)
    got = again(arg)
    assert count[0] == 1
    got_again = again(arg)
    assert count[0] == 1  # prepared once, then reused
    for value in (got, got_again, twice(arg)):
        assert _same(_dense(expected), _dense(value))
    assert count[0] == 2


def test_threads_sharing_an_unpickled_plan_prepare_it_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    X = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    plan = ad.BatchPlan("jacobian", ad.DualBackend(), np.sin, X)
    count = _count_preparations(monkeypatch, type(plan))
    again = pickle.loads(pickle.dumps(plan))
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(again(X))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert count[0] == 1 and len(results) == 4
    assert all(_same(r, plan(X)) for r in results)


def test_an_unpickled_plan_that_fails_to_prepare_raises_at_its_first_use() -> None:
    plan = ad.prepare_jacobian(ad.DualBackend(), np.sin, np.ones(2))
    broken = pickle.loads(pickle.dumps(plan))
    broken._pending.args = (ad.DualBackend(), "not callable", np.ones(2))
    with pytest.raises(TypeError, match="f must be callable"):
        broken(np.ones(2))
    with pytest.raises(TypeError, match="f must be callable"):  # again, not half prepared
        broken(np.ones(2))
