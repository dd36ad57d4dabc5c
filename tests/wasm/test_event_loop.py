"""The runtime on trio and asyncio: the loop it belongs to, and cancellation per backend.

Every async test of the suite runs on both backends (tests/conftest.py); these are the cases
that differ by backend or by event loop: no loop, another loop, asyncio's own cancellation.
"""

from __future__ import annotations

import asyncio
import time

import anyio
import anyio.to_thread
import pytest

from astrid_host import EventLoopError
from astrid_host._wasm._host import Host
from tests.support.fakes import FakeHttp
from tests.support.timing import PROMPT_S
from tests.support.wat import CLIENT_GUEST_WAT, PLAIN_GUEST_WAT

PLAIN = PLAIN_GUEST_WAT.encode()


def test_entering_a_host_without_an_event_loop_names_the_fix() -> None:
    entering = Host(use_cache=False).__aenter__()
    with pytest.raises(EventLoopError) as info:
        entering.send(None)  # what a sync caller driving the coroutine by hand does
    text = str(info.value)
    assert "needs a running trio or asyncio event loop" in text
    assert "trio.run" in text and "asyncio.run" in text
    assert "anyio.from_thread.run" in text


async def test_a_capsule_called_from_another_loop_names_the_fix(host: Host) -> None:
    capsule = await host.load(PLAIN)

    def from_a_worker_thread() -> str:
        with pytest.raises(EventLoopError) as info:
            asyncio.run(capsule.call("add", 1, 2))  # a loop of its own: not the host's
        return str(info.value)

    text = await anyio.to_thread.run_sync(from_a_worker_thread)
    assert "another event loop" in text and "anyio.from_thread.run" in text
    # The fix it names works, and the capsule is unharmed.
    assert await anyio.to_thread.run_sync(
        lambda: anyio.from_thread.run(capsule.call, "add", 1, 2)) == 3


async def test_a_worker_thread_without_a_loop_gets_the_same_error(host: Host) -> None:
    def enter_in_thread() -> None:
        Host(use_cache=False).__aenter__().send(None)

    with pytest.raises(EventLoopError):
        await anyio.to_thread.run_sync(enter_in_thread)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_asyncio_timeout_cancels_the_guests_io_and_propagates(
        host: Host, fake_http: FakeHttp) -> None:
    """asyncio only: its own cancellation (asyncio.timeout, task.cancel), not an AnyIO scope
    (those run on both backends in test_capsule.py). The guest sees `cancelled`, the caller
    gets the cancellation back (here as asyncio.timeout's TimeoutError), never a result."""
    capsule = await host.load(CLIENT_GUEST_WAT.encode())
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await capsule.call("send-url", "block:forever")
    assert time.monotonic() - start < PROMPT_S
    assert fake_http.cancelled_waits == 1
    assert await capsule.call("send-url", "https://a.test/") == 200  # same Store, healthy
    assert capsule.instantiations == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_task_cancel_reaches_the_caller_as_cancelled_error(
        host: Host, fake_http: FakeHttp) -> None:
    capsule = await host.load(CLIENT_GUEST_WAT.encode())
    results: list[object] = []

    async def call() -> None:
        results.append(await capsule.call("send-url", "block:forever"))

    task = asyncio.get_running_loop().create_task(call())
    await fake_http.blocked.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert results == [] and fake_http.cancelled_waits == 1

