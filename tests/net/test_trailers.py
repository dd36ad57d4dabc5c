"""A chunked response's trailers reach the capsule's stream, bounded and checked; they never
change the body (its framing ended before them).

httpcore drops h11's ``EndOfMessage.headers``; ``_net/_h11_tap.py`` gets them through httpcore's
private state, so these tests are also the alarm for a new httpcore that changes it.
"""

from __future__ import annotations

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request
from astrid_host._net._h11_tap import self_check
from astrid_host._net._handles import IncomingStream
from tests.net.rawserver import Reply, raw_server
from tests.support.guard import make_client

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BODY = b"5\r\nhello\r\n6\r\n world\r\n0\r\n"
REAL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"


def serving(first: bytes) -> object:
    def answer(method: bytes, target: bytes) -> Reply:
        return Reply([first if target == b"/first" else REAL])
    return answer


async def read_all(stream: IncomingStream) -> bytes:
    body = b""
    while (piece := await stream.read(4)) is not None:
        assert stream.trailers() is None  # not before the end
        body += piece
    return body


def test_httpcore_still_has_what_the_trailer_tap_uses() -> None:
    assert self_check() == []


@pytest.mark.parametrize(("wire", "expected"), [
    (BODY + b"grpc-status: 0\r\nGrpc-Message: all good\r\n\r\n",
     (("grpc-status", b"0"), ("Grpc-Message", b"all good"))),
    (BODY + b"\r\n", ()),
    (BODY + b"x-sum: \xe9t\xe9\r\n\r\n", (("x-sum", b"\xe9t\xe9"),)),
], ids=["trailers", "none", "obs-text"])
async def test_trailers_of_a_chunked_body_after_its_end(wire: bytes,
                                                        expected: tuple[object, ...]) -> None:
    async with raw_server(serving(HEAD + wire)) as server:
        client = make_client()
        stream = await client.start(Request("GET", server.url("/first")))
        assert stream.trailers() is None
        assert await read_all(stream) == b"hello world"
        assert stream.trailers() == expected
        assert stream.trailers() == expected  # asked again, same answer
        await stream.aclose()
        assert stream.trailers() == expected  # still known once closed
        # The next response on the same connection starts without them.
        again = await client.start(Request("GET", server.url("/second")))
        assert await read_all(again) == b"real"
        assert again.trailers() == ()
        assert server.connections == 1
        await client.aclose()


async def test_a_body_closed_before_its_end_has_no_trailers() -> None:
    async with raw_server(serving(HEAD + BODY + b"grpc-status: 0\r\n\r\n")) as server:
        client = make_client()
        stream = await client.start(Request("GET", server.url("/first")))
        assert await stream.read(1) == b"h"
        await stream.aclose()
        assert stream.trailers() is None
        await client.aclose()


async def test_framing_trailers_change_nothing() -> None:
    """``Content-Length``, ``Transfer-Encoding`` and ``Content-Encoding`` in the trailer section
    are handed on as fields; the body and its headers stay what the framing said."""
    trailer = (b"Content-Length: 1\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
               b"\r\n")
    async with raw_server(serving(HEAD + BODY + trailer)) as server:
        client = make_client()
        stream = await client.start(Request("GET", server.url("/first")))
        assert await read_all(stream) == b"hello world"
        assert [n for n, _ in stream.trailers() or ()] == [
            "Content-Length", "Transfer-Encoding", "Content-Encoding"]
        assert all(n.lower() != "content-length" for n, _ in stream.headers)
        await stream.aclose()
        # The connection is reused and the next response is framed by its own head.
        again = await client.start(Request("GET", server.url("/second")))
        assert await read_all(again) == b"real"
        assert server.connections == 1
        await client.aclose()


@pytest.mark.parametrize(("trailer", "detail"), [
    (b"".join(b"x-%d: %s\r\n" % (i, b"v" * 60) for i in range(20)) + b"\r\n",
     "response trailers over 1024 bytes"),
    (b"".join(b"x-%d: v\r\n" % i for i in range(101)) + b"\r\n", "more than 100 trailer fields"),
], ids=["bytes", "count"])
@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "send"])
async def test_oversized_trailers_are_a_protocol_error(trailer: bytes, detail: str,
                                                       streamed: bool) -> None:
    """Trailers over the response-head limit (bytes) or over 100 fields end the body with
    ``protocol-error``, as an oversized head does."""
    async with raw_server(serving(HEAD + BODY + trailer)) as server:
        client = make_client(limits=Limits(max_response_header_bytes=1024))
        with pytest.raises(HttpError) as caught:
            if streamed:
                stream = await client.start(Request("GET", server.url("/first")))
                try:
                    await read_all(stream)
                finally:
                    assert stream.trailers() is None
                    await stream.aclose()
            else:
                await client.send(Request("GET", server.url("/first")))
        assert caught.value.code == caught.value.code.protocol_error(detail)
        await client.aclose()
