"""Body accounting: size caps, incremental gzip/deflate decoding with a cap, SRI digests.

Pure logic (zlib and hashlib compute, they do no I/O). The network layer feeds each piece of
body it receives through these objects and stops reading the moment one of them raises, so a
body over its cap is never read into memory.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import Iterable

from astrid_host._core._model import ErrorCode, HttpError, Integrity

__all__ = ["ByteCap", "Decoder", "IntegrityCheck", "decoder_for"]


class ByteCap:
    """Counts bytes against a limit; raises ``body-too-large(limit)`` once the total passes it.

    ``request=True`` raises ``request-too-large`` instead, for bodies the capsule sends.
    """

    def __init__(self, limit: int, *, request: bool = False) -> None:
        self.limit = limit
        self.total = 0
        self._request = request

    def add(self, n: int) -> None:
        """Count ``n`` more bytes."""
        self.total += n
        if self.total > self.limit:
            code = (ErrorCode.request_too_large(self.limit) if self._request
                    else ErrorCode.body_too_large(self.limit))
            raise HttpError(code)


#: Most decoded bytes one :meth:`Decoder.feed` returns (bounds memory per step of a bomb).
DECODE_PIECE_BYTES = 256 * 1024


class Decoder:
    """Incremental ``gzip`` / ``deflate`` decoder whose output may not exceed ``limit`` bytes.

    Each :meth:`feed` returns at most ``piece`` decoded bytes, however much the input expands:
    what zlib has not consumed yet is kept, and :attr:`pending` says to call ``feed(b"")``
    again. So a 64 KiB piece of a decompression bomb never becomes 64 MiB in memory at once,
    and the whole body allocates at most one byte past the cap before
    ``body-too-large(limit)`` is raised. Corrupt input is the server's fault: ``protocol-error``.
    """

    def __init__(self, encoding: str, limit: int, *, piece: int = DECODE_PIECE_BYTES) -> None:
        if encoding not in ("gzip", "deflate"):
            raise ValueError(f"unsupported content-coding {encoding!r}")
        if piece < 1:
            raise ValueError("piece must be at least 1 byte")
        self.encoding = encoding
        self.cap = ByteCap(limit)
        self._piece = piece
        # deflate: RFC 9110 says zlib-wrapped, but servers also send raw deflate; the first
        # byte tells which (a zlib header's low nibble is 8), decided on first data.
        self._obj: zlib._Decompress | None = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None)
        self._tail = b""
        self._done = False

    @property
    def pending(self) -> bool:
        """True while input is left that the next ``feed(b"")`` will decode further."""
        return bool(self._tail) and not self._done

    def feed(self, data: bytes) -> bytes:
        """Add ``data`` (may be empty) and decode the next piece: at most ``piece`` bytes."""
        if data:
            if self._obj is None:
                raw = (data[0] & 0x0F) != 8
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
            self._tail = self._tail + data if self._tail else data
        if not self._tail or self._done or self._obj is None:
            return b""
        before = len(self._tail)
        want = min(self._piece, self.cap.limit - self.cap.total + 1)
        try:
            chunk = self._obj.decompress(self._tail, want)
        except zlib.error as exc:
            raise HttpError(ErrorCode.protocol_error(
                f"response body is not valid {self.encoding}: {exc}")) from None
        self.cap.add(len(chunk))
        self._tail = self._obj.unconsumed_tail
        if self._obj.eof:
            self._done, self._tail = True, b""
        elif not chunk and len(self._tail) >= before:
            raise HttpError(ErrorCode.protocol_error(
                f"{self.encoding} decoder made no progress"))
        return chunk

    def finish(self) -> bytes:
        """End of body: returns what zlib still held; a truncated stream is a protocol error."""
        if self._obj is None:
            return b""
        tail = self._obj.flush()
        self.cap.add(len(tail))
        if not self._obj.eof:
            raise HttpError(ErrorCode.protocol_error(
                f"response body ends inside its {self.encoding} stream"))
        return tail


def decoder_for(content_encodings: Iterable[bytes], limit: int) -> Decoder | None:
    """A decoder for a response's ``Content-Encoding`` values, or ``None`` to pass it through.

    Only a single ``gzip`` (or ``x-gzip``) or ``deflate`` coding is decoded: those are the ones
    the host asks for. ``identity``, no header, or any other coding (or a stack of codings)
    returns ``None`` and the body stays as the server sent it, headers untouched.
    """
    codings = [c.strip().lower() for v in content_encodings for c in v.split(b",") if c.strip()]
    codings = [c for c in codings if c != b"identity"]
    if len(codings) != 1:
        return None
    name = {b"gzip": "gzip", b"x-gzip": "gzip", b"deflate": "deflate"}.get(codings[0])
    return None if name is None else Decoder(name, limit)


class IntegrityCheck:
    """Subresource-integrity check: hash the (decoded) body, compare at the end."""

    def __init__(self, integrity: Integrity) -> None:
        self.integrity = integrity
        self._hash = hashlib.new(integrity.algorithm.value)

    def update(self, data: bytes) -> None:
        """Hash another piece of the body."""
        self._hash.update(data)

    def verify(self) -> None:
        """Raise ``integrity-mismatch`` unless the body hashed so far matches the digest."""
        got = self._hash.digest()
        if not hmac.compare_digest(got, self.integrity.digest):
            raise HttpError(ErrorCode.integrity_mismatch(
                f"{self.integrity.algorithm.value} of the body is {got.hex()}, "
                f"expected {self.integrity.digest.hex()}"))
