"""The output of one export call: the body a capsule hands its caller beside the result.

`astrid:http/output` (``wit/output.wit``) lets a guest write a body in pieces while an export
runs; the host keeps the pieces in an :class:`OutputBuffer` bounded by
``Limits.max_output_bytes`` and joins them once, when the call has returned
(:meth:`Capsule.call_with_output` → :class:`CallOutput`). A piece that would pass the limit is
refused whole: nothing of it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["CallOutput", "OutputBuffer"]

T = TypeVar("T")


@dataclass(frozen=True)
class CallOutput(Generic[T]):
    """What a call that asked for output returns.

    value: the export's result, as :meth:`Capsule.call` returns it (for
        :meth:`Capsule.run_with_output`, the ``ok`` text).
    output: the bytes the capsule wrote through `astrid:http/output`, in order; ``b""`` when
        it wrote none.
    """

    value: T
    output: bytes


class OutputBuffer:
    """The pieces one call wrote, at most ``limit`` bytes in all.

    Pieces are kept as given and joined once by :meth:`take` (a single piece is returned
    without a copy), so a body written in many pieces is copied once more, not once per piece.
    """

    __slots__ = ("_pieces", "limit", "size")

    def __init__(self, limit: int) -> None:
        #: The most bytes the whole output may hold.
        self.limit = limit
        #: Bytes kept so far.
        self.size = 0
        self._pieces: list[bytes] = []

    def fits(self, n: int) -> bool:
        """Whether ``n`` more bytes stay within the limit."""
        return self.size + n <= self.limit

    def append(self, piece: bytes) -> bool:
        """Keep ``piece``; ``False`` (and nothing kept) when it would pass the limit."""
        if not self.fits(len(piece)):
            return False
        if piece:
            self._pieces.append(piece)
            self.size += len(piece)
        return True

    def take(self) -> bytes:
        """The output, joined; the buffer is empty afterwards."""
        pieces, self._pieces, self.size = self._pieces, [], 0
        return b"".join(pieces)

    def discard(self) -> None:
        """Drop everything written (a call that failed keeps no output)."""
        self._pieces, self.size = [], 0
