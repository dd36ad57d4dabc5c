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

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.tls import TLSStream

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
    release: anyio.Event = field(default_factory=anyio.Event)
    released: anyio.Event = field(default_factory=anyio.Event)

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://public.test:{self.port}{path}"


class _Corked(anyio.abc.ByteStream):
    """A transport whose writes wait in a buffer while corked (TLS records leave together)."""

    def __init__(self, inner: anyio.abc.SocketStream) -> None:
        self.inner = inner
        self.corked = False
        self._held = bytearray()

    async def send(self, item: bytes) -> None:
        if self.corked:
            self._held += item
            await anyio.lowlevel.checkpoint()
        else:
            await self.inner.send(item)

    async def uncork(self) -> None:
        self.corked = False
        held, self._held = bytes(self._held), bytearray()
        if held:
            await self.inner.send(held)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        return await self.inner.receive(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _serve(server: RawServer, answer: Callable[[bytes, bytes], Reply],
                 tls: ssl.SSLContext | None, sock: anyio.abc.SocketStream) -> None:
    server.connections += 1
    number = server.connections
    corked = _Corked(sock)
    stream: anyio.abc.ByteStream = corked
    buf = b""
    try:
        if tls is not None:
            stream = await TLSStream.wrap(corked, server_side=True, ssl_context=tls,
                                          standard_compatible=False)
        while True:
            while b"\r\n\r\n" not in buf:
                buf += await stream.receive(65536)
            head, buf = buf.split(b"\r\n\r\n", 1)
            method, target = head.split(b" ", 2)[:2]
            server.requests.append((number, method, target))
            reply = answer(method, target)
            corked.corked = True
            for piece in reply.now:
                await stream.send(piece)
            await corked.uncork()
            if reply.later:
                await server.release.wait()
                await stream.send(reply.later)
                server.released.set()
    except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError,
            ssl.SSLError, OSError):
        return
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(1):
            try:
                await stream.aclose()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass


@asynccontextmanager
async def raw_server(answer: Callable[[bytes, bytes], Reply],
                     tls: ssl.SSLContext | None = None) -> AsyncIterator[RawServer]:
    """Serve ``answer`` on 127.0.0.1 (an ephemeral port) until the block exits."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server = RawServer(port=int(listener.extra(anyio.abc.SocketAttribute.local_port)))
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, partial(_serve, server, answer, tls))
        try:
            yield server
        finally:
            group.cancel_scope.cancel()
