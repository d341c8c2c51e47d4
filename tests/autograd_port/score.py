"""Score anydiff's DualBackend on the ported autograd suite.

    python tests/autograd_port/score.py [--frontend numpy|jax|both] [-v] [-k TEXT] [--refresh]

prints the pass / refuse / wrong / crash counts (and ``n/a``: no reference) per front end;
``-v`` lists every case that did not pass with its reason. JAX's results for each case are
stored in ``references.npz`` (computing them all takes minutes); ``--refresh`` computes
those of new or changed cases (the test suite refuses stale references).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import warnings
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases_linalg  # noqa: E402
import cases_numpy  # noqa: E402
import cases_ops  # noqa: E402
import cases_systematic  # noqa: E402
import numpy as np  # noqa: E402
from harness import Case, Outcome, case_key, judge, reference  # noqa: E402

VERDICTS = ("pass", "refuse", "wrong", "crash", "n/a")
REFERENCES = os.path.join(HERE, "references.npz")


def all_cases() -> list[Case]:
    """Every ported case, in a stable order."""
    cases = [
        *cases_systematic.cases(),
        *cases_numpy.cases(),
        *cases_linalg.cases(),
        *cases_ops.cases(),
    ]
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"duplicate case names: {dup[:5]}")
    return cases


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


def compute_references(cases: list[Case]) -> dict[str, Optional[dict[str, np.ndarray]]]:
    """JAX's results per case name (None where JAX or numpy cannot run the function)."""
    _enable_x64()
    out: dict[str, Optional[dict[str, np.ndarray]]] = {}
    for case in cases:
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out[case.name] = reference(case)
        except Exception:
            out[case.name] = None
    return out


def save_references(refs: dict[str, Optional[dict[str, np.ndarray]]], cases: list[Case]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for case in cases:
        prefix = f"{case.name}|{case_key(case)}"
        ref = refs[case.name]
        if ref is None:
            arrays[f"{prefix}|na"] = np.zeros(0)
            continue
        for field, a in ref.items():
            arrays[f"{prefix}|{field}"] = a
    np.savez_compressed(REFERENCES, **arrays)


def load_references(
    cases: list[Case],
) -> tuple[dict[str, Optional[dict[str, np.ndarray]]], list[str]]:
    """Stored references of ``cases``, and the names of cases with none (or a stale one)."""
    stored: dict[str, dict[str, np.ndarray]] = collections.defaultdict(dict)
    if os.path.exists(REFERENCES):
        with np.load(REFERENCES) as data:
            for k in data.files:
                name, key, field = k.rsplit("|", 2)
                stored[f"{name}|{key}"][field] = data[k]
    refs: dict[str, Optional[dict[str, np.ndarray]]] = {}
    missing = []
    for case in cases:
        entry = stored.get(f"{case.name}|{case_key(case)}")
        if entry is None:
            missing.append(case.name)
        refs[case.name] = None if entry is None or "na" in entry else entry
    return refs, missing


def run(
    frontend: str, cases: list[Case], refs: dict[str, Optional[dict[str, np.ndarray]]]
) -> dict[str, Outcome]:
    if frontend == "jax":
        _enable_x64()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {case.name: judge(case, frontend, refs[case.name]) for case in cases}


def summary(outcomes: dict[str, Outcome]) -> str:
    counts = collections.Counter(o.verdict for o in outcomes.values())
    scored = sum(counts[v] for v in VERDICTS if v != "n/a")
    rate = 100.0 * counts["pass"] / scored if scored else 0.0
    parts = ", ".join(f"{v} {counts[v]}" for v in VERDICTS)
    return f"{scored} cases: {parts} (pass rate {rate:.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frontend", choices=("numpy", "jax", "both"), default="both")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("-k", default="", help="only cases whose name contains this")
    parser.add_argument("--refresh", action="store_true", help="compute missing references")
    args = parser.parse_args()
    every = all_cases()
    if args.refresh:
        start = time.perf_counter()
        refs, missing = load_references(every)
        todo = [c for c in every if c.name in set(missing)]
        refs.update(compute_references(todo))
        save_references(refs, every)
        print(f"references of {len(todo)} cases computed in {time.perf_counter() - start:.0f} s")
    cases = [c for c in every if args.k in c.name]
    refs, missing = load_references(cases)
    if missing:
        print(f"{len(missing)} cases have no stored reference (run with --refresh): {missing[:5]}")
    frontends = ("numpy", "jax") if args.frontend == "both" else (args.frontend,)
    for frontend in frontends:
        start = time.perf_counter()
        outcomes = run(frontend, cases, refs)
        took = time.perf_counter() - start
        if args.verbose:
            for name, o in outcomes.items():
                if o.verdict != "pass":
                    print(f"  [{frontend}] {o.verdict:6s} {name}: {o.detail}")
        print(f"{frontend:5s} front end: {summary(outcomes)} in {took:.0f} s")


if __name__ == "__main__":
    main()
