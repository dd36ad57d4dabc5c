"""Conformance guest in Python: implements ``astrid:http/conformance-tests`` (wit/worlds.wit).

Every export drives the ``astrid:http/client`` imports exactly as the WIT doc comments say, so
the host test suite can compare what a Python guest sees with what the Rust and Go guests see.

Shared conventions (identical in every guest language, see docs/guests.md):

- ``upload-pattern`` treats ``chunk == 0`` as 1 (a zero-sized piece would never finish);
- ``drop-early`` reads pieces of at most ``chunk`` bytes until it has ``read-bytes`` or more;
- ``read-after-end`` reads with pieces of 65536 bytes;
- ``write-after-finish`` writes one byte (``0x78``) after ``finish``, whatever it returned.

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


def fnv1a64(h: int, data: bytes) -> int:
    """Fold ``data`` into the FNV-1a 64-bit hash ``h``."""
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


class ConformanceTests(exports.ConformanceTests):
    """The ``conformance-tests`` exports."""

    def fetch(self, req: types.Request) -> types.Response:
        return client.send(req)

    def stream_all(self, req: types.Request, chunk: int) -> StreamReport:
        with client.start(req) as stream:
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

    def drop_early(self, req: types.Request, read_bytes: int, chunk: int) -> int:
        total = 0
        with client.start(req) as stream:
            while total < read_bytes:
                piece = stream.read(min(read_bytes - total, chunk))
                if piece is None:
                    break
                total += len(piece)
        return total

    def upload_pattern(self, req: types.Request, total_bytes: int, chunk: int) -> types.Response:
        with client.upload(req) as body:
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
            return body.finish()

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
