"""`audit_buffered` and `audit_fsync`: what the audit trail costs per request (issue 13).

The same 1 KiB GETs as `http_buffered` (the Rust conformance guest's ``fetch`` against the
loopback test server in a child process, the real egress guard on every request), through
three Hosts awaited in turn round by round in one trio run:

- ``off``: no audit trail (the baseline);
- ``buffered``: a keyed trail, durability ``200ms`` (each record written to the kernel before
  the request goes on, flushed to the disk every 200 ms by the sink's thread);
- ``fsync``: a keyed trail, durability ``fsync`` (each record on the disk before the request
  goes on; written from a worker thread).

A request writes two records (its decision before the first byte, its completion). The trails
live in a temporary directory on the disk of the system's temp directory, which decides what
an fsync costs. Ratios are throughput with the trail over throughput without (> 1 would mean
faster with it; expect a little under 1 buffered, and far under with fsync on a real disk).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import trio

from astrid_host._audit._trail import AuditTrail
from tests.support.values import wit_request

from ._harness import (
    CONFORMANCE,
    Result,
    Server,
    guest,
    interleave,
    loopback_server,
    median_of,
    per_second,
    ratio,
    unmeasured,
)
from .bench_http import bench_host, check_response

KEY = b"benchmark-audit-key-0123456789ab"


async def _measure(quick: bool, tiny: bool, server: Server, directory: Path) -> list[Result]:
    n = 3 if tiny else 30 if quick else 100
    rounds = 1 if tiny else 5 if quick else 9
    url = f"http://public.test:{server.port}/bytes?n=1024"
    fetch = f"{CONFORMANCE}#fetch"
    request = wit_request(url)
    wasm = guest("rust-conformance")
    trails = {"off": None,
              "buffered": AuditTrail(directory / "buffered.jsonl", key=KEY, durability="200ms"),
              "fsync": AuditTrail(directory / "fsync.jsonl", key=KEY, durability="fsync")}
    async with bench_host(audit=trails["off"]) as off, \
            bench_host(audit=trails["buffered"]) as buffered, \
            bench_host(audit=trails["fsync"]) as fsync:
        capsules = {name: await host.load(wasm, name=f"audit-{name}")
                    for name, host in (("off", off), ("buffered", buffered), ("fsync", fsync))}

        def variant(name: str) -> Any:
            async def requests() -> None:
                for _ in range(n):
                    check_response(await capsules[name].call(fetch, request), 1024)
            return requests

        variants = {name: variant(name) for name in capsules}
        for warm in variants.values():
            await warm()
        times = await interleave(variants, rounds)
    per = {k: median_of(v) / n for k, v in times.items()}
    rate = {k: per_second(1, v) for k, v in per.items()}
    extra = {"requests_per_round": n, "rounds": rounds, "guest": "rust-conformance",
             "records_per_request": 2,
             "ms_per_request": {k: v * 1e3 for k, v in per.items()},
             "audit_ms_per_request": {k: (per[k] - per["off"]) * 1e3
                                      for k in ("buffered", "fsync")}}
    return [
        Result(name=f"audit_{mode}", value=rate[mode], baseline=rate["off"],
               ratio=ratio(rate[mode], rate["off"]), unit="req/s",
               note=unmeasured(value=rate[mode], baseline=rate["off"]),
               what=f"1 KiB GET through a capsule with a keyed audit trail ({label}) vs none",
               goal="reported", extra=extra)
        for mode, label in (("buffered", "durability 200ms"), ("fsync", "durability fsync"))
    ]


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Two rows from one interleaved run: the buffered and the fsync trail, each against no
    trail; ratio < 1 is the throughput auditing costs."""
    with loopback_server() as server, tempfile.TemporaryDirectory(
            prefix="astrid-bench-audit-") as directory:
        return trio.run(_measure, quick, tiny, server, Path(directory))


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: {r.value:.0f} {r.unit} vs {r.baseline:.0f} -> {r.ratio:.2f}")
