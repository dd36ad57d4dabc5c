"""Verifying an audit trail: walk its lines and report the first problem (:func:`verify`).

Pure logic. The caller reads the files and gives their lines (:class:`FileLines`); the
:class:`Report` names the first problem (:class:`Problem`, a :class:`ProblemKind`) with the file
and line it is on. What is checked is what :mod:`~astrid_host._core._audit_records` promises:
every line a canonical record, sequence numbers without gaps, each ``prev`` the hash of the line
before, each file starting with a segment record, and with a key, every record's ``mac``.
"""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from astrid_host._core._audit_records import (
    GENESIS,
    RecordError,
    _mac,
    key_id,
    parse_line,
    sha256_hex,
)

__all__ = ["FileLines", "Problem", "ProblemKind", "Report", "verify"]


class ProblemKind(enum.Enum):
    """What is wrong with a trail. Values are stable keys."""

    MALFORMED = "malformed"
    EDITED = "edited"
    REORDERED = "reordered"
    INSERTED = "inserted"
    MISSING = "missing"
    SEGMENT = "segment"
    WRONG_KEY = "wrong-key"
    NO_MAC = "no-mac"
    #: The last line of the last file is incomplete: the writer died mid-record.
    TORN = "torn"
    #: An incomplete line that is not at the end of the trail.
    TORN_INSIDE = "torn-inside"
    EMPTY = "empty"


@dataclass(frozen=True)
class Problem:
    """The first problem found: its kind, where (file and 1-based line) and what."""

    kind: ProblemKind
    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.kind.value}: {self.message}"


@dataclass(frozen=True)
class FileLines:
    """One file of a trail as the verifier sees it.

    name: shown in reports. segment_hint: the segment number its name says it holds (rotated
    files are named ``audit.jsonl.000003``), ``None`` if the name says nothing.
    lines: ``(line_number, bytes_without_newline, complete)``; only the file's last line may be
    incomplete (no newline).
    """

    name: str
    segment_hint: int | None
    lines: Iterable[tuple[int, bytes, bool]]


@dataclass
class Report:
    """What :func:`verify` found.

    records: how many records verified before the first problem (the verified prefix).
    first_seq/last_seq: the sequence numbers of the first and last verified records.
    problem: the first problem, ``None`` if the whole trail verified.
    notes: things worth knowing that are not problems (where verification started, recoveries,
    MACs present but not checked).
    """

    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return self.problem is None


@dataclass(frozen=True)
class _Line:
    name: str
    hint: int | None
    number: int
    data: bytes
    complete: bool
    first_in_file: bool


def _flatten(files: Iterable[FileLines]) -> Iterator[_Line]:
    for f in files:
        first = True
        for number, data, complete in f.lines:
            yield _Line(f.name, f.segment_hint, number, data, complete, first)
            first = False


class _Peekable:
    def __init__(self, it: Iterator[_Line]) -> None:
        self._it = it
        self._next: list[_Line] = []

    def __iter__(self) -> _Peekable:
        return self

    def __next__(self) -> _Line:
        return self._next.pop() if self._next else next(self._it)

    def peek(self) -> _Line | None:
        if not self._next:
            try:
                self._next.append(next(self._it))
            except StopIteration:
                return None
        return self._next[0]


def _peek_seq(lines: _Peekable) -> int | None:
    following = lines.peek()
    if following is None or not following.complete:
        return None
    try:
        seq = json.loads(following.data).get("seq")
    except (ValueError, AttributeError, RecursionError):
        return None
    return seq if isinstance(seq, int) else None


def verify(files: Iterable[FileLines], key: bytes | None = None) -> Report:
    """Walk a trail's files in order and report the first problem (see :class:`ProblemKind`).

    With ``key`` every record's MAC is checked; without it, MACs that are present are noted as
    not checked. A trail that starts at a segment other than 1 is verified from there (earlier
    files were not given), with a note.
    """
    report = Report()
    lines = _Peekable(_flatten(files))
    expected_key = None if key is None else key_id(key)
    prev_digest: str | None = None
    prev_where: _Line | None = None
    segment: int | None = None
    unchecked_macs = False

    def fail(kind: ProblemKind, where: _Line, message: str) -> Report:
        report.problem = Problem(kind, where.name, where.number, message)
        return report

    for line in lines:
        if not line.complete:
            if lines.peek() is None:
                return fail(ProblemKind.TORN, line,
                            f"the last line is incomplete ({len(line.data)} bytes, no newline): "
                            "the writer was killed while appending it; every record before it "
                            "verified")
            return fail(ProblemKind.TORN_INSIDE, line,
                        "an incomplete line (no newline) inside the trail: the file was cut "
                        "and more records follow it")
        try:
            record = parse_line(line.data)
        except RecordError as exc:
            return fail(ProblemKind.MALFORMED, line, str(exc))
        seq, kind = record["seq"], record["kind"]
        if prev_digest is None:
            if kind != "segment" or not line.first_in_file:
                return fail(ProblemKind.MISSING, line,
                            f"the trail starts with a {kind} record (seq {seq}), not a segment "
                            "start: its first line(s) are missing")
            if record.get("segment") == 1 and (seq != 1 or record["prev"] != GENESIS):
                return fail(ProblemKind.EDITED, line,
                            "segment 1 must start the trail with seq 1 and a zero prev")
            if seq != 1:
                report.notes.append(
                    f"verification starts at segment {record.get('segment')} (seq {seq}) in "
                    f"{line.name}: earlier segments were not given and are not checked")
        else:
            assert prev_where is not None
            expected = (report.last_seq or 0) + 1
            if seq != expected:
                after = _peek_seq(lines)
                if seq == expected + 1 and after == expected:
                    return fail(ProblemKind.REORDERED, line,
                                f"seq {seq} comes before seq {expected} (next line): records "
                                "were reordered")
                if after == expected:
                    return fail(ProblemKind.INSERTED, line,
                                f"seq {seq} does not belong here (expected {expected}, which "
                                "the next line holds): a record was inserted")
                if seq > expected:
                    gap = (f"seq {expected}" if seq == expected + 1
                           else f"seq {expected} to {seq - 1}")
                    return fail(ProblemKind.MISSING, line,
                                f"{gap} missing before this record (seq {seq})")
                return fail(ProblemKind.INSERTED, line,
                            f"seq {seq} repeats or goes back (expected {expected}): a record "
                            "was inserted or copied")
            if record["prev"] != prev_digest:
                # The edit is in the previous record: it is not part of the verified prefix.
                report.records -= 1
                report.last_seq = expected - 2 if report.records else None
                report.first_seq = report.first_seq if report.records else None
                return fail(ProblemKind.EDITED, prev_where,
                            f"record seq {expected - 1} was edited: its hash does not match "
                            f"the prev of the next record ({line.name}:{line.number})")
        if kind == "segment":
            problem = _check_segment(record, line, segment, expected_key)
            if problem is not None:
                return fail(*problem)
            segment = record["segment"]
        elif line.first_in_file:
            return fail(ProblemKind.MISSING, line,
                        f"{line.name} starts with a {kind} record (seq {seq}), not a segment "
                        "start: its first line is missing")
        elif kind == "recovery":
            report.notes.append(
                f"{line.name}:{line.number}: the host recovered from a crash here, cutting off "
                f"a torn line of {record.get('torn_bytes')} bytes (sha256 "
                f"{record.get('torn_sha256')})")
        if key is not None:
            if "mac" not in record:
                return fail(ProblemKind.NO_MAC, line, "the record has no MAC but a key was given")
            body = {k: v for k, v in record.items() if k != "mac"}
            if not hmac.compare_digest(record["mac"], _mac(key, body)):
                return fail(ProblemKind.EDITED, line,
                            "the MAC does not match: the record was edited or forged")
        elif "mac" in record:
            unchecked_macs = True
        report.records += 1
        report.first_seq = report.first_seq or seq
        report.last_seq = seq
        prev_digest, prev_where = sha256_hex(line.data), line
    if report.records == 0:
        report.problem = Problem(ProblemKind.EMPTY, "-", 0, "no records")
    if unchecked_macs:
        report.notes.append("the records carry MACs that were not checked (no key given)")
    return report


def _check_segment(
    record: dict[str, Any], line: _Line, previous: int | None, expected_key: str | None,
) -> tuple[ProblemKind, _Line, str] | None:
    number = record.get("segment")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        return ProblemKind.MALFORMED, line, "a segment record without a valid segment number"
    if not line.first_in_file:
        return (ProblemKind.SEGMENT, line,
                f"segment {number} starts in the middle of {line.name}: lines were inserted "
                "or files joined")
    if previous is not None and number != previous + 1:
        return (ProblemKind.SEGMENT, line,
                f"segment {number} follows segment {previous}: files are missing or out of "
                "order")
    if line.hint is not None and line.hint != number:
        return (ProblemKind.SEGMENT, line,
                f"the file name says segment {line.hint} but it holds segment {number}: files "
                "were renamed or swapped")
    written_with = record.get("key_id")
    if expected_key is not None:
        if written_with is None:
            return ProblemKind.NO_MAC, line, "this segment was written without a key"
        if written_with != expected_key:
            return (ProblemKind.WRONG_KEY, line,
                    f"wrong key: the segment was written with key id {written_with}, the key "
                    f"given has id {expected_key}")
    return None
