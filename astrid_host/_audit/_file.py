"""The file sink: an append-only JSON-lines trail with durability modes and rotation.

Layout: the active file is ``audit.jsonl`` (whatever name the operator gives); when it would
grow past ``max_bytes`` it is renamed ``audit.jsonl.000001`` (then ``.000002``, ...: the number
is the segment it holds, oldest lowest, so a shell glob lists them in order) and a new active
file starts with a segment record whose ``prev`` commits to the last record of the old one.
Only the active file is ever written; a rotation is one rename.

Every record is written with one ``write`` on an ``O_APPEND`` descriptor before
:meth:`FileSink.append` returns, so it is in the kernel once the call returns: a process killed
afterwards (even with SIGKILL) loses nothing. What the durability mode adds is the disk:

- ``fsync``: ``fdatasync`` after every record; the record survives a power cut once
  ``append`` returns. Costs a disk flush per record (milliseconds on many disks).
- ``<N>ms``: a thread of the sink calls ``fdatasync`` every N ms when records were added; an
  append never waits for the disk, and a power cut loses at most about N ms of records.
- ``none``: the OS writes back when it likes.

So only ``fsync`` mode blocks (:attr:`FileSink.blocking`): the engine calls ``append`` from a
worker thread then, and directly (on the event loop) in the other modes, where it costs a few
microseconds.

Reopening a trail continues its chain. If the last line was torn by a crash (no newline), the
torn bytes are cut off and a recovery record saying how many bytes and their sha256 is written
first, so the loss is on the record rather than silently dropped; a torn record was never
acknowledged (``append`` had not returned), so no request went out on it. A trail written with
another key (or without one) is refused rather than continued.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from astrid_host._audit._sink import AuditError
from astrid_host._core._audit_records import (
    AuditRecord,
    Chain,
    RecordError,
    RecoveryRecord,
    SegmentRecord,
    key_id,
    parse_line,
)

__all__ = ["MIN_KEY_BYTES", "Durability", "DurabilityMode", "FileSink", "default_sync",
           "read_key", "rotated_name", "segment_of"]

#: Shortest HMAC key accepted (bytes).
MIN_KEY_BYTES = 16
_ROTATED = re.compile(r"(?P<base>.+)\.(?P<segment>\d{6,})")
_BLOCK = 65536


class DurabilityMode(enum.Enum):
    """When the file sink asks the disk to persist what it wrote."""

    FSYNC = "fsync"
    INTERVAL = "interval"
    NONE = "none"


@dataclass(frozen=True)
class Durability:
    """A durability mode; ``interval_ms`` only for :attr:`DurabilityMode.INTERVAL`."""

    mode: DurabilityMode = DurabilityMode.FSYNC
    interval_ms: int = 0

    @classmethod
    def parse(cls, text: str) -> Durability:
        """``"fsync"``, ``"none"`` or an interval such as ``"200ms"``; :class:`ValueError`."""
        if text in ("fsync", "none"):
            return cls(DurabilityMode(text))
        m = re.fullmatch(r"([0-9]+)ms", text)
        if m is None or int(m.group(1)) < 1:
            raise ValueError(f"durability must be 'fsync', 'none' or an interval like '200ms', "
                             f"got {text!r}")
        return cls(DurabilityMode.INTERVAL, int(m.group(1)))

    def __str__(self) -> str:
        if self.mode is DurabilityMode.INTERVAL:
            return f"{self.interval_ms}ms"
        return str(self.mode.value)


def rotated_name(path: Path, segment: int) -> Path:
    """The name the active file ``path`` gets when segment ``segment`` is rotated out."""
    return path.with_name(f"{path.name}.{segment:06d}")


def segment_of(path: Path) -> tuple[str, int] | None:
    """``(base name, segment)`` for a rotated file's name, ``None`` for any other name."""
    m = _ROTATED.fullmatch(path.name)
    return None if m is None else (m.group("base"), int(m.group("segment")))


def read_key(path: str | os.PathLike[str]) -> bytes:
    """An HMAC key from a file: its bytes, one trailing newline removed; at least 16 bytes."""
    try:
        key = Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"{path}: cannot read the audit key: {exc.strerror}") from None
    key = key.removesuffix(b"\n").removesuffix(b"\r")
    if len(key) < MIN_KEY_BYTES:
        raise AuditError(f"{path}: an audit key needs at least {MIN_KEY_BYTES} bytes "
                         f"(e.g. head -c 32 /dev/urandom > {path})")
    return key


@dataclass(frozen=True)
class _Ends:
    first: bytes | None  # first complete line
    last: bytes | None  # last complete line
    complete_size: int  # bytes up to and including the last newline
    torn_bytes: int  # bytes after the last newline
    torn_sha256: str


def _last_newline(f: BinaryIO, end: int) -> int:
    """The offset of the last newline before ``end``, or -1; reads backwards in blocks."""
    while end > 0:
        start = max(0, end - _BLOCK)
        f.seek(start)
        at = f.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at
        end = start
    return -1


def _read_ends(path: Path) -> _Ends:
    """The first and last complete lines of a file and what follows the last newline."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        last_nl = _last_newline(f, size)
        torn = hashlib.sha256()
        f.seek(last_nl + 1)
        while chunk := f.read(_BLOCK):
            torn.update(chunk)
        torn_bytes, torn_sha256 = size - last_nl - 1, torn.hexdigest()
        if last_nl < 0:
            return _Ends(None, None, 0, torn_bytes, torn_sha256)
        f.seek(0)
        first = f.readline().removesuffix(b"\n")
        prev_nl = _last_newline(f, last_nl)
        f.seek(prev_nl + 1)
        last = f.read(last_nl - prev_nl - 1)
    return _Ends(first, last, last_nl + 1, torn_bytes, torn_sha256)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: How a descriptor's data is persisted: ``fdatasync`` where there is one (it skips metadata that
#: reading the data back does not need), else ``fsync``.
default_sync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


class FileSink:
    """An :class:`~astrid_host._audit._sink.AuditSink` writing a JSON-lines trail to ``path``.

    key: HMAC key (``None``: hash chain only). durability: see :class:`Durability`.
    max_bytes: rotate the active file before it would pass this size (``None``: never).
    clock: wall time for the records.
    sync: persists a descriptor's data (tests count its calls; a platform may use a stronger
    flush such as macOS's ``F_FULLFSYNC``).
    Thread-safe; ``append`` raises :class:`AuditError` when the trail cannot be written, and
    every later call fails too (a half-written trail is never continued in the same process).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: bytes | None = None,
        durability: Durability = Durability(),
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
        sync: Callable[[int], None] = default_sync,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(f"an audit key needs at least {MIN_KEY_BYTES} bytes")
        self.path = Path(path)
        self.durability = durability
        self.max_bytes = max_bytes
        self._key = key
        self._key_id = None if key is None else key_id(key)
        self._clock = clock
        self._sync_fd = sync
        self._lock = threading.Lock()
        self._failed: str | None = None
        self._fd = -1
        self._dirty = False
        self._records_here = 0  # records in the active file (only 0, 1 or more matters)
        try:
            self._open()
        except OSError as exc:
            self._close_fd()
            raise AuditError(f"{self.path}: cannot open the audit trail: {exc.strerror}") from None
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        if durability.mode is DurabilityMode.INTERVAL:
            self._syncer = threading.Thread(target=self._sync_every_interval, daemon=True,
                                            name=f"astrid-audit-sync {self.path.name}")
            self._syncer.start()

    @property
    def blocking(self) -> bool:
        """True in ``fsync`` mode: every append waits for the disk (milliseconds), so call it
        from a worker thread. The other modes append in microseconds.
        """
        return self.durability.mode is DurabilityMode.FSYNC

    @property
    def segment(self) -> int:
        """The segment number of the active file."""
        return self._segment

    # --- opening -----------------------------------------------------------------------

    def _open(self) -> None:
        recovery: RecoveryRecord | None = None
        if self.path.exists() and self.path.stat().st_size > 0:
            ends = _read_ends(self.path)
            if ends.torn_bytes:
                recovery = RecoveryRecord(ends.torn_bytes, ends.torn_sha256)
            if ends.first is not None and ends.last is not None:
                self._resume_active(ends)
                self._fd = self._open_locked()
                if recovery is not None:
                    os.truncate(self._fd, ends.complete_size)
                self._size = ends.complete_size
                if recovery is not None:
                    self._write(recovery)
                return
            # Nothing complete in it: a crash tore the very first line. Start the file over.
        self._chain, self._segment = self._resume_from_rotated()
        self._fd = self._open_locked()
        os.truncate(self._fd, 0)
        self._size = 0
        if self.durability.mode is not DurabilityMode.NONE:
            _fsync_dir(self.path.parent)
        self._write(SegmentRecord(self._segment, self._key_id))
        if recovery is not None:
            self._write(recovery)

    def _open_locked(self, extra: int = 0) -> int:
        """Open the active file for appending and take an exclusive lock on it: two writers
        (processes, or two sinks in one process) would interleave two chains.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | extra, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AuditError(f"{self.path} is being written by another audit sink (a second "
                             "host process, or a second sink on the same file)") from None
        return fd

    def _resume_active(self, ends: _Ends) -> None:
        assert ends.first is not None and ends.last is not None
        try:
            first = parse_line(ends.first)
            self._chain = Chain.resume(ends.last, self._key)
        except RecordError as exc:
            raise AuditError(f"{self.path} is not an astrid-host audit trail or is damaged "
                             f"({exc}); move it away to start a new one") from None
        if first["kind"] != "segment":
            raise AuditError(f"{self.path} does not start with a segment record: its first "
                             "line is missing; run `astrid-host audit verify` and move it away")
        if first.get("key_id") != self._key_id:
            raise AuditError(
                f"{self.path} was written with key id {first.get('key_id')}, this host uses "
                f"{self._key_id}: keep the old key, or move the trail away to start a new one")
        self._segment = first["segment"]
        self._records_here = 1 if ends.first == ends.last else 2

    def _resume_from_rotated(self) -> tuple[Chain, int]:
        """The chain after the newest rotated file, or a new trail if there is none."""
        newest: tuple[int, Path] | None = None
        for sibling in self.path.parent.iterdir():
            found = segment_of(sibling)
            if found is not None and found[0] == self.path.name:
                if newest is None or found[1] > newest[0]:
                    newest = (found[1], sibling)
        if newest is None:
            return Chain(self._key), 1
        ends = _read_ends(newest[1])
        if ends.last is None or ends.torn_bytes:
            raise AuditError(f"{newest[1]} (the newest rotated file) ends with a torn line: run "
                             "`astrid-host audit verify` on the trail before continuing it")
        try:
            return Chain.resume(ends.last, self._key), newest[0] + 1
        except RecordError as exc:
            raise AuditError(f"{newest[1]}: its last line is not an audit record ({exc})") from None

    # --- writing -------------------------------------------------------------------------

    def append(self, record: AuditRecord) -> None:
        """Seal and write ``record`` (rotating first if it would pass ``max_bytes``)."""
        with self._lock:
            if self._failed is not None:
                raise AuditError(self._failed)
            try:
                self._write(record)
            except OSError as exc:
                self._failed = f"{self.path}: cannot write the audit trail: {exc.strerror}"
                raise AuditError(self._failed) from None

    def _write(self, record: AuditRecord) -> None:
        sealed_at = self._clock()
        chain = replace(self._chain)
        line = chain.seal(record, sealed_at).line + b"\n"
        if (self.max_bytes is not None and self._records_here > 1
                and self._size + len(line) > self.max_bytes):
            # The active file holds more than its segment record and this one would pass the
            # limit: rotate, then seal again after the new segment record.
            self._rotate()
            chain = replace(self._chain)
            line = chain.seal(record, self._clock()).line + b"\n"
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view):]
        self._chain = chain
        self._size += len(line)
        self._records_here = 1 if isinstance(record, SegmentRecord) else self._records_here + 1
        self._dirty = True
        if self.durability.mode is DurabilityMode.FSYNC:
            self._sync()

    def _rotate(self) -> None:
        if self.durability.mode is not DurabilityMode.NONE:
            self._sync_fd(self._fd)
        os.close(self._fd)
        self._fd = -1
        target = rotated_name(self.path, self._segment)
        if target.exists():
            raise OSError(0, f"{target} already exists; refusing to overwrite it")
        os.rename(self.path, target)
        self._fd = self._open_locked(os.O_EXCL)
        if self.durability.mode is not DurabilityMode.NONE:
            _fsync_dir(self.path.parent)
        self._segment += 1
        self._size = self._records_here = 0
        self._write(SegmentRecord(self._segment, self._key_id))

    def _sync(self) -> None:
        self._sync_fd(self._fd)
        self._dirty = False

    def _sync_every_interval(self) -> None:
        """The interval mode's thread: persist new records every ``interval_ms``.

        The flush runs on a duplicate of the descriptor outside the lock, so appends never wait
        for it, and a rotation closing the original meanwhile does not matter.
        """
        while not self._stop.wait(self.durability.interval_ms / 1000):
            with self._lock:
                if self._failed is not None or not self._dirty:
                    continue
                self._dirty = False
                try:
                    fd = os.dup(self._fd)
                except OSError as exc:
                    self._failed = f"{self.path}: cannot sync the audit trail: {exc.strerror}"
                    continue
            try:
                self._sync_fd(fd)
            except OSError as exc:
                with self._lock:  # fail closed: records may not be on the disk
                    self._failed = (self._failed or
                                    f"{self.path}: cannot sync the audit trail: {exc.strerror}")
            finally:
                os.close(fd)

    def sync(self) -> None:
        """Persist what was written to the disk now (blocking)."""
        with self._lock:
            if self._failed is not None:
                raise AuditError(self._failed)
            if self._dirty:
                try:
                    self._sync()
                except OSError as exc:
                    self._failed = f"{self.path}: cannot sync the audit trail: {exc.strerror}"
                    raise AuditError(self._failed) from None

    def close(self) -> None:
        """Sync (unless the mode is ``none``) and close; later appends raise AuditError."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
        with self._lock:
            if self._fd < 0:
                return
            try:
                if self._dirty and self.durability.mode is not DurabilityMode.NONE:
                    self._sync()
            finally:
                self._close_fd()
                self._failed = self._failed or f"{self.path}: the audit sink is closed"

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
