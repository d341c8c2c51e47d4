"""``python -m anydiff bench``: arguments and the command itself."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

__all__ = ["add_arguments", "main", "run_cli"]


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        msg = f"--shape expects integers like 10,10; got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"--shape must be non-negative; got {text!r}")
    return shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bench``."""
    from anydiff.bench.problems import FRAMEWORKS, PROBLEMS

    listing = "; ".join(f"{p.name}: {p.description}" for p in PROBLEMS.values())
    parser.add_argument(
        "--problem",
        action="append",
        choices=sorted(PROBLEMS),
        metavar="NAME",
        help=f"reference problem to run (repeatable; default all). {listing}",
    )
    parser.add_argument("--list", action="store_true", help="list the reference problems and exit")
    parser.add_argument(
        "--fn",
        metavar="MODULE:FUNCTION",
        help="time a user function instead (module:function or file.py:function)",
    )
    parser.add_argument(
        "--shape",
        type=_shape,
        metavar="D1,D2,...",
        help="shape of the user function's input (with --fn)",
    )
    parser.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        default=None,
        help="array framework the --fn function is written with (default: detected by "
        "calling it on numpy, torch and JAX arrays)",
    )
    parser.add_argument(
        "--operator",
        choices=("jacobian", "gradient", "hessian"),
        help="operator to time (default: jacobian for --fn, each problem's own)",
    )
    parser.add_argument("--json", metavar="FILE", help="save the results as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="save a bar chart of time per call")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Run the benchmark described by ``args``; print the table. Returns the exit code."""
    from anydiff.bench.contenders import enable_x64, installed
    from anydiff.bench.machine import busy_warning, machine_info
    from anydiff.bench.problems import PROBLEMS, UserFunctionError, user_problem
    from anydiff.bench.progress import collect_warnings
    from anydiff.bench.report import format_table, save_json, save_plot
    from anydiff.bench.runner import Settings, Task, run

    if args.list:
        for p in PROBLEMS.values():
            print(f"{p.name:12s} {p.description}; {', '.join(p.operators)}")
        return 0
    if args.plot and not installed("matplotlib"):
        return _fail("--plot needs matplotlib: pip install 'anydiff[bench]'")
    enable_x64()
    tasks: list[Task] = []
    with collect_warnings() as warned:
        if args.fn:
            if args.shape is None:
                return _fail("--fn needs --shape (the input's shape, e.g. --shape 10 or 4,4)")
            op = args.operator or "jacobian"
            try:
                problem = user_problem(args.fn, args.shape, args.framework, (op,))
            except UserFunctionError as err:
                return _fail(str(err))
            tasks.append(Task.of(problem, op))
        else:
            for name in args.problem or list(PROBLEMS):
                problem = PROBLEMS[name]
                ops = (args.operator,) if args.operator else problem.operators
                for op in ops:
                    if op in ("gradient", "hessian") and "jacobian" in problem.operators:
                        print(f"bench: skipping {name} {op} (its output is not a scalar)")
                        continue
                    tasks.append(Task.of(problem, op))
        if not tasks:
            return _fail("nothing to run")
        settings = Settings.quick() if args.quick else Settings()
        warning = busy_warning()
        if warning:
            print(warning, file=sys.stderr)
        results = run(tasks, settings, show_progress=not args.no_progress)
    print(format_table(results))
    missing = [name for name in ("jax", "torch") if not installed(name)]
    if missing:
        extras = " ".join(f"'anydiff[{m}]'" for m in missing)
        print(
            f"\nnot installed: {', '.join(missing)}; pip install {extras} adds their backends "
            "and native calls as contenders."
        )
    if warned:
        print("\nwarnings raised while benchmarking:")
        print("\n".join(f"  {w}" for w in warned))
    if args.json:
        save_json(
            args.json,
            results,
            machine=machine_info(),
            settings={**settings.as_dict(), "dtype": "float64"},
        )
        print(f"results written to {args.json}")
    if args.plot:
        save_plot(args.plot, results)
        print(f"chart written to {args.plot}")
    return 0


def _fail(message: str) -> int:
    print(f"bench: {message}", file=sys.stderr)
    return 2


def run_cli(argv: Optional[list[str]] = None) -> int:
    """``bench`` as a standalone command line (used by benches/ scripts)."""
    parser = argparse.ArgumentParser(prog="anydiff bench")
    add_arguments(parser)
    return main(parser.parse_args(argv))
