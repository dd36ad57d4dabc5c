"""Hostile bytes from a server: the engine returns a Response or one HttpError, nothing else."""

from __future__ import annotations

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, HttpError, Request, RequestOptions
from tests.support.guard import make_client
from tests.support.http import Exchange, run_http_server

# Plausible-looking pieces so examples get past the status line often enough to matter.
_PIECES = st.sampled_from([
    b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 302 Found\r\n", b"HTTP/1.0 204 x\r\n", b"HTTP/2 200\r\n",
    b"content-length: 5\r\n", b"content-length: -1\r\n", b"content-length: 99999999999\r\n",
    b"transfer-encoding: chunked\r\n", b"location: /\r\n", b"location: http://10.0.0.1/\r\n",
    b"content-encoding: gzip\r\n", b"\r\n", b"hello", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n",
    b"\x00\xff", b" folded\r\n", b"x-a: b\r\n", b"\n",
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_PIECES, st.binary(max_size=20)), max_size=12))
def test_any_server_bytes_give_a_response_or_one_error_code(anyio_backend: str,
                                                           pieces: list[bytes]) -> None:
    """Invariant: whatever a server sends, send() returns a Response or raises HttpError with
    a valid error-code case, within the time limit; no other exception escapes."""
    raw = b"".join(pieces)

    async def hostile(ex: Exchange) -> None:
        await ex.raw(raw)

    async def run() -> None:
        async with run_http_server() as server:
            server.add_route("/x", hostile)
            client = make_client(limits=Limits(max_response_bytes=1000, max_redirects=2))
            try:
                resp = await client.send(Request("GET", server.url("/x", host="public.test"),
                                                 options=RequestOptions(total_timeout_ms=2000,
                                                                        decompress=True)))
                assert 100 <= resp.status <= 999
            except HttpError as e:
                assert e.code.case in ErrorCode.CASES
                assert e.code.case not in ("internal", "cancelled")
            finally:
                await client.aclose()

    anyio.run(run, backend=anyio_backend)
