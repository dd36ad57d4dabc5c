"""Timing helpers shared by the benchmarks: medians over interleaved rounds.

The machines are small and noisy, so a candidate and its baseline are always measured in the
same process, alternating round by round, and compared as a ratio of medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Result", "compare", "median_time"]


@dataclass(frozen=True)
class Result:
    """One benchmark row: the candidate's value, the baseline's, and how they compare.

    ``ratio`` is always oriented so that > 1 means the candidate is better (faster, more
    throughput); ``goal`` is the ratio the issue asks for, if any.
    """

    name: str
    value: float
    baseline: float
    ratio: float
    unit: str
    what: str
    goal: str = ""
    extra: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "unit": self.unit,
            "what": self.what,
            "goal": self.goal,
        }
        if self.extra:
            out.update(self.extra)
        return out


def median_time(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of ``fn()`` over ``rounds`` calls, in seconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def compare(candidate: Callable[[], object], baseline: Callable[[], object],
            rounds: int) -> tuple[float, float]:
    """Median seconds of (candidate, baseline), measured alternately round by round."""
    cand: list[float] = []
    base: list[float] = []
    for _ in range(rounds):
        for fn, bucket in ((candidate, cand), (baseline, base)):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(cand), statistics.median(base)
