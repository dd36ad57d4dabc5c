"""The peer benchmark (benchmarks/bench_peer.py) reports a work astrid-host cannot do as failed
rows with the reason, measures the peers anyway, and never divides by a zero time.

Nothing here asserts a speed: the capsule is a fake (it fails the way a real capsule does), the
Extism plugin and httpcore run for real against the loopback server.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import httpcore
import pytest
import trio
from wasmtime.component import Variant

from astrid_host._wasm._errors import CapsuleTrap
from benchmarks import bench_peer
from benchmarks._harness import Result, loopback_server

HOSTCALL_TRAP = ("too much data is being copied between the host and the guest: fuel "
                 "allocated for hostcalls has been exhausted")


class TrappingCapsule:
    """A capsule whose every call traps like a guest returning more than wasmtime lifts."""

    def __init__(self) -> None:
        self.calls = 0

    async def call(self, export: str, *args: Any) -> Any:
        self.calls += 1
        raise CapsuleTrap("other", export, HOSTCALL_TRAP)

    async def call_with_output(self, export: str, *args: Any) -> Any:
        return await self.call(export, *args)  # the lane of `return`


class RefusingCapsule:
    """A capsule whose request ends in an error-code (as a too-large body would)."""

    async def call(self, export: str, *args: Any) -> Any:
        return Variant("response-too-large", None)


def _measure(work: bench_peer.Work, capsule: Any) -> list[Result]:
    try:
        bench_peer.guest("rust-extism-fetch")
    except FileNotFoundError as exc:
        if os.environ.get("ASTRID_REQUIRE_ALL") == "1":  # CI: nothing may skip
            raise
        pytest.skip(str(exc))

    async def main(port: int) -> list[Result]:
        async with httpcore.AsyncConnectionPool() as pool:
            return await bench_peer._measure_work(work, 2, port, capsule, pool)

    with loopback_server() as server:
        return trio.run(main, server.port)


@pytest.mark.parametrize("work", [bench_peer.Work("return", 64 * 1024),
                                  bench_peer.Work("get", 1024, per_round=2)])
def test_a_trapping_capsule_gives_failed_rows_with_the_reason_and_peers_still_measured(
        work: bench_peer.Work) -> None:
    capsule = TrappingCapsule()
    rows = _measure(work, capsule)
    names = [f"{work.name}_extism", f"{work.name}_httpcore"]
    if work.kind != "get":  # body works also run through the lane
        names += [f"{work.name}_lane_extism", f"{work.name}_lane_vs_list"]
    assert [r.name for r in rows] == names
    for row in rows:
        assert row.extra is not None and "CapsuleTrap" in row.extra["failed"]
        assert "hostcalls has been exhausted" in row.extra["failed"] and row.note
        assert math.isnan(row.value) and math.isnan(row.ratio)
        if not row.name.endswith("_lane_vs_list"):  # that one's baseline is list<u8>: failed
            assert math.isfinite(row.baseline) and row.baseline > 0  # the peer did the work
        json.dumps(row.as_json(), allow_nan=False)  # build/bench.json stays strict JSON
    # Not called again once it failed: once as list<u8>, once through the lane.
    assert capsule.calls == (1 if work.kind == "get" else 2)


def test_an_error_code_from_the_capsule_is_a_failed_row_too() -> None:
    [row, _, lane, _] = _measure(bench_peer.Work("in", 64 * 1024), RefusingCapsule())
    assert lane.extra is not None and lane.extra["failed"] == row.extra["failed"]  # type: ignore[index]
    assert row.extra is not None
    assert row.extra["failed"] == ("WorkFailed: the request ended with error-code "
                                   "response-too-large")


@pytest.mark.parametrize(("num", "den"), [(1.0, 0.0), (0.0, 0.0), (0.0, 1.0)])
def test_safe_ratio_never_divides_by_a_measured_zero(num: float, den: float) -> None:
    assert math.isfinite(bench_peer.safe_ratio(num, den))


@pytest.mark.parametrize("kind", ["get", "in"])
def test_rows_from_zero_times_are_positive_and_finite(kind: str) -> None:
    """A clock too coarse for a tiny run gives zeros: the rows stay sane for the suite."""
    zero = {"astrid": 0.0, "extism": 0.0, "httpcore": 0.0}
    for row in bench_peer.rows(bench_peer.Work(kind, 1024, per_round=2), zero):
        assert row.value > 0 and row.baseline > 0 and math.isfinite(row.ratio)


def test_rows_orient_ratios_so_that_above_one_means_astrid_is_faster() -> None:
    seconds = {"astrid": 0.002, "extism": 0.004, "httpcore": 0.001}
    get, get_http = bench_peer.rows(bench_peer.Work("get", 1024, per_round=10), seconds)
    assert (get.unit, get.value, get.baseline) == ("req/s", 5000.0, 2500.0)
    assert get.ratio == pytest.approx(2.0) and get_http.ratio == pytest.approx(0.5)
    assert get.extra is not None and get.extra["ms"]["astrid"] == pytest.approx(0.2)  # each
    body, _ = bench_peer.rows(bench_peer.Work("in", 1 << 20), seconds)
    assert (body.unit, body.value, body.baseline) == ("ms", 2.0, 4.0)
    assert body.ratio == pytest.approx(2.0) and body.goal == ">= 0.5"
    _, _, lane, lane_vs_list = bench_peer.rows(bench_peer.Work("in", 1 << 20),
                                               {**seconds, "lane": 0.001})
    assert (lane.value, lane.baseline, lane.goal) == (1.0, 4.0, ">= 0.5")
    assert lane.ratio == pytest.approx(4.0)  # the lane vs extism
    assert (lane_vs_list.baseline, lane_vs_list.ratio) == (2.0, pytest.approx(2.0))
