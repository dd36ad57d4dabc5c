"""`cold_start_rust` / `cold_start_python`: load a capsule, instantiate it, make its first call.

Candidate: ``host.load(path)`` with the compile cache already holding the component (read the
file, hash it, deserialize the `.cwasm`, check its imports, build its HTTP client, instantiate a
Store), then the first ``fetch`` call (to a URL the empty policy denies, so no network), then
``aclose``. Baseline: the same with ``Host(use_cache=False)``, i.e. compiling from scratch.
Guests: the Rust and Python conformance guests. Values are p50 in ms.

Goal (issue 7): Rust guest <= 10 ms p50. Compiling the 17.5 MiB Python guest takes 8-17 s on the
project machine, so ``--quick`` skips that baseline (reported as NaN).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import trio

from astrid_host._wasm._host import Host
from tests.support.values import wit_request

from ._harness import CONFORMANCE, ROOT, Result, guest, median_of, ratio, unmeasured

CACHE = ROOT / "build" / "cache" / "bench"
_DENIED = "http://denied.test/"


async def _cold(host: Host, path: Path) -> float:
    start = time.perf_counter()
    capsule = await host.load(path, name="cold")
    result: Any = await capsule.call(f"{CONFORMANCE}#fetch", wit_request(_DENIED))
    elapsed = time.perf_counter() - start
    await capsule.aclose()
    if getattr(result, "tag", None) != "denied":
        raise AssertionError(f"first call returned {result!r}, expected a denial")
    return elapsed


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(quick: bool, tiny: bool) -> list[Result]:
    plan = {  # guest -> (cached rounds, compile-from-scratch rounds)
        "rust": (9, 3) if quick else (31, 5),
        "python": (3, 0) if quick else (9, 1),
    }
    if tiny:  # the Python guest's first compile alone takes 8-17 s
        plan = {"rust": (2, 1)}
    results = []
    async with Host(cache_dir=CACHE) as cached, Host(use_cache=False) as fresh:
        for lang, (rounds, compiles) in plan.items():
            path = guest(f"{lang}-conformance")
            await _cold(cached, path)  # make sure the cache holds it (and warm the OS cache)
            hits: list[float] = []
            scratch: list[float] = []
            for i in range(max(rounds, compiles)):
                if i < rounds:
                    hits.append(await _cold(cached, path))
                    if cached.last_load is not None and not cached.last_load.hit:
                        raise AssertionError("expected a compile cache hit")
                if i < compiles:
                    scratch.append(await _cold(fresh, path))
            p50 = median_of(hits)
            base = median_of(scratch)
            note = (unmeasured(value=p50, baseline=base) if scratch else
                    f"baseline not measured in this mode: compiling the {lang} guest from "
                    "scratch takes seconds")
            results.append(Result(
                name=f"cold_start_{lang}", value=p50 * 1e3, baseline=base * 1e3,
                ratio=ratio(base, p50), unit="ms",
                what=f"{lang} guest: cached load + instantiate + first call vs compiling",
                goal="<= 10 ms p50" if lang == "rust" else "reported", note=note,
                extra={"p90_ms": _p(hits, 0.9) * 1e3, "min_ms": min(hits) * 1e3,
                       "rounds": rounds, "compile_rounds": compiles,
                       "size_bytes": path.stat().st_size}))
    return results


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Two rows (Rust, Python); ratio = compile-from-scratch time / cached time."""
    return trio.run(_measure, quick, tiny)


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: p50 {r.value:.1f} {r.unit} vs compiling {r.baseline:.0f} ms "
              f"(goal {r.goal})")
