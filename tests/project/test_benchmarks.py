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
from benchmarks._harness import Result, median_of, per_second, ratio, unmeasured
from benchmarks.bench_hostcall import per_call

REQUIRE_ALL = os.environ.get("ASTRID_REQUIRE_ALL") == "1"
MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                 if m.name.startswith("bench_"))


def test_every_issue_benchmark_has_a_module() -> None:
    """The suite covers every row of issue 7's table, the peer rows of issue 15 and issue 13's
    cost of auditing."""
    assert {"bench_bytes", "bench_classify", "bench_hostcall", "bench_http", "bench_stream",
            "bench_cold_start", "bench_concurrency", "bench_peer", "bench_audit"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_runs_tiny_and_reports_sane_rows(name: str) -> None:
    """Each row names a candidate and a baseline, a unit and a ratio consistent with the two,
    and serialises to strict JSON the way build/bench.json is written. A value or baseline is
    a positive number, or NaN (not measured: a mode that skips it, or a busy machine whose
    noise swallowed every round) with a note saying so; the ratio is NaN exactly then."""
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
        for figure in (row.value, row.baseline):
            assert math.isnan(figure) or (math.isfinite(figure) and figure > 0), row
        if math.isnan(row.value) or math.isnan(row.baseline):
            assert math.isnan(row.ratio) and row.note, row
        else:
            assert math.isfinite(row.ratio) and row.ratio > 0, row
        json.dumps(row.as_json(), allow_nan=False)


# --- the arithmetic never divides by a measured zero ------------------------------------------


def test_a_timing_that_came_out_zero_or_negative_is_not_a_measurement() -> None:
    """A round shorter than the clock's resolution, or a difference of two timings that the
    noise made zero or negative, is dropped from the median, and what cannot be computed
    from it is NaN instead of a ZeroDivisionError (issue 16: a busy CI machine failed here)."""
    assert median_of([0.0, 0.0]) != median_of([0.0, 0.0])  # NaN
    assert median_of([0.0, 3.0, -1.0, math.nan, 1.0]) == 2.0
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(0.0, 1.0))
    assert math.isnan(ratio(1.0, math.nan)) and math.isnan(per_second(10, 0.0))
    assert ratio(3.0, 1.5) == 2.0 and per_second(10, 2.0) == 5.0
    assert unmeasured(value=1.0, baseline=2.0) == ""
    assert "baseline not measured" in unmeasured(value=1.0, baseline=math.nan)


@pytest.mark.parametrize(("one_s", "many_s"), [(0.0, 0.0), (2e-4, 2e-4), (3e-4, 1e-4)])
def test_hostcall_per_call_time_is_nan_when_the_noise_swallows_the_calls(
        one_s: float, many_s: float) -> None:
    """t(n) no longer than t(1): the round measured nothing (it used to be 0, then divided)."""
    assert math.isnan(per_call(one_s, many_s, 100))


def test_hostcall_per_call_time_subtracts_the_single_call() -> None:
    assert per_call(1e-4, 100e-4, 100) == pytest.approx(1e-4)


def test_a_row_with_an_unmeasured_figure_is_strict_json_with_nulls() -> None:
    row = Result(name="x", value=math.nan, baseline=2.0, ratio=math.nan, unit="ms", what="w",
                 note=unmeasured(value=math.nan, baseline=2.0),
                 extra={"overhead": math.nan, "nested": [1.0, math.inf], "n": 3})
    out = json.loads(json.dumps(row.as_json(), allow_nan=False))
    assert out["value"] is None and out["ratio"] is None and out["baseline"] == 2.0
    assert out["overhead"] is None and out["nested"] == [1.0, None] and out["n"] == 3
    assert out["note"].startswith("value not measured")


# --- the fast paths the benchmarks demand -------------------------------------------------------
# (Here because this file is the benchmark owner's; they belong in tests/wasm/test_imports.py.)


def _send_request_type() -> object:
    from wasmtime import Config, Engine
    from wasmtime.component import Component
    from wasmtime.component import _types as t

    from tests.support.wat import CLIENT_GUEST_WAT

    engine = Engine(Config())
    imports = Component(engine, CLIENT_GUEST_WAT).type.imports(engine)
    client = imports["astrid:http/client@0.1.0"].ty
    assert isinstance(client, t.ComponentInstanceType)
    send = client.exports(engine)["send"].ty
    assert isinstance(send, t.FuncType)
    return send


def test_a_frozen_type_has_the_same_structure_and_converts_the_same_values() -> None:
    """Invariant of freeze_type: the frozen type renders identically (same structure, so the
    load-time signature check is unaffected), and a value lowered and lifted through it comes
    back equal to the one lifted through wasmtime-py's own, unfrozen type."""
    import ctypes

    from wasmtime import _ffi as ffi
    from wasmtime.component import Record, Variant

    from astrid_host._wasm._typeinfo import render_func, render_type
    from astrid_host._wasm._wasmtime_patches import freeze_type

    plain, frozen = _send_request_type(), _send_request_type()
    before = render_func(frozen, {})
    params = [freeze_type(ty) for _, ty in frozen.params]  # type: ignore[attr-defined]
    result = freeze_type(frozen.result)  # type: ignore[attr-defined]
    assert type(params[0]).__name__.startswith("Frozen")
    assert render_type(params[0], {}) == render_type(plain.params[0][1], {})  # type: ignore[attr-defined]
    assert render_func(frozen, {}) == before
    assert type(result).__name__ == "FrozenResultType"

    def request() -> Record:
        r = Record()
        r.__dict__.update({"method": Variant("other", "PURGE"), "url": "http://x.test/",
                           "headers": [("a", b"\x00\xff")], "body": b"body",
                           "options": None})
        return r

    lifted = []
    for ty in (plain.params[0][1], params[0]):  # type: ignore[attr-defined]
        raw = ffi.wasmtime_component_val_t()
        ty.convert_to_c(None, request(), ctypes.pointer(raw))
        lifted.append(ty.convert_from_c(raw))
    assert lifted[0] == lifted[1]
    assert lifted[1].method == Variant("other", "PURGE") and lifted[1].body == b"body"
