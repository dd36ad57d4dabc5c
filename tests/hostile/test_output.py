"""The call's output (`astrid:http/output`) through a WAT guest that writes what it is told:
every lane keeps the bytes exactly, a write is refused when the caller did not ask for output,
past the limit, or from a range outside the guest's memory (the guest's `invalid-request`,
nothing kept, the Store lives on), and a call that traps keeps no output.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from astrid_host._core._limits import Limits
from astrid_host._wasm._errors import CapsuleTrap
from astrid_host._wasm._host import Host
from tests.support.lane_wat import OUTPUT_GUEST_WAT
from tests.support.wat import ERROR_CASES

PAGE = 65536
INVALID = 2000 + ERROR_CASES.index("invalid-request")
TOO_LARGE = 2000 + ERROR_CASES.index("body-too-large")
EVERY_BYTE = bytes(range(256)) * 64


async def _guest(host: Host) -> Any:
    return await host.load(OUTPUT_GUEST_WAT.encode(), name="output-guest")


async def test_write_from_hands_over_the_guests_bytes_in_order(host: Host) -> None:
    guest = await _guest(host)
    await guest.call("fill", 1000, 300, 0x61)
    await guest.call("fill", 1300, 200, 0x62)
    done = await guest.call_with_output("from", 1000, 300)
    assert (done.value, done.output) == (0, b"a" * 300)
    assert (await guest.call_with_output("from", 1300, 200)).output == b"b" * 200


async def test_write_and_write_str_keep_every_byte_value(host: Host) -> None:
    guest = await _guest(host)
    assert (await guest.call_with_output("bytes", EVERY_BYTE)).output == EVERY_BYTE
    text = EVERY_BYTE.decode("latin-1")
    assert (await guest.call_with_output("str", text)).output == EVERY_BYTE


async def test_a_write_in_a_call_that_did_not_ask_is_refused(host: Host) -> None:
    guest = await _guest(host)
    assert await guest.call("from", 0, 16) == INVALID
    assert await guest.call("str", "abc") == INVALID
    assert await guest.call("bytes", b"abc") == INVALID
    # The next call that asks gets only its own writes.
    assert (await guest.call_with_output("from", 0, 4)).output == b"\0" * 4
    assert guest.instantiations == 1


# (ptr, len) as functions of the memory's size.
BAD_RANGES = [
    pytest.param(lambda size: (size, 1), id="past-the-end"),
    pytest.param(lambda size: (size + 1, 0), id="len-0-past-the-end"),
    pytest.param(lambda size: (size - 10, 11), id="straddles-the-end"),
    pytest.param(lambda size: (0xFFFFFFFF, 2), id="ptr+len-overflows-u32"),
    pytest.param(lambda size: (0xFFFF0000, 0x10001), id="wraps-to-1"),
    pytest.param(lambda size: (0, 0xFFFFFFFF), id="huge-len"),
]


@pytest.mark.parametrize("bad", BAD_RANGES)
async def test_write_from_a_bad_range_is_refused_and_nothing_kept(host: Host, bad: Any) -> None:
    guest = await _guest(host)
    ptr, n = bad(await guest.call("size"))
    done = await guest.call_with_output("from", ptr, n)
    assert (done.value, done.output) == (INVALID, b"")
    assert (await guest.call_with_output("from", 0, 8)).output == b"\0" * 8  # the Store lives on
    assert guest.instantiations == 1


async def test_len_0_inside_the_memory_appends_nothing(host: Host) -> None:
    guest = await _guest(host)
    size = await guest.call("size")
    for ptr in (0, size // 2, size):  # the end itself: an empty range inside the memory
        done = await guest.call_with_output("from", ptr, 0)
        assert (done.value, done.output) == (0, b"")


async def test_one_byte_over_the_limit_is_refused_and_nothing_of_it_kept() -> None:
    async with Host(use_cache=False, limits=Limits(max_output_bytes=1000)) as host:
        guest = await _guest(host)
        done = await guest.call_with_output("from", 0, 1001)
        assert (done.value, done.output) == (TOO_LARGE, b"")
        assert (await guest.call_with_output("bytes", b"x" * 1001)).value == TOO_LARGE
        assert (await guest.call_with_output("str", "x" * 1001)).value == TOO_LARGE
        done = await guest.call_with_output("from", 0, 1000)  # exactly the limit: kept
        assert (done.value, len(done.output)) == (0, 1000)
        assert guest.instantiations == 1


async def test_write_str_refuses_a_code_point_above_255(host: Host) -> None:
    guest = await _guest(host)
    done = await guest.call_with_output("str", "ok \u0100")
    assert (done.value, done.output) == (INVALID, b"")
    assert (await guest.call_with_output("str", "\u00ff")).output == b"\xff"


async def test_the_output_of_a_call_that_traps_is_discarded(host: Host) -> None:
    guest = await _guest(host)
    await guest.call("fill", 0, 64, 0x7A)
    with pytest.raises(CapsuleTrap):
        await guest.call_with_output("from-then-trap", 0, 64)
    done = await guest.call_with_output("from", 0, 0)  # a fresh Store: nothing carried over
    assert (done.value, done.output) == (0, b"")
    assert guest.instantiations == 2


async def test_the_output_of_a_cancelled_call_is_discarded(host: Host) -> None:
    guest = await _guest(host)
    await guest.call("fill", 0, 64, 0x7A)
    with anyio.move_on_after(0.2) as scope:  # the guest spins forever: only the cancel ends it
        await guest.call_with_output("from-then-spin", 0, 64)
    assert scope.cancelled_caught
    done = await guest.call_with_output("from", 0, 0)  # nothing of the cancelled call's output
    assert (done.value, done.output) == (0, b"")


async def test_a_guest_with_two_memories_cannot_use_write_from(host: Host) -> None:
    extra = "(core module $Extra (memory 1)) (core instance $extra (instantiate $Extra))\n"
    wat = OUTPUT_GUEST_WAT.replace("  (core instance $mem (instantiate $Mem))",
                                   extra + "  (core instance $mem (instantiate $Mem))")
    assert wat != OUTPUT_GUEST_WAT
    guest = await host.load(wat.encode(), name="two-memories")
    assert (await guest.call_with_output("from", 0, 4)).value == INVALID
    assert (await guest.call_with_output("str", "ok")).output == b"ok"  # the string lane works


def _raw(kind: str, size: int) -> Any:
    """A raw C value of a `list` or `string` of ``size`` (elements or UTF-8 bytes), its data
    never read: what the precheck sees before wasmtime-py lifts anything."""
    from wasmtime import _ffi as ffi

    raw = ffi.wasmtime_component_val_t()
    if kind == "string":
        raw.kind = ffi.WASMTIME_COMPONENT_STRING
        raw.of.string.size = size
    else:
        raw.kind = ffi.WASMTIME_COMPONENT_LIST
        raw.of.list.size = size
    return raw


@pytest.mark.parametrize(("func", "kind", "size", "expected"), [
    ("write", "list", 1001, "body-too-large"),
    ("write", "list", 1000, None),
    # A string of n UTF-8 bytes carries at least ceil(n / 2) bytes of body.
    ("write-str", "string", 2001, "body-too-large"),
    ("write-str", "string", 2000, None),
    ("write-from", "list", 10**9, None),  # two numbers: checked by its handler, not here
])
def test_writes_that_cannot_be_kept_are_refused_before_their_value_is_lifted(
        func: str, kind: str, size: int, expected: str | None) -> None:
    from types import SimpleNamespace

    from astrid_host._core._output import OutputBuffer
    from astrid_host._wasm._output import _precheck

    asked = SimpleNamespace(session=SimpleNamespace(output=OutputBuffer(1000)), nargs=1,
                            raw_arg=lambda i: _raw(kind, size))
    code = _precheck(asked, SimpleNamespace(name=func))  # type: ignore[arg-type]
    assert (None if code is None else code.case) == expected
    if func != "write-from":
        not_asked = SimpleNamespace(session=SimpleNamespace(output=None), nargs=1,
                                    raw_arg=lambda i: _raw(kind, 1))
        code = _precheck(not_asked, SimpleNamespace(name=func))  # type: ignore[arg-type]
        assert code is not None and code.case == "invalid-request"
