"""The only way out of a capsule is `astrid:http`: WASI is linked with an empty configuration.

A Python capsule (guests/python/escape) tries a raw TCP connection to a loopback listener of
this test, a DNS lookup, reading a host file, listing the root directory, the environment and
its arguments. Every attempt must fail, and the listener must never see a connection.
"""

from __future__ import annotations

import json

import anyio
import anyio.abc

from astrid_host._wasm._host import Host
from tests.support.paths import built_guest
from tests.support.timing import eventually


async def test_a_capsule_cannot_leave_through_wasi(host: Host) -> None:
    # Peers the listener accepted, in the kernel's (FIFO) order.
    accepted: list[tuple[str, int]] = []

    async def accept_one(stream: anyio.abc.SocketStream) -> None:
        accepted.append(stream.extra(anyio.abc.SocketAttribute.remote_address))
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as nursery:
        nursery.start_soon(listener.serve, accept_one)
        capsule = await host.load(built_guest("python-escape.wasm"))
        report = json.loads(await capsule.run(json.dumps({"port": port})))
        # A marker connection of the test's own, made after the capsule finished: once it is
        # accepted, any connection the capsule made was accepted before it (no guessed wait).
        marker = await anyio.connect_tcp("127.0.0.1", port)
        mine = marker.extra(anyio.abc.SocketAttribute.local_address)
        assert await eventually(lambda: mine in accepted)
        await marker.aclose()
        nursery.cancel_scope.cancel()
    assert accepted == [mine]
    for attempt in ("tcp-connect", "dns-lookup", "read-file", "list-root", "environment",
                    "arguments"):
        assert report[attempt]["ok"] is False, (attempt, report[attempt])
    # The socket attempt reached WASI and was refused there (not a missing codec or module).
    assert report["tcp-connect"]["error"].startswith("PermissionError")
    assert report["environment"]["value"] == [] and report["arguments"]["value"] == []
    await capsule.aclose()
