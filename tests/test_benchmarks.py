"""Smoke test of the benchmark suite: every module runs in its tiny mode and returns sane rows.

Nothing here asserts a speed (timed unit tests only measure the machine they ran on); the
numbers come from ``python -m benchmarks``. A module that needs a guest which is not built is
skipped with the build command (``ASTRID_REQUIRE_ALL=1``: a failure instead).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil

import pytest

import benchmarks
from benchmarks._harness import Result

REQUIRE_ALL = os.environ.get("ASTRID_REQUIRE_ALL") == "1"
MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                 if m.name.startswith("bench_"))


def test_every_issue_benchmark_has_a_module() -> None:
    """The suite covers every row of issue 7's table."""
    assert {"bench_bytes", "bench_classify", "bench_hostcall", "bench_http", "bench_stream",
            "bench_cold_start", "bench_concurrency"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_runs_tiny_and_reports_sane_rows(name: str) -> None:
    """Each row names a candidate and a baseline with positive values, a unit and a ratio
    consistent with the two (NaN only for a baseline the mode skips), and serialises to
    strict JSON the way build/bench.json is written."""
    module = importlib.import_module(f"benchmarks.{name}")
    try:
        rows = module.run(True, tiny=True)
    except FileNotFoundError as exc:  # a guest is not built
        if REQUIRE_ALL:
            raise
        pytest.skip(str(exc))
    assert rows, f"{name} returned no rows"
    for row in rows:
        assert isinstance(row, Result)
        assert row.name and row.unit and row.what
        assert math.isfinite(row.value) and row.value > 0, row
        if math.isnan(row.baseline):
            assert math.isnan(row.ratio), row
        else:
            assert row.baseline > 0 and math.isfinite(row.ratio) and row.ratio > 0, row
        json.dumps(row.as_json(), allow_nan=False)
