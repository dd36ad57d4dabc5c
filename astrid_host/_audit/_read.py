"""Reading a trail back: the files in chain order, their lines, and verification.

Files are read line by line (a trail of many gigabytes is verified in constant memory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from astrid_host._audit._file import segment_of
from astrid_host._audit._sink import AuditError
from astrid_host._core._audit_verify import FileLines, Report, verify

__all__ = ["iter_lines", "order_files", "trail_files", "verify_files"]


def order_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The files in chain order.

    When every path is the same trail (``audit.jsonl`` and its rotated ``audit.jsonl.NNNNNN``
    files in one directory) they are sorted by segment number, the active file last, so
    ``audit.jsonl*`` works whatever order the shell gives. Otherwise the given order is kept.
    Sorting by name never hides a swap: a file holding another segment than its name says is
    reported by the verifier.
    """
    files = [Path(p) for p in paths]
    keys: list[tuple[int, int]] = []
    base: tuple[Path, str] | None = None
    for f in files:
        rotated = segment_of(f)
        name, key = (rotated[0], (0, rotated[1])) if rotated else (f.name, (1, 0))
        if base is None:
            base = (f.parent, name)
        elif base != (f.parent, name):
            return files
        keys.append(key)
    return [f for _, f in sorted(zip(keys, files, strict=True), key=lambda kf: kf[0])]


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """``(line number, bytes without the newline, complete)`` for each line of ``path``."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if raw.endswith(b"\n"):
                yield number, raw[:-1], True
            else:
                yield number, raw, False


def trail_files(paths: Sequence[str | os.PathLike[str]]) -> list[FileLines]:
    """The files of a trail, in chain order, ready for :func:`verify`.

    Raises :class:`AuditError` for a file that cannot be opened.
    """
    out: list[FileLines] = []
    for path in order_files(paths):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise AuditError(f"{path}: cannot read: {exc.strerror}") from None
        rotated = segment_of(path)
        out.append(FileLines(str(path), None if rotated is None else rotated[1],
                             iter_lines(path)))
    return out


def verify_files(paths: Sequence[str | os.PathLike[str]], key: bytes | None = None) -> Report:
    """Verify a trail from its files (see :func:`astrid_host._core._audit_verify.verify`)."""
    return verify(trail_files(paths), key)
