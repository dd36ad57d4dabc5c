"""`hostcall`: one guest -> host round trip of a trivial import.

The guest is tests/support/wat.py's `CLIENT_GUEST_WAT`: `status-many(url, n)` opens one stream with
`start`, then calls `[method]incoming-response.status` on it ``n`` times in a wasm loop.

Candidate: the real path: a :class:`Host`, a loaded capsule, ``capsule.call`` (worker thread,
context variable, fuel and epoch budget) and astrid-host's own import trampoline
(`astrid_host._wasm._dispatch` over `_wasmtime_patches._hostfunc`: types cached per import
per Store, results lowered by hand).
Baseline: the same component in the same engine configuration, where the same handler (the
handle-table lookup and range check astrid's ``status`` does) is registered with wasmtime-py's
stock ``LinkerInstance.add_func``, whose wrapper re-reads the function type on every call.
Both are entered from a trio worker thread. Per-call time is (t(n) - t(1)) / (n - 1), so the
single `start` and the export call itself cancel out. On a busy machine t(1) can come out as
long as t(n) (always possible in the tiny mode's 100 calls); such a round measured nothing and
is dropped, and a side with no measured round is reported as NaN with a note.

Goal (issue 7): overhead ratio (candidate / baseline time per call) <= 1.2.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import anyio.lowlevel
import trio
from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker, ResourceHost, ResourceType

from astrid_host._core._witschema import U16
from astrid_host._wasm._convert import lowerer
from astrid_host._wasm._host import Host
from astrid_host._wasm._imports import CLIENT_INTERFACE
from astrid_host._wasm._session import StoreSession
from tests.support.fakes import FakeHttp
from tests.support.wat import CLIENT_GUEST_WAT

from ._harness import Result, median_of, ratio, unmeasured

_STATUS = "[method]incoming-response.status"
_OTHER_FUNCS = ("send", "upload", "[method]incoming-response.headers",
                "[method]incoming-response.meta", "[method]incoming-response.read",
                "[method]incoming-response.read-into", "[method]incoming-response.read-str",
                "[method]outgoing-body.write", "[method]outgoing-body.write-from",
                "[method]outgoing-body.write-str", "[method]outgoing-body.finish",
                "[method]outgoing-body.finish-streaming")
_KIND = 0xB0000001


class _Head:
    status = 200


def _bare(token: anyio.lowlevel.EventLoopToken) -> Callable[[int], Any]:
    """The stock-wasmtime-py baseline: ``status-many`` with every import an ``add_func``."""
    cfg = Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    engine = Engine(cfg)
    component = Component(engine, CLIENT_GUEST_WAT)
    session = StoreSession(backend=FakeHttp(), loop_token=token)
    lower_u16 = lowerer(U16)
    rep = session.add(_KIND, _Head())

    def status(store: Any, this: Any) -> int:
        # What astrid's handler does: the handle table lookup and the u16 range check.
        host = this.to_host(store)
        slot = session.resources[host.rep]
        return lower_u16(slot.obj.status, None)

    linker = Linker(engine)
    with linker.root() as root, root.add_instance(CLIENT_INTERFACE) as client:
        client.add_resource("incoming-response", ResourceType.host(_KIND), lambda s, r: None)
        client.add_resource("outgoing-body", ResourceType.host(_KIND + 1), lambda s, r: None)
        client.add_func("start", lambda store, req: ResourceHost.own(rep, _KIND))
        client.add_func(_STATUS, status)
        for name in _OTHER_FUNCS:
            client.add_func(name, lambda store, *args: None)
    store = Store(engine)
    store.set_epoch_deadline(1 << 40)
    instance = linker.instantiate(store, component)
    func = instance.get_func(store, "status-many")
    assert func is not None

    def call(n: int) -> Any:
        store.set_fuel(10**12)
        return func(store, "http://bench.test/", n)

    return call


def per_call(one_s: float, many_s: float, n: int) -> float:
    """Seconds per call from the time of 1 call and of ``n`` calls; NaN when the noise made
    the ``n`` calls look no slower than one (nothing was measured)."""
    if n < 2 or not many_s > one_s:
        return math.nan
    return (many_s - one_s) / (n - 1)


async def _per_call(call: Callable[[int], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    await call(1)
    one = time.perf_counter() - start
    start = time.perf_counter()
    total = await call(n)
    many = time.perf_counter() - start
    assert total == 200 * n, total
    return per_call(one, many, n)


async def _measure(quick: bool, tiny: bool) -> Result:
    n = 100 if tiny else 2_000 if quick else 20_000
    rounds = 1 if tiny else 5 if quick else 11
    async with Host(use_cache=False, http_factory=lambda ctx: FakeHttp()) as host:
        capsule = await host.load(CLIENT_GUEST_WAT.encode(), name="hostcall")
        bare = _bare(anyio.lowlevel.current_token())

        async def candidate(k: int) -> Any:
            return await capsule.call("status-many", "http://bench.test/", k)

        async def baseline(k: int) -> Any:
            return await trio.to_thread.run_sync(bare, k)

        await candidate(10)  # warm both paths (type caches, first-call costs)
        await baseline(10)
        cand: list[float] = []
        base: list[float] = []
        for i in range(rounds):
            pair = ((candidate, cand), (baseline, base))
            for fn, bucket in (pair if i % 2 == 0 else pair[::-1]):
                bucket.append(await _per_call(fn, n))
    c, b = median_of(cand), median_of(base)
    return Result(
        name="hostcall", value=c * 1e6, baseline=b * 1e6, ratio=ratio(b, c), unit="us/call",
        what="guest->host `status` through astrid's trampoline vs the same handler as a "
             "stock wasmtime-py add_func",
        goal="overhead (value/baseline) <= 1.2",
        note=unmeasured(value=c, baseline=b),
        extra={"overhead": ratio(c, b), "calls_per_round": n, "rounds": rounds,
               "rounds_measured": [sum(map(math.isfinite, cand)),
                                   sum(map(math.isfinite, base))]})


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """One row; ratio > 1 means astrid's dispatch is faster than stock wasmtime-py's."""
    return [trio.run(_measure, quick, tiny)]


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: {r.value:.2f} {r.unit} vs {r.baseline:.2f} -> overhead "
              f"{ratio(r.value, r.baseline):.2f} (goal {r.goal}) {r.note}")
