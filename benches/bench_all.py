"""Every reference problem, every installed backend and native call: table, JSON, chart.

Same as ``python -m anydiff bench --json benches/results/bench.json --plot
benches/results/bench.png``; extra arguments are passed on (e.g. ``--quick``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from anydiff.bench.cli import run_cli

RESULTS = Path(__file__).resolve().parent / "results"

if __name__ == "__main__":
    RESULTS.mkdir(parents=True, exist_ok=True)
    argv = ["--json", str(RESULTS / "bench.json"), "--plot", str(RESULTS / "bench.png")]
    raise SystemExit(run_cli(argv + sys.argv[1:]))
