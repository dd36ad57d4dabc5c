"""Hostile server behaviour tests/support/http.py lacks, added per server with ``add_route``.

==============================  =================================================================
``/head-drip?interval=S``       a status line, then one header byte every S seconds, forever.
``/head-flood``                 a status line, then header lines as fast as the socket takes
                                them, forever (never a blank line).
``/endless-chunked``            200 chunked, 64 KiB pieces forever.
``/endless-close``              200 with neither length nor chunking (ends at close), forever.
``/bad-chunk``                  200 chunked whose chunk-size line is not hex.
``/chunk-lies``                 a chunk announced as 16 bytes carrying 64 then garbage.
``/redirect-private``           302 to ``http://private.test:<port>/`` (resolves to 10.0.0.5).
``/redirect-metadata``          302 to ``http://169.254.169.254/latest/meta-data/``.
==============================  =================================================================

:func:`silent_tls_port` is a TCP listener that accepts and never speaks: a stalled TLS
handshake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from tests.support.http import Exchange, TestServer, pattern, silent_port

__all__ = ["add_hostile_routes", "silent_tls_port"]

_PIECE = pattern(64 * 1024)


async def _head_drip(ex: Exchange) -> None:
    ex.closed = True
    await ex.stream.send_all(b"HTTP/1.1 200 OK\r\n")
    interval = ex.arg("interval", 0.01)
    line = b"x-drip: " + b"d" * 60 + b"\r\n"
    while True:
        for byte in line:
            await ex.stream.send_all(bytes([byte]))
            await anyio.sleep(interval)


async def _head_flood(ex: Exchange) -> None:
    ex.closed = True
    await ex.stream.send_all(b"HTTP/1.1 200 OK\r\n")
    block = b"".join(b"x-flood-%d: %s\r\n" % (i, b"f" * 40) for i in range(256))
    while True:
        await ex.stream.send_all(block)


async def _endless_chunked(ex: Exchange) -> None:
    await ex.send_head(200, [(b"transfer-encoding", b"chunked")])
    while True:
        await ex.send_data(_PIECE)


async def _endless_close(ex: Exchange) -> None:
    ex.closed = True
    await ex.stream.send_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
    while True:
        await ex.stream.send_all(_PIECE)


async def _bad_chunk(ex: Exchange) -> None:
    await ex.raw(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"5\r\nhello\r\nzz-not-hex\r\nworld\r\n0\r\n\r\n")


async def _chunk_lies(ex: Exchange) -> None:
    await ex.raw(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                 b"10\r\n" + b"L" * 64 + b"\r\n0\r\n\r\n")


def _redirect_to(target: str) -> object:
    async def handler(ex: Exchange) -> None:
        to = target.replace("{port}", str(ex.server.port)).encode()
        await ex.respond(302, b"", [(b"location", to)])
    return handler


def add_hostile_routes(server: TestServer) -> TestServer:
    """Register the routes above on ``server`` (only this server sees them)."""
    server.add_route("/head-drip", _head_drip)
    server.add_route("/head-flood", _head_flood)
    server.add_route("/endless-chunked", _endless_chunked)
    server.add_route("/endless-close", _endless_close)
    server.add_route("/bad-chunk", _bad_chunk)
    server.add_route("/chunk-lies", _chunk_lies)
    server.add_route("/redirect-private", _redirect_to("http://private.test:{port}/"))  # type: ignore[arg-type]
    server.add_route("/redirect-metadata",  # type: ignore[arg-type]
                     _redirect_to("http://169.254.169.254/latest/meta-data/"))
    return server


@asynccontextmanager
async def silent_tls_port() -> AsyncIterator[int]:
    """A loopback port that accepts TCP connections and never answers the TLS ClientHello."""
    async with silent_port() as port:
        yield port
