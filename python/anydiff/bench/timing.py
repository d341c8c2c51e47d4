"""Interleaved timing: every contender is measured in the same rounds, so drifts in
machine load hit all of them alike."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

__all__ = ["Timing", "block", "calibrate", "measure"]

Call = Callable[[], Any]


def block(result: Any) -> Any:
    """Wait until ``result`` (an array or a tuple/list/dict of arrays) is computed.

    JAX dispatches asynchronously, so its arrays need ``block_until_ready``; numpy and
    CPU torch results are ready when returned.
    """
    if isinstance(result, (tuple, list)):
        for r in result:
            block(r)
    elif isinstance(result, dict):
        for r in result.values():
            block(r)
    else:
        wait = getattr(result, "block_until_ready", None)
        if wait is not None:
            wait()
    return result


@dataclass
class Timing:
    """Seconds per call of one contender: the median over rounds, and every round."""

    median: float
    rounds: list[float] = field(default_factory=list)
    calls_per_round: int = 1

    @property
    def best(self) -> float:
        """The fastest round's seconds per call: other work on the machine only adds time,
        so it is the estimate that moves least with load."""
        return min(self.rounds) if self.rounds else self.median


def _run(call: Call, number: int) -> float:
    """Seconds per call over ``number`` blocking calls."""
    clock = time.perf_counter
    start = clock()
    for _ in range(number):
        block(call())
    return (clock() - start) / number


def calibrate(call: Call, target: float, max_calls: int = 1_000_000) -> int:
    """How many calls of ``call`` take about ``target`` seconds (at least one)."""
    number = 1
    while True:
        per_call = _run(call, number)
        elapsed = per_call * number
        if elapsed >= target / 4 or number >= max_calls:
            break
        number = min(max_calls, number * 4 if elapsed < target / 40 else number * 2)
    return max(1, min(max_calls, round(target / max(per_call, 1e-9))))


def measure(
    calls: dict[str, Call],
    target: float = 0.2,
    rounds: int = 5,
    warmup: int = 2,
    progress: Optional[Callable[[int], Any]] = None,
) -> dict[str, Timing]:
    """Median seconds per call of each contender, measured in interleaved rounds.

    Args:
        calls: name -> zero-argument callable; its result is blocked on.
        target: seconds one measurement (one contender in one round) should take.
        rounds: rounds; each runs every contender once, in rotating order.
        warmup: calls of each contender before calibration (compilation, caches).
        progress: called with 1 after each contender is warmed up and after each round's
            measurement of one contender (``len(calls) * (rounds + 1)`` steps in all).
    """
    numbers: dict[str, int] = {}
    for name, call in calls.items():
        for _ in range(warmup):
            block(call())
        numbers[name] = calibrate(call, target)
        if progress is not None:
            progress(1)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(rounds):
        shift = r % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            samples[name].append(_run(calls[name], numbers[name]))
            if progress is not None:
                progress(1)
    return {name: Timing(statistics.median(s), s, numbers[name]) for name, s in samples.items()}
