"""Per-phase timeouts: connect, first-byte, between-bytes, total; options only tighten.

Real loopback servers and real (short) time: every test ends in well under a second on an idle
machine. Each checks the phase that fired, that it fired no earlier than its timeout (less 10 ms
of float rounding: the timers are trio's, they never fire early) and before PROMPT_S, which is
long before the wrong outcome: a default 30 s timeout, or a server delay of 60 s
(tests/support/timing.py).
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request, RequestOptions, TimeoutPhase
from astrid_host._net._client import CapsuleHttp
from tests.support.guard import make_client
from tests.support.http import TestServer, silent_port
from tests.support.timing import PROMPT_S
from tests.support.tls import TestCA


async def _timed(client: CapsuleHttp, req: Request) -> tuple[Any, float]:
    t0 = anyio.current_time()
    with pytest.raises(HttpError) as exc:
        await client.send(req)
    return exc.value.code, anyio.current_time() - t0


async def test_server_that_never_sends_headers_ends_in_first_byte(
        client: CapsuleHttp, http_server: TestServer) -> None:
    code, took = await _timed(client, Request(
        "GET", http_server.url("/never-headers", host="public.test"),
        options=RequestOptions(first_byte_timeout_ms=200)))
    assert code.case == "timeout" and code.payload is TimeoutPhase.FIRST_BYTE
    assert 0.19 <= took < PROMPT_S


async def test_head_trickled_slowly_still_ends_in_first_byte(
        client: CapsuleHttp, http_server: TestServer) -> None:
    code, took = await _timed(client, Request(
        "GET", http_server.url("/slow-headers?delay=60", host="public.test"),
        options=RequestOptions(first_byte_timeout_ms=250)))
    assert code.payload is TimeoutPhase.FIRST_BYTE
    assert 0.24 <= took < PROMPT_S


async def test_body_trickle_ends_in_between_bytes(client: CapsuleHttp,
                                                  http_server: TestServer) -> None:
    code, took = await _timed(client, Request(
        "GET", http_server.url("/trickle?n=5&interval=0.6", host="public.test"),
        options=RequestOptions(between_bytes_timeout_ms=200)))
    assert code.case == "timeout" and code.payload is TimeoutPhase.BETWEEN_BYTES
    assert 0.19 <= took < PROMPT_S


async def test_steady_but_slow_body_ends_in_total(client: CapsuleHttp,
                                                  http_server: TestServer) -> None:
    code, took = await _timed(client, Request(
        "GET", http_server.url("/trickle?n=50&interval=0.05", host="public.test"),
        options=RequestOptions(total_timeout_ms=300, between_bytes_timeout_ms=1000)))
    assert code.payload is TimeoutPhase.TOTAL
    assert 0.29 <= took < PROMPT_S


async def test_options_cannot_loosen_the_capsule_limit(http_server: TestServer) -> None:
    client = make_client(limits=Limits(first_byte_timeout_s=0.2))
    code, took = await _timed(client, Request(
        "GET", http_server.url("/never-headers", host="public.test"),
        options=RequestOptions(first_byte_timeout_ms=60_000)))
    assert code.payload is TimeoutPhase.FIRST_BYTE and 0.19 <= took < PROMPT_S
    await client.aclose()


async def test_tls_handshake_that_never_answers_ends_in_connect(tls_ca: TestCA) -> None:
    async with silent_port() as port:
        client = make_client(ssl_context=tls_ca.client_context())
        code, took = await _timed(client, Request(
            "GET", f"https://public.test:{port}/",
            options=RequestOptions(connect_timeout_ms=200)))
        assert code.case == "timeout" and code.payload is TimeoutPhase.CONNECT
        assert 0.19 <= took < PROMPT_S
        await client.aclose()


async def test_streamed_read_that_stalls_ends_in_between_bytes(
        client: CapsuleHttp, http_server: TestServer) -> None:
    stream = await client.start(Request(
        "GET", http_server.url("/trickle?n=3&interval=0.5", host="public.test"),
        options=RequestOptions(between_bytes_timeout_ms=150)))
    assert stream.status == 200
    with pytest.raises(HttpError) as exc:
        while await stream.read(10) is not None:
            pass
    assert exc.value.code.payload is TimeoutPhase.BETWEEN_BYTES
    with pytest.raises(HttpError) as later:
        await stream.read(10)
    assert later.value.code.case == "closed"
    assert client.open_streams == 0


async def test_first_byte_clock_starts_after_the_request_body(
        client: CapsuleHttp, http_server: TestServer) -> None:
    """A slow-to-write upload does not eat into the first-byte budget."""
    up = await client.upload(Request("POST", http_server.url("/drain", host="public.test"),
                                     options=RequestOptions(first_byte_timeout_ms=300)))
    for _ in range(4):
        await up.write(b"x" * 1000)
        await anyio.sleep(0.15)
    resp = await up.finish()
    assert resp.status == 200
