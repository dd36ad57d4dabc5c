"""The only way out of a capsule is `astrid:http`: WASI is linked with an empty configuration.

A Python capsule (guests/python/escape) tries a raw TCP connection to a loopback listener of
this test, a DNS lookup, reading a host file, listing the root directory, the environment and
its arguments. Every attempt must fail, and the listener must never see a connection.
"""

from __future__ import annotations

import json

import trio

from astrid_host._wasm._host import Host
from tests.conftest import built_guest


async def test_a_capsule_cannot_leave_through_wasi(host: Host) -> None:
    connections: list[bytes] = []

    async def record(stream: trio.SocketStream) -> None:
        connections.append(await stream.receive_some(100))

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, record, listeners)
        capsule = await host.load(built_guest("python-escape.wasm"))
        report = json.loads(await capsule.run(json.dumps({"port": port})))
        await trio.sleep(0.2)  # a connection that did get through would be recorded by now
        nursery.cancel_scope.cancel()
    assert connections == []
    for attempt in ("tcp-connect", "dns-lookup", "read-file", "list-root", "environment",
                    "arguments"):
        assert report[attempt]["ok"] is False, (attempt, report[attempt])
    # The socket attempt reached WASI and was refused there (not a missing codec or module).
    assert report["tcp-connect"]["error"].startswith("PermissionError")
    assert report["environment"]["value"] == [] and report["arguments"]["value"] == []
    await capsule.aclose()
