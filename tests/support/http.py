"""A real HTTP/1.1 server on AnyIO + h11 for tests (trio or asyncio): loopback, ephemeral port.

Usage (inside an async test, either backend)::

    async with run_http_server() as server:       # or the ``http_server`` fixture
        url = server.url("/echo")                 # http://127.0.0.1:<port>/echo
        ...
        server.requests[-1].headers               # what the client really sent

Each route is an ``async def handler(ex: Exchange)`` registered in :data:`ROUTES` (shared by
every server) or per server with :meth:`TestServer.add_route`. Routes take their parameters
from the query string. Built-in routes (``n`` = a byte count):

==========================  ==================================================================
``/echo``                   200, JSON ``{"method", "target", "headers": [[name, value]...],
                            "body_b64"}`` (names/values latin-1), echoes the binary body.
``/dup-headers``            200 with two ``Set-Cookie`` and a non-UTF-8 ``X-Bin`` value.
``/status?code=C``          empty response with status C.
``/bytes?n=N&chunk=K``      N bytes of :func:`pattern` with Content-Length, sent in K pieces.
``/chunked?n=N&chunk=K``    the same, chunked transfer encoding.
``/drain``                  reads any request body; answers JSON ``{"size", "sha256"}``.
``/slow-headers?delay=S``   sends the status line, waits S seconds, then the rest of the head.
``/never-headers``          reads the request, never answers.
``/trickle?n=N&interval=S`` Content-Length N, one byte every S seconds.
``/reset?n=N&after=A``      declares N bytes, sends A, then resets the connection (RST).
``/short?n=N&after=A``      declares N bytes, sends A, then closes cleanly (truncated body).
``/long?n=N&extra=E``       declares N bytes, sends N+E bytes.
``/redirect?to=U&code=C``   C (default 302) with ``Location: U`` (U may be relative).
``/chain?hops=K``           K relative redirects (``/chain?hops=K-1``...) then 200 ``done``.
``/loop``                   302 to itself, forever.
``/gzip?n=N`` ``/deflate?n=N``  N pattern bytes, content-coded (``raw=1``: raw deflate).
``/gzip-bomb?n=N``          N zero bytes gzip-compressed (tiny on the wire).
``/bad-framing``            two different Content-Length values (protocol error).
``/garbage``                a status line that is not HTTP.
``/many-headers?n=N``       N response header fields.
``/no-location?code=C``     a redirect status without a Location header.
==========================  ==================================================================
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import socket
import ssl
import struct
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.lowlevel
import h11
from anyio.streams.tls import TLSStream

__all__ = [
    "ROUTES",
    "Exchange",
    "ServerStream",
    "RecordedRequest",
    "TestServer",
    "pattern",
    "run_http_server",
    "silent_port",
]

#: Request bodies up to this size are kept in :attr:`RecordedRequest.body`.
KEEP_BODY_BYTES = 1024 * 1024


def pattern(n: int) -> bytes:
    """``n`` deterministic, non-repeating-looking bytes (what ``/bytes`` and friends send)."""
    block = hashlib.sha256(b"astrid").digest() * 128  # 4 KiB
    reps, rest = divmod(n, len(block))
    return block * reps + block[:rest]


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: bytes
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes | None  #: ``None`` when larger than KEEP_BODY_BYTES
    body_size: int
    body_sha256: str
    connection_id: int

    def header(self, name: bytes) -> list[bytes]:
        """All values of header ``name`` (case-insensitive), in order."""
        return [v for n, v in self.headers if n.lower() == name.lower()]


class ServerStream:
    """One accepted connection, as routes write to it (plain TCP or TLS, either backend)."""

    def __init__(self, inner: anyio.abc.ByteStream) -> None:
        self.inner = inner

    @property
    def socket(self) -> socket.socket | None:
        """The raw socket (to set options such as ``SO_LINGER``)."""
        sock: socket.socket | None = self.inner.extra(anyio.abc.SocketAttribute.raw_socket, None)
        return sock

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Send every byte of ``data``."""
        if data:
            await self.inner.send(bytes(data))

    async def receive_some(self, max_bytes: int = 65536) -> bytes:
        """Up to ``max_bytes``; ``b""`` once the peer closed its side."""
        try:
            return await self.inner.receive(max_bytes)
        except anyio.EndOfStream:
            return b""

    async def aclose(self) -> None:
        """Close the connection."""
        await self.inner.aclose()


@dataclass
class Exchange:
    """The handler's view of one request: what arrived and how to answer."""

    server: TestServer
    stream: ServerStream
    conn: h11.Connection
    request: RecordedRequest
    path: str
    query: dict[str, str]
    closed: bool = False

    def arg(self, name: str, default: float) -> float:
        """A numeric query parameter."""
        return float(self.query.get(name, default))

    def int_arg(self, name: str, default: int) -> int:
        """An integer query parameter."""
        return int(self.query.get(name, default))

    async def send_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        """Send the response head through h11 (it adds nothing but what h11 requires)."""
        await self.stream.send_all(self.conn.send(h11.Response(status_code=status,
                                                               headers=headers)))

    async def send_data(self, data: bytes) -> None:
        """Send a piece of the body."""
        await self.stream.send_all(self.conn.send(h11.Data(data=data)))

    async def end(self) -> None:
        """End the response."""
        await self.stream.send_all(self.conn.send(h11.EndOfMessage()))

    async def respond(self, status: int, body: bytes = b"",
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
        """A complete response with Content-Length."""
        hs = [*(headers or []), (b"content-length", str(len(body)).encode())]
        await self.send_head(status, hs)
        if body:
            await self.send_data(body)
        await self.end()

    async def raw(self, data: bytes) -> None:
        """Write bytes straight to the socket, bypassing h11 (the connection closes after)."""
        self.closed = True
        await self.stream.send_all(data)

    async def reset(self) -> None:
        """Abort the connection with a TCP RST."""
        self.closed = True
        sock = getattr(self.stream, "socket", None)
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


Handler = Callable[[Exchange], Awaitable[None]]

#: Routes shared by all servers: path → handler.
ROUTES: dict[str, Handler] = {}


def route(path: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        ROUTES[path] = fn
        return fn
    return register


@dataclass
class TestServer:
    """A running test server. ``url(path)`` builds URLs to it."""

    __test__ = False  # not a pytest test class

    host: str
    port: int
    scheme: str
    requests: list[RecordedRequest] = field(default_factory=list)
    connections: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    #: TLS only: the SNI name each handshake asked for (``None`` when the client sent none).
    sni: list[str | None] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> str:
        """``scheme://host:port/path``; ``host`` replaces the address (e.g. a test name)."""
        h = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{h}:{self.port}{path}"

    def add_route(self, path: str, handler: Handler) -> None:
        """Serve ``path`` with ``handler`` on this server only."""
        self.routes[path] = handler


@asynccontextmanager
async def run_http_server(*, ssl_context: ssl.SSLContext | None = None,
                          host: str = "127.0.0.1") -> AsyncIterator[TestServer]:
    """Run a server on ``host`` (loopback) and an ephemeral port until the block exits."""
    if not (host.startswith("127.") or host == "::1"):
        raise ValueError("test servers listen on loopback only")
    multi = await anyio.create_tcp_listener(local_host=host, local_port=0, backlog=128)
    listener = multi.listeners[0]  # one address literal: one listener
    server = TestServer(host=host, port=listener.extra(anyio.abc.SocketAttribute.local_port),
                        scheme="https" if ssl_context else "http")
    if ssl_context is not None:
        # Records SNI; note this sets the callback on the context that was passed in.
        def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
            server.sni.append(name)
        ssl_context.sni_callback = record_sni  # type: ignore[assignment]
    async with anyio.create_task_group() as group:
        group.start_soon(_accept_loop, server, listener, ssl_context, group)
        try:
            yield server
        finally:
            group.cancel_scope.cancel()
            # Shielded: an unshielded await here would raise the cancellation and hide the
            # exception that is leaving the block.
            with anyio.CancelScope(shield=True):
                await listener.aclose()


@asynccontextmanager
async def silent_port() -> AsyncIterator[int]:
    """A loopback port whose kernel completes TCP handshakes (the listen backlog) that nobody
    ever accepts, reads or answers. Not an accepting server: asyncio's transports read
    whatever arrives into memory, so a peer's writes would never block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        await anyio.lowlevel.checkpoint()
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


async def _accept_loop(server: TestServer, listener: anyio.abc.SocketListener,
                       ssl_context: ssl.SSLContext | None, group: anyio.abc.TaskGroup) -> None:
    while True:
        try:
            sock = await listener.accept()
        except anyio.ClosedResourceError:
            return  # the server is stopping (AnyIO reports the close, not the cancellation)
        server.connections += 1
        group.start_soon(_serve_connection, server, sock, ssl_context, server.connections)


async def _serve_connection(server: TestServer, sock: anyio.abc.SocketStream,
                            ssl_context: ssl.SSLContext | None, conn_id: int) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1024 * 1024)
    stream = ServerStream(sock)
    try:
        if ssl_context is not None:
            stream = ServerStream(await TLSStream.wrap(sock, server_side=True,
                                                       ssl_context=ssl_context,
                                                       standard_compatible=False))
        while True:
            req = await _next_event(stream, conn)
            if not isinstance(req, h11.Request):
                return
            body, size, digest = bytearray(), 0, hashlib.sha256()
            while True:
                ev = await _next_event(stream, conn)
                if isinstance(ev, h11.Data):
                    size += len(ev.data)
                    digest.update(ev.data)
                    if len(body) <= KEEP_BODY_BYTES:
                        body += ev.data
                elif isinstance(ev, h11.EndOfMessage):
                    break
                else:
                    return
            recorded = RecordedRequest(
                req.method, req.target, [(n, v) for n, v in req.headers.raw_items()],
                bytes(body) if size <= KEEP_BODY_BYTES else None, size, digest.hexdigest(),
                conn_id)
            server.requests.append(recorded)
            split = urllib.parse.urlsplit(req.target.decode("latin-1"))
            ex = Exchange(server, stream, conn, recorded, split.path,
                          dict(urllib.parse.parse_qsl(split.query)))
            handler = server.routes.get(split.path) or ROUTES.get(split.path, _not_found)
            await handler(ex)
            if ex.closed or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream,
            h11.ProtocolError, ssl.SSLError, OSError):
        return
    finally:
        with anyio.move_on_after(1, shield=True):
            try:
                await stream.aclose()
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass


async def _next_event(stream: ServerStream, conn: h11.Connection) -> object:
    while True:
        ev = conn.next_event()
        if ev is not h11.NEED_DATA:
            return ev
        data = await stream.receive_some(65536)
        conn.receive_data(data)


async def _not_found(ex: Exchange) -> None:
    await ex.respond(404, b"no such route\n")


# --- routes ---------------------------------------------------------------------------------

def _latin1(b: bytes) -> str:
    return b.decode("latin-1")


@route("/echo")
async def _echo(ex: Exchange) -> None:
    r = ex.request
    doc = {"method": _latin1(r.method), "target": _latin1(r.target),
           "headers": [[_latin1(n), _latin1(v)] for n, v in r.headers],
           "body_b64": base64.b64encode(r.body or b"").decode()}
    await ex.respond(200, json.dumps(doc).encode(), [(b"content-type", b"application/json")])


@route("/dup-headers")
async def _dup_headers(ex: Exchange) -> None:
    await ex.respond(200, b"ok", [(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
                                  (b"x-bin", b"\xff\xfe raw")])


@route("/status")
async def _status(ex: Exchange) -> None:
    await ex.respond(ex.int_arg("code", 200))


@route("/bytes")
async def _bytes(ex: Exchange) -> None:
    n, chunk = ex.int_arg("n", 1024), ex.int_arg("chunk", 65536)
    body = pattern(n)
    await ex.send_head(200, [(b"content-length", str(n).encode())])
    for i in range(0, n, chunk):
        await ex.send_data(body[i:i + chunk])
    await ex.end()


@route("/chunked")
async def _chunked(ex: Exchange) -> None:
    n, chunk = ex.int_arg("n", 1024), ex.int_arg("chunk", 1000)
    body = pattern(n)
    await ex.send_head(200, [(b"transfer-encoding", b"chunked")])
    for i in range(0, n, chunk):
        await ex.send_data(body[i:i + chunk])
    await ex.end()


@route("/drain")
async def _drain(ex: Exchange) -> None:
    doc = {"size": ex.request.body_size, "sha256": ex.request.body_sha256}
    await ex.respond(200, json.dumps(doc).encode())


@route("/slow-headers")
async def _slow_headers(ex: Exchange) -> None:
    ex.closed = True
    await ex.stream.send_all(b"HTTP/1.1 200 OK\r\n")
    await anyio.sleep(ex.arg("delay", 1.0))
    await ex.stream.send_all(b"content-length: 2\r\n\r\nok")


@route("/never-headers")
async def _never_headers(ex: Exchange) -> None:
    ex.closed = True
    await anyio.sleep_forever()


@route("/trickle")
async def _trickle(ex: Exchange) -> None:
    n, interval = ex.int_arg("n", 10), ex.arg("interval", 0.5)
    await ex.send_head(200, [(b"content-length", str(n).encode())])
    for b in pattern(n):
        await ex.send_data(bytes([b]))
        await anyio.sleep(interval)
    await ex.end()


@route("/reset")
async def _reset(ex: Exchange) -> None:
    n, after = ex.int_arg("n", 100_000), ex.int_arg("after", 1000)
    await ex.send_head(200, [(b"content-length", str(n).encode())])
    await ex.send_data(pattern(after))
    await anyio.sleep(0.05)
    await ex.reset()


@route("/short")
async def _short(ex: Exchange) -> None:
    n, after = ex.int_arg("n", 100), ex.int_arg("after", 10)
    await ex.raw(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % n + pattern(after))


@route("/long")
async def _long(ex: Exchange) -> None:
    n, extra = ex.int_arg("n", 10), ex.int_arg("extra", 10)
    await ex.raw(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % n + pattern(n + extra))


@route("/redirect")
async def _redirect(ex: Exchange) -> None:
    to = ex.query.get("to", "/echo").encode("utf-8")
    await ex.respond(ex.int_arg("code", 302), b"", [(b"location", to)])


@route("/chain")
async def _chain(ex: Exchange) -> None:
    hops = ex.int_arg("hops", 3)
    if hops <= 0:
        await ex.respond(200, b"done")
    else:
        await ex.respond(302, b"", [(b"location", b"/chain?hops=%d" % (hops - 1))])


@route("/loop")
async def _loop(ex: Exchange) -> None:
    await ex.respond(302, b"", [(b"location", b"/loop")])


@route("/no-location")
async def _no_location(ex: Exchange) -> None:
    await ex.respond(ex.int_arg("code", 302), b"moved somewhere")


@route("/gzip")
async def _gzip(ex: Exchange) -> None:
    body = gzip.compress(pattern(ex.int_arg("n", 10_000)))
    await ex.respond(200, body, [(b"content-encoding", b"gzip")])


@route("/deflate")
async def _deflate(ex: Exchange) -> None:
    data = pattern(ex.int_arg("n", 10_000))
    if ex.int_arg("raw", 0):
        obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = obj.compress(data) + obj.flush()
    else:
        body = zlib.compress(data)
    await ex.respond(200, body, [(b"content-encoding", b"deflate")])


_BOMBS: dict[int, bytes] = {}


@route("/gzip-bomb")
async def _gzip_bomb(ex: Exchange) -> None:
    n = ex.int_arg("n", 64 * 1024 * 1024)
    if n not in _BOMBS:
        obj = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zero = bytes(1024 * 1024)
        parts = [obj.compress(zero) for _ in range(n // len(zero))]
        _BOMBS[n] = b"".join(parts) + obj.compress(bytes(n % len(zero))) + obj.flush()
    await ex.respond(200, _BOMBS[n], [(b"content-encoding", b"gzip")])


@route("/bad-framing")
async def _bad_framing(ex: Exchange) -> None:
    await ex.raw(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!")


@route("/garbage")
async def _garbage(ex: Exchange) -> None:
    await ex.raw(b"SMTP ready, not HTTP at all\r\n\r\n")


@route("/many-headers")
async def _many_headers(ex: Exchange) -> None:
    n = ex.int_arg("n", 100)
    await ex.respond(200, b"ok", [(b"x-h%d" % i, b"v%d" % i) for i in range(n)])
