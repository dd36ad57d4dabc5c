"""What ``Host(audit=...)`` opens: :class:`AuditTrail`, a file trail's settings.

A :class:`Host <astrid_host.Host>` given an :class:`AuditTrail` (or a path) opens the
:class:`~astrid_host._audit._file.FileSink` when it starts and closes it when it closes; a
host given a sink object uses it and leaves closing it to whoever made it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from astrid_host._audit._file import MIN_KEY_BYTES, Durability, FileSink

__all__ = ["AuditTrail"]


@dataclass(frozen=True)
class AuditTrail:
    """An append-only, hash-chained JSON-lines audit trail in a file (see ``docs/audit.md``).

    path: the active file (rotated files are named ``<path>.000001``, ...).
    key: HMAC key, at least 16 bytes (``None``: hash chain only); a trail is continued only
      with the key it was started with.
    durability: ``"fsync"`` (every record on the disk before the request goes on; the
      default), ``"<N>ms"`` (flushed every N ms) or ``"none"``, or a :class:`Durability`.
    max_bytes: rotate the active file before it passes this size (``None``: never).

    Bad settings raise :class:`ValueError` here; an unusable file raises
    :class:`~astrid_host._audit._sink.AuditError` when the trail is opened.
    """

    path: str | os.PathLike[str]
    key: bytes | None = None
    durability: Durability | str = "fsync"
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.durability, str):
            object.__setattr__(self, "durability", Durability.parse(self.durability))
        elif not isinstance(self.durability, Durability):
            raise ValueError("durability must be 'fsync', 'none', '<N>ms' or a Durability")
        if self.key is not None and (not isinstance(self.key, bytes)
                                     or len(self.key) < MIN_KEY_BYTES):
            raise ValueError(f"an audit key must be at least {MIN_KEY_BYTES} bytes")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError("max_bytes must be positive")

    def __repr__(self) -> str:
        # The key never appears in a repr (logs, tracebacks).
        key = "None" if self.key is None else "<hidden>"
        return (f"AuditTrail(path={os.fspath(self.path)!r}, key={key}, "
                f"durability='{self.durability}', max_bytes={self.max_bytes!r})")

    def open(self) -> FileSink:
        """Open (or continue) the trail: blocking file I/O. Raises ``AuditError``."""
        assert isinstance(self.durability, Durability)
        return FileSink(self.path, key=self.key, durability=self.durability,
                        max_bytes=self.max_bytes)
