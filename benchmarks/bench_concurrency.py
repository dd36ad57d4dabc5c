"""`concurrency`: many capsules making requests at once vs one capsule doing them in a row.

Candidate: 50 Rust conformance capsules (one Host, default ``max_threads=8``), each making 20
1 KiB ``fetch`` calls one after another, all capsules at once (1000 requests).
Baseline: one capsule making the same 1000 requests sequentially. ``--quick``: 50 x 4 vs 200.
Three interleaved rounds of each; throughput from the medians.
Server: the trio/h11 test server in a child process, through the real egress guard.

Reported, no goal on the ratio; "no thread starvation" is shown by what a starved host would
break: every capsule finishes, the slowest capsule's first response comes early (fairness),
the per-request p99 latency stays bounded, and the trio loop keeps running (the worst lateness
of a 5 ms heartbeat task during the run). These figures are from the last concurrent round.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import trio

from tests.support.values import wit_request

from ._harness import (
    CONFORMANCE,
    Result,
    guest,
    interleave,
    loopback_server,
    median_of,
    per_second,
    ratio,
    unmeasured,
)
from .bench_http import bench_host, check_response

_HEARTBEAT_S = 0.005


async def _heartbeat(lateness: list[float]) -> None:
    while True:
        start = time.perf_counter()
        await trio.sleep(_HEARTBEAT_S)
        lateness.append(time.perf_counter() - start - _HEARTBEAT_S)


async def _measure(quick: bool, tiny: bool, port: int) -> Result:
    capsules_n, per_capsule = (5, 2) if tiny else (50, 4) if quick else (50, 20)
    rounds = 1 if tiny else 3
    total = capsules_n * per_capsule
    fetch = f"{CONFORMANCE}#fetch"
    request = wit_request(f"http://public.test:{port}/bytes?n=1024")
    async with bench_host() as host:
        wasm = guest("rust-conformance")
        capsules = [await host.load(wasm, name=f"c{i}") for i in range(capsules_n)]
        for capsule in capsules:  # warm: every capsule has its keep-alive connection
            check_response(await capsule.call(fetch, request), 1024)

        latencies: list[float] = []
        first_done: list[float] = []
        finished: list[float] = []
        lateness: list[float] = []

        async def sequential() -> None:  # the baseline: one capsule, all requests in a row
            for _ in range(total):
                check_response(await capsules[0].call(fetch, request), 1024)

        async def worker(capsule: Any, t0: float) -> None:
            for i in range(per_capsule):
                began = time.perf_counter()
                check_response(await capsule.call(fetch, request), 1024)
                now = time.perf_counter()
                latencies.append(now - began)
                if i == 0:
                    first_done.append(now - t0)
            finished.append(time.perf_counter() - t0)

        async def concurrent() -> None:
            # Starvation figures are kept from the last round only.
            for bucket in (latencies, first_done, finished, lateness):
                bucket.clear()
            async with trio.open_nursery() as outer:
                outer.start_soon(_heartbeat, lateness)
                t0 = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for capsule in capsules:
                        nursery.start_soon(worker, capsule, t0)
                outer.cancel_scope.cancel()

        times = await interleave({"concurrent": concurrent, "sequential": sequential}, rounds)
    concurrent_s = median_of(times["concurrent"])
    sequential_s = median_of(times["sequential"])
    if len(finished) != capsules_n or len(latencies) != total:
        raise AssertionError("not every capsule finished")
    latencies.sort()
    rate, base = per_second(total, concurrent_s), per_second(total, sequential_s)
    return Result(
        name="concurrency", value=rate, baseline=base, ratio=ratio(rate, base), unit="req/s",
        what=f"{capsules_n} capsules x {per_capsule} requests at once vs one capsule "
             f"doing {total} in a row",
        goal="reported; no starvation", note=unmeasured(value=rate, baseline=base),
        extra={
            "requests": total, "capsules": capsules_n, "rounds": rounds,
            "latency_p50_ms": statistics.median(latencies) * 1e3,
            "latency_p99_ms": latencies[int(0.99 * (total - 1))] * 1e3,
            "latency_max_ms": latencies[-1] * 1e3,
            "slowest_first_response_ms": max(first_done) * 1e3,
            "first_capsule_done_ms": min(finished) * 1e3,
            "last_capsule_done_ms": max(finished) * 1e3,
            "loop_lateness_max_ms": max(lateness, default=0.0) * 1e3,
            "heartbeats": len(lateness),
        })


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """One row; ratio = concurrent throughput / sequential throughput."""
    with loopback_server() as server:
        return [trio.run(_measure, quick, tiny, server.port)]


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: {r.value:.0f} {r.unit} vs sequential {r.baseline:.0f} -> "
              f"{r.ratio:.2f}x; {r.extra}")
