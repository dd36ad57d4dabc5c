"""`bytes_to_guest` / `bytes_from_guest`: 1 MiB `list<u8>` across the boundary.

Candidate: astrid-host's bulk conversion (`astrid_host._wasm._wasmtime_patches._fastbytes`).
Baseline: wasmtime-py's stock per-element conversion, in the same process, alternating.
Goal (issue 7): >= 20x faster, 1 MiB <= 50 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker

from astrid_host._wasm._wasmtime_patches import _fastbytes
from tests.support.probes import BYTES_PROBE_WAT

from ._harness import Result, median_of, ratio, unmeasured

MiB = 1 << 20


def _bound(name: str) -> Callable[[object], object]:
    engine = Engine(Config())
    component = Component(engine, BYTES_PROBE_WAT)

    def call(arg: object) -> object:
        store = Store(engine)  # fresh: the probe's bump allocator never frees
        func = Linker(engine).instantiate(store, component).get_func(store, name)
        assert func is not None
        return func(store, arg)

    return call


def _alternate(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median seconds (fast path, stock path), switching the path round by round."""
    fast: list[float] = []
    stock: list[float] = []
    for _ in range(rounds):
        for install, bucket in ((True, fast), (False, stock)):
            if install:
                _fastbytes.install()
            else:
                _fastbytes.uninstall()
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    _fastbytes.install()
    return median_of(fast), median_of(stock)


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Both directions, 1 MiB each, medians of interleaved rounds (``tiny``: 64 KiB, once)."""
    rounds = 1 if tiny else 3 if quick else 7
    size = 64 * 1024 if tiny else MiB
    payload = bytes(range(256)) * (size // 256)
    label = "64 KiB" if tiny else "1 MiB"
    sink, make = _bound("sink"), _bound("make")
    results = []
    for name, fn, what in (
        ("bytes_to_guest", lambda: sink(payload), f"{label} list<u8> host -> guest"),
        ("bytes_from_guest", lambda: make(size), f"{label} list<u8> guest -> host"),
    ):
        fast_s, stock_s = _alternate(fn, rounds)
        results.append(Result(name=name, value=fast_s * 1000, baseline=stock_s * 1000,
                               ratio=ratio(stock_s, fast_s), unit="ms", what=what,
                               goal=">= 20x, <= 50 ms",
                               note=unmeasured(value=fast_s, baseline=stock_s)))
    return results
