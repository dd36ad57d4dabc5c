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
#: Decoded bytes always allowed whatever the ratio (small, very compressible bodies are common).
RATIO_FREE_BYTES = 1024 * 1024


class Decoder:
    """Incremental ``gzip`` / ``deflate`` decoder whose output may not exceed ``limit`` bytes.

    Each :meth:`feed` returns at most ``piece`` decoded bytes, however much the input expands:
    what zlib has not consumed yet is kept, and :attr:`pending` says to call ``feed(b"")``
    again. So a 64 KiB piece of a decompression bomb never becomes 64 MiB in memory at once,
    and the whole body allocates at most one byte past the cap before
    ``body-too-large(limit)`` is raised.

    ``max_ratio`` (optional) also caps the output at that many times the coded bytes received
    so far, once past :data:`RATIO_FREE_BYTES`; passing it is ``body-too-large(n)`` with ``n``
    the decoded size allowed at that point.

    What is decoded, and what is the server's fault (``protocol-error``):

    - ``gzip``: every member, back to back (RFC 1952 2.2: ``cat a.gz b.gz``, pigz, BGZF).
      Whatever follows a member must be another member; anything else (trailing garbage,
      zero padding) fails, and so does a body that ends inside a member.
    - ``deflate``: one zlib-wrapped (RFC 1950) or raw (RFC 1951) stream. Any byte after its
      end fails, and so does a body that ends inside it.
    - No coded byte at all is an empty body.
    """

    def __init__(self, encoding: str, limit: int, *, piece: int = DECODE_PIECE_BYTES,
                 max_ratio: float | None = None) -> None:
        if encoding not in ("gzip", "deflate"):
            raise ValueError(f"unsupported content-coding {encoding!r}")
        if piece < 1:
            raise ValueError("piece must be at least 1 byte")
        self.encoding = encoding
        self.cap = ByteCap(limit)
        self.max_ratio = max_ratio
        #: Coded bytes received so far, and gzip members (or deflate streams) begun.
        self.coded = 0
        self.members = 0
        self._piece = piece
        self._obj: zlib._Decompress | None = None
        self._buf = b""  # coded bytes received and not yet consumed by zlib: _buf[_pos:]
        self._pos = 0

    @property
    def pending(self) -> bool:
        """True while input is left that the next ``feed(b"")`` will decode further."""
        return self._pos < len(self._buf)

    def feed(self, data: bytes) -> bytes:
        """Add ``data`` (may be empty) and decode the next piece: at most ``piece`` bytes."""
        if data:
            self.coded += len(data)
            self._buf = self._buf[self._pos:] + data if self.pending else data
            self._pos = 0
        if not self.pending:
            return b""
        if self._obj is None or self._obj.eof:
            self._obj = self._next_stream()
        view = memoryview(self._buf)[self._pos:]
        allowed = self._allowed()
        try:
            chunk = self._obj.decompress(view, min(self._piece, allowed - self.cap.total + 1))
        except zlib.error as exc:
            where = f" after member {self.members - 1}" if self.members > 1 else ""
            raise HttpError(ErrorCode.protocol_error(
                f"response body is not valid {self.encoding}{where}: {exc}")) from None
        # Past the end of a stream zlib keeps the rest in unused_data, otherwise what the
        # output cap left unconsumed in unconsumed_tail: only their length matters here.
        left = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
        consumed = len(view) - len(left)
        self._pos += consumed
        if not self.pending:
            self._buf, self._pos = b"", 0
        self._count(len(chunk), allowed)
        if not chunk and not consumed and not self._obj.eof:
            raise HttpError(ErrorCode.protocol_error(
                f"{self.encoding} decoder made no progress"))
        return chunk

    def finish(self) -> bytes:
        """End of body: returns what zlib still held; a truncated stream is a protocol error.

        Call it once :attr:`pending` is false (everything fed has been decoded).
        """
        if self.pending:
            raise ValueError("finish() with coded bytes still pending: feed(b'') first")
        if self._obj is None:
            return b""  # no coded byte at all: an empty body
        allowed = self._allowed()
        tail = self._obj.flush()
        self._count(len(tail), allowed)
        if not self._obj.eof:
            raise HttpError(ErrorCode.protocol_error(
                f"response body ends inside its {self.encoding} stream"))
        return tail

    def _next_stream(self) -> zlib._Decompress:
        """A decompressor for what starts at ``_buf[_pos]``: the first stream or the next member."""
        if self._obj is not None and self.encoding == "deflate":
            raise HttpError(ErrorCode.protocol_error(
                "response body has bytes after the end of its deflate stream"))
        self.members += 1
        if self.encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # RFC 9110 says zlib-wrapped, but servers also send raw deflate; the first byte tells
        # which (a zlib header's low nibble is 8, a raw block's never is but for nonzero
        # padding of a stored block).
        raw = (self._buf[self._pos] & 0x0F) != 8
        return zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)

    def _allowed(self) -> int:
        """The most decoded bytes allowed now: the cap, and the ratio to the coded bytes."""
        if self.max_ratio is None:
            return self.cap.limit
        return min(self.cap.limit, max(RATIO_FREE_BYTES, int(self.max_ratio * self.coded)))

    def _count(self, n: int, allowed: int) -> None:
        self.cap.add(n)
        if self.cap.total > allowed:
            raise HttpError(ErrorCode.body_too_large(allowed))


def decoder_for(content_encodings: Iterable[bytes], limit: int, *,
                max_ratio: float | None = None) -> Decoder | None:
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
    return None if name is None else Decoder(name, limit, max_ratio=max_ratio)


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
