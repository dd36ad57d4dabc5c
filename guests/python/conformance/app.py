"""Conformance guest in Python: implements ``astrid:http/conformance-tests`` (wit/worlds.wit).

Every export drives the ``astrid:http/client`` imports exactly as the WIT doc comments say, so
the host test suite can compare what a Python guest sees with what the Rust and Go guests see.

Shared conventions (identical in every guest language, see docs/guests.md):

- ``upload-pattern`` treats ``chunk == 0`` as 1 (a zero-sized piece would never finish);
- ``drop-early`` reads pieces of at most ``chunk`` bytes until it has ``read-bytes`` or more;
- ``read-after-end`` reads with pieces of 65536 bytes;
- ``write-after-finish`` writes one byte (``0x78``) after ``finish``, whatever it returned;
- ``upload-then-stream`` uploads like ``upload-pattern`` (``chunk == 0`` as 1) and reads the
  response with ``read(chunk)`` (also at least 1), counting and hashing like ``stream-all``;
- ``meta-after`` reads like ``drop-early`` with ``chunk`` 65536, then asks for ``meta()``.

Errors from the host arrive as ``componentize_py_types.Err`` and are re-raised unchanged,
which componentize-py turns back into the export's ``err`` case.
"""

from componentize_py_types import Err, Ok, Result
from wit_world import exports
from wit_world.exports.conformance_tests import StreamReport
from wit_world.imports import client, types

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
PATTERN_MODULUS = 251
READ_AFTER_END_CHUNK = 65536
META_AFTER_CHUNK = 65536


def fnv1a64(h: int, data: bytes) -> int:
    """Fold ``data`` into the FNV-1a 64-bit hash ``h``."""
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def read_report(stream: client.IncomingResponse, chunk: int) -> StreamReport:
    """Read ``stream`` to the end with ``read(chunk)``: what ``stream-all`` reports."""
    report = StreamReport(
        status=stream.status(),
        header_count=len(stream.headers()),
        total_bytes=0,
        chunks=0,
        fnv1a64=FNV_OFFSET,
    )
    while (piece := stream.read(chunk)) is not None:
        if piece:
            report.chunks += 1
        report.total_bytes += len(piece)
        report.fnv1a64 = fnv1a64(report.fnv1a64, piece)
    return report


def read_about(stream: client.IncomingResponse, read_bytes: int, chunk: int) -> int:
    """Read pieces of at most ``chunk`` bytes until ``read_bytes`` or more (or the end)."""
    total = 0
    while total < read_bytes:
        piece = stream.read(min(read_bytes - total, chunk))
        if piece is None:
            break
        total += len(piece)
    return total


def write_pattern(body: client.OutgoingBody, total_bytes: int, chunk: int) -> None:
    """Write ``total_bytes`` bytes (byte i = i % 251) in pieces of ``chunk`` (0 counts as 1)."""
    step = max(chunk, 1)
    window = min(step, total_bytes)
    # One buffer long enough that any piece is a slice of it starting at offset % 251.
    pattern = bytes(range(PATTERN_MODULUS)) * (window // PATTERN_MODULUS + 2)
    offset = 0
    while offset < total_bytes:
        n = min(step, total_bytes - offset)
        start = offset % PATTERN_MODULUS
        body.write(pattern[start : start + n])
        offset += n


class ConformanceTests(exports.ConformanceTests):
    """The ``conformance-tests`` exports."""

    def fetch(self, req: types.Request) -> types.Response:
        return client.send(req)

    def stream_all(self, req: types.Request, chunk: int) -> StreamReport:
        with client.start(req) as stream:
            return read_report(stream, chunk)

    def drop_early(self, req: types.Request, read_bytes: int, chunk: int) -> int:
        with client.start(req) as stream:
            return read_about(stream, read_bytes, chunk)

    def upload_pattern(self, req: types.Request, total_bytes: int, chunk: int) -> types.Response:
        with client.upload(req) as body:
            write_pattern(body, total_bytes, chunk)
            return body.finish()

    def upload_then_stream(self, req: types.Request, total_bytes: int,
                           chunk: int) -> StreamReport:
        with client.upload(req) as body:
            write_pattern(body, total_bytes, chunk)
            with body.finish_streaming() as stream:
                return read_report(stream, max(chunk, 1))

    def meta_after(self, req: types.Request, read_bytes: int) -> types.ResponseMeta:
        with client.start(req) as stream:
            read_about(stream, read_bytes, META_AFTER_CHUNK)
            return stream.meta()

    def open_many(self, req: types.Request, count: int) -> list[Result[int, types.ErrorCode]]:
        opened: list[client.IncomingResponse] = []
        outcomes: list[Result[int, types.ErrorCode]] = []
        try:
            for _ in range(count):
                try:
                    stream = client.start(req)
                except Err as e:
                    outcomes.append(Err(e.value))
                    continue
                opened.append(stream)
                outcomes.append(Ok(stream.status()))
        finally:
            for stream in opened:
                stream.__exit__(None, None, None)
        return outcomes

    def read_after_end(self, req: types.Request) -> bytes | None:
        with client.start(req) as stream:
            while stream.read(READ_AFTER_END_CHUNK) is not None:
                pass
            return stream.read(READ_AFTER_END_CHUNK)

    def write_after_finish(self, req: types.Request) -> None:
        with client.upload(req) as body:
            try:
                body.finish()
            except Err:
                pass
            body.write(b"x")
