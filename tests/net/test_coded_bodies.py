"""Content-coded bodies on the wire: every gzip member comes back, anything else that follows
fails, and the host's decoding of a stream is capped by ratio and by size (docs/http.md,
"Decompression"). Each case runs through ``send`` and through a stream, on the engine and
through the hand-written WAT guest; the main ones also through every built conformance guest.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from astrid_host._core._limits import Limits, MiB
from astrid_host._core._model import HttpError, Request, RequestOptions
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm._host import Host
from tests.hostile._support import HOSTILE
from tests.support.guard import TEST_RULES, loopback_as_public, make_client, test_resolver
from tests.support.http import Exchange, TestServer, pattern, run_http_server
from tests.support.paths import built_guest
from tests.support.values import outcome_of, wit_request
from tests.support.wat import ERROR_CASES

A = pattern(200_000)
B = bytes(range(256)) * 300


def _raw(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


#: case -> (Content-Encoding, body on the wire, the decoded body or the error-code case)
CODED: dict[str, tuple[bytes, bytes, bytes | str]] = {
    "gzip-two-members": (b"gzip", gzip.compress(A) + gzip.compress(B), A + B),
    "gzip-three-members": (b"gzip", gzip.compress(A) + gzip.compress(b"") + gzip.compress(B),
                           A + B),
    "gzip-trailing-garbage": (b"gzip", gzip.compress(A) + b"trailing garbage",
                              "protocol-error"),
    "gzip-second-member-cut": (b"gzip", gzip.compress(A) + gzip.compress(B)[:-6],
                               "protocol-error"),
    "zlib-trailing-byte": (b"deflate", zlib.compress(A) + b"!", "protocol-error"),
    "zlib-two-streams": (b"deflate", zlib.compress(A) + zlib.compress(B), "protocol-error"),
    "raw-deflate-trailing-byte": (b"deflate", _raw(A) + b"!", "protocol-error"),
    "raw-deflate-cut": (b"deflate", _raw(A)[:-3], "protocol-error"),
}


async def _coded(ex: Exchange) -> None:
    """``/coded?case=C``: CODED[C] with Content-Length, in pieces of 1000 bytes."""
    encoding, wire, _ = CODED[ex.query["case"]]
    await ex.send_head(200, [(b"content-encoding", encoding),
                             (b"content-length", str(len(wire)).encode())])
    for i in range(0, len(wire), 1000):
        await ex.send_data(wire[i:i + 1000])
    await ex.end()


async def _bare_head(ex: Exchange) -> None:
    """``/bare?code=S&length=N``: status S, gzip-coded, Content-Length N, no body byte."""
    await ex.send_head(ex.int_arg("code", 200), [
        (b"content-encoding", b"gzip"), (b"content-length", ex.query.get("length", "0").encode())])
    await ex.end()


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as s:
        s.add_route("/coded", _coded)
        s.add_route("/bare", _bare_head)
        yield s


def _url(server: TestServer, path: str) -> str:
    return server.url(path, host="public.test")


async def _engine(client: CapsuleHttp, req: Request, streamed: bool) -> bytes | str:
    try:
        if not streamed:
            return (await client.send(req)).body
        stream = await client.start(req)
        body = bytearray()
        while (piece := await stream.read(65536)) is not None:
            body += piece
        return bytes(body)
    except HttpError as e:
        return e.code.case


# --- through the engine ----------------------------------------------------------------------

@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("case", list(CODED))
async def test_coded_bodies_through_the_engine(server: TestServer, case: str,
                                               streamed: bool) -> None:
    client = make_client()
    req = Request("GET", _url(server, f"/coded?case={case}"),
                  options=RequestOptions(decompress=True))
    assert await _engine(client, req, streamed) == CODED[case][2]
    assert client.open_streams == 0
    await client.aclose()


@pytest.mark.parametrize(("method", "path"), [("HEAD", "/bare?length=30"),
                                              ("GET", "/bare?code=204"),
                                              ("GET", "/bare?code=304&length=30"),
                                              ("GET", "/bare?length=0")])
async def test_a_coded_response_without_body_bytes_is_an_empty_body(
        server: TestServer, method: str, path: str) -> None:
    """HEAD, 204 and 304 have no body to decode (their headers stay as sent); a 200 with no
    coded byte at all is an empty body, not a truncated stream."""
    client = make_client()
    resp = await client.send(Request(method, _url(server, path),
                                     options=RequestOptions(decompress=True)))
    assert resp.body == b""
    if resp.status != 200:
        assert ("content-encoding", b"gzip") in resp.headers
    await client.aclose()


async def test_a_streamed_bomb_stops_at_the_ratio(server: TestServer) -> None:
    """64 MiB of zeros is ~64 KB gzipped (~1000:1). A stream decodes at most 100 times the
    coded bytes received (the default), instead of the whole 64 MiB under max_stream_bytes."""
    client = make_client()
    req = Request("GET", _url(server, f"/gzip-bomb?n={64 * MiB}"),
                  options=RequestOptions(decompress=True))
    stream = await client.start(req)
    total = 0
    with pytest.raises(HttpError) as exc:
        while (piece := await stream.read(MiB)) is not None:
            total += len(piece)
    coded = len(gzip.compress(bytes(64 * MiB), compresslevel=9))
    assert exc.value.code.case == "body-too-large"
    assert MiB <= exc.value.code.payload <= 100 * (coded + 64 * 1024)
    assert total <= exc.value.code.payload
    await client.aclose()


async def test_the_ratio_is_for_streams_only(server: TestServer) -> None:
    """A buffered body has its own small cap (10 MiB): a highly compressible one within it
    is returned whole."""
    client = make_client()
    resp = await client.send(Request("GET", _url(server, f"/gzip-bomb?n={8 * MiB}"),
                                     options=RequestOptions(decompress=True)))
    assert resp.body == bytes(8 * MiB)
    await client.aclose()


async def test_a_decoded_stream_stops_at_max_decoded_stream_bytes(server: TestServer) -> None:
    client = make_client(limits=Limits(max_decoded_stream_bytes=2 * MiB,
                                       max_decompression_ratio=10_000))
    decoded = Request("GET", _url(server, f"/gzip?n={3 * MiB}"),
                      options=RequestOptions(decompress=True))
    assert await _engine(client, decoded, True) == "body-too-large"
    # The cap is on what the host decodes: the same bytes uncoded stream whole.
    plain = Request("GET", _url(server, f"/bytes?n={3 * MiB}"),
                    options=RequestOptions(decompress=True))
    assert await _engine(client, plain, True) == pattern(3 * MiB)
    await client.aclose()


# --- through a guest -------------------------------------------------------------------------

@pytest.fixture
async def host(cache_dir: Path) -> AsyncIterator[Host]:
    async with Host(cache_dir=cache_dir, resolver=test_resolver(),
                    classifier=loopback_as_public(), limits=Limits()) as h:
        yield h


async def _guest(capsule: Any, url: str, streamed: bool) -> bytes | int | str:
    """send: the body or the error case; stream: the byte count or the error case."""
    req = wit_request(url, options={"decompress": True})
    if streamed:
        n = await capsule.call("stream", req, 65536)
        return n if n < 1000 or n >= 2100 else ERROR_CASES[n % 1000]
    kind, resp = outcome_of(await capsule.call("fetch", req))
    return bytes(resp.body) if kind == "ok" else kind


@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("case", list(CODED))
async def test_coded_bodies_through_a_guest(host: Host, server: TestServer, case: str,
                                            streamed: bool) -> None:
    capsule = await host.load(HOSTILE, policy=list(TEST_RULES), name=f"coded-{case}")
    expected = CODED[case][2]
    if streamed and isinstance(expected, bytes):
        expected = len(expected)  # type: ignore[assignment]
    assert await _guest(capsule, _url(server, f"/coded?case={case}"), streamed) == expected
    await capsule.aclose()


async def test_a_guest_streaming_a_bomb_gets_body_too_large(host: Host,
                                                            server: TestServer) -> None:
    capsule = await host.load(HOSTILE, policy=list(TEST_RULES), name="bomb")
    got = await _guest(capsule, _url(server, f"/gzip-bomb?n={64 * MiB}"), True)
    assert got == "body-too-large"
    await capsule.aclose()


# --- through the conformance guests (python, rust, go) -----------------------------------

CONFORMANCE = "astrid:http/conformance-tests@0.1.0"


@pytest.fixture(params=["python", "rust", "go"])
async def conformance(request: pytest.FixtureRequest, host: Host) -> Any:
    path = built_guest(f"{request.param}-conformance.wasm")
    return await host.load(path, policy=list(TEST_RULES), name=f"{request.param}-conformance")


@pytest.mark.guest("conformance")
@pytest.mark.parametrize("streamed", [False, True], ids=["send", "stream"])
@pytest.mark.parametrize("case", ["gzip-two-members", "gzip-trailing-garbage",
                                  "gzip-second-member-cut", "zlib-trailing-byte",
                                  "raw-deflate-trailing-byte"])
async def test_coded_bodies_through_the_conformance_guests(
        conformance: Any, server: TestServer, case: str, streamed: bool) -> None:
    req = wit_request(_url(server, f"/coded?case={case}"), options={"decompress": True})
    expected = CODED[case][2]
    if streamed:
        kind, report = outcome_of(await conformance.call(f"{CONFORMANCE}#stream-all", req,
                                                         65536))
        got: Any = getattr(report, "total-bytes") if kind == "ok" else kind
        assert got == (len(expected) if isinstance(expected, bytes) else expected)
    else:
        kind, resp = outcome_of(await conformance.call(f"{CONFORMANCE}#fetch", req))
        assert (bytes(resp.body) if kind == "ok" else kind) == expected


@pytest.mark.guest("conformance")
@pytest.mark.parametrize("lang", ["python", "rust", "go"])
async def test_a_conformance_guest_streaming_a_bomb_gets_body_too_large(
        host: Host, server: TestServer, lang: str) -> None:
    # A ratio of 10 stops this bomb at the free first MiB: the interpreted python guest
    # hashes every byte it reads, and 6.4 MiB (the default ratio's stop) exceeds its fuel.
    capsule = await host.load(built_guest(f"{lang}-conformance.wasm"), policy=list(TEST_RULES),
                              name=f"{lang}-bomb", limits=Limits(max_decompression_ratio=10))
    req = wit_request(_url(server, f"/gzip-bomb?n={64 * MiB}"), options={"decompress": True})
    kind, payload = outcome_of(await capsule.call(f"{CONFORMANCE}#stream-all", req, 65536))
    assert (kind, payload) == ("body-too-large", MiB)
