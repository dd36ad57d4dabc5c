"""`malloc_fetch_1m`: what ``Host(malloc_threshold_bytes=...)`` buys, and what it costs.

The setting is glibc's ``mallopt``, process-wide and permanent, so the two variants cannot share
a process: each round starts two child processes in turn, one with the CLI's setting
(:data:`~astrid_host._wasm._malloc.RECOMMENDED_THRESHOLD`) and one without, and the rounds
alternate which goes first. Each child loads the Rust conformance capsule and calls ``fetch`` on
a 1 MiB body from the loopback server: the body crosses as a ``list<u8>`` into the guest (the
``send`` result) and back out (the export's result), the conversion the setting is for (the
body lane needs no value conversion and is unaffected). It reports the median call time and the
process's resident memory after the calls (``/proc/self/statm``).

Row: value = ms per call with the setting, baseline = without, ratio > 1 means faster with it;
``extra`` holds the resident MiB of both (the memory the setting keeps), medians over rounds.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from ._harness import (
    CONFORMANCE,
    ROOT,
    Result,
    guest,
    loopback_server,
    median_of,
    ratio,
    unmeasured,
)

MiB = 1 << 20
SIZE = MiB


async def _child(threshold: int | None, port: int, calls: int) -> dict[str, Any]:
    from astrid_host._core._limits import Limits
    from tests.support.process import rss_bytes
    from tests.support.values import wit_request

    from .bench_http import bench_host

    async with bench_host(limits=Limits(call_timeout_s=300),
                          malloc_threshold_bytes=threshold) as host:
        capsule = await host.load(guest("rust-conformance"), name="malloc")
        req = wit_request(f"http://public.test:{port}/bytes?n={SIZE}&chunk=262144")
        times = []
        for i in range(calls + 1):  # the first call warms up
            start = time.perf_counter()
            resp = await capsule.call(f"{CONFORMANCE}#fetch", req)
            if i:
                times.append(time.perf_counter() - start)
            if getattr(resp, "status", None) != 200 or len(resp.body) != SIZE:
                raise AssertionError(f"unexpected fetch result: {resp!r}"[:300])
        return {"ms": statistics.median(times) * 1e3, "rss_mib": rss_bytes() / MiB}


def _run_child(threshold: int | None, port: int, calls: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_malloc", "--child",
         str(threshold or 0), str(port), str(calls)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench_malloc child failed: {out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """One row: a 1 MiB ``fetch`` with the CLI's malloc setting vs without."""
    from astrid_host._wasm._malloc import RECOMMENDED_THRESHOLD

    guest("rust-conformance")
    rounds, calls = (1, 2) if tiny else (2, 5) if quick else (4, 7)
    seen: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    with loopback_server() as server:
        for r in range(rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for variant in order:
                threshold = RECOMMENDED_THRESHOLD if variant == "on" else None
                seen[variant].append(_run_child(threshold, server.port, calls))
    on = median_of([x["ms"] for x in seen["on"]])
    off = median_of([x["ms"] for x in seen["off"]])
    return [Result(
        "malloc_fetch_1m", on, off, ratio(off, on), "ms",
        "1 MiB fetch (list<u8> into the guest and out) with Host(malloc_threshold_bytes="
        f"{RECOMMENDED_THRESHOLD // MiB} MiB) vs without; resident memory of both in extra",
        "reported",
        {"rounds": rounds, "calls": calls, "threshold_mib": RECOMMENDED_THRESHOLD // MiB,
         "rss_mib_on": statistics.median(x["rss_mib"] for x in seen["on"]),
         "rss_mib_off": statistics.median(x["rss_mib"] for x in seen["off"])},
        unmeasured(on=on, off=off))]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        import trio

        threshold, port, calls = (int(x) for x in sys.argv[2:5])
        print(json.dumps(trio.run(_child, threshold or None, port, calls)))
    else:
        for row in run("--quick" in sys.argv):
            print(f"{row.name}: {row.value:.1f} {row.unit} vs {row.baseline:.1f} -> "
                  f"{row.ratio:.2f} {row.extra}")
