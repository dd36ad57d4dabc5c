"""`http-stream.trailers` of the Astrid front: `none` until the body's end is known and every
byte was handed to the capsule, then the trailers (`none` when there were none)."""

from __future__ import annotations

from astrid_host._core._wit_astrid_http import KeyValuePair
from astrid_host._wasm._astrid_http import AstridStream
from tests.support.fakes import FakeStream


async def test_trailers_only_once_the_end_was_handed_over() -> None:
    stream = AstridStream(FakeStream(200, (), b"abc", "http://x/", trailer_fields=(
        ("grpc-status", b"0"), ("x-raw", b"\xff"))), decompression_limited=False)
    assert stream.trailers() is None
    assert await stream.read_chunk() == b"abc"
    assert stream.trailers() is None  # the end is not known yet
    assert await stream.read_chunk() == b""
    assert stream.trailers() == (KeyValuePair("grpc-status", "0"), KeyValuePair("x-raw", "\xff"))
    await stream.close()
    assert stream.trailers() == (KeyValuePair("grpc-status", "0"), KeyValuePair("x-raw", "\xff"))


async def test_no_trailers_is_none_and_closing_early_is_none() -> None:
    ended = AstridStream(FakeStream(200, (), b"", "http://x/"), decompression_limited=False)
    assert await ended.read_chunk() == b""
    assert ended.trailers() is None
    early = AstridStream(FakeStream(200, (), b"abc", "http://x/", trailer_fields=(
        ("t", b"1"),)), decompression_limited=False)
    await early.close()
    assert early.trailers() is None
