"""Body accounting (astrid_host/_core/_bodies.py): caps, decoders, integrity."""

from __future__ import annotations

import gzip
import hashlib
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._bodies import ByteCap, Decoder, IntegrityCheck, decoder_for
from astrid_host._core._model import DigestAlgorithm, HttpError, Integrity


def _feed_all(dec: Decoder, data: bytes, step: int) -> bytes:
    out = []
    for i in range(0, len(data), step):
        out.append(dec.feed(data[i:i + step]))
        while dec.pending:
            out.append(dec.feed(b""))
    return b"".join(out) + dec.finish()


def _raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


def test_byte_cap_allows_exactly_the_limit_and_fails_one_past() -> None:
    cap = ByteCap(10)
    cap.add(10)
    with pytest.raises(HttpError) as exc:
        cap.add(1)
    assert exc.value.code.case == "body-too-large" and exc.value.code.payload == 10


def test_request_byte_cap_says_request_too_large() -> None:
    with pytest.raises(HttpError) as exc:
        ByteCap(3, request=True).add(4)
    assert exc.value.code.case == "request-too-large"


@pytest.mark.parametrize(("values", "expected"), [
    ([b"gzip"], "gzip"), ([b"x-gzip"], "gzip"), ([b"GZIP "], "gzip"), ([b"deflate"], "deflate"),
    ([b"identity, gzip"], "gzip"), ([], None), ([b"identity"], None), ([b"br"], None),
    ([b"gzip, gzip"], None), ([b"gzip", b"br"], None),
])
def test_which_content_codings_are_decoded(values: list[bytes], expected: str | None) -> None:
    dec = decoder_for(values, 100)
    assert (dec.encoding if dec else None) == expected


@pytest.mark.parametrize(("encoding", "encode"), [
    ("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", _raw_deflate),
])
def test_decoders_restore_the_body(encoding: str, encode: object) -> None:
    data = bytes(range(256)) * 100
    assert _feed_all(Decoder(encoding, len(data)), encode(data), 7) == data  # type: ignore[operator]


def test_gzip_bomb_stops_one_byte_past_the_cap() -> None:
    bomb = gzip.compress(bytes(50 * 1024 * 1024))  # ~50 KB on the wire
    dec = Decoder("gzip", 1024 * 1024)
    with pytest.raises(HttpError) as exc:
        dec.feed(bomb)
        for _ in range(100):  # bounded: 1 MiB at 256 KiB a step needs five
            dec.feed(b"")
    assert exc.value.code.case == "body-too-large" and exc.value.code.payload == 1024 * 1024
    assert dec.cap.total == 1024 * 1024 + 1


def test_one_step_of_a_bomb_decodes_at_most_one_piece() -> None:
    """A 64 KiB piece of a 200 MiB bomb must not become 64 MiB in memory at once."""
    bomb = gzip.compress(bytes(200 * 1024 * 1024))[: 64 * 1024]
    dec = Decoder("gzip", 1 << 30, piece=256 * 1024)
    sizes = [len(dec.feed(bomb))]
    while dec.pending and len(sizes) < 10:
        sizes.append(len(dec.feed(b"")))
    assert max(sizes) <= 256 * 1024
    assert dec.pending  # far more is left in that one piece


@given(st.binary(max_size=4096), st.integers(1, 700), st.integers(1, 300))
def test_small_steps_decode_the_same_bytes(data: bytes, step: int, piece: int) -> None:
    """Invariant: the step size of input and output never changes the decoded bytes."""
    dec = Decoder("gzip", 1 << 20, piece=piece)
    assert _feed_all(dec, gzip.compress(data), step) == data


def test_corrupt_gzip_is_a_protocol_error() -> None:
    with pytest.raises(HttpError) as exc:
        Decoder("gzip", 100).feed(b"\x1f\x8bnot really gzip at all")
    assert exc.value.code.case == "protocol-error"


def test_truncated_gzip_is_a_protocol_error_at_the_end() -> None:
    dec = Decoder("gzip", 10_000)
    dec.feed(gzip.compress(b"hello" * 100)[:-8])
    with pytest.raises(HttpError, match="ends inside"):
        dec.finish()


@pytest.mark.parametrize("alg", list(DigestAlgorithm))
def test_integrity_accepts_the_right_digest_and_refuses_others(alg: DigestAlgorithm) -> None:
    good = hashlib.new(alg.value, b"body").digest()
    check = IntegrityCheck(Integrity(alg, good))
    check.update(b"bo")
    check.update(b"dy")
    check.verify()
    bad = IntegrityCheck(Integrity(alg, good))
    bad.update(b"bodY")
    with pytest.raises(HttpError) as exc:
        bad.verify()
    assert exc.value.code.case == "integrity-mismatch"
    assert good.hex() in str(exc.value)


@given(st.binary(max_size=5000), st.integers(1, 300), st.sampled_from(["gzip", "deflate"]),
       st.integers(0, 6000))
def test_decoding_is_exact_or_fails_on_the_cap(data: bytes, step: int, encoding: str,
                                               limit: int) -> None:
    """Invariant: for any chunking, decoding gives back exactly the original bytes when they
    fit in the cap, and otherwise fails with body-too-large having produced at most cap+1."""
    wire = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
    dec = Decoder(encoding, limit)
    try:
        out = _feed_all(dec, wire, step)
    except HttpError as e:
        assert e.code.case == "body-too-large"
        assert len(data) > limit
        assert dec.cap.total <= limit + 1
        return
    assert out == data
