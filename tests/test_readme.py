"""Every Python block of README.md runs as written, in a fresh interpreter.

A block that needs an optional part (JAX, torch, a GPU adapter) is skipped when that part
is missing here; every other failure is a failure of the README.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of each ```python block."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def needs(code: str) -> list[str]:
    """The optional modules a block imports or uses."""
    found = []
    if re.search(r"\bjax\b", code):
        found.append("jax")
    if re.search(r"\btorch\b", code):
        found.append("torch")
    return found


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("line,code", BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
def test_block_runs(line: int, code: str) -> None:
    for module in needs(code):
        pytest.importorskip(module)
    if 'device="gpu"' in code:
        from anydiff import _core

        try:
            _core.gpu_adapter()
        except Exception as e:  # no Vulkan adapter on this machine
            pytest.skip(f"no GPU adapter: {e}")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=README.parent,
    )
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stderr[-3000:]}"
