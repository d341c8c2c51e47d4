"""Where a benchmark ran: CPU, cores, library versions, date."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
from typing import Any

__all__ = ["busy_warning", "cpu_model", "load_average", "machine_info"]


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
        return (f"warning: 1-minute load average {load[0]:.2f} on {cores} cores; other "
                "processes compete for the CPUs and timings (torch's above all) will be noisy")
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
