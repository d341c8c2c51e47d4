"""``python -m anydiff bench``: user functions in any framework, clear errors, honest
recommendations and complete reports."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from anydiff.bench import cli
from anydiff.bench.problems import UserFunctionError, detect_framework, user_problem
from anydiff.bench.report import format_table, recommend, save_json, save_plot
from anydiff.bench.runner import Result, Settings
from conftest import HAS_JAX, HAS_TORCH

FUNCTIONS = """
import numpy as np

def f_numpy(x):
    return np.sin(x) * x[0]

def f_jax(x):
    import jax.numpy as jnp
    return jnp.sin(x) * x[0]

def f_torch(x):
    import torch
    return torch.sin(x) * x[0]

def needs_matrix(x):
    return x[0, 0] * x
"""


@pytest.fixture()
def module(tmp_path: Path) -> Path:
    path = tmp_path / "user_functions.py"
    path.write_text(textwrap.dedent(FUNCTIONS))
    return path


@pytest.fixture()
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """One short round per contender: these tests check behaviour, not speed."""
    monkeypatch.setattr(Settings, "quick", classmethod(lambda cls: cls(0.001, 1, 0)))


def test_the_framework_is_detected_from_the_function(module: Path) -> None:
    x0 = np.ones(3)
    assert user_problem(f"{module}:f_numpy", (3,)).frameworks == ("numpy",)
    if HAS_JAX:
        from anydiff.bench.problems import _load

        assert detect_framework(_load(f"{module}:f_jax"), x0) == "jax"
    if HAS_TORCH:
        problem = user_problem(f"{module}:f_torch", (3,))
        assert problem.frameworks == ("torch", "numpy")
        assert problem.traceable is None  # DualBackend cannot trace torch code


@pytest.mark.parametrize(
    ("spec", "shape", "message"),
    [
        ("no_colon", (3,), "module:function"),
        ("anydiff_no_such_module_xyz:f", (3,), "cannot import module"),
        ("{module}:missing", (3,), "has no function 'missing'; its functions: f_jax, f_numpy"),
        ("{module}:needs_matrix", (3,), "fails at an input of shape (3,)"),
    ],
)
def test_bad_functions_and_shapes_are_clear_errors(
    module: Path, spec: str, shape: tuple, message: str
) -> None:
    with pytest.raises(UserFunctionError, match=None) as info:
        user_problem(spec.format(module=module), shape)
    assert message in str(info.value)


@pytest.mark.skipif(not HAS_TORCH, reason="needs torch")
def test_a_wrong_framework_names_the_right_one(module: Path) -> None:
    with pytest.raises(UserFunctionError, match="pass --framework torch"):
        user_problem(f"{module}:f_torch", (3,), "numpy")


def test_cli_errors_exit_2_without_a_traceback(
    module: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.run_cli(["--fn", f"{module}:missing", "--shape", "3"]) == 2
    assert "bench: --fn" in capsys.readouterr().err
    assert cli.run_cli(["--fn", f"{module}:f_numpy"]) == 2
    assert "needs --shape" in capsys.readouterr().err


def test_list_names_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run_cli(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("mlp", "rosenbrock", "tiny", "brusselator"):
        assert name in out


@pytest.mark.skipif(not HAS_JAX, reason="needs JAX")
def test_a_jax_function_runs_on_the_dual_engine(
    module: Path, fast: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "r.json"
    code = cli.run_cli(
        [
            "--fn",
            f"{module}:f_jax",
            "--shape",
            "4",
            "--quick",
            "--no-progress",
            "--json",
            str(out_json),
        ]
    )
    assert code == 0
    doc = json.loads(out_json.read_text())
    dual = next(r for r in doc["results"] if r["contender"] == "DualBackend()")
    assert dual["check"] == "ok", dual["error"]
    assert "fastest for" in capsys.readouterr().out


def _result(name: str, seconds: float | None, native: bool = False, **kw: object) -> Result:
    rounds = [seconds * s for s in (0.99, 1.0, 1.01)] if seconds else []
    check = "ok" if seconds else "error"
    return Result("p", "jacobian", name, native, "numpy", seconds, None, check, rounds=rounds, **kw)


def test_recommendation_includes_natives_and_reports_ties() -> None:
    results = [
        _result("A()", 1.0e-4),
        _result("B()", 1.02e-4),
        _result("C()", 2.0e-4),
        _result("jax.jit(jax.jacrev)", 0.8e-4, native=True),
    ]
    rec = recommend(results)["p jacobian"]
    assert rec.fastest == ("native jax.jit(jax.jacrev)",)
    assert rec.best_anydiff == ("A()", pytest.approx(1.25))
    assert "the fastest anydiff backend is A() at 1.25x" in str(rec)
    tied = recommend(results[:3])["p jacobian"]
    assert tied.fastest == ("anydiff A()", "anydiff B()")
    assert "ties with anydiff B()" in str(tied)


def test_rounds_slowed_by_load_do_not_change_the_recommendation() -> None:
    def timed(name: str, rounds: list[float]) -> Result:
        r = _result(name, min(rounds))
        r.rounds = rounds
        return r

    # A's best round reproduces (the other one was slowed by load): A alone is fastest
    alone = recommend([timed("A()", [1.0, 1.01, 4.0]), timed("B()", [1.5, 1.5, 1.5])])
    assert alone["p jacobian"].fastest == ("anydiff A()",)
    # A's best round does not reproduce: B, within that noise, is named as a tie
    noisy = recommend([timed("A()", [1.0, 1.6, 1.7]), timed("B()", [1.3, 1.3, 1.3])])
    assert noisy["p jacobian"].fastest == ("anydiff A()", "anydiff B()")


def test_errors_are_kept_whole(tmp_path: Path) -> None:
    long = "ValueError: " + "x" * 500
    results = [_result("A()", 1e-4), _result("B()", None, error=long)]
    table = format_table(results)
    assert "error [1]" in table and "errors (the contender could not run)" in table
    save_json(tmp_path / "r.json", results)
    saved = json.loads((tmp_path / "r.json").read_text())["results"][1]
    assert saved["error"] == long


def test_plot_marks_failed_contenders(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    results = [_result("A()", 1e-4), _result("B()", None, error="boom")]
    save_plot(tmp_path / "chart.png", results)
    assert (tmp_path / "chart.png").stat().st_size > 0
