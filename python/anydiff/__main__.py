"""``python -m anydiff``: command-line tools (``bench`` for now)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

__all__ = ["main"]


def main(argv: Optional[list[str]] = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m anydiff", description="anydiff command-line tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    bench = sub.add_parser(
        "bench",
        help="time anydiff's backends against native JAX/torch/scipy calls",
        description="Time every installed anydiff backend (prepared plans) side by side with "
        "the native calls on the reference problems or on a user function, check the "
        "results against each other, and recommend the fastest backend per problem.",
    )
    from anydiff.bench.cli import add_arguments
    from anydiff.bench.cli import main as bench_main

    add_arguments(bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench_main(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
