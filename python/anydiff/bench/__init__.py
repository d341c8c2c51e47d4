"""Benchmarks: anydiff's prepared calls side by side with JAX, torch and scipy.

Run ``python -m anydiff bench --help``. The modules: :mod:`problems` (reference problems
per framework), :mod:`contenders` (what is timed), :mod:`timing` (interleaved rounds),
:mod:`runner` (prepare, check, time), :mod:`report` (table, JSON, chart),
:mod:`machine` (where it ran), :mod:`cli` (the command).
"""

from anydiff.bench.contenders import Contender, contenders_for, enable_x64
from anydiff.bench.machine import machine_info
from anydiff.bench.problems import PROBLEMS, Problem, brusselator_rhs, get_problem, user_problem
from anydiff.bench.report import format_table, recommend, save_json, save_plot
from anydiff.bench.runner import Result, Settings, Task, run, run_task
from anydiff.bench.timing import Timing, block, measure

__all__ = [
    "PROBLEMS",
    "Contender",
    "Problem",
    "Result",
    "Settings",
    "Task",
    "Timing",
    "block",
    "brusselator_rhs",
    "contenders_for",
    "enable_x64",
    "format_table",
    "get_problem",
    "machine_info",
    "measure",
    "recommend",
    "run",
    "run_task",
    "save_json",
    "save_plot",
    "user_problem",
]
