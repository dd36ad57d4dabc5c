"""Body limits, decoding, integrity and broken framing on real servers."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    DigestAlgorithm,
    HttpError,
    Integrity,
    Request,
    RequestOptions,
)
from astrid_host._net._client import CapsuleHttp
from tests.support.guard import make_client
from tests.support.http import TestServer, pattern

MiB = 1024 * 1024


@pytest.fixture
def client_limits() -> Limits:
    """The shared `client` fixture, with small body caps."""
    return Limits(max_response_bytes=MiB, max_stream_bytes=2 * MiB)


async def _code(client: CapsuleHttp, req: Request) -> Any:
    with pytest.raises(HttpError) as exc:
        await client.send(req)
    return exc.value.code


def _get(server: TestServer, path: str, **opts: Any) -> Request:
    return Request("GET", server.url(path, host="public.test"),
                   options=RequestOptions(**opts) if opts else None)


async def test_body_at_the_cap_is_returned_whole(client: CapsuleHttp,
                                                 http_server: TestServer) -> None:
    resp = await client.send(_get(http_server, f"/bytes?n={MiB}"))
    assert resp.body == pattern(MiB)


async def test_declared_length_over_the_cap_fails_before_reading(
        client: CapsuleHttp, http_server: TestServer) -> None:
    code = await _code(client, _get(http_server, f"/bytes?n={8 * MiB}"))
    assert code.case == "body-too-large" and code.payload == MiB


async def test_chunked_body_over_the_cap_stops_reading_early(
        client: CapsuleHttp, http_server: TestServer) -> None:
    stream = await client.start(_get(http_server, f"/chunked?n={64 * MiB}&chunk=65536",
                                     max_response_bytes=MiB))
    with pytest.raises(HttpError) as exc:
        while await stream.read(MiB) is not None:
            pass
    assert exc.value.code.case == "body-too-large" and exc.value.code.payload == MiB
    meta = stream.meta()
    assert meta.wire_bytes < 4 * MiB  # the rest of the 64 MiB was never read


async def test_max_response_bytes_option_tightens(client: CapsuleHttp,
                                                  http_server: TestServer) -> None:
    code = await _code(client, _get(http_server, "/bytes?n=2000", max_response_bytes=1000))
    assert code.case == "body-too-large" and code.payload == 1000
    loose = await _code(client, _get(http_server, f"/bytes?n={2 * MiB}",
                                     max_response_bytes=100 * MiB))
    assert loose.payload == MiB


async def test_request_body_over_the_cap_is_request_too_large(http_server: TestServer) -> None:
    client = make_client(limits=Limits(max_request_bytes=100))
    code = await _code(client, Request("POST", http_server.url("/drain", host="public.test"),
                                       body=b"x" * 101))
    assert code.case == "request-too-large" and code.payload == 100
    assert http_server.requests == []
    await client.aclose()


@pytest.mark.parametrize("path", ["/gzip?n=100000", "/deflate?n=100000",
                                  "/deflate?n=100000&raw=1"])
async def test_decompress_decodes_and_hides_the_coding(client: CapsuleHttp,
                                                       http_server: TestServer,
                                                       path: str) -> None:
    resp = await client.send(_get(http_server, path, decompress=True))
    assert resp.body == pattern(100000)
    assert not any(n == "content-encoding" for n, _ in resp.headers)
    assert http_server.requests[-1].header(b"accept-encoding") == [b"gzip, deflate"]


async def test_without_decompress_the_coded_body_is_returned_as_sent(
        client: CapsuleHttp, http_server: TestServer) -> None:
    resp = await client.send(_get(http_server, "/gzip?n=1000"))
    assert resp.body[:2] == b"\x1f\x8b" and ("content-encoding", b"gzip") in resp.headers
    assert http_server.requests[-1].header(b"accept-encoding") == []


async def test_gzip_bomb_is_body_too_large(client: CapsuleHttp,
                                           http_server: TestServer) -> None:
    code = await _code(client, _get(http_server, f"/gzip-bomb?n={64 * MiB}", decompress=True))
    assert code.case == "body-too-large" and code.payload == MiB


async def test_integrity_match_returns_the_body(client: CapsuleHttp,
                                                http_server: TestServer) -> None:
    digest = hashlib.sha384(pattern(5000)).digest()
    resp = await client.send(_get(http_server, "/bytes?n=5000", integrity=Integrity(
        DigestAlgorithm.SHA384, digest)))
    assert resp.body == pattern(5000)


async def test_integrity_mismatch_is_reported(client: CapsuleHttp,
                                              http_server: TestServer) -> None:
    code = await _code(client, _get(http_server, "/bytes?n=5000", integrity=Integrity(
        DigestAlgorithm.SHA256, hashlib.sha256(b"something else").digest())))
    assert code.case == "integrity-mismatch"


async def test_integrity_is_checked_on_the_decoded_body(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    digest = hashlib.sha256(pattern(3000)).digest()
    resp = await client.send(_get(http_server, "/gzip?n=3000", decompress=True,
                                  integrity=Integrity(DigestAlgorithm.SHA256, digest)))
    assert len(resp.body) == 3000


@pytest.mark.parametrize(("path", "case"), [
    ("/bad-framing", "protocol-error"),
    ("/garbage", "protocol-error"),
    ("/short?n=100&after=10", "protocol-error"),
    ("/reset?n=1000000&after=1000", "connection-failed"),
])
async def test_broken_responses_map_to_one_case(client: CapsuleHttp, http_server: TestServer,
                                                path: str, case: str) -> None:
    code = await _code(client, _get(http_server, path))
    assert code.case == case


async def test_body_longer_than_declared_is_cut_and_the_connection_not_reused(
        client: CapsuleHttp, http_server: TestServer) -> None:
    resp = await client.send(_get(http_server, "/long?n=10&extra=10"))
    assert resp.body == pattern(10)
    again = await client.send(_get(http_server, "/bytes?n=5"))
    assert again.body == pattern(5)
    assert http_server.connections == 2


async def test_many_response_headers_arrive(client: CapsuleHttp,
                                            http_server: TestServer) -> None:
    resp = await client.send(_get(http_server, "/many-headers?n=500"))
    assert sum(1 for n, _ in resp.headers if n.startswith("x-h")) == 500


async def test_response_head_over_the_cap_is_a_protocol_error(http_server: TestServer) -> None:
    client = make_client(limits=Limits(max_response_header_bytes=1000))
    code = await _code(client, _get(http_server, "/many-headers?n=200"))
    assert code.case == "protocol-error" and "1000" in code.payload
    await client.aclose()


async def test_head_of_a_body_over_the_cap_is_fine(client: CapsuleHttp,
                                                   http_server: TestServer) -> None:
    resp = await client.send(Request("HEAD", http_server.url(f"/bytes?n={8 * MiB}",
                                                             host="public.test")))
    assert resp.status == 200 and resp.body == b""
    assert ("content-length", str(8 * MiB).encode()) in resp.headers
