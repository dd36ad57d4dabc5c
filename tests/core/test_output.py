"""`OutputBuffer`: the pieces of one call's output, bounded, joined once, in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._output import SMALL_PIECE, OutputBuffer


def test_pieces_are_joined_in_order_and_the_buffer_is_emptied() -> None:
    out = OutputBuffer(100)
    assert out.append(b"ab") and out.append(b"") and out.append(b"cd")
    assert out.size == 4
    assert out.take() == b"abcd"
    assert (out.size, out.take()) == (0, b"")


def test_a_piece_past_the_limit_is_refused_whole_and_what_came_before_stays() -> None:
    out = OutputBuffer(5)
    assert out.append(b"abc")
    assert not out.append(b"def")
    assert out.fits(2) and not out.fits(3)
    assert out.append(b"de")
    assert out.take() == b"abcde"


def test_discard_drops_everything() -> None:
    out = OutputBuffer(10)
    out.append(b"abc")
    out.discard()
    assert (out.size, out.take()) == (0, b"")


@given(st.integers(0, 64), st.lists(st.binary(max_size=20)))
def test_the_output_is_the_accepted_pieces_and_never_passes_the_limit(
        limit: int, pieces: list[bytes]) -> None:
    """Invariant: the output is exactly the pieces `append` accepted, in order, and a piece is
    accepted iff the total stays within the limit."""
    out = OutputBuffer(limit)
    kept = b""
    for piece in pieces:
        accepted = out.append(piece)
        assert accepted == (len(kept) + len(piece) <= limit)
        if accepted:
            kept += piece
    assert out.take() == kept
    assert len(kept) <= limit


def test_many_tiny_pieces_are_held_in_a_few_objects_not_one_each() -> None:
    """A capsule writing a byte at a time must not make the host keep one object (~40 bytes
    of overhead) per byte: small pieces share a tail, so the objects held stay few."""
    out = OutputBuffer(1 << 20)
    for i in range(100_000):
        assert out.append(bytes((i % 256,)))
    assert out.append(b"L" * SMALL_PIECE)  # a large piece is kept as it is
    for _ in range(1000):
        assert out.append(b"xy")
    assert out.stored_objects <= 3
    data = out.take()
    assert data[:100_000] == bytes(i % 256 for i in range(100_000))
    assert data[100_000:100_000 + SMALL_PIECE] == b"L" * SMALL_PIECE
    assert data[100_000 + SMALL_PIECE:] == b"xy" * 1000
    assert out.stored_objects == 0


def test_a_single_large_piece_comes_back_without_a_copy() -> None:
    out = OutputBuffer(1 << 20)
    piece = bytes(SMALL_PIECE)
    out.append(piece)
    assert out.take() is piece
