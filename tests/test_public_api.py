"""The public names exist, and the hand-written stubs of anydiff._core match the binary."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import anydiff
from anydiff import _core

STUB = Path(anydiff.__file__).with_name("_core.pyi")


def test_all_names_exist() -> None:
    missing = [name for name in anydiff.__all__ if not hasattr(anydiff, name)]
    assert not missing
    assert len(set(anydiff.__all__)) == len(anydiff.__all__)


def test_operators_are_callable_and_documented() -> None:
    for name in anydiff.__all__:
        obj = getattr(anydiff, name)
        if callable(obj) and not isinstance(obj, type):
            assert obj.__doc__, f"{name} has no docstring"
            assert obj.__name__ == name


def _stub() -> ast.Module:
    if not STUB.exists():
        pytest.skip("python/anydiff/_core.pyi does not exist yet")
    return ast.parse(STUB.read_text())


def _stub_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_core_stub_names_match_binary() -> None:
    stub = _stub_names(_stub())
    binary = {n for n in dir(_core) if not n.startswith("__")} | {"__version__"}
    assert stub == binary


def test_core_stub_signatures_match_binary() -> None:
    for node in _stub().body:
        if not isinstance(node, ast.FunctionDef):
            continue
        a = node.args
        stub_params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        try:
            sig = inspect.signature(getattr(_core, node.name))
        except (TypeError, ValueError):
            continue
        assert list(sig.parameters) == stub_params, node.name
        kwonly = [
            p.name for p in sig.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
        ]
        assert kwonly == [p.arg for p in a.kwonlyargs], node.name


def test_shape_error_is_the_core_class() -> None:
    assert anydiff.ShapeError is _core.ShapeError
    assert issubclass(anydiff.ShapeError, ValueError)
    assert isinstance(anydiff.__version__, str) and anydiff.__version__


def test_backends_are_hashable_and_compare_by_configuration() -> None:
    a, b = anydiff.FiniteDifferences("central"), anydiff.FiniteDifferences("central")
    assert a == b and hash(a) == hash(b)
    assert a != anydiff.FiniteDifferences("central5")
    assert "central5" in repr(anydiff.FiniteDifferences("central5"))
