"""Where a benchmark ran: CPU, cores, library versions, date."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "busy_warning",
    "cpu_model",
    "load_average",
    "machine_info",
    "start_script",
    "write_results",
]


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return str(importlib.import_module(name).__version__)
    except Exception:  # not installed or broken: recorded as absent
        return None


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def busy_warning() -> str | None:
    """A warning when other processes keep the CPUs busy (timings would be inflated)."""
    load, cores = load_average(), os.cpu_count() or 1
    if load is not None and load[0] > cores:
        return (
            f"warning: 1-minute load average {load[0]:.2f} on {cores} cores; other "
            "processes compete for the CPUs and timings (torch's above all) will be noisy"
        )
    return None


def machine_info() -> dict[str, Any]:
    """CPU model, core count, platform, Python and library versions, and the UTC date."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(name) for name in ("anydiff", "jax", "jaxlib", "torch", "numpy", "scipy")
        },
        "load_average": load_average(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def start_script(description: str, default_out: Path) -> argparse.Namespace:
    """What every script under ``benches/`` does first: parse ``--quick`` and ``--out``,
    compute in float64 (JAX's x64 on), and warn when the CPUs are busy."""
    from anydiff.bench.contenders import enable_x64

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--out", default=str(default_out), help="JSON output")
    args = parser.parse_args()
    enable_x64()
    warning = busy_warning()
    if warning:
        print(warning)
    return args


def write_results(out: str | Path, settings: dict[str, Any], figures: Any, **sections: Any) -> Path:
    """Save a benchmark run as JSON: machine, settings (every script computes in float64),
    the load after the run, the figures and any other ``sections``."""
    doc = {
        "machine": machine_info(),
        "settings": {**settings, "dtype": "float64", "jax_enable_x64": True},
        "load_average_after": load_average(),
        "figures": figures,
        **sections,
    }
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    print(f"written {path}")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
