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


class Decoder:
    """Incremental ``gzip`` / ``deflate`` decoder whose output may not exceed ``limit`` bytes.

    zlib is asked for at most ``limit - produced + 1`` bytes per step, so a decompression bomb
    allocates at most one byte past the cap before ``body-too-large(limit)`` is raised.
    Corrupt input is the server's fault: ``protocol-error``.
    """

    def __init__(self, encoding: str, limit: int) -> None:
        if encoding not in ("gzip", "deflate"):
            raise ValueError(f"unsupported content-coding {encoding!r}")
        self.encoding = encoding
        self.cap = ByteCap(limit)
        # deflate: RFC 9110 says zlib-wrapped, but servers also send raw deflate; the first
        # byte tells which (a zlib header's low nibble is 8), decided on first data.
        self._obj: zlib._Decompress | None = (
            zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None)
        self._done = False

    def feed(self, data: bytes) -> bytes:
        """Decode one piece of the body; returns the decoded bytes (may be empty)."""
        if not data:
            return b""
        if self._obj is None:
            raw = (data[0] & 0x0F) != 8
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        out: list[bytes] = []
        pending = data
        while pending and not self._done:
            try:
                chunk = self._obj.decompress(pending, self.cap.limit - self.cap.total + 1)
            except zlib.error as exc:
                raise HttpError(ErrorCode.protocol_error(
                    f"response body is not valid {self.encoding}: {exc}")) from None
            self.cap.add(len(chunk))
            out.append(chunk)
            pending = self._obj.unconsumed_tail
            if self._obj.eof:
                self._done = True
            elif not chunk and pending:  # pragma: no cover - zlib always progresses
                break
        return b"".join(out)

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
