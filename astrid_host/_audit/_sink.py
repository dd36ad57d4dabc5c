"""The sink interface, and a sink that keeps records in memory.

A sink takes a record, seals it into the hash chain (sequence number, ``prev``, optional MAC)
and keeps it somewhere. The engine calls :meth:`AuditSink.append` for every decision and every
completion *before* it goes on; an :class:`AuditError` from it means the record was not kept,
and the engine must then refuse the request rather than send something that is not on the
record (fail closed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from astrid_host._core._audit_records import AuditRecord, Chain, SegmentRecord, key_id, parse_line

__all__ = ["AuditError", "AuditSink", "MemorySink"]


class AuditError(Exception):
    """The audit trail cannot be written (or opened); the message says which file and why."""


@runtime_checkable
class AuditSink(Protocol):
    """Where the host sends audit records. Implementations must be thread-safe.

    blocking: true if :meth:`append` may wait on the disk (call it from a worker thread then);
    false if it returns in microseconds (call it directly, even from the event loop).
    """

    @property
    def blocking(self) -> bool:
        """Whether :meth:`append` may block on I/O."""
        ...

    def append(self, record: AuditRecord) -> None:
        """Seal and keep ``record``; raise :class:`AuditError` if it could not be kept."""
        ...

    def close(self) -> None:
        """Flush and release; later appends raise :class:`AuditError`."""
        ...


class MemorySink:
    """A sink that keeps the sealed lines in a list: for tests, and as a model of the interface.

    ``lines`` are the canonical lines (no newline), a trail of one segment.
    """

    blocking = False

    def __init__(self, *, key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._chain = Chain(key)
        self._clock = clock
        self._closed = False
        self.lines: list[bytes] = []
        self.lines.append(self._chain.seal(
            SegmentRecord(1, None if key is None else key_id(key)), clock()).line)

    def append(self, record: AuditRecord) -> None:
        """Seal ``record`` and keep its line."""
        with self._lock:
            if self._closed:
                raise AuditError("the memory audit sink is closed")
            self.lines.append(self._chain.seal(record, self._clock()).line)

    def records(self) -> list[dict[str, Any]]:
        """The records parsed back, in order."""
        with self._lock:
            return [parse_line(line) for line in self.lines]

    def close(self) -> None:
        """Refuse later appends."""
        with self._lock:
            self._closed = True
