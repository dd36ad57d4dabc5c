"""`stream_download`: a large body streamed through a guest's `read()` loop.

Candidate: the Rust conformance guest's ``stream-all(req, chunk)``: ``client.start``, then
``read(chunk)`` until ``none`` (hashing every byte with FNV-1a in wasm), through the Host's
default `CapsuleHttp`. Every piece crosses the boundary as a `list<u8>` (astrid's bulk
conversion, `astrid_host._wasm._fastbytes`). ``chunk`` is 1 MiB, the host's `READ_CHUNK_MAX`.
Baseline: the same body streamed directly with ``httpcore`` (``pool.stream`` + ``aiter_stream``).
Server: the trio/h11 test server in a child process (``/bytes?n=N&chunk=262144``).

Goal (issue 7): >= 30 MB/s through the guest; the ratio to httpcore is reported.
64 MiB per round in the full run, 16 MiB in ``--quick``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import httpcore
import trio

from astrid_host._core._limits import Limits
from astrid_host._wasm._imports import READ_CHUNK_MAX
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
from .bench_http import bench_host

MiB = 1 << 20


async def _measure(quick: bool, tiny: bool, port: int) -> Result:
    size = MiB if tiny else (16 if quick else 64) * MiB
    rounds = 1 if tiny else 3 if quick else 5
    path = f"/bytes?n={size}&chunk=262144"
    limits = Limits(max_stream_bytes=2 * size, call_timeout_s=300)
    async with bench_host(limits=limits) as host, httpcore.AsyncConnectionPool() as pool:
        capsule = await host.load(guest("rust-conformance"), name="stream")
        request = wit_request(f"http://public.test:{port}{path}")
        export = f"{CONFORMANCE}#stream-all"

        async def through_guest() -> None:
            report = await capsule.call(export, request, READ_CHUNK_MAX)
            total = getattr(report, "total-bytes", None)
            if total != size:
                raise AssertionError(f"stream-all returned {report!r}")

        async def direct() -> None:
            total = 0
            async with pool.stream("GET", f"http://127.0.0.1:{port}{path}") as resp:
                async for piece in resp.aiter_stream():
                    total += len(piece)
            if total != size:
                raise AssertionError(f"httpcore read {total} bytes")

        times = await interleave({"guest": through_guest, "httpcore": direct}, rounds)
    guest_s, direct_s = median_of(times["guest"]), median_of(times["httpcore"])
    rate, base = per_second(size / 1e6, guest_s), per_second(size / 1e6, direct_s)
    return Result(
        name="stream_download", value=rate, baseline=base, ratio=ratio(rate, base), unit="MB/s",
        what=f"{size // MiB} MiB through a Rust guest's read() loop vs httpcore streaming",
        goal=">= 30 MB/s (value)", note=unmeasured(value=rate, baseline=base),
        extra={"bytes": size, "rounds": rounds, "chunk": READ_CHUNK_MAX,
               "guest_s": guest_s, "httpcore_s": direct_s})


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """One row; value is the guest's MB/s, ratio its share of httpcore's."""
    with loopback_server() as server:
        return [trio.run(_measure, quick, tiny, server.port)]


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: {r.value:.1f} {r.unit} vs httpcore {r.baseline:.1f} -> {r.ratio:.2f} "
              f"(goal {r.goal})")
