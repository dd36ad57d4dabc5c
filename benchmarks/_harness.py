"""Timing helpers shared by the benchmarks: medians over interleaved rounds.

The machines are small and noisy, so a candidate and its baseline are always measured in the
same process, alternating round by round, and compared as a ratio of medians.

A measurement can come out as nothing at all (a round shorter than the clock's resolution, or
a difference of two timings that the noise made zero or negative). Such a sample is not a
number: :func:`median_of` drops it, and :func:`ratio` / :func:`per_second` give NaN instead of
dividing by it. A row whose value or baseline is NaN says why in ``Result.note``; it is written
as ``null`` in build/bench.json. A busy machine must never make a benchmark fail.
"""

from __future__ import annotations

import json
import math
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CONFORMANCE", "ROOT", "Result", "Server", "compare", "guest", "interleave",
           "loopback_server", "median_of", "median_time", "per_second", "ratio", "unmeasured"]

#: The repository root (benchmarks import `tests.support` and read `build/guests/`).
ROOT = Path(__file__).resolve().parent.parent

#: The conformance interface of the `conformance` world (wit/worlds.wit).
CONFORMANCE = "astrid:http/conformance-tests@0.1.0"


def guest(name: str) -> Path:
    """``build/guests/<name>.wasm``; raises with the build command when it is missing."""
    path = ROOT / "build" / "guests" / f"{name}.wasm"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: python3 scripts/build_guests.py "
                                f"--only {name}")
    return path


@dataclass(frozen=True)
class Result:
    """One benchmark row: the candidate's value, the baseline's, and how they compare.

    ``ratio`` is always oriented so that > 1 means the candidate is better (faster, more
    throughput); ``goal`` is the ratio the issue asks for, if any. ``value`` or ``baseline`` is
    NaN when it was not measured (a mode that skips it, or a measurement the noise swallowed);
    ``note`` then says which and why, and ``ratio`` is NaN too.
    """

    name: str
    value: float
    baseline: float
    ratio: float
    unit: str
    what: str
    goal: str = ""
    extra: dict[str, Any] | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            # NaN (a baseline not measured in --quick) is not JSON: written as null.
            "value": _finite(self.value),
            "baseline": _finite(self.baseline),
            "ratio": _finite(self.ratio),
            "unit": self.unit,
            "what": self.what,
            "goal": self.goal,
        }
        if self.note:
            out["note"] = self.note
        if self.extra:
            out.update({k: _strict(v) for k, v in self.extra.items()})
        return out


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float (not JSON) replaced by None, at any depth."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def _measured(x: float) -> bool:
    return math.isfinite(x) and x > 0


def median_of(samples: list[float]) -> float:
    """The median of the samples that are measurements (finite and > 0); NaN if none is."""
    kept = [x for x in samples if _measured(x)]
    return statistics.median(kept) if kept else math.nan


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN unless both are measurements (finite and > 0)."""
    if _measured(numerator) and _measured(denominator):
        return numerator / denominator
    return math.nan


def per_second(amount: float, seconds: float) -> float:
    """A rate (``amount`` per second), or NaN when ``seconds`` is not a measurement."""
    return ratio(amount, seconds)


def unmeasured(**figures: float) -> str:
    """A row's ``note`` naming which of ``figures`` came out NaN ("" when none did)."""
    missing = [name for name, x in figures.items() if not _measured(x)]
    if not missing:
        return ""
    return (f"{' and '.join(missing)} not measured: every round timed zero or was swallowed "
            "by the machine's noise")


def median_time(fn: Callable[[], object], rounds: int) -> float:
    """Median wall time of ``fn()`` over ``rounds`` calls, in seconds (NaN: none measured)."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return median_of(samples)


def compare(candidate: Callable[[], object], baseline: Callable[[], object],
            rounds: int) -> tuple[float, float]:
    """Median seconds of (candidate, baseline), measured alternately round by round (NaN:
    no round of that side was measured)."""
    cand: list[float] = []
    base: list[float] = []
    for _ in range(rounds):
        for fn, bucket in ((candidate, cand), (baseline, base)):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return median_of(cand), median_of(base)


async def interleave(variants: dict[str, Callable[[], Awaitable[object]]],
                     rounds: int) -> dict[str, list[float]]:
    """Seconds of every round of each variant, awaited in turn round by round.

    The order rotates each round, so a warming cache or a noisy neighbour favours none of
    them. The caller takes medians (:func:`median_of`); every list is in round order.
    """
    names = list(variants)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            await variants[name]()
            times[name].append(time.perf_counter() - start)
    return times


_SERVER_CODE = """
import json, sys, trio
from tests.support.http import run_http_server

async def main(tls):
    ssl_context, ca_pem = None, None
    if tls:
        from tests.support.tls import TestCA
        ca = TestCA()
        ssl_context, ca_pem = ca.server_context(), ca.ca.cert_pem.bytes().decode()
    async with run_http_server(ssl_context=ssl_context) as server:
        print(json.dumps({"port": server.port, "ca": ca_pem}), flush=True)
        # Until the parent closes our stdin; the recorded requests are dropped as we go.
        async with trio.open_nursery() as nursery:
            async def forget():
                while True:
                    server.requests.clear()
                    await trio.sleep(0.5)
            nursery.start_soon(forget)
            await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)
            nursery.cancel_scope.cancel()

trio.run(main, sys.argv[1] == "tls")
"""


@dataclass(frozen=True)
class Server:
    """A loopback test server in a child process: its port and (HTTPS) its CA certificate."""

    port: int
    ca_pem: str | None

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the server's throwaway CA."""
        ctx = ssl.create_default_context()
        if self.ca_pem is not None:
            ctx.load_verify_locations(cadata=self.ca_pem)
        return ctx


@contextmanager
def loopback_server(*, tls: bool = False) -> Iterator[Server]:
    """The trio/h11 test server (tests/support/http.py) in a child process.

    A separate process, so the server's work does not share the event loop (or the GIL) with
    the client being measured; candidate and baseline talk to the same server. ``tls``: HTTPS
    with a certificate for the test names from a throwaway CA (tests/support/tls.py).
    """
    proc = subprocess.Popen([sys.executable, "-c", _SERVER_CODE, "tls" if tls else "plain"],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            raise RuntimeError("the loopback test server did not start")
        info = json.loads(line)
        yield Server(int(info["port"]), info["ca"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
