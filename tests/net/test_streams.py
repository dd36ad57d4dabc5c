"""Streamed responses and streamed uploads: chunked reads, the open-stream cap, cancellation."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio
import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request, RequestOptions
from astrid_host._net._client import CapsuleHttp, IncomingStream
from tests.support.guard import aclose_during, make_client
from tests.support.http import TestServer, pattern, silent_port
from tests.support.timing import PROMPT_S

MiB = 1024 * 1024


async def _read_all(stream: IncomingStream, size: int) -> bytes:
    parts = []
    while (piece := await stream.read(size)) is not None:
        assert 0 < len(piece) <= size
        parts.append(piece)
    return b"".join(parts)


def _get(server: TestServer, path: str) -> Request:
    return Request("GET", server.url(path, host="public.test"))


async def test_start_gives_the_head_then_the_body_in_pieces(client: CapsuleHttp,
                                                           http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, "/chunked?n=100000&chunk=7000"))
    assert stream.status == 200
    assert [v for n, v in stream.headers if n.lower() == "transfer-encoding"] == [b"chunked"]
    assert stream.meta().redirect_count == 0
    assert await _read_all(stream, 4096) == pattern(100000)
    assert await stream.read(10) is None
    assert stream.meta().wire_bytes > 100000
    assert client.open_streams == 0


async def test_stream_follows_redirects_before_the_head(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, "/chain?hops=2"))
    assert stream.meta().redirect_count == 2
    assert await _read_all(stream, 100) == b"done"


async def test_open_stream_cap_really_fires(client: CapsuleHttp,
                                            http_server: TestServer) -> None:
    streams = [await client.start(_get(http_server, "/bytes?n=10")) for _ in range(4)]
    with pytest.raises(HttpError) as exc:
        await client.start(_get(http_server, "/bytes?n=10"))
    assert exc.value.code.case == "stream-limit" and exc.value.code.payload == 4
    with pytest.raises(HttpError) as up:
        await client.upload(Request("POST", http_server.url("/drain", host="public.test")))
    assert up.value.code.case == "stream-limit"
    # Finishing one body frees its slot; closing another frees one too.
    assert await _read_all(streams[0], 100) == pattern(10)
    await streams[1].aclose()
    again = [await client.start(_get(http_server, "/bytes?n=10")) for _ in range(2)]
    assert client.open_streams == 4
    for s in streams[2:] + again:
        await s.aclose()
    assert client.open_streams == 0


async def test_configured_stream_cap_counts_uploads(http_server: TestServer) -> None:
    client = make_client(limits=Limits(max_open_streams=1))
    up = await client.upload(Request("POST", http_server.url("/drain", host="public.test")))
    with pytest.raises(HttpError) as exc:
        await client.start(_get(http_server, "/bytes?n=1"))
    assert exc.value.code.payload == 1
    await up.write(b"abc")
    stream = await up.finish_streaming()
    assert client.open_streams == 1  # the slot moved from the upload to the stream
    assert json.loads(await _read_all(stream, 1000))["size"] == 3
    assert client.open_streams == 0
    await client.aclose()


async def test_closing_an_unread_stream_closes_its_connection(
        client: CapsuleHttp, http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, f"/bytes?n={8 * MiB}"))
    await stream.read(10)
    await stream.aclose()
    with pytest.raises(HttpError) as exc:
        await stream.read(10)
    assert exc.value.code.case == "closed"
    await client.send(_get(http_server, "/bytes?n=1"))
    assert http_server.connections == 2


async def test_aclose_cancels_an_in_flight_read_promptly(http_server: TestServer) -> None:
    client = make_client()
    stream = await client.start(_get(http_server, "/trickle?n=100&interval=60"))

    async def reader() -> None:
        await stream.read(1)  # first byte comes at once
        await stream.read(1)  # then a minute of silence

    outcome, took = await aclose_during(client, reader)
    assert outcome == ["cancelled"]
    assert took < PROMPT_S
    with pytest.raises(HttpError) as later:
        await stream.read(1)
    assert later.value.code.case == "closed"


async def test_upload_of_64_mib_goes_through_in_pieces(client: CapsuleHttp,
                                                       http_server: TestServer) -> None:
    up = await client.upload(Request("PUT", http_server.url("/drain", host="public.test")))
    digest = hashlib.sha256()
    piece = pattern(MiB)
    for _ in range(64):
        await up.write(piece)
        digest.update(piece)
    resp = await up.finish()
    doc = json.loads(resp.body)
    assert doc == {"size": 64 * MiB, "sha256": digest.hexdigest()}
    assert http_server.requests[-1].header(b"transfer-encoding") == [b"chunked"]
    assert client.open_streams == 0


async def test_upload_over_the_limit_is_request_too_large(http_server: TestServer) -> None:
    client = make_client(limits=Limits(max_upload_bytes=1000))
    up = await client.upload(Request("POST", http_server.url("/drain", host="public.test")))
    await up.write(b"x" * 1000)
    with pytest.raises(HttpError) as exc:
        await up.write(b"x")
    assert exc.value.code.case == "request-too-large" and exc.value.code.payload == 1000
    with pytest.raises(HttpError) as later:
        await up.finish()
    assert later.value.code.case == "closed"
    assert client.open_streams == 0
    await client.aclose()


@pytest.mark.parametrize("code", [307, 308])
async def test_307_308_on_a_streamed_upload_is_returned_not_followed(
        client: CapsuleHttp, http_server: TestServer, code: int) -> None:
    up = await client.upload(Request("POST", http_server.url(
        f"/redirect?to=/drain&code={code}", host="public.test")))
    await up.write(b"body")
    resp = await up.finish()
    assert resp.status == code and resp.meta.redirect_count == 0
    assert len(http_server.requests) == 1


async def test_303_after_an_upload_is_followed_with_get(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    up = await client.upload(Request("POST", http_server.url(
        "/redirect?to=/echo&code=303", host="public.test")))
    await up.write(b"body")
    resp = await up.finish()
    assert resp.status == 200 and resp.meta.redirect_count == 1
    assert http_server.requests[-1].method == b"GET"


async def test_upload_to_a_denied_url_fails_at_once(client: CapsuleHttp) -> None:
    with pytest.raises(HttpError) as exc:
        await client.upload(Request("POST", "http://example.com/"))
    assert exc.value.code.case == "denied"
    assert client.open_streams == 0


async def test_upload_with_a_body_is_invalid(client: CapsuleHttp,
                                             http_server: TestServer) -> None:
    with pytest.raises(HttpError) as exc:
        await client.upload(Request("POST", http_server.url("/drain", host="public.test"),
                                    body=b"x"))
    assert exc.value.code.case == "invalid-request"


async def test_upload_to_a_refused_port_reports_on_write_or_finish(
        client: CapsuleHttp) -> None:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    up = await client.upload(Request("POST", f"http://public.test:{port}/"))
    with pytest.raises(HttpError) as exc:
        await up.write(b"x")
        await up.finish()
    assert exc.value.code.case == "connection-refused"
    assert client.open_streams == 0


async def test_aborted_upload_frees_its_slot(client: CapsuleHttp,
                                             http_server: TestServer) -> None:
    up = await client.upload(Request("POST", http_server.url("/drain", host="public.test")))
    await up.write(b"partial")
    await up.aclose()
    assert client.open_streams == 0
    with pytest.raises(HttpError) as exc:
        await up.write(b"more")
    assert exc.value.code.case == "closed"


async def test_read_of_zero_bytes_returns_empty(client: CapsuleHttp,
                                                http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, "/bytes?n=3"))
    assert await stream.read(0) == b""
    assert await _read_all(stream, 2) == pattern(3)


async def test_streamed_gzip_is_decoded(client: CapsuleHttp, http_server: TestServer) -> None:
    stream = await client.start(Request("GET", http_server.url("/gzip?n=50000",
                                                               host="public.test"),
                                        options=RequestOptions(decompress=True)))
    assert await _read_all(stream, 1000) == pattern(50000)


async def test_stream_meta_reports_head_time_and_growing_wire_bytes(
        client: CapsuleHttp, http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, "/bytes?n=300000"))
    before = stream.meta().wire_bytes
    await _read_all(stream, 65536)
    after: Any = stream.meta()
    assert after.wire_bytes > before and after.wire_bytes >= 300000


async def test_streamed_integrity_mismatch_fails_the_last_read(
        client: CapsuleHttp, http_server: TestServer) -> None:
    from astrid_host._core._model import DigestAlgorithm, Integrity
    stream = await client.start(Request(
        "GET", http_server.url("/bytes?n=5000", host="public.test"),
        options=RequestOptions(integrity=Integrity(DigestAlgorithm.SHA256, b"\x00" * 32))))
    got = b""
    with pytest.raises(HttpError) as exc:
        while (piece := await stream.read(1000)) is not None:
            got += piece
    assert exc.value.code.case == "integrity-mismatch"
    assert got == pattern(5000)  # the body was delivered; the verdict comes at its end
    assert client.open_streams == 0


async def test_stream_cap_holds_under_concurrent_starts(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    """Ten starts at once against a cap of four: exactly four streams, six stream-limit."""
    opened: list[IncomingStream] = []
    refused: list[str] = []

    async def one() -> None:
        try:
            opened.append(await client.start(_get(http_server, "/slow-headers?delay=0.1")))
        except HttpError as e:
            refused.append(e.code.case)

    async with anyio.create_task_group() as n:
        for _ in range(10):
            n.start_soon(one)
    assert len(opened) == 4 and refused == ["stream-limit"] * 6
    for s in opened:
        await s.aclose()


async def test_aclose_cancels_an_upload_blocked_on_a_server_that_never_reads() -> None:
    client = make_client()
    outcome: list[str] = []
    async with silent_port() as port, anyio.create_task_group() as n:
        up = await client.upload(Request("PUT", f"http://public.test:{port}/"))

        async def writer() -> None:
            try:
                for _ in range(256):  # far more than the socket buffers hold
                    await up.write(bytes(MiB))
                outcome.append("all written?!")
            except HttpError as e:
                outcome.append(e.code.case)

        n.start_soon(writer)
        await anyio.wait_all_tasks_blocked()  # the writer waits on full buffers
        t0 = anyio.current_time()
        await client.aclose()
        assert anyio.current_time() - t0 < PROMPT_S  # the write would wait until 120 s total
        n.cancel_scope.cancel()
    assert outcome == ["cancelled"]
    assert client.open_streams == 0
