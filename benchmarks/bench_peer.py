"""`peer_*`: the same HTTP work on astrid-host, on Extism and with plain httpcore, in one run.

Issue 15 compares astrid-host with the system it re-implements. Three variants of each piece
of work, awaited in turn round by round in one trio run (`_harness.interleave`), against the
trio/h11 test server in a child process:

- ``astrid``: the Rust conformance capsule (``build/guests/rust-conformance.wasm``) on a
  `Host` with its default `CapsuleHttp` (pooled keep-alive), reaching the server as
  ``public.test`` through the test resolver and the test-only `loopback_as_public`
  classifier: the real egress guard runs on every request (as in ``bench_http``).
- ``extism``: the Extism plugin ``build/guests/rust-extism-fetch.wasm`` (extism-pdk,
  guests/rust/extism-fetch) run by the ``extism`` Python SDK, fetching with the Extism host's
  ``http_request``; its manifest allows only ``127.0.0.1`` (``allowed_hosts``). Extism checks
  no addresses and opens a new connection per request. The SDK call is synchronous: it is
  made directly on the trio thread, as an Extism user would make it.
- ``httpcore``: one ``httpcore.AsyncConnectionPool`` from Python (keep-alive, no guard, no
  wasm): what the network alone costs.
- ``lane`` (bodies only): the same capsule through the body lane (its ``lane-tests`` exports,
  ``guests/rust/example/src/lane.rs``): ``read-into`` / ``write-from`` copy the body
  straight into or out of the guest's memory, no ``list<u8>`` crosses.

Rows (each work gives a ``_extism`` row, goal from the issue, and an ``_httpcore`` row,
reported; ratio > 1 means astrid-host is faster):

- ``peer_get_1k``: 1 KiB GETs; astrid ``fetch`` (``client.send``, the response returned to
  the host), extism ``fetch``; req/s.
- ``peer_in_<size>``: the guest reads a body of that size and returns a small report;
  astrid ``stream-all`` (``start`` + ``read(1 MiB)`` until the end, hashing every byte),
  extism ``fetch_report`` (``http_request``, the body copied into the plugin and hashed); ms.
- ``peer_return_<size>``: the guest receives the body and returns it to the host; astrid
  ``fetch``, extism ``fetch``; ms.
- ``peer_upload_<size>``: the guest builds a body of that size (byte i = i % 251) and POSTs
  it; astrid ``upload-pattern`` (``upload`` + ``write`` pieces of 1 MiB + ``finish``),
  extism ``upload`` (``http_request`` with the body); ms.

Each body work also gives a ``_lane_extism`` row (the lane vs Extism, goal >= 0.5) and a
``_lane_vs_list`` row (the lane vs ``list<u8>``, reported), all from the same rounds. The lane
works: ``in``, ``stream-all-lane`` (``read-into`` pieces of up to 4 MiB, hashing every byte);
``return``, ``fetch-to-output`` through ``Capsule.call_with_output`` (the body read into the
guest with ``read-into``, then handed to the host in memory with one ``output.write-from``,
as Extism's plugin hands its host the body; a component export cannot return more than
~2.67 MiB of ``list<u8>``, so at 10 MiB only this variant works); the host checks the bytes it
received (their length and the first and last 4 KiB, where Extism's variant checks the
length); ``upload``, ``upload-pattern-lane`` (one ``write-from``).

Sizes: 1 MiB and 10 MiB (``tiny``: 64 KiB only). When the astrid variant of a work fails --
the capsule traps, or the request ends in an ``error-code`` -- the rows of that work are
reported as failed with the reason (``extra["failed"]``, value NaN) and the suite goes on.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import httpcore
import trio
from wasmtime.component import Variant

from astrid_host._core._limits import Limits
from astrid_host._wasm._errors import CapsuleError
from astrid_host._wasm._imports import LANE_CHUNK_MAX, READ_CHUNK_MAX
from tests.support.http import pattern
from tests.support.values import wit_request

from ._harness import CONFORMANCE, Result, guest, interleave, loopback_server
from .bench_http import bench_host, check_response

#: The Rust conformance guest's body-lane exports (world ``conformance-lane``).
LANE_TESTS = "astrid:http/lane-tests@0.1.0"

KiB = 1 << 10
MiB = 1 << 20
PATTERN_MODULUS = 251  # the conformance guests' and the plugin's upload pattern
#: Floor of a measured time: a ratio never divides by a zero (a too-coarse clock).
MIN_SECONDS = 1e-9


class WorkFailed(Exception):
    """The astrid variant of a work could not do it (trap, error-code, wrong answer)."""


@dataclass(frozen=True)
class Work:
    """One row pair: what kind of work, at what size, how often per round."""

    kind: str  # "get" | "in" | "return" | "upload"
    size: int
    per_round: int = 1

    @property
    def name(self) -> str:
        label = f"{self.size // MiB}m" if self.size >= MiB else f"{self.size // KiB}k"
        return f"peer_{self.kind}_{label}"

    @property
    def what(self) -> str:
        size = f"{self.size // MiB} MiB" if self.size >= MiB else f"{self.size // KiB} KiB"
        return {
            "get": f"{size} GET, the response returned to the host",
            "in": f"{size} body read into the guest, a report returned",
            "return": f"{size} body into the guest and returned to the host",
            "upload": f"{size} body built in the guest and POSTed",
        }[self.kind]


def plan(quick: bool, tiny: bool) -> tuple[list[Work], int, int]:
    """(works, rounds for small work, rounds for 10 MiB work) of a mode."""
    if tiny:
        return [Work("get", KiB, 2), *(Work(k, 64 * KiB) for k in ("in", "return", "upload"))], 1, 1
    works = [Work("get", KiB, 40 if quick else 150)]
    works += [Work(kind, size) for size in (MiB, 10 * MiB) for kind in ("in", "return", "upload")]
    return works, (5 if quick else 9), (3 if quick else 5)


def safe_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` with both floored at :data:`MIN_SECONDS`; NaN stays NaN."""
    if math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return max(numerator, MIN_SECONDS) / max(denominator, MIN_SECONDS)


def rows(work: Work, seconds: dict[str, float], failed: str = "",
         extra: dict[str, Any] | None = None, lane_failed: str = "") -> list[Result]:
    """The ``_extism`` and ``_httpcore`` rows of a work from median seconds per round.

    ``seconds["astrid"]`` is NaN (and ``failed`` says why) when the astrid variant failed;
    ``seconds["lane"]`` (body works) likewise with ``lane_failed``.
    Small GETs are reported in req/s, bodies in ms; ratio > 1 means astrid-host is faster.
    """
    info: dict[str, Any] = {"failed": failed} if failed else {}
    info.update(extra or {})
    # Per operation; strict JSON (build/bench.json): a variant that failed has no time.
    info["ms"] = {k: None if math.isnan(v) else v * 1e3 / work.per_round
                  for k, v in seconds.items()}
    out = []
    for peer, goal in (("extism", ">= 1.0" if work.kind == "get" else ">= 0.5"),
                       ("httpcore", "reported")):
        ratio = safe_ratio(seconds[peer], seconds["astrid"])
        if work.kind == "get":
            value = safe_ratio(work.per_round, seconds["astrid"])
            baseline = safe_ratio(work.per_round, seconds[peer])
            unit = "req/s"
        else:
            value = safe_ratio(seconds["astrid"], 1e-3)  # ms, never a zero
            baseline, unit = safe_ratio(seconds[peer], 1e-3), "ms"
        out.append(Result(name=f"{work.name}_{peer}", value=value, baseline=baseline,
                          ratio=ratio, unit=unit, what=f"{work.what}: astrid vs {peer}",
                          goal=goal, extra=dict(info), note=failed))
    if "lane" in seconds:
        lane_ms = safe_ratio(seconds["lane"], 1e-3)
        for name, other, what, goal, why in (
                ("lane_extism", "extism", "astrid through the body lane vs extism", ">= 0.5",
                 lane_failed),
                ("lane_vs_list", "astrid", "astrid: the body lane vs list<u8>", "reported",
                 "; ".join(f for f in (lane_failed, failed and f"list<u8>: {failed}") if f))):
            lane_info = {k: v for k, v in info.items() if k != "failed"}
            if why:
                lane_info["failed"] = why
            out.append(Result(name=f"{work.name}_{name}", value=lane_ms,
                              baseline=safe_ratio(seconds[other], 1e-3),
                              ratio=safe_ratio(seconds[other], seconds["lane"]), unit="ms",
                              what=f"{work.what}: {what}", goal=goal, extra=lane_info,
                              note=why))
    return out


def _pattern(n: int) -> bytes:
    block = bytes(i % PATTERN_MODULUS for i in range(PATTERN_MODULUS))
    return (block * (n // PATTERN_MODULUS + 1))[:n]


def _post(url: str) -> Any:
    req = wit_request(url)
    req.method = Variant("post")
    return req


def _extism_plugin(size: int) -> Any:
    import extism  # the `test` extra; imported here so that other benchmarks never need it

    manifest = {
        "wasm": [{"data": guest("rust-extism-fetch").read_bytes()}],
        "allowed_hosts": ["127.0.0.1"],
        "memory": {"max_http_response_bytes": 2 * size + MiB},
        "timeout_ms": 120_000,
    }
    return extism.Plugin(manifest, wasi=False, functions=[])


def _check_astrid(work: Work, value: Any) -> None:
    """Raise WorkFailed unless the capsule's answer is the complete work."""
    if isinstance(value, Variant):  # an error-code
        raise WorkFailed(f"the request ended with error-code {value.tag}"
                         + (f" ({value.payload})" if value.payload is not None else ""))
    if work.kind == "in":
        if getattr(value, "total-bytes", None) != work.size:
            raise WorkFailed(f"stream-all returned {value!r}")
    elif work.kind == "upload":
        if getattr(value, "status", None) != 200 or f'"size": {work.size}'.encode() \
                not in bytes(value.body):
            raise WorkFailed(f"upload-pattern returned {value!r}")
    else:
        try:
            check_response(value, work.size)
        except AssertionError as e:
            raise WorkFailed(str(e)) from None


#: Bytes of the output compared at each end of the body by :func:`_check_output`.
OUTPUT_SAMPLE = 4096


def _check_output(work: Work, report: Any, output: bytes, expected: bytes) -> None:
    """Raise WorkFailed unless ``fetch-to-output`` handed the host the whole body: the report
    counts it, and the output has its length and its first and last :data:`OUTPUT_SAMPLE`
    bytes (a cheap check, like Extism's length check, not a hash of 10 MiB)."""
    _check_astrid(Work("in", work.size), report)  # an error-code, or the bytes it read
    if len(output) != work.size or output[:OUTPUT_SAMPLE] != expected[:OUTPUT_SAMPLE] \
            or output[-OUTPUT_SAMPLE:] != expected[-OUTPUT_SAMPLE:]:
        raise WorkFailed(f"the host received {len(output)} bytes of output, not the body")


async def _measure_work(work: Work, rounds: int, port: int, capsule: Any,
                        pool: httpcore.AsyncConnectionPool) -> list[Result]:
    query = f"/bytes?n={work.size}&chunk=262144"
    public, direct = f"http://public.test:{port}", f"http://127.0.0.1:{port}"
    plugin = _extism_plugin(work.size)
    body = _pattern(work.size) if work.kind == "upload" else b""
    size = work.size

    if work.kind == "upload":
        export, args = "upload-pattern", (_post(f"{public}/drain"), size, READ_CHUNK_MAX)
        ext_fn, ext_input = "upload", f"{size} {direct}/drain"
    elif work.kind == "in":
        export, args = "stream-all", (wit_request(public + query), READ_CHUNK_MAX)
        ext_fn, ext_input = "fetch_report", direct + query
    else:
        export, args = "fetch", (wit_request(public + query),)
        ext_fn, ext_input = "fetch", direct + query
    export = f"{CONFORMANCE}#{export}"
    if work.kind == "upload":
        lane_export, lane_args = "upload-pattern-lane", (_post(f"{public}/drain"), size)
    elif work.kind == "in":
        lane_export, lane_args = "stream-all-lane", (wit_request(public + query), LANE_CHUNK_MAX)
    else:
        lane_export, lane_args = "fetch-to-output", (wit_request(public + query),)
    lane_export = f"{LANE_TESTS}#{lane_export}"
    expected = pattern(size) if work.kind == "return" else b""
    expected_report = f"200 {size} ".encode()
    failure = lane_failure = ""

    async def astrid() -> None:
        nonlocal failure
        if failure:
            return
        for _ in range(work.per_round):
            try:
                _check_astrid(work, await capsule.call(export, *args))
            except (CapsuleError, WorkFailed) as e:
                failure = f"{type(e).__name__}: {e}"
                return

    async def lane() -> None:
        nonlocal lane_failure
        if lane_failure:
            return
        for _ in range(work.per_round):
            try:
                if work.kind == "return":
                    done = await capsule.call_with_output(lane_export, *lane_args)
                    _check_output(work, done.value, done.output, expected)
                else:
                    _check_astrid(work, await capsule.call(lane_export, *lane_args))
            except (CapsuleError, WorkFailed) as e:
                lane_failure = f"{type(e).__name__}: {e}"
                return

    async def extism() -> None:
        for _ in range(work.per_round):
            out = plugin.call(ext_fn, ext_input)
            if work.kind == "upload":
                ok = out.startswith(b"200 ") and f'"size": {size}'.encode() in out
            elif work.kind == "in":
                ok = out.startswith(expected_report)
            else:
                ok = len(out) == size
            if not ok:
                raise AssertionError(f"extism {ext_fn} returned {out[:200]!r}")

    async def plain() -> None:
        for _ in range(work.per_round):
            if work.kind == "upload":
                resp = await pool.request("POST", f"{direct}/drain", content=body)
                ok = resp.status == 200 and f'"size": {size}'.encode() in resp.content
            else:
                resp = await pool.request("GET", direct + query)
                ok = resp.status == 200 and len(resp.content) == size
            if not ok:
                raise AssertionError(f"httpcore: unexpected response {resp!r}")

    variants: dict[str, Callable[[], Awaitable[None]]] = {
        "astrid": astrid, "extism": extism, "httpcore": plain}
    if work.kind != "get":
        variants["lane"] = lane
    for warm in variants.values():
        await warm()
    times = await interleave(variants, rounds)
    seconds = {k: statistics.median(v) for k, v in times.items()}
    if failure:
        seconds["astrid"] = math.nan
    if lane_failure:
        seconds["lane"] = math.nan
    return rows(work, seconds, failure, {"rounds": rounds, "per_round": work.per_round},
                lane_failure)


async def _measure(quick: bool, tiny: bool, port: int) -> list[Result]:
    works, rounds, big_rounds = plan(quick, tiny)
    biggest = max(w.size for w in works)
    limits = Limits(max_stream_bytes=2 * biggest, max_upload_bytes=2 * biggest,
                    call_timeout_s=300)
    out: list[Result] = []
    async with bench_host(limits=limits) as host, httpcore.AsyncConnectionPool() as pool:
        capsule = await host.load(guest("rust-conformance"), name="peer")
        for work in works:
            n = big_rounds if work.size >= 10 * MiB else rounds
            out += await _measure_work(work, n, port, capsule, pool)
    return out


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Two rows per work (vs Extism, vs httpcore); ratio > 1: astrid-host is faster."""
    guest("rust-extism-fetch")  # fail early, with the build command, when it is missing
    with loopback_server() as server:
        return trio.run(_measure, quick, tiny, server.port)


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        note = f"  FAILED: {r.extra['failed']}" if r.extra and r.extra.get("failed") else ""
        print(f"{r.name}: {r.value:.1f} {r.unit} vs {r.baseline:.1f} -> {r.ratio:.2f} "
              f"(goal {r.goal}){note}")
