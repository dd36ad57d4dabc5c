"""The body lane (`read-into`, `write-from`, `read-str`, `write-str`) through a real guest:
bytes arrive exactly, and no pointer a guest passes makes the host touch memory outside the
guest's own — every bad range is the guest's `invalid-request`, and nothing is read or lost.
"""

from __future__ import annotations

from typing import Any

import pytest

from astrid_host._core._model import ErrorCode
from astrid_host._wasm._host import Host
from astrid_host._wasm._imports import LANE_CHUNK_MAX
from tests.support.fakes import FakeHttp
from tests.support.lane_wat import LANE_GUEST_WAT
from tests.support.wat import ERROR_CASES

PAGE = 65536
URL = "https://a.test/"
INVALID = ERROR_CASES.index("invalid-request")
BODY = bytes(range(256)) * 1024  # 256 KiB, every byte value


def _memory(guest: Any) -> Any:
    return guest._live.session.memories.lane()


async def _guest(host: Host) -> Any:
    return await host.load(LANE_GUEST_WAT.encode(), name="lane-guest")


@pytest.mark.parametrize(("cap", "size"), [(1, 3000), (4096, len(BODY)), (65536, len(BODY)),
                                           (300_000, len(BODY))])
async def test_read_into_delivers_the_body_exactly(host: Host, fake_http: FakeHttp,
                                                   cap: int, size: int) -> None:
    fake_http.routes[URL] = BODY[:size]
    guest = await _guest(host)
    assert await guest.call("grow", 16) == 1
    assert await guest.call("pull", URL, 2 * PAGE, cap) == size
    assert _memory(guest).read(2 * PAGE, size) == BODY[:size]
    assert fake_http.streams[-1].closed


async def test_write_from_uploads_the_guests_bytes(host: Host, fake_http: FakeHttp) -> None:
    guest = await _guest(host)
    await guest.call("grow", 8)
    _memory(guest).write(2 * PAGE, BODY)
    assert await guest.call("push", URL, 2 * PAGE, len(BODY)) == 200
    assert bytes(fake_http.uploads[-1].written) == BODY


async def test_ten_mib_both_ways_without_a_trap(host: Host, fake_http: FakeHttp) -> None:
    """As list<u8>, a guest could not hand the host more than 2.67 MiB in one value
    (hostcall fuel); the lane moves only numbers."""
    body = bytes(range(251)) * (10 * 1024 * 1024 // 251)
    fake_http.routes[URL] = body
    guest = await _guest(host)
    assert await guest.call("grow", 240) == 1  # 15 MiB: the body and one piece of room
    assert await guest.call("pull", URL, 2 * PAGE, LANE_CHUNK_MAX) == len(body)
    assert await guest.call("push", URL, 2 * PAGE, len(body)) == 200
    assert bytes(fake_http.uploads[-1].written) == body
    assert guest.instantiations == 1


# (ptr, len) as functions of the memory's size when the call starts (the bump allocator
# grows it while the host lowers the URL, so sizes are read, not assumed).
BAD_RANGES = [
    pytest.param(lambda size: (size, 1), id="past-the-end"),
    pytest.param(lambda size: (size - 10, 11), id="straddles-the-end"),
    pytest.param(lambda size: (0xFFFFFFFF, 2), id="ptr+len-overflows-u32"),
    pytest.param(lambda size: (0xFFFF0000, 0x10001), id="wraps-to-1"),
    pytest.param(lambda size: (0, 0xFFFFFFFF), id="huge-len"),
]


async def _sized(guest: Any) -> int:
    """Grow once so the URL's allocation fits in what is there, and return the size."""
    await guest.call("grow", 2)
    size: int = _memory(guest).size
    return size


@pytest.mark.parametrize("bad", BAD_RANGES)
async def test_read_into_a_bad_range_is_refused_and_nothing_is_lost(
        host: Host, fake_http: FakeHttp, bad: Any) -> None:
    fake_http.routes[URL] = b"abc"
    guest = await _guest(host)
    ptr, n = bad(await _sized(guest))
    assert await guest.call("read-once", URL, ptr, n) == 2000 + INVALID
    assert fake_http.streams[-1].position == 0  # checked before the body was read
    assert await guest.call("read-once", URL, 1024, 3) == 3  # the Store lives on
    assert guest.instantiations == 1


@pytest.mark.parametrize("bad", BAD_RANGES)
async def test_write_from_a_bad_range_is_refused(host: Host, fake_http: FakeHttp,
                                                 bad: Any) -> None:
    guest = await _guest(host)
    ptr, n = bad(await _sized(guest))
    assert await guest.call("push", URL, ptr, n) == 2000 + INVALID
    assert fake_http.uploads[-1].written == b""
    assert guest.instantiations == 1


async def test_a_zero_cap_is_refused(host: Host, fake_http: FakeHttp) -> None:
    guest = await _guest(host)
    assert await guest.call("read-once", URL, 1024, 0) == 2000 + INVALID


async def test_the_range_is_checked_against_the_memory_as_grown(host: Host,
                                                                fake_http: FakeHttp) -> None:
    fake_http.routes[URL] = b"x" * 10
    guest = await _guest(host)
    size = await _sized(guest)
    assert await guest.call("read-once", URL, size, 10) == 2000 + INVALID
    assert await guest.call("grow", 1) > 0
    assert await guest.call("read-once", URL, size, 10) == 10


async def test_growth_at_the_memory_limit_is_still_refused(fake_http: FakeHttp) -> None:
    from astrid_host._core._limits import Limits

    async with Host(use_cache=False, limits=Limits(memory_bytes=4 * PAGE),
                    http_factory=lambda ctx: fake_http) as host:
        guest = await _guest(host)
        assert await guest.call("grow", 3) == 1
        assert await guest.call("grow", 1) == -1
        assert _memory(guest).size == 4 * PAGE
        assert await guest.call("read-once", URL, 4 * PAGE - 2, 4) == 2000 + INVALID


async def test_a_read_error_still_reaches_the_guest(host: Host, fake_http: FakeHttp) -> None:
    fake_http.routes[URL] = ErrorCode.denied("not on the allowlist")
    guest = await _guest(host)
    assert await guest.call("read-once", URL, 1024, 16) == 1000 + ERROR_CASES.index("denied")


async def test_a_guest_with_two_memories_gets_invalid_request_not_a_guess(
        host: Host, fake_http: FakeHttp) -> None:
    """Which memory would `ptr` be in? The lane refuses; list<u8> functions keep working."""
    extra = "(core module $Extra (memory 1)) (core instance $extra (instantiate $Extra))\n"
    wat = LANE_GUEST_WAT.replace("  (core instance $mem (instantiate $Mem))",
                                 extra + "  (core instance $mem (instantiate $Mem))")
    assert wat != LANE_GUEST_WAT
    guest = await host.load(wat.encode(), name="two-memories")
    assert len(guest._live.session.memories.memories) == 2
    assert await guest.call("read-once", URL, 1024, 16) == 2000 + INVALID
    assert await guest.call("push", URL, 1024, 16) == 2000 + INVALID
    assert fake_http.streams[-1].position == 0


async def test_read_str_carries_every_byte_as_a_code_point(host: Host,
                                                           fake_http: FakeHttp) -> None:
    fake_http.routes[URL] = BODY[:1000]
    guest = await _guest(host)
    ptr = await guest.call("read-str-once", URL, 600)
    utf8 = _memory(guest).read(ptr, int.from_bytes(_memory(guest).read(272, 4), "little"))
    assert utf8.decode("utf-8").encode("latin-1") == BODY[:600]
    fake_http.routes[URL] = b""
    assert await guest.call("read-str-once", URL, 600) == 0  # none: the body is complete


async def test_write_str_uploads_latin1_and_refuses_wider_code_points(
        host: Host, fake_http: FakeHttp) -> None:
    guest = await _guest(host)
    assert await guest.call("push-str", URL, BODY[:512].decode("latin-1")) == 200
    assert bytes(fake_http.uploads[-1].written) == BODY[:512]
    assert await guest.call("push-str", URL, "ok \u20ac") == 2000 + INVALID
    assert fake_http.uploads[-1].written == b""


async def test_write_from_past_the_upload_limit_is_refused_before_the_copy(
        fake_http: FakeHttp) -> None:
    from astrid_host._core._limits import Limits

    async with Host(use_cache=False, limits=Limits(max_upload_bytes=1000),
                    http_factory=lambda ctx: fake_http) as host:
        guest = await _guest(host)
        assert await guest.call("push", URL, 1024, 1001) == 2000 + ERROR_CASES.index(
            "request-too-large")
        assert fake_http.uploads[-1].written == b""
        assert await guest.call("push", URL, 1024, 1000) == 200


async def test_a_trapped_capsules_memory_is_unmapped_and_the_next_store_gets_its_own(
        fake_http: FakeHttp) -> None:
    import gc

    from astrid_host._wasm._errors import CapsuleTrap
    from astrid_host._wasm._wasmtime_patches import live_memories
    from tests.support.wat import CLIENT_GUEST_WAT

    gc.collect()
    before = live_memories()
    async with Host(use_cache=False, http_factory=lambda ctx: fake_http) as host:
        guest = await host.load(CLIENT_GUEST_WAT.encode(), name="trapper")
        first = _memory(guest)
        with pytest.raises(CapsuleTrap):
            await guest.call("open-then-trap", URL)
        gc.collect()
        assert first.released  # the trapped Store's memory is gone with it
        assert await guest.call("send-url", URL) == 200  # a fresh Store, a fresh memory
        assert _memory(guest) is not first and not _memory(guest).released
        assert live_memories() == before + 1
    gc.collect()
    assert live_memories() == before


# A guest built before the lane existed imports a subset of the interface: it must still load.
PRE_LANE_SUBSET_WAT = r"""
(component
  (type $ct (instance
    (export "incoming-response" (type $ir (sub resource)))
    (type $b (borrow $ir))
    (export "[method]incoming-response.status" (func (param "self" $b) (result u16)))))
  (import "astrid:http/client@0.1.0" (instance $c (type $ct)))
  (core module $m (func (export "answer") (result i32) (i32.const 42)))
  (core instance $i (instantiate $m))
  (func (export "answer") (result u32) (canon lift (core func $i "answer"))))
"""


async def test_a_guest_importing_a_pre_lane_subset_still_loads(host: Host) -> None:
    guest = await host.load(PRE_LANE_SUBSET_WAT.encode(), name="pre-lane")
    assert await guest.call("answer") == 42
