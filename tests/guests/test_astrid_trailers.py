"""`http-stream.trailers` and the origin headers, through the SDK 0.7.2 capsule
`rust-astrid-http-all` against a scripted loopback server (reached as `public.test`).

Its stream reading calls `trailers` after `read-chunk` returned the end: a chunked response's
trailer section comes back as `some(list)`, a response without one as `none` (upstream's WIT:
"`none` if the response carried no trailers"). A capsule setting `X-Forwarded-For` and the like
gets `invalid-request`, and nothing reaches the server.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.net.rawserver import RawServer, Reply, raw_server
from tests.support.astrid import trigger_http_all

pytestmark = pytest.mark.guest("rust-astrid-http-all")

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"


def stream_of(server: RawServer, **request: Any) -> dict[str, Any]:
    return {"request": {"url": server.url("/"), **request}, "options": {}}


@pytest.mark.parametrize(("wire", "expected"), [
    (CHUNKED + b"grpc-status: 0\r\nGrpc-Message: ok \xc3\xa9\r\n\r\n",
     {"ok": True, "trailers": [["grpc-status", "0"], ["Grpc-Message", "ok \u00e9"]]}),
    (CHUNKED + b"\r\n", None),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", None),
], ids=["trailers", "chunked-without", "content-length"])
async def test_trailers_after_the_end_of_the_body(wire: bytes, expected: Any) -> None:
    async with raw_server(lambda method, target: Reply([wire])) as server:
        report = await trigger_http_all("http_stream_start_opts", stream_of(server))
    assert report["body"]["text"] == "hello"
    assert report["read_error"] is None
    assert report["trailers"] == expected


async def test_oversized_trailers_end_the_body_with_a_protocol_error() -> None:
    big = b"".join(b"x-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70)) + b"\r\n"
    async with raw_server(lambda method, target: Reply([CHUNKED + big])) as server:
        report = await trigger_http_all("http_stream_start_opts", stream_of(server))
    assert report["read_error"] == {
        "code": "protocol", "detail": "protocol-error: response trailers over 65536 bytes"}
    assert report["trailers"] is None


@pytest.mark.parametrize("name", ["X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Via",
                                  "X-Real-IP"])
@pytest.mark.parametrize("action", ["http_request_opts", "http_stream_start_opts"])
async def test_a_capsule_cannot_claim_another_origin(name: str, action: str) -> None:
    async with raw_server(lambda method, target: Reply([CHUNKED + b"\r\n"])) as server:
        report = await trigger_http_all(action, stream_of(server, headers=[[name, "203.0.113.7"]]))
        assert server.requests == []
    assert report == {"ok": False, "error": {"code": "invalid-request"}}
