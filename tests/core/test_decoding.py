"""What the body decoder (astrid_host/_core/_bodies.py) decodes and what it refuses.

Rules (docs/http.md, "Decompression"): a gzip body is every member back to back, and anything
after a member that is not another member fails; a deflate body is exactly one stream, and any
byte after it fails; a body that ends inside a member or stream fails; no byte at all is an
empty body. Never a short success. Streams may also cap the decoded/coded ratio.
"""

from __future__ import annotations

import gzip
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._bodies import (
    DECODE_PIECE_BYTES,
    RATIO_FREE_BYTES,
    Decoder,
    decoder_for,
)
from astrid_host._core._model import HttpError

MiB = 1024 * 1024


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zl(data: bytes) -> bytes:
    return zlib.compress(data)


def raw(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


def bgzf(data: bytes) -> bytes:
    """One BGZF block: a gzip member with an FEXTRA field ('BC', the block size)."""
    body = raw(data)
    bsize = 12 + 6 + len(body) + 8 - 1
    head = b"\x1f\x8b\x08\x04" + b"\0\0\0\0" + b"\x00\xff" + struct.pack(
        "<HBBHH", 6, ord("B"), ord("C"), 2, bsize)
    return head + body + struct.pack("<II", zlib.crc32(data), len(data))


def decode(encoding: str, wire: bytes, step: int, *, limit: int = 16 * MiB,
           piece: int = DECODE_PIECE_BYTES, max_ratio: float | None = None) -> bytes:
    """Feed ``wire`` in pieces of ``step`` the way BodyReader does; the decoded body."""
    dec = Decoder(encoding, limit, piece=piece, max_ratio=max_ratio)
    out = []
    for i in range(0, len(wire), step):
        out.append(dec.feed(wire[i:i + step]))
        while dec.pending:
            out.append(dec.feed(b""))
    return b"".join(out) + dec.finish()


def outcome(encoding: str, wire: bytes, step: int, **kw: object) -> bytes | str:
    """The decoded body, or the error-code case and text."""
    try:
        return decode(encoding, wire, step, **kw)  # type: ignore[arg-type]
    except HttpError as e:
        return f"{e.code.case}: {e.code.payload}"


A = b"hello, " * 3000
B = bytes(range(256)) * 40
C = b"the third member"

# (id, encoding, wire, the body or the start of the error)
ROWS: list[tuple[str, str, bytes, bytes | str]] = [
    ("gzip-one-member", "gzip", gz(A), A),
    ("gzip-two-members", "gzip", gz(A) + gz(B), A + B),
    ("gzip-three-members", "gzip", gz(A) + gz(B) + gz(C), A + B + C),
    ("gzip-empty-member-between", "gzip", gz(A) + gz(b"") + gz(B), A + B),
    ("gzip-bgzf-blocks-and-eof-block", "gzip", bgzf(A) + bgzf(B) + bgzf(b""), A + B),
    ("gzip-no-byte-at-all", "gzip", b"", b""),
    ("gzip-trailing-garbage", "gzip", gz(A) + b"garbage", "protocol-error: response body "
     "is not valid gzip after member 1"),
    ("gzip-trailing-zero-padding", "gzip", gz(A) + bytes(8), "protocol-error"),
    ("gzip-trailing-lone-magic-byte", "gzip", gz(A) + b"\x1f", "protocol-error: response "
     "body ends inside its gzip stream"),
    ("gzip-second-member-header-only", "gzip", gz(A) + gz(B)[:10], "protocol-error: "
     "response body ends inside"),
    ("gzip-second-member-cut-mid-data", "gzip", gz(A) + gz(B)[:40], "protocol-error: "
     "response body ends inside"),
    ("gzip-second-member-without-trailer", "gzip", gz(A) + gz(B)[:-8], "protocol-error: "
     "response body ends inside"),
    ("gzip-second-member-bad-crc", "gzip", gz(A) + gz(B)[:-8] + b"\0" * 8, "protocol-error: "
     "response body is not valid gzip after member 1"),
    ("gzip-first-member-cut", "gzip", gz(A)[:-1], "protocol-error: response body ends inside"),
    ("zlib-one-stream", "deflate", zl(A), A),
    ("zlib-no-byte-at-all", "deflate", b"", b""),
    ("zlib-trailing-byte", "deflate", zl(A) + b"x", "protocol-error: response body has "
     "bytes after the end of its deflate stream"),
    ("zlib-two-streams", "deflate", zl(A) + zl(B), "protocol-error: response body has bytes "
     "after the end of its deflate stream"),
    ("zlib-cut", "deflate", zl(A)[:-2], "protocol-error: response body ends inside"),
    ("raw-deflate-one-stream", "deflate", raw(A), A),
    ("raw-deflate-trailing-byte", "deflate", raw(A) + b"x", "protocol-error: response body "
     "has bytes after the end of its deflate stream"),
    ("raw-deflate-two-streams", "deflate", raw(A) + raw(B), "protocol-error: response body "
     "has bytes after the end"),
    ("raw-deflate-cut", "deflate", raw(A)[:-1], "protocol-error: response body ends inside"),
]


@pytest.mark.parametrize("step", [1, 7, 4096, 1 << 30])
@pytest.mark.parametrize(("encoding", "wire", "expected"), [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_every_member_is_decoded_and_anything_else_fails(
        encoding: str, wire: bytes, expected: bytes | str, step: int) -> None:
    got = outcome(encoding, wire, step)
    if isinstance(expected, bytes):
        assert got == expected
    else:
        assert isinstance(got, str) and got.startswith(expected), got


def test_bytes_after_a_deflate_stream_fail_even_when_they_come_later() -> None:
    """The end of the stream and the extra byte in different network pieces."""
    dec = Decoder("deflate", MiB)
    assert dec.feed(zl(A)) == A
    with pytest.raises(HttpError, match="after the end of its deflate stream"):
        dec.feed(b"\x00")


def test_finish_refuses_to_run_with_coded_bytes_left() -> None:
    dec = Decoder("gzip", 10 * MiB, piece=1024)
    dec.feed(gz(A))
    assert dec.pending
    with pytest.raises(ValueError, match="pending"):
        dec.finish()


# --- invariants over any members, any cut, any chunking -------------------------------------

members = st.lists(st.binary(max_size=600), min_size=1, max_size=5)


@given(members, st.integers(1, 300), st.integers(1, 400))
def test_any_gzip_members_decode_to_their_concatenation(
        parts: list[bytes], step: int, piece: int) -> None:
    wire = b"".join(gz(p) for p in parts)
    assert decode("gzip", wire, step, piece=piece) == b"".join(parts)


@given(members, st.data(), st.integers(1, 300))
def test_a_cut_gzip_body_is_never_a_short_success(parts: list[bytes], data: st.DataObject,
                                                  step: int) -> None:
    """Cut anywhere: either the cut falls between members and exactly those members come
    back, or it is a protocol error. Never part of a member, never silently less."""
    coded = [gz(p) for p in parts]
    wire = b"".join(coded)
    cut = data.draw(st.integers(0, len(wire) - 1))
    boundaries = {sum(len(c) for c in coded[:k]): b"".join(parts[:k])
                  for k in range(len(coded) + 1)}
    got = outcome("gzip", wire[:cut], step)
    if cut in boundaries:
        assert got == boundaries[cut]
    else:
        assert isinstance(got, str) and got.startswith("protocol-error"), (cut, got)


@given(members, st.binary(min_size=1, max_size=64).filter(lambda b: b[0] != 0x1F),
       st.integers(1, 300))
def test_anything_after_a_gzip_member_but_a_member_fails(
        parts: list[bytes], garbage: bytes, step: int) -> None:
    wire = b"".join(gz(p) for p in parts) + garbage
    got = outcome("gzip", wire, step)
    assert isinstance(got, str) and got.startswith("protocol-error"), got


@given(st.binary(max_size=2000), st.sampled_from([zl, raw]), st.binary(min_size=1, max_size=64),
       st.integers(1, 300))
def test_anything_after_a_deflate_stream_fails(data: bytes, encode: object, extra: bytes,
                                               step: int) -> None:
    wire = encode(data) + extra  # type: ignore[operator]
    got = outcome("deflate", wire, step)
    assert got == "protocol-error: response body has bytes after the end of its deflate stream"


@given(st.binary(max_size=2000), st.sampled_from([zl, raw]), st.data(), st.integers(1, 300))
def test_a_cut_deflate_stream_fails(data: bytes, encode: object, draw: st.DataObject,
                                    step: int) -> None:
    wire = encode(data)  # type: ignore[operator]
    cut = draw.draw(st.integers(1, len(wire) - 1))
    got = outcome("deflate", wire[:cut], step)
    assert isinstance(got, str) and got.startswith("protocol-error"), (cut, got)


# --- bombs stay bounded across members ------------------------------------------------------

def test_a_bomb_split_over_members_decodes_in_bounded_steps_and_stops_at_the_cap() -> None:
    bomb = gz(bytes(8 * MiB))  # ~8 KB
    wire = bomb * 4             # 32 MiB decoded in four members
    dec = Decoder("gzip", 20 * MiB)
    sizes: list[int] = []
    with pytest.raises(HttpError) as exc:
        for i in range(0, len(wire), 64 * 1024):
            sizes.append(len(dec.feed(wire[i:i + 64 * 1024])))
            while dec.pending:
                sizes.append(len(dec.feed(b"")))
    assert exc.value.code.case == "body-too-large" and exc.value.code.payload == 20 * MiB
    assert max(sizes) <= DECODE_PIECE_BYTES
    assert dec.cap.total == 20 * MiB + 1
    assert dec.members == 3


# --- the ratio cap (streams) ---------------------------------------------------------------

def test_ratio_cap_stops_a_bomb_at_ratio_times_the_coded_bytes() -> None:
    wire = gz(bytes(64 * MiB))  # ~64 KB coded, about 1000:1
    dec = Decoder("gzip", 1 << 30, max_ratio=100)
    with pytest.raises(HttpError) as exc:
        dec.feed(wire)
        while dec.pending:
            dec.feed(b"")
    allowed = 100 * len(wire)
    assert exc.value.code.case == "body-too-large" and exc.value.code.payload == allowed
    assert dec.cap.total == allowed + 1


def test_ratio_cap_leaves_the_first_mib_alone() -> None:
    body = bytes(RATIO_FREE_BYTES)  # ~1000:1, but within the free first MiB
    assert decode("gzip", gz(body), 4096, max_ratio=2) == body


def test_ratio_cap_lets_ordinary_data_through_and_stops_what_expands_more() -> None:
    rng = random.Random(7)
    body = bytes(rng.choices(b"abcdefgh ", k=4 * MiB))  # text-like: about 2.5 to 1
    wire = gz(body[: 2 * MiB]) + gz(body[2 * MiB:])
    assert 2 < len(body) / len(wire) < 3
    assert decode("gzip", wire, 65536, max_ratio=4) == body
    got = outcome("gzip", wire, 65536, max_ratio=1.5)
    assert isinstance(got, str) and got.startswith("body-too-large"), got


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 4 * MiB), st.integers(1, 2000), st.sampled_from([1000, 65536]),
       st.sampled_from(["gzip", "deflate"]))
def test_with_a_ratio_a_body_is_exact_or_stops_one_byte_past_what_was_allowed(
        n: int, ratio: int, step: int, encoding: str) -> None:
    """Invariant: zeros (the worst ratio deflate has) come back whole, or fail with
    body-too-large(allowed) having decoded exactly allowed + 1, where allowed is the free MiB
    or ratio x the coded bytes received, whichever is larger."""
    data = bytes(n)
    wire = gz(data) if encoding == "gzip" else zl(data)
    dec = Decoder(encoding, 1 << 30, max_ratio=ratio)
    out = bytearray()
    try:
        for i in range(0, len(wire), step):
            out += dec.feed(wire[i:i + step])
            while dec.pending:
                out += dec.feed(b"")
        out += dec.finish()
    except HttpError as e:
        assert e.code.case == "body-too-large"
        allowed = e.code.payload
        assert dec.cap.total == allowed + 1
        assert allowed == max(RATIO_FREE_BYTES, ratio * dec.coded)
        assert n > allowed
        return
    assert out == data


def test_decoder_for_passes_the_ratio_on() -> None:
    dec = decoder_for([b"gzip"], 1000, max_ratio=7)
    assert dec is not None and dec.max_ratio == 7 and dec.cap.limit == 1000
