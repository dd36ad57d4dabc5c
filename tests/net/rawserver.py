"""A scripted HTTP/1.1 server on loopback that writes exactly the bytes a test gives it.

The h11 test server cannot misframe a response on a kept-alive connection; this one can.
``answer(method, target)`` returns a :class:`Reply`: the pieces to write at once (over TLS each
piece is its own record, and all of them leave in one TCP write, so they arrive together), and
optionally bytes to write later, once the test sets :attr:`RawServer.release`. The connection
then stays open for the next request, however the reply was framed.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import trio

__all__ = ["RawServer", "Reply", "raw_server"]


@dataclass
class Reply:
    """What the server writes for one request."""

    now: list[bytes]
    later: bytes = b""


@dataclass
class RawServer:
    """A running scripted server: its port and what it saw."""

    port: int
    connections: int = 0
    #: (connection number, method, target) of every request, in order.
    requests: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    #: Set by the test to let the ``later`` bytes go; set by the server once they went.
    release: trio.Event = field(default_factory=trio.Event)
    released: trio.Event = field(default_factory=trio.Event)

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://public.test:{self.port}{path}"


class _Corked(trio.abc.Stream):
    """A transport whose writes wait in a buffer while corked (TLS records leave together)."""

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        self.corked = False
        self._held = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.corked:
            self._held += data
            await trio.lowlevel.checkpoint()
        else:
            await self.inner.send_all(data)

    async def uncork(self) -> None:
        self.corked = False
        held, self._held = bytes(self._held), bytearray()
        await self.inner.send_all(held)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _serve(server: RawServer, answer: Callable[[bytes, bytes], Reply],
                 tls: ssl.SSLContext | None, sock: trio.SocketStream) -> None:
    server.connections += 1
    number = server.connections
    corked = _Corked(sock)
    stream: trio.abc.Stream = corked
    if tls is not None:
        stream = trio.SSLStream(corked, tls, server_side=True)
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = await stream.receive_some(65536)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            method, target = head.split(b" ", 2)[:2]
            server.requests.append((number, method, target))
            reply = answer(method, target)
            corked.corked = True
            for piece in reply.now:
                await stream.send_all(piece)
            await corked.uncork()
            if reply.later:
                await server.release.wait()
                await stream.send_all(reply.later)
                server.released.set()
    except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
        return
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            try:
                await stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


@asynccontextmanager
async def raw_server(answer: Callable[[bytes, bytes], Reply],
                     tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    """Serve ``answer`` on 127.0.0.1 (an ephemeral port) until the block exits."""
    async with trio.open_nursery() as nursery:
        server = RawServer(port=0)
        listeners = await nursery.start(partial(
            trio.serve_tcp, partial(_serve, server, answer, tls), 0, host="127.0.0.1"))
        server.port = int(listeners[0].socket.getsockname()[1])
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
