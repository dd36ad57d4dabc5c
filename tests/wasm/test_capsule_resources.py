"""Guest-exported resources through the real Capsule: generated `close()` drops the handle in
the guest, and a handle never meets a Store it does not belong to (that would abort)."""

from __future__ import annotations

from typing import Any

import pytest

from astrid_host._bindgen import BindgenError
from astrid_host._wasm._errors import StaleResource
from astrid_host._wasm._host import Host
from tests.support.bindings import echo_bindings
from tests.support.paths import built_guest

try:
    B = echo_bindings()
except BindgenError as exc:  # wasm-tools missing: nothing here can run
    pytest.skip(f"cannot generate the echo bindings: {exc}", allow_module_level=True)


async def test_closing_an_exported_resource_drops_it_in_the_guest(host: Host) -> None:
    capsule = await host.load(built_guest("python-echo.wasm"))
    counter: Any = await B.Counter.create(capsule, 5)
    assert await counter.add(2) == 7
    await counter.close()
    with pytest.raises(B.rt.ClosedHandle):
        await counter.add(1)
    # The capsule is still healthy after the drop.
    again: Any = await B.Counter.create(capsule, 1)
    assert await again.add(1) == 2
    await capsule.aclose()


async def test_a_handle_from_another_capsule_is_never_dropped_in_the_wrong_store(
        host: Host) -> None:
    first = await host.load(built_guest("python-echo.wasm"), name="first")
    second = await host.load(built_guest("python-echo.wasm"), name="second")
    counter: Any = await B.Counter.create(first, 3)
    await second.drop_resource(counter.handle)  # foreign: a no-op, not a process abort
    assert await counter.add(1) == 4  # still alive in its own capsule
    await first.aclose()
    await second.aclose()


async def test_a_foreign_handle_as_an_argument_is_refused_and_the_store_survives(
        host: Host) -> None:
    first = await host.load(built_guest("python-echo.wasm"), name="first")
    second = await host.load(built_guest("python-echo.wasm"), name="second")
    counter: Any = await B.Counter.create(first, 3)
    mine: Any = await B.Counter.create(second, 10)
    with pytest.raises(StaleResource):
        await second.call("astrid:http/echo-resources@0.1.0#[method]counter.add",
                          counter.handle, 1)
    # Refused before the guest ran: the second capsule's Store (and its handle) live on.
    assert await mine.add(1) == 11
    await first.aclose()
    await second.aclose()


async def test_dropping_a_handle_twice_is_a_no_op(host: Host) -> None:
    capsule = await host.load(built_guest("python-echo.wasm"))
    counter: Any = await B.Counter.create(capsule, 1)
    raw = counter.handle
    await capsule.drop_resource(raw)
    await capsule.drop_resource(raw)  # already gone: nothing reaches wasmtime
    with pytest.raises(StaleResource):  # and it can no longer be passed to the guest
        await capsule.call("astrid:http/echo-resources@0.1.0#[method]counter.add", raw, 1)
    again: Any = await B.Counter.create(capsule, 2)
    assert await again.add(2) == 4
    await capsule.aclose()
