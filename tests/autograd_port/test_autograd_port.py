"""autograd's own test suite, ported (see harness.py): no case may be wrong or crash, and
the pass rates stay above the floors issue #11 sets (numpy >= 90%, JAX front end >= 95%).

The references are JAX's results stored in references.npz (``score.py --refresh``
recomputes those of new or changed cases); a case without a stored reference fails here.
"""

from __future__ import annotations

import collections
import os
import sys

import pytest

pytest.importorskip("jax")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from score import all_cases, load_references, run


@pytest.fixture(scope="module")
def cases_and_references() -> tuple[list, dict]:
    cases = all_cases()
    refs, missing = load_references(cases)
    assert not missing, f"cases without a stored reference (run score.py --refresh): {missing}"
    return cases, refs


def _check(frontend: str, floor: float, cases: list, refs: dict) -> None:
    outcomes = run(frontend, cases, refs)
    counts = collections.Counter(o.verdict for o in outcomes.values())
    bad = {
        n: f"{o.verdict}: {o.detail}"
        for n, o in outcomes.items()
        if o.verdict in ("wrong", "crash")
    }
    assert bad == {}
    scored = len(outcomes) - counts["n/a"]
    assert counts["pass"] >= floor * scored, dict(counts)


def test_numpy_front_end(cases_and_references: tuple) -> None:
    """Every case through DualBackend() on plain numpy code: >= 90% pass, none wrong."""
    _check("numpy", 0.90, *cases_and_references)


def test_jax_front_end_sample(cases_and_references: tuple) -> None:
    """Every eighth case through DualBackend(frontend="jax") (all of them take minutes)."""
    cases, refs = cases_and_references
    _check("jax", 0.95, cases[::8], refs)


@pytest.mark.slow
def test_jax_front_end(cases_and_references: tuple) -> None:
    """Every case through DualBackend(frontend="jax"): >= 95% pass, none wrong."""
    _check("jax", 0.95, *cases_and_references)
