"""Hostile guests: runaway code, memory bombs, leaked handles, malformed values, huge values.

Every case runs the hand-written WAT guest (tests/hostile/_wat.py) through the real Host and the
real HTTP engine against a loopback test server. Each test checks the outcome (a typed error
or a `CapsuleTrap` of the right kind), that it came promptly, and that nothing is left behind:
the runtime's own handle table, the HTTP engine's open-stream count and the process's open fds.

"Promptly" is PROMPT_S (tests/support/timing.py), far below the runaway it guards against (fuel for
days, a 60 s budget, a 30 s timeout), because a busy machine can add any fraction of a second:
the outcome (the trap kind, the error code) is what tells right from wrong, never a duration.
"""

from __future__ import annotations

import time

import anyio
import pytest

from astrid_host._core._limits import Limits, MiB
from astrid_host._wasm import _imports
from astrid_host._wasm._capsule import Capsule
from astrid_host._wasm._errors import CapsuleLoadError, CapsuleTrap
from astrid_host._wasm._host import Host
from tests.hostile._support import engine_open_streams, held_handles, load_hostile
from tests.hostile._wat import pack_open_many
from tests.support.http import TestServer
from tests.support.process import open_fds, rss_bytes
from tests.support.timing import PROMPT_S, eventually
from tests.support.wat import ERROR_CASES


def code(result: int) -> str | int:
    """Decode the WAT guest's numeric result: a count/status, or the error-code case."""
    if result >= 2000:
        return f"io:{ERROR_CASES[result - 2000]}"
    if result >= 1000:
        return ERROR_CASES[result - 1000]
    return result


def url(server: TestServer, path: str) -> str:
    return server.url(path, host="public.test")


async def trap_of(capsule: Capsule, export: str, *args: object) -> tuple[CapsuleTrap, float]:
    start = time.monotonic()
    with pytest.raises(CapsuleTrap) as info:
        await capsule.call(export, *args)
    return info.value, time.monotonic() - start


async def settle(capsule: Capsule) -> None:
    """Let shielded close tasks finish (closing runs on the trio thread after the call)."""
    await eventually(lambda: engine_open_streams(capsule) == 0)


# ------------------------------------------------------------------------- runaway code


async def test_infinite_loop_is_stopped_at_the_deadline_then_a_fresh_store(
        real_host: Host) -> None:
    """The issue's "within deadline + 200 ms" is what an idle machine shows (docs/hostile.md);
    the test holds the deadline to its word without timing the scheduler."""
    capsule = await load_hostile(real_host, Limits(call_timeout_s=0.5, fuel_per_call=10**15))
    trap, took = await trap_of(capsule, "spin")
    assert trap.kind == "deadline" and trap.export == "spin"
    assert "wall-clock budget" in trap.message
    assert 0.5 <= took < 0.5 + PROMPT_S
    # The poisoned Store is gone: the next call runs on a new one, and works.
    assert await capsule.call("drop-all") == 0
    assert capsule.instantiations == 2


async def test_fuel_exhaustion_is_a_trap_of_kind_fuel_and_fuel_resets_per_call(
        real_host: Host) -> None:
    capsule = await load_hostile(real_host, Limits(fuel_per_call=2_000_000))
    for _ in range(3):
        trap, took = await trap_of(capsule, "spin")
        assert trap.kind == "fuel" and "fuel" in trap.message
        assert took < PROMPT_S
    # One Store per attempt (the load made the first; each trap discarded one).
    assert capsule.instantiations == 3


async def test_memory_bomb_stops_at_the_limit_and_other_capsules_are_unaffected(
        real_host: Host, http_server: TestServer) -> None:
    limit = 8 * MiB
    bomber = await load_hostile(real_host, Limits(memory_bytes=limit), name="bomber")
    neighbour = await load_hostile(real_host, name="neighbour")
    rss_before = rss_bytes()
    answers: list[object] = []

    async def neighbour_calls() -> None:
        for _ in range(20):
            answers.append(code(await neighbour.call("send-url", url(http_server, "/echo"))))

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(neighbour_calls)
        for _ in range(5):
            # Growth is refused at the limit (memory.grow gives -1: no trap by itself)...
            pages = await bomber.call("bomb", 16)
            assert pages * 65536 <= limit
            # ...and a guest that aborts on it traps `unreachable`; the next call is fresh.
            trap, _ = await trap_of(bomber, "bomb-abort", 1)
            assert trap.kind == "unreachable"
    assert answers == [200] * 20
    # Each Store was freed: five bombs did not add five limits' worth of memory.
    assert rss_bytes() - rss_before < 4 * limit


async def test_response_bigger_than_guest_memory_is_refused_before_it_is_copied(
        real_host: Host, http_server: TestServer) -> None:
    """A body that cannot fit in the capsule's memory limit is a typed error, not a trap in
    the guest's allocator after the host spent time and memory lowering it."""
    capsule = await load_hostile(real_host, Limits(memory_bytes=1 * MiB))
    start = time.monotonic()
    assert code(await capsule.call("send-url",
                                   url(http_server, "/bytes?n=1500000"))) == "body-too-large"
    assert time.monotonic() - start < PROMPT_S
    assert await capsule.call("send-url", url(http_server, "/bytes?n=1000")) == 200


# --------------------------------------------------------------------------- handles


async def test_streams_opened_in_a_loop_without_closing_hit_the_cap(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    opened, err = pack_open_many(await capsule.call(
        "open-many", url(http_server, "/bytes?n=100000"), 20))
    assert (opened, err) == (4, "stream-limit")
    # Handles kept across calls still count: a later call gets no more.
    assert pack_open_many(await capsule.call(
        "open-many", url(http_server, "/bytes?n=10"), 3)) == (0, "stream-limit")
    assert held_handles(capsule) == 4 and engine_open_streams(capsule) == 4
    # Dropping them (the resource destructors) frees every slot.
    assert await capsule.call("drop-all") == 4
    assert held_handles(capsule) == 0 and engine_open_streams(capsule) == 0
    assert pack_open_many(await capsule.call(
        "open-many", url(http_server, "/bytes?n=10"), 4)) == (4, None)


async def test_leaked_streams_are_freed_on_aclose(real_host: Host,
                                                  http_server: TestServer) -> None:
    fds = open_fds()
    capsule = await load_hostile(real_host)
    await capsule.call("open-many", url(http_server, "/bytes?n=1000000"), 4)
    await capsule.call("upload-unfinished", url(http_server, "/drain"), 2, 1000)
    assert engine_open_streams(capsule) == 4  # the upload found no free slot
    with anyio.fail_after(PROMPT_S):
        await capsule.aclose()
    assert engine_open_streams(capsule) == 0 and capsule._live is None
    assert await eventually(lambda: open_fds() <= fds)  # the server closes its side


async def test_leaked_streams_are_freed_when_the_same_call_traps(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    await capsule.call("open-many", url(http_server, "/bytes?n=1000000"), 3)
    trap, _ = await trap_of(capsule, "read-after-drop", url(http_server, "/bytes?n=100000"))
    assert trap.kind == "other" and "unknown handle index" in trap.message
    await settle(capsule)
    assert engine_open_streams(capsule) == 0 and held_handles(capsule) == 0


async def test_leaked_streams_and_uploads_are_freed_when_the_store_is_replaced(
        real_host: Host, http_server: TestServer) -> None:
    # Fuel, not a deadline, ends the spin: the calls before it do host I/O, which a short
    # call budget could cut on a busy machine (they use a few thousand units of fuel).
    capsule = await load_hostile(real_host, Limits(fuel_per_call=50_000_000))
    fds = open_fds()
    for _ in range(3):
        await capsule.call("open-many", url(http_server, "/bytes?n=1000000"), 2)
        assert code(await capsule.call("upload-unfinished", url(http_server, "/drain"),
                                       3, 4096)) == 3
        assert held_handles(capsule) == 3 and engine_open_streams(capsule) == 3
        # A later call that never touches them traps: the Store dies with its handles
        # alive, and wasmtime runs no destructors for those; the runtime's table does.
        trap, _ = await trap_of(capsule, "spin")
        assert trap.kind == "fuel"
        await settle(capsule)
        assert engine_open_streams(capsule) == 0 and capsule._live is None
    # At most one pooled keep-alive connection stays open.
    assert await eventually(lambda: open_fds() <= fds + 1)


async def test_upload_never_finished_keeps_its_slot_until_dropped(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    for _ in range(4):
        assert code(await capsule.call("upload-unfinished", url(http_server, "/drain"),
                                       1, 100)) == 1
    assert code(await capsule.call("upload-unfinished", url(http_server, "/drain"),
                                   1, 100)) == "stream-limit"
    assert await capsule.call("drop-all") == 4
    await settle(capsule)
    assert engine_open_streams(capsule) == 0
    # None of the unfinished bodies reached the server as a complete request.
    assert not [r for r in http_server.requests if r.target == b"/drain"]


async def test_handles_dropped_mid_read_free_their_slot_every_time(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    fds = open_fds()
    for _ in range(12):  # three times the cap: a leaked slot would fail by the 5th
        assert await capsule.call("drop-mid-read", url(http_server, "/bytes?n=1000000"),
                                  700) == 700
    assert held_handles(capsule) == 0 and engine_open_streams(capsule) == 0
    assert await eventually(lambda: open_fds() <= fds + 1)


async def test_read_through_a_dropped_handle_traps_in_the_guest_not_the_host(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    trap, _ = await trap_of(capsule, "read-after-drop", url(http_server, "/bytes?n=10"))
    assert trap.kind == "other" and "unknown handle index" in trap.message
    assert engine_open_streams(capsule) == 0
    assert await capsule.call("send-url", url(http_server, "/echo")) == 200


async def test_reads_past_the_end_are_none_and_reads_after_a_failure_are_closed(
        real_host: Host, http_server: TestServer) -> None:
    capsule = await load_hostile(real_host)
    assert await capsule.call("read-past-end", url(http_server, "/bytes?n=5000"), 3) == 0
    assert await capsule.call("first-terminal") == 0
    # A body the server resets: the first failure, then `closed` on every later read.
    last = await capsule.call("read-past-end", url(http_server, "/reset?n=100000&after=1000"), 3)
    assert code(await capsule.call("first-terminal")) == "io:connection-failed"
    assert code(last) == "io:closed"
    assert engine_open_streams(capsule) == 0


# ------------------------------------------------------------------ malformed and huge values


@pytest.mark.parametrize(("export", "args"), [
    ("send-url-bytes", (b"http://public.test/\xff\xfe",)),
    ("send-headers", ("http://public.test/", b"x-\xff", b"v", 1)),
])
async def test_invalid_utf8_from_the_guest_is_a_trap_and_the_capsule_recovers(
        real_host: Host, http_server: TestServer, export: str, args: tuple[object, ...]) -> None:
    capsule = await load_hostile(real_host)
    trap, took = await trap_of(capsule, export, *args)
    assert trap.kind == "other" and "invalid utf-8" in trap.message
    assert took < PROMPT_S
    assert await capsule.call("send-url", url(http_server, "/echo")) == 200


@pytest.mark.parametrize("size", [8193, 2 * MiB, 6 * MiB])
async def test_huge_url_is_invalid_request_quickly_with_bounded_memory(
        real_host: Host, http_server: TestServer, size: int) -> None:
    capsule = await load_hostile(real_host, Limits(memory_bytes=32 * MiB))
    rss = rss_bytes()
    start = time.monotonic()
    prefix = url(http_server, "/echo?q=")
    assert code(await capsule.call("send-long-url", prefix, size)) == "invalid-request"
    assert time.monotonic() - start < PROMPT_S
    assert rss_bytes() - rss < 4 * size + 16 * MiB


async def test_a_2_mib_body_piece_crosses_and_3_mib_is_a_hostcall_trap_not_an_abort(
        real_host: Host, http_server: TestServer) -> None:
    """wasmtime-py 50 caps the data one guest->host call may copy (its "hostcall fuel"):
    at the edge the guest must get a trap, never a process abort."""
    capsule = await load_hostile(real_host)
    assert code(await capsule.call("upload-unfinished", url(http_server, "/drain"),
                                   1, 2 * MiB)) == 1
    await capsule.call("drop-all")
    trap, took = await trap_of(capsule, "upload-unfinished", url(http_server, "/drain"),
                               1, 3 * MiB)
    assert trap.kind == "other" and "fuel allocated for hostcalls" in trap.message
    assert took < PROMPT_S
    await settle(capsule)
    assert engine_open_streams(capsule) == 0


@pytest.mark.parametrize("count", [101, 10_000, 100_000])
async def test_huge_header_lists_are_invalid_request(real_host: Host, http_server: TestServer,
                                                     count: int) -> None:
    capsule = await load_hostile(real_host)
    assert code(await capsule.call("send-headers", url(http_server, "/echo"), b"x-a", b"v",
                                   count)) == "invalid-request"
    assert not http_server.requests  # refused before anything was sent


async def test_100k_headers_are_refused_before_the_host_materialises_them(
        real_host: Host, http_server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lifting 100k headers into Python took ~3 s of host code the epoch cannot interrupt
    (a 0.3 s call ended after 3.6 s); the runtime now refuses them from the raw value.

    Which of the two it did is seen directly (the refusal of the raw-value check), not
    inferred from the time the call took: a busy machine can make either slow."""
    refusals: list[object] = []
    precheck = _imports.precheck_request

    def recording(raw: object, limits: Limits) -> object:
        refusals.append(precheck(raw, limits))
        return refusals[-1]

    monkeypatch.setattr(_imports, "precheck_request", recording)
    capsule = await load_hostile(real_host, Limits(call_timeout_s=0.3))
    start = time.monotonic()
    try:
        result: object = code(await capsule.call(
            "send-headers", url(http_server, "/echo"), b"x-a", b"v", 100_000))
    except CapsuleTrap as exc:  # wasmtime's own lifting to C values can outlast 0.3 s
        result = exc.kind
    assert result in ("invalid-request", "deadline")
    assert [getattr(r, "case", None) for r in refusals] == ["invalid-request"]
    assert time.monotonic() - start < 0.3 + PROMPT_S


async def test_body_larger_than_guest_memory_is_refused_before_it_is_lowered(
        real_host: Host, http_server: TestServer) -> None:
    """Lowering a body into the guest is host code the epoch cannot interrupt. The host now
    compares the body with the guest's memory limit first, so an 8 MiB body for a 2 MiB guest
    is refused at once (it used to end 0.5-7 s after a 0.3 s deadline, in a trap).

    The outcome tells the two apart, so the call keeps the default budget: a short one could
    end the 8 MiB download itself on a busy machine (that happened at 0.3 s)."""
    capsule = await load_hostile(real_host, Limits(memory_bytes=2 * MiB))
    start = time.monotonic()
    outcome = code(await capsule.call("send-url", url(http_server, f"/bytes?n={8 * MiB}")))
    assert outcome == "body-too-large"  # not a trap after lowering it
    assert time.monotonic() - start < PROMPT_S


async def test_header_lists_are_bounded_by_wasmtimes_hostcall_copy_cap(
        real_host: Host, http_server: TestServer) -> None:
    """wasmtime lifts every argument into C values before the host sees any of it: 300k
    headers (4.8 MB of guest memory) cost ~180 MiB of host memory for an instant, refused as
    invalid-request; from about 1M its per-call copy cap traps the guest. No setter for that
    cap is exposed in wasmtime-py 50, so this is the bound."""
    capsule = await load_hostile(real_host)
    rss = rss_bytes()
    assert code(await capsule.call("send-headers", url(http_server, "/echo"), b"x-a", b"v",
                                   300_000)) == "invalid-request"
    assert rss_bytes() - rss < 256 * MiB
    trap, took = await trap_of(capsule, "send-headers", url(http_server, "/echo"), b"x-a",
                               b"v", 1_000_000)
    assert trap.kind == "other" and "fuel allocated for hostcalls" in trap.message
    assert took < PROMPT_S
    assert not http_server.requests


# ------------------------------------------------------------ hostile code inside host calls


@pytest.mark.parametrize(("mode", "kind", "text"), [
    (1, "deadline", "wall-clock budget"),           # realloc spins forever
    (2, "unreachable", "unreachable"),              # realloc traps
    (3, "other", "realloc return: beyond end of memory"),  # realloc lies
], ids=["spins", "traps", "lies"])
@pytest.mark.parametrize("export", ["send-url", "drop-mid-read", "argument"])
async def test_hostile_realloc_while_the_host_lowers_a_value_traps_cleanly(
        real_host: Host, http_server: TestServer, mode: int, kind: str, text: str,
        export: str) -> None:
    """The host calls the guest's allocator while lowering a result of an import (a response
    body, a read piece) or the arguments of an export: guest code running inside a host
    call. Spinning there is still bounded by the deadline, and every failure is a trap of
    the Store, with the in-flight stream closed.

    Only the deadline stops a spinning allocator (mode 1); the others keep the default 60 s
    budget. The HTTP request made before the allocator runs (send-url, drop-mid-read) must fit
    in the budget however busy the machine: 2 s for those, not 0.3 s."""
    if mode != 1:
        budget = Limits().call_timeout_s
    else:
        budget = 0.3 if export == "argument" else 2.0
    capsule = await load_hostile(real_host, Limits(call_timeout_s=budget, fuel_per_call=10**15))
    await capsule.call("set-realloc-mode", mode, 4096)
    if export == "argument":
        trap, took = await trap_of(capsule, "send-url", "http://public.test/" + "a" * 5000)
    elif export == "send-url":
        trap, took = await trap_of(capsule, "send-url", url(http_server, "/bytes?n=10000"))
    else:
        trap, took = await trap_of(capsule, "drop-mid-read",
                                   url(http_server, "/bytes?n=100000"), 8192)
    assert trap.kind == kind and text in trap.message
    assert took < (budget if mode == 1 else 0) + PROMPT_S
    await settle(capsule)
    assert engine_open_streams(capsule) == 0
    assert await capsule.call("send-url", url(http_server, "/echo")) == 200  # fresh Store


SPIN_AT_START_WAT = b"""
(component
  (core module $m
    (func $forever (loop $l (br $l)))
    (start $forever))
  (core instance $i (instantiate $m)))
"""


async def test_guest_spinning_in_its_start_function_fails_the_load_on_time(
        real_host: Host) -> None:
    start = time.monotonic()
    with pytest.raises(CapsuleLoadError) as info:
        await real_host.load(SPIN_AT_START_WAT, limits=Limits(call_timeout_s=0.3,
                                                               fuel_per_call=10**15))
    assert "cannot be instantiated" in info.value.reason
    assert time.monotonic() - start < 0.3 + PROMPT_S  # + compiling the WAT
    assert await (await load_hostile(real_host)).call("drop-all") == 0  # host still usable


async def test_load_error_of_a_guest_spinning_at_start_names_the_deadline(
        real_host: Host) -> None:
    with pytest.raises(CapsuleLoadError) as info:
        await real_host.load(SPIN_AT_START_WAT, limits=Limits(call_timeout_s=0.2,
                                                               fuel_per_call=10**15))
    assert "wall-clock budget" in info.value.reason


async def test_the_call_deadline_bounds_host_io_the_guest_is_blocked_in(
        real_host: Host, http_server: TestServer) -> None:
    """A server that never answers, a request whose own first-byte timeout is 30 s, and a
    0.4 s call: the guest's host I/O is cut at the call's deadline (it gets timeout(total)) and
    the call ends on time instead of 30 s later."""
    capsule = await load_hostile(real_host, Limits(call_timeout_s=0.4))
    start = time.monotonic()
    try:
        outcome: object = code(await capsule.call("send-url",
                                                  url(http_server, "/never-headers")))
    except CapsuleTrap as exc:
        outcome = exc.kind
    took = time.monotonic() - start
    assert outcome in ("timeout", "deadline")
    assert took < 0.4 + PROMPT_S  # not the 30 s first-byte timeout
    assert await capsule.call("send-url", url(http_server, "/bytes?n=10")) == 200
