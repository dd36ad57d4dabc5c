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

__all__ = ["SMALL_PIECE", "CallOutput", "OutputBuffer"]

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


#: Pieces smaller than this are copied into a shared tail instead of being kept one object
#: each: a capsule writing millions of tiny pieces must not make the host hold far more than
#: the limit (a kept ``bytes`` costs ~40 bytes besides its payload).
SMALL_PIECE = 64 * 1024


class OutputBuffer:
    """The pieces one call wrote, at most ``limit`` bytes in all.

    Large pieces are kept as given (a ``write-from`` of a whole body is not copied again here)
    and small ones are appended to a ``bytearray`` tail, so the host holds about ``limit``
    bytes whatever the number of writes; :meth:`take` joins everything once.
    """

    __slots__ = ("_pieces", "_tail", "limit", "size")

    def __init__(self, limit: int) -> None:
        #: The most bytes the whole output may hold.
        self.limit = limit
        #: Bytes kept so far.
        self.size = 0
        self._pieces: list[bytes | bytearray] = []
        self._tail = bytearray()

    def fits(self, n: int) -> bool:
        """Whether ``n`` more bytes stay within the limit."""
        return self.size + n <= self.limit

    def append(self, piece: bytes) -> bool:
        """Keep ``piece``; ``False`` (and nothing kept) when it would pass the limit."""
        if not self.fits(len(piece)):
            return False
        if len(piece) < SMALL_PIECE:
            self._tail += piece
        else:
            self._flush_tail()
            self._pieces.append(piece)
        self.size += len(piece)
        return True

    @property
    def stored_objects(self) -> int:
        """How many objects hold the output (large pieces, and the tails between them)."""
        return len(self._pieces) + (1 if self._tail else 0)

    def take(self) -> bytes:
        """The output, joined; the buffer is empty afterwards."""
        self._flush_tail()
        pieces, self._pieces, self.size = self._pieces, [], 0
        if len(pieces) == 1 and isinstance(pieces[0], bytes):
            return pieces[0]
        return b"".join(pieces)

    def discard(self) -> None:
        """Drop everything written (a call that failed keeps no output)."""
        self._pieces, self._tail, self.size = [], bytearray(), 0

    def _flush_tail(self) -> None:
        if self._tail:
            self._pieces.append(self._tail)
            self._tail = bytearray()
