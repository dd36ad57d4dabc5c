"""Capsule: calls, traps and recovery, limits, serialisation, closing, and the wasmtime pitfalls
the runtime is built around (pinned here so a wasmtime upgrade that changes them is noticed).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import anyio
import pytest
from wasmtime import Config, Engine, Store, WasmtimeError, wat2wasm
from wasmtime.component import Component, Linker

from astrid_host._core._limits import Limits, MiB
from astrid_host._wasm._capsule import classify_trap
from astrid_host._wasm._errors import CapsuleClosed, CapsuleTrap, ExportNotFound
from astrid_host._wasm._host import Host
from tests.support.fakes import FakeHttp
from tests.support.timing import PROMPT_S, eventually
from tests.support.wat import (
    CLIENT_GUEST_WAT,
    ERROR_CASES,
    PLAIN_GUEST_WAT,
    WASI_ENV_GUEST_WAT,
    WASI_GUEST_WAT,
)

PLAIN = PLAIN_GUEST_WAT.encode()


# ------------------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(("message", "kind"), [
    ("error while executing at wasm backtrace:\n    0: 0x1 - <unknown>!spin\n\n"
     "Caused by:\n    wasm trap: all fuel consumed by WebAssembly", "fuel"),
    ("error while executing at wasm backtrace:\n\nCaused by:\n    wasm trap: interrupt",
     "deadline"),
    ("error while executing at wasm backtrace:\n    0: boom\n\nCaused by:\n"
     "    wasm trap: wasm `unreachable` instruction executed", "unreachable"),
    ("memory minimum size of 300 pages exceeds memory limits", "memory"),
    ("error while executing at wasm backtrace:\n    0: g!__rdl_oom\n    1: g!alloc::alloc::"
     "handle_alloc_error\n\nCaused by:\n    wasm trap: wasm `unreachable` instruction executed",
     "memory"),
    ("wasm trap: out of bounds memory access", "other"),
    ("", "other"),
])
def test_trap_message_table(message: str, kind: str) -> None:
    assert classify_trap(message) == kind


# ---------------------------------------------------------------------------- behaviour


async def test_call_returns_the_exports_result(host: Host) -> None:
    capsule = await host.load(PLAIN)
    assert await capsule.call("add", 2, 40) == 42


async def test_trap_yields_capsule_trap_and_next_call_runs_on_a_fresh_store(host: Host) -> None:
    capsule = await host.load(PLAIN)
    assert await capsule.call("bump") == 1
    assert await capsule.call("bump") == 2
    with pytest.raises(CapsuleTrap) as info:
        await capsule.call("boom")
    assert (info.value.kind, info.value.export) == ("unreachable", "boom")
    # Guest state is gone with the poisoned Store: the counter starts again.
    assert await capsule.call("bump") == 1
    assert capsule.instantiations == 2


async def test_fuel_per_call_stops_a_runaway_guest(host: Host) -> None:
    capsule = await host.load(PLAIN, limits=Limits(fuel_per_call=100_000))
    with pytest.raises(CapsuleTrap) as info:
        await capsule.call("spin")
    assert info.value.kind == "fuel"
    # Fuel is reset per call: a call needing less than the budget works every time.
    for _ in range(3):
        assert await capsule.call("work", 1000) == 1000


async def test_wall_clock_deadline_stops_a_runaway_guest(host: Host) -> None:
    capsule = await host.load(PLAIN, limits=Limits(call_timeout_s=0.05,
                                                   fuel_per_call=10**15))
    start = time.monotonic()
    with pytest.raises(CapsuleTrap) as info:
        await capsule.call("spin")
    assert info.value.kind == "deadline"
    assert time.monotonic() - start < PROMPT_S  # with this much fuel, only the deadline ends it
    assert await capsule.call("add", 1, 1) == 2


async def test_memory_limit_makes_growth_fail_inside_the_guest(host: Host) -> None:
    capsule = await host.load(PLAIN, limits=Limits(memory_bytes=4 * 65536))
    assert await capsule.call("grow", 2) == 1  # old size in pages: 1 -> 3
    assert await capsule.call("grow", 2) == -1  # would be 5 pages > 4: refused, no trap


async def test_unknown_export_is_a_typed_error_and_the_capsule_stays_usable(host: Host) -> None:
    capsule = await host.load(PLAIN)
    with pytest.raises(ExportNotFound) as info:
        await capsule.call("nope")
    assert info.value.export == "nope" and "add" in info.value.available
    assert await capsule.call("add", 1, 2) == 3


async def test_wrong_argument_types_are_the_callers_error(host: Host) -> None:
    capsule = await host.load(PLAIN)
    with pytest.raises(TypeError):
        await capsule.call("add", 1)
    assert await capsule.call("add", 1, 2) == 3


async def test_calling_a_closed_capsule_raises_capsule_closed(host: Host) -> None:
    capsule = await host.load(PLAIN)
    await capsule.aclose()
    await capsule.aclose()  # idempotent
    with pytest.raises(CapsuleClosed):
        await capsule.call("add", 1, 2)


async def test_concurrent_calls_on_one_capsule_are_serialised(host: Host,
                                                              fake_http: FakeHttp) -> None:
    capsule = await host.load(CLIENT_GUEST_WAT.encode())
    order: list[str] = []

    async def blocked_call() -> None:
        order.append(f"blocked -> {await capsule.call('send-url', 'block:me')}")

    async def second_call() -> None:
        order.append(f"second -> {await capsule.call('send-url', 'https://a.test/')}")

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(blocked_call)
        await fake_http.blocked.wait()
        nursery.start_soon(second_call)
        # The second call must wait for the capsule (the first guest is still inside the
        # Store): wait until it does, rather than for a time it might not have needed.
        assert await eventually(lambda: capsule._lock.statistics().tasks_waiting == 1)
        assert order == [] and len(fake_http.requests) == 1
        capsule._live.session.cancel()  # type: ignore[union-attr] # release the first
    cancelled = 1000 + ERROR_CASES.index("cancelled")
    assert order[0] == f"blocked -> {cancelled}"
    # The session was cancelled, so the second call's I/O was refused too, but it ran after.
    assert order[1].startswith("second -> ")


async def test_many_concurrent_calls_all_complete(host: Host) -> None:
    capsule = await host.load(PLAIN)
    results: list[int] = []

    async def one(n: int) -> None:
        results.append(await capsule.call("work", n))

    async with anyio.create_task_group() as nursery:
        for n in range(1, 11):
            nursery.start_soon(one, n * 10000)
    assert sorted(results) == [n * 10000 for n in range(1, 11)]


async def test_aclose_during_in_flight_host_io_returns_promptly(host: Host,
                                                               fake_http: FakeHttp) -> None:
    capsule = await host.load(CLIENT_GUEST_WAT.encode())
    outcome: list[object] = []

    async def in_flight() -> None:
        try:
            outcome.append(await capsule.call("send-url", "block:forever"))
        except CapsuleClosed as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(in_flight)
        await fake_http.blocked.wait()
        with anyio.fail_after(PROMPT_S):  # the I/O it cancels would never end by itself
            await capsule.aclose()
    assert fake_http.cancelled_waits == 1 and fake_http.closed
    # The guest itself saw `cancelled` and returned normally.
    assert outcome == [1000 + ERROR_CASES.index("cancelled")]
    with pytest.raises(CapsuleClosed):
        await capsule.call("send-url", "https://a.test/")


async def test_aclose_stops_a_computing_guest_promptly(host: Host) -> None:
    capsule = await host.load(PLAIN, limits=Limits(call_timeout_s=60, fuel_per_call=10**15))
    outcome: list[BaseException] = []

    async def computing() -> None:
        try:
            await capsule.call("spin")
        except CapsuleClosed as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(computing)
        await anyio.sleep(0.1)  # let the guest start spinning
        start = time.monotonic()
        await capsule.aclose()
        elapsed = time.monotonic() - start
    assert elapsed < PROMPT_S  # not the call's 60 s budget
    assert len(outcome) == 1 and isinstance(outcome[0], CapsuleClosed)


async def test_cancelled_caller_cancels_the_guests_io_and_keeps_the_store(
        host: Host, fake_http: FakeHttp) -> None:
    capsule = await host.load(CLIENT_GUEST_WAT.encode())
    start = time.monotonic()
    with anyio.move_on_after(0.2) as scope:
        await capsule.call("send-url", "block:forever")
    assert scope.cancelled_caught and time.monotonic() - start < PROMPT_S
    assert fake_http.cancelled_waits == 1
    # The guest got `cancelled` and returned by itself: same Store, and the next call's I/O
    # is not affected by the previous call's cancellation.
    assert await capsule.call("send-url", "https://a.test/") == 200
    assert capsule.instantiations == 1


async def test_cancelled_caller_interrupts_a_computing_guest(host: Host) -> None:
    capsule = await host.load(PLAIN, limits=Limits(call_timeout_s=60, fuel_per_call=10**15))
    start = time.monotonic()
    with anyio.move_on_after(0.1) as scope:
        await capsule.call("spin")
    assert scope.cancelled_caught and time.monotonic() - start < PROMPT_S
    # Interrupting poisons the Store: the next call runs on a fresh one.
    assert await capsule.call("add", 2, 2) == 4
    assert capsule.instantiations == 2


async def test_host_exit_closes_its_capsules() -> None:
    fake = FakeHttp()
    async with Host(use_cache=False, http_factory=lambda ctx: fake) as host:
        capsule = await host.load(PLAIN)
    assert capsule.closed and fake.closed
    with pytest.raises(CapsuleClosed):
        await capsule.call("add", 1, 2)


# ------------------------------------------------- wasmtime pitfalls the runtime relies on


def _engine() -> Engine:
    cfg = Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    return Engine(cfg)


def test_pitfall_a_trap_poisons_the_store_for_every_later_call() -> None:
    engine = _engine()
    component = Component(engine, wat2wasm(PLAIN_GUEST_WAT))
    linker = Linker(engine)
    store = Store(engine)
    store.set_fuel(10**9)
    store.set_epoch_deadline(10**6)
    instance = linker.instantiate(store, component)
    boom = instance.get_func(store, "boom")
    add = instance.get_func(store, "add")
    with pytest.raises(WasmtimeError):
        boom(store)
    with pytest.raises(WasmtimeError, match="cannot enter"):
        add(store, 1, 2)
    with pytest.raises(WasmtimeError):  # not even a new instance in the same Store
        linker.instantiate(store, component).get_func(store, "add")(store, 1, 2)


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60)


_PRELUDE = f"""
    import threading
    from wasmtime import Config, Engine, Store, WasiConfig, wat2wasm
    from wasmtime.component import Component, Linker
    cfg = Config(); cfg.consume_fuel = True; cfg.epoch_interruption = True
    engine = Engine(cfg)
    component = Component(engine, wat2wasm({PLAIN_GUEST_WAT!r}))
    store = Store(engine); store.set_fuel(10**12); store.set_epoch_deadline(10**9)
"""


def test_pitfall_two_threads_in_one_store_break_it() -> None:
    """Why calls are serialised per capsule: concurrent entry into one Store is not an error
    wasmtime reports cleanly. Depending on timing the process aborts, or correct guest code
    fails with bogus traps ("call stack exhausted") and the Store is poisoned.

    Breaking it needs two threads inside guest code at the same moment, which the scheduler
    decides: the threads start together and keep calling until the first failure (at once on
    an idle machine), for up to PROMPT_S.
    """
    proc = _run_python(_PRELUDE + f"""
    import time
    instance = Linker(engine).instantiate(store, component)
    work = instance.get_func(store, "work")
    errors = []
    start = threading.Barrier(4)
    stop = time.monotonic() + {PROMPT_S}
    def hammer():
        start.wait()
        while not errors and time.monotonic() < stop:
            try:
                work(store, 3_000_000)
            except Exception as exc:
                errors.append(exc)
                return
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(f"errors={{len(errors)}}")
    """)
    assert proc.returncode != 0 or "errors=0" not in proc.stdout


def test_pitfall_wasi_linker_without_store_wasi_aborts_the_process() -> None:
    """Why every Store gets set_wasi(WasiConfig()): a WASI call without it kills the process."""
    script = _PRELUDE + f"""
    component = Component(engine, wat2wasm({WASI_GUEST_WAT!r}))
    linker = Linker(engine); linker.add_wasip2()
    if FIX: store.set_wasi(WasiConfig())
    print("random", linker.instantiate(store, component).get_func(store, "rand")(store) >= 0)
    """
    broken = _run_python(script.replace("if FIX:", "if False:"))
    assert broken.returncode != 0 and "random" not in broken.stdout
    fixed = _run_python(script.replace("if FIX:", "if True:"))
    assert fixed.returncode == 0 and fixed.stdout.strip() == "random True"


async def test_wasi_grants_no_environment_and_no_arguments(
        host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTRID_TEST_SECRET", "must-not-leak")
    capsule = await host.load(WASI_ENV_GUEST_WAT.encode())
    assert await capsule.call("env-count") == 0
    assert await capsule.call("arg-count") == 0


async def test_wasi_guest_runs_in_a_capsule(host: Host) -> None:
    capsule = await host.load(WASI_GUEST_WAT.encode())
    assert isinstance(await capsule.call("rand"), int)


def test_memory_limit_refusal_needs_limits_set_per_store() -> None:
    """set_limits caps memory.grow at `memory_size`: growth fails with -1, without trapping."""
    engine = _engine()
    component = Component(engine, wat2wasm(PLAIN_GUEST_WAT))
    store = Store(engine)
    store.set_fuel(10**9)
    store.set_epoch_deadline(10**6)
    store.set_limits(memory_size=2 * 65536)
    grow = Linker(engine).instantiate(store, component).get_func(store, "grow")
    assert grow(store, 5) == -1
    assert MiB == 1024 * 1024
