"""A representative hostile run for a child process: ``python -m tests.hostile._driver BACKEND``
(``trio``, the default, or ``asyncio``).

wasmtime-py aborts the process (SIGABRT, exit 134 / -6) instead of raising on some misuse, so
"the host never dies" can only be checked from outside. This driver does, in one process, the
things most likely to hit such a path: closing capsules and the host while guests spin or
wait in host I/O, cancelling callers, floods of concurrent calls on one Store, every trap kind
in many capsules at once, the hostcall data cap, invalid UTF-8, stale handles, leaked streams
and unfinished uploads at host exit. It prints one JSON line of timings and exits 0; any
failed expectation exits 1; an abort shows as a signal in the parent.

Every expectation holds however busy the machine is: what ends promptly is held to PROMPT_S
(tests/support/timing.py), and every call that must not run out of its budget has a roomy one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import anyio

from astrid_host._core._limits import Limits, MiB
from astrid_host._wasm._errors import CapsuleClosed, CapsuleTrap
from astrid_host._wasm._host import Host
from tests.hostile._support import HOSTILE, engine_open_streams
from tests.hostile.servers import add_hostile_routes
from tests.support.guard import TEST_RULES, loopback_as_public, test_resolver
from tests.support.http import run_http_server
from tests.support.paths import ROOT
from tests.support.timing import PROMPT_S


async def _expect_trap(capsule: Any, kind: str, export: str, *args: Any) -> None:
    try:
        await capsule.call(export, *args)
    except CapsuleTrap as exc:
        assert exc.kind == kind, (export, exc.kind, exc.message)
        return
    raise AssertionError(f"{export} did not trap")


async def main() -> dict[str, float]:
    timings: dict[str, float] = {}
    cache = ROOT / "build" / "test-cache"
    async with run_http_server() as server:
        add_hostile_routes(server)

        def u(path: str) -> str:
            return server.url(path, host="public.test")

        host = Host(cache_dir=cache, resolver=test_resolver(), classifier=loopback_as_public())
        # The spinner of step 6 runs in this outer nursery: leaving `async with host` while
        # it spins is the host exit under test (Host.aclose must not be called from a nursery
        # nested inside the host's own block: trio reports that as misnesting).
        outer = anyio.create_task_group()
        async with outer as background, host:
            async def load(limits: Limits | None = None, name: str = "driver") -> Any:
                return await host.load(HOSTILE, policy=list(TEST_RULES), limits=limits,
                                       name=name)

            # 1. aclose while the guest computes (a 60 s budget): prompt, caller sees closed.
            spinner = await load(Limits(call_timeout_s=60, fuel_per_call=10**15))
            outcome: list[str] = []

            async def spin() -> None:
                try:
                    await spinner.call("spin")
                except CapsuleClosed:
                    outcome.append("closed")

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(spin)
                await anyio.sleep(0.2)
                t = time.monotonic()
                await spinner.aclose()
                timings["aclose_while_spinning_s"] = time.monotonic() - t
            assert outcome == ["closed"], outcome
            assert timings["aclose_while_spinning_s"] < PROMPT_S

            # 2. aclose while the guest waits in host I/O that never answers.
            waiter = await load()
            results: list[Any] = []

            async def wait_io() -> None:
                try:
                    results.append(await waiter.call("send-url", u("/never-headers")))
                except CapsuleClosed:
                    results.append("closed")

            async with anyio.create_task_group() as nursery:
                nursery.start_soon(wait_io)
                await anyio.sleep(0.3)
                t = time.monotonic()
                await waiter.aclose()
                timings["aclose_during_io_s"] = time.monotonic() - t
            assert results in ([1016], ["closed"]), results  # cancelled, or closed
            assert timings["aclose_during_io_s"] < PROMPT_S

            # 3. A cancelled caller of a spinning guest: Cancelled within the grace period.
            victim = await load(Limits(call_timeout_s=60, fuel_per_call=10**15))
            t = time.monotonic()
            with anyio.move_on_after(0.2):
                await victim.call("spin")
            timings["cancelled_caller_s"] = time.monotonic() - t
            assert timings["cancelled_caller_s"] < PROMPT_S
            assert await victim.call("drop-all") == 0  # a fresh Store

            # 4. A flood of concurrent calls on one capsule, traps mixed with I/O. The spins
            # run out of fuel (a few ms), not of a call budget, which a busy machine could also
            # make the sends run out of: every send must succeed.
            flood = await load(Limits(fuel_per_call=20_000_000))
            counts = {"ok": 0, "fuel": 0, "other": 0}

            async def flood_call(i: int) -> None:
                try:
                    if i % 3 == 0:
                        await flood.call("spin")
                    elif i % 3 == 1:
                        await flood.call("read-after-drop", u("/bytes?n=100"))
                    else:
                        assert await flood.call("send-url", u("/echo")) == 200
                        counts["ok"] += 1
                except CapsuleTrap as exc:
                    counts[exc.kind] += 1

            async with anyio.create_task_group() as nursery:
                for i in range(30):
                    nursery.start_soon(flood_call, i)
            assert counts == {"ok": 10, "fuel": 10, "other": 10}, counts

            # 5. Every trap kind, in ten capsules at once, three rounds. Each capsule has a
            # twin with a short budget for the deadline trap; its own budget is the default
            # 60 s, so only a deliberate trap ends its calls, however busy the machine.
            many = [await load(Limits(fuel_per_call=10**15, memory_bytes=8 * MiB),
                               name=f"many-{i}") for i in range(10)]
            spinners = [await load(Limits(call_timeout_s=0.5, fuel_per_call=10**15),
                                   name=f"deadline-{i}") for i in range(10)]
            fuel = await load(Limits(fuel_per_call=1_000_000), name="fuel")

            async def all_traps(capsule: Any, spinner: Any) -> None:
                await _expect_trap(spinner, "deadline", "spin")
                await _expect_trap(capsule, "unreachable", "bomb-abort", 4)
                await _expect_trap(capsule, "other", "send-url-bytes", b"http://a.test/\xff")
                await _expect_trap(capsule, "other", "upload-unfinished", u("/drain"), 1,
                                   3 * MiB)
                await _expect_trap(capsule, "other", "read-after-drop", u("/bytes?n=10"))

            t = time.monotonic()
            for _ in range(3):
                async with anyio.create_task_group() as nursery:
                    for capsule, spinner in zip(many, spinners, strict=True):
                        nursery.start_soon(all_traps, capsule, spinner)
                    nursery.start_soon(_expect_trap, fuel, "fuel", "spin")
            timings["trap_rounds_s"] = time.monotonic() - t
            assert all(engine_open_streams(c) == 0 for c in many)

            # 6. Leave the host with leaked streams, unfinished uploads and a spinning call.
            leaker = await load(name="leaker")
            await leaker.call("open-many", u("/endless-chunked"), 2)
            await leaker.call("upload-unfinished", u("/drain"), 2, 1000)
            last = await load(Limits(call_timeout_s=60, fuel_per_call=10**15), name="last")
            host_exit_start = 0.0

            async def spin_until_host_exit() -> None:
                try:
                    await last.call("spin")
                except CapsuleClosed:
                    pass

            background.start_soon(spin_until_host_exit)
            await anyio.sleep(0.2)
            host_exit_start = time.monotonic()
        timings["host_exit_with_leaks_s"] = time.monotonic() - host_exit_start
        assert timings["host_exit_with_leaks_s"] < PROMPT_S
        assert engine_open_streams(leaker) == 0
    return timings


if __name__ == "__main__":
    logging.disable(logging.CRITICAL)  # the expected failures would flood stderr
    timings = anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "trio")
    print(json.dumps({"driver": "ok", **{k: round(v, 3) for k, v in timings.items()}}),
          flush=True)
    sys.exit(0)
