"""A kept-alive connection never answers a request with bytes sent for no request.

h11 keeps whatever arrives after a response's framing (past a ``Content-Length`` or chunked
body, or any body at all after a response to HEAD, 204 or 304) as the start of the next
response, and httpcore's pool reuses the connection: the next request would get the server's
extra bytes as its answer (a smuggled response). The engine closes such a connection instead
(docs/http.md, "Pooling"). Each case: ``/first`` is answered and followed at once by a whole
second response; ``/second`` must then get the real answer, on a fresh connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import Request
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm._host import Host
from tests.hostile._support import HOSTILE
from tests.net.rawserver import RawServer, Reply, raw_server
from tests.support.guard import TEST_RULES, loopback_as_public, make_client, test_resolver
from tests.support.paths import built_guest
from tests.support.tls import TestCA
from tests.support.values import outcome_of, wit_request

SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"
REAL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"

#: kind -> (method of /first, the response to /first, what the capsule gets for it)
FIRSTS: dict[str, tuple[str, bytes, tuple[int, bytes]]] = {
    "content-length": ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst",
                       (200, b"first")),
    "chunked": ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"5\r\nfirst\r\n0\r\n\r\n", (200, b"first")),
    "head": ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", (200, b"")),
    "204": ("GET", b"HTTP/1.1 204 No Content\r\n\r\n", (204, b"")),
    "304": ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", (304, b"")),
}


def smuggling(kind: str, *, records: int = 2) -> Any:
    """``/first`` answered by ``FIRSTS[kind]`` with SMUGGLED right behind it (in the same TCP
    write; over TLS as a second record, or in the same record when ``records`` is 1)."""
    first = FIRSTS[kind][1]

    def answer(method: bytes, target: bytes) -> Reply:
        if target == b"/first":
            return Reply([first, SMUGGLED] if records == 2 else [first + SMUGGLED])
        return Reply([REAL])
    return answer


def clean(method: bytes, target: bytes) -> Reply:
    return Reply([FIRSTS["content-length"][1] if target == b"/first" else REAL])


async def fetch(client: CapsuleHttp, method: str, url: str, streamed: bool) -> tuple[int, bytes]:
    req = Request(method, url)
    if not streamed:
        resp = await client.send(req)
        return resp.status, resp.body
    stream = await client.start(req)
    body = b""
    while (piece := await stream.read(3)) is not None:
        body += piece
    return stream.status, body


# --- through the engine ----------------------------------------------------------------------

@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("kind", list(FIRSTS))
async def test_bytes_after_a_response_never_answer_the_next_request(kind: str,
                                                                   streamed: bool) -> None:
    method, _, expected = FIRSTS[kind]
    async with raw_server(smuggling(kind)) as server:
        client = make_client()
        assert await fetch(client, method, server.url("/first"), streamed) == expected
        assert await fetch(client, "GET", server.url("/second"), streamed) == (200, b"real")
        assert server.connections == 2
        assert [(c, t) for c, _, t in server.requests] == [(1, b"/first"), (2, b"/second")]
        await client.aclose()


async def test_a_clean_response_keeps_its_connection() -> None:
    """The control: the scripted server does keep connections alive, and so does the engine."""
    async with raw_server(clean) as server:
        client = make_client()
        for streamed in (False, True):
            assert await fetch(client, "GET", server.url("/first"), streamed) == (200, b"first")
            assert await fetch(client, "GET", server.url("/second"), streamed) == (200, b"real")
        assert server.connections == 1
        await client.aclose()


async def test_bytes_after_a_redirect_never_answer_the_next_request() -> None:
    """A redirect's body is read and dropped so its connection can be reused: not this one."""
    def answer(method: bytes, target: bytes) -> Reply:
        if target == b"/first":
            return Reply([b"HTTP/1.1 302 Found\r\nLocation: /second\r\nContent-Length: 0\r\n\r\n",
                          SMUGGLED])
        return Reply([REAL])

    async with raw_server(answer) as server:
        client = make_client()
        assert await fetch(client, "GET", server.url("/first"), False) == (200, b"real")
        assert await fetch(client, "GET", server.url("/second"), False) == (200, b"real")
        await client.aclose()


@pytest.mark.parametrize("records", [0, 1, 2], ids=["clean", "same-record", "next-record"])
async def test_over_tls_bytes_held_by_the_tls_layer_count_too(tls_ca: TestCA,
                                                              records: int) -> None:
    """Over TLS the smuggled response can sit in the next record, already received from the
    socket but not decrypted: the socket is not readable, h11 has nothing, and still the
    connection holds it. (``clean``: without extra bytes the TLS connection is reused.)"""
    answer = clean if records == 0 else smuggling("content-length", records=records)
    async with raw_server(answer, tls=tls_ca.server_context()) as server:
        client = make_client(ssl_context=tls_ca.client_context())
        assert await fetch(client, "GET", server.url("/first", "https"), False) == (
            200, b"first")
        assert await fetch(client, "GET", server.url("/second", "https"), False) == (
            200, b"real")
        assert server.connections == (1 if records == 0 else 2)
        await client.aclose()


async def test_bytes_arriving_while_the_connection_is_idle_close_it() -> None:
    """The other way in: the extra bytes come after the response was read, while the connection
    waits in the pool. Its socket is then readable, which the pool checks before reuse (this
    pins that the metered stream passes that check on)."""
    def answer(method: bytes, target: bytes) -> Reply:
        if target == b"/first":
            return Reply([FIRSTS["content-length"][1]], later=SMUGGLED)
        return Reply([REAL])

    async with raw_server(answer) as server:
        client = make_client()
        assert await fetch(client, "GET", server.url("/first"), False) == (200, b"first")
        server.release.set()
        await server.released.wait()
        await _client_socket_readable(client)
        assert await fetch(client, "GET", server.url("/second"), False) == (200, b"real")
        assert server.connections == 2
        await client.aclose()


async def _client_socket_readable(client: CapsuleHttp) -> None:
    """Wait (a condition, not a time) until the pooled connection's socket has data."""
    (conn,) = client._transport.pool.connections
    sock = conn._connection._network_stream.get_extra_info("socket")  # type: ignore[attr-defined]
    with anyio.fail_after(10):
        await anyio.wait_readable(sock)


# --- through a guest -------------------------------------------------------------------------

@pytest.fixture
async def host(cache_dir: Path) -> AsyncIterator[Host]:
    async with Host(cache_dir=cache_dir, resolver=test_resolver(),
                    classifier=loopback_as_public(), limits=Limits()) as h:
        yield h


async def _guest_fetch(capsule: Any, server: RawServer, method: str, path: str,
                       streamed: bool) -> Any:
    req = wit_request(server.url(path), method=method.lower())
    if streamed:
        return await capsule.call("stream", req, 3)
    kind, resp = outcome_of(await capsule.call("fetch", req))
    assert kind == "ok", resp
    return resp.status, bytes(resp.body)


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("kind", list(FIRSTS))
async def test_a_guest_gets_the_real_second_response(host: Host, kind: str,
                                                     streamed: bool) -> None:
    method, _, expected = FIRSTS[kind]
    async with raw_server(smuggling(kind)) as server:
        capsule = await host.load(HOSTILE, policy=list(TEST_RULES), name=f"keepalive-{kind}")
        first = await _guest_fetch(capsule, server, method, "/first", streamed)
        second = await _guest_fetch(capsule, server, "GET", "/second", streamed)
        if streamed:  # the `stream` export answers the byte count
            assert (first, second) == (len(expected[1]), len(b"real"))
        else:
            assert (first, second) == (expected, (200, b"real"))
        assert server.connections == 2
        await capsule.aclose()


CONFORMANCE = "astrid:http/conformance-tests@0.1.0"


@pytest.mark.guest("conformance")
@pytest.mark.parametrize("lang", ["python", "rust", "go"])
async def test_a_conformance_guest_gets_the_real_second_response(host: Host, lang: str) -> None:
    capsule = await host.load(built_guest(f"{lang}-conformance.wasm"), policy=list(TEST_RULES),
                              name=f"{lang}-conformance")
    async with raw_server(smuggling("content-length")) as server:
        bodies = []
        for path in ("/first", "/second"):
            kind, resp = outcome_of(await capsule.call(f"{CONFORMANCE}#fetch",
                                                       wit_request(server.url(path))))
            assert kind == "ok", resp
            bodies.append(bytes(resp.body))
        assert bodies == [b"first", b"real"]
        assert server.connections == 2
