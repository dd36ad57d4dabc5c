"""The audit trail's records: schema, canonical encoding, the hash chain and its verification.

Pure logic. A record is one JSON object on one line. Every record has the envelope fields

    v      schema version (1)
    seq    sequence number, 1 for the first record of a trail, +1 for each record after
    prev   sha256 (hex) of the previous record's line; 64 zeros for the first record
    time   when the host sealed it, RFC 3339 UTC with milliseconds
    kind   "segment", "decision", "completion" or "recovery"
    mac    HMAC-SHA256 (hex) of the record without ``mac``, only when the trail has a key

and the fields of its kind (:class:`SegmentRecord`, :class:`DecisionRecord`,
:class:`CompletionRecord`, :class:`RecoveryRecord`). The line is the *canonical* JSON of the
record: keys sorted, no whitespace, ASCII only (``\\uXXXX`` escapes), integers, strings,
booleans, null, lists and objects only. Since ``prev`` commits to the whole previous line (its
``mac`` included), editing, removing, inserting or reordering a record breaks the chain at the
next record; with a key, an edit is also caught at the record itself, and nobody without the
key can re-seal a forged chain.

Every file of a trail starts with a segment record, so a missing first line is visible even in
a file verified alone. :func:`verify` walks lines (given by the caller, who reads the files)
and reports the first problem with the line it is on.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from astrid_host._core._classify import IPAddress
from astrid_host._core._model import ErrorCode
from astrid_host._core._policy import AddressCheck
from astrid_host._core._url import ParsedUrl

__all__ = [
    "GENESIS",
    "SCHEMA_VERSION",
    "AddressEntry",
    "AuditRecord",
    "Chain",
    "CompletionRecord",
    "DecisionRecord",
    "FileLines",
    "Problem",
    "ProblemKind",
    "RecordError",
    "RecoveryRecord",
    "Report",
    "Sealed",
    "SegmentRecord",
    "canonical_json",
    "key_id",
    "parse_line",
    "sha256_hex",
    "verify",
]

SCHEMA_VERSION = 1
#: ``prev`` of the first record of a trail.
GENESIS = "0" * 64
KINDS = ("segment", "decision", "completion", "recovery")
_HEX64 = frozenset("0123456789abcdef")


class RecordError(ValueError):
    """A line is not a well-formed audit record; the message says why."""


def canonical_json(obj: Any) -> bytes:
    """The canonical encoding: sorted keys, no whitespace, ASCII, no floats."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name for an HMAC key (so a verifier can tell "wrong key" from "edited")."""
    return hashlib.sha256(b"astrid-host audit key id\x00" + key).hexdigest()[:16]


def _mac(key: bytes, body: dict[str, Any]) -> str:
    return hmac.new(key, canonical_json(body), hashlib.sha256).hexdigest()


def _time_text(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddressEntry:
    """One resolved (or literal) address as the guard judged it."""

    address: str
    reason: str
    allowed: bool
    via_local: bool = False

    @classmethod
    def from_check(cls, check: AddressCheck) -> AddressEntry:
        """From the policy's address check."""
        return cls(str(check.address), check.verdict.reason.value, check.allowed, check.via_local)

    def fields(self) -> dict[str, Any]:
        """The JSON object of this entry."""
        return {"address": self.address, "reason": self.reason, "allowed": self.allowed,
                "via_local": self.via_local}


@dataclass(frozen=True)
class SegmentRecord:
    """The first record of every file: which segment of the trail it is, and its key id."""

    kind: ClassVar[str] = "segment"
    segment: int
    key_id: str | None = None

    def fields(self) -> dict[str, Any]:
        """The kind's fields (without the envelope)."""
        return {"segment": self.segment, "key_id": self.key_id}


@dataclass(frozen=True)
class RecoveryRecord:
    """Written when the host reopened a trail whose last line was torn by a crash: what it cut
    off (length and sha256 of the incomplete bytes), so the loss is on the record.
    """

    kind: ClassVar[str] = "recovery"
    torn_bytes: int
    torn_sha256: str

    def fields(self) -> dict[str, Any]:
        """The kind's fields (without the envelope)."""
        return {"torn_bytes": self.torn_bytes, "torn_sha256": self.torn_sha256}


@dataclass(frozen=True)
class DecisionRecord:
    """One hop's egress decision, written before any byte of it is sent (allowed or denied).

    Path, query, header values and body appear only as sha256 hashes; header values are hashed
    in their redacted form (placeholders, never secret values). ``None`` where a part is not
    known: no URL for an unparseable one, no body hash for a streamed upload.
    """

    kind: ClassVar[str] = "decision"
    capsule: str
    request_id: str
    hop: int
    method: str
    allowed: bool
    reason: str
    scheme: str | None = None
    host: str | None = None
    port: int | None = None
    path_sha256: str | None = None
    query_sha256: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body_length: int | None = None
    body_sha256: str | None = None
    body_streamed: bool = False
    rule: str | None = None
    addresses: tuple[AddressEntry, ...] = ()
    chosen: str | None = None
    secrets: tuple[str, ...] = ()
    dropped_headers: tuple[str, ...] = field(default=())

    @classmethod
    def build(
        cls,
        *,
        capsule: str,
        request_id: str,
        hop: int,
        method: str,
        allowed: bool,
        reason: str,
        url: ParsedUrl | None = None,
        headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes | None = None,
        body_streamed: bool = False,
        rule: str | None = None,
        addresses: Iterable[AddressCheck] = (),
        chosen: IPAddress | None = None,
        secrets: Sequence[str] = (),
        dropped_headers: Sequence[str] = (),
    ) -> DecisionRecord:
        """Hash what must be hashed. ``headers`` must already be redacted
        (``Substitution.template``); ``body`` is ``None`` for no body or a streamed one.
        """
        path = query = None
        if url is not None:
            raw_path, has_query, raw_query = url.target.partition("?")
            path = sha256_hex(raw_path.encode("utf-8", "surrogateescape"))
            if has_query:
                query = sha256_hex(raw_query.encode("utf-8", "surrogateescape"))
        return cls(
            capsule=capsule, request_id=request_id, hop=hop, method=method, allowed=allowed,
            reason=reason,
            scheme=None if url is None else url.scheme,
            host=None if url is None else url.host,
            port=None if url is None else url.port,
            path_sha256=path, query_sha256=query,
            headers=tuple((n.decode("latin-1"), sha256_hex(v)) for n, v in headers),
            body_length=None if body is None else len(body),
            body_sha256=None if body is None else sha256_hex(body),
            body_streamed=body_streamed, rule=rule,
            addresses=tuple(AddressEntry.from_check(a) for a in addresses),
            chosen=None if chosen is None else str(chosen),
            secrets=tuple(secrets), dropped_headers=tuple(dropped_headers),
        )

    def fields(self) -> dict[str, Any]:
        """The kind's fields (without the envelope)."""
        return {
            "capsule": self.capsule, "request_id": self.request_id, "hop": self.hop,
            "method": self.method, "decision": "allow" if self.allowed else "deny",
            "reason": self.reason, "scheme": self.scheme, "host": self.host, "port": self.port,
            "path_sha256": self.path_sha256, "query_sha256": self.query_sha256,
            "headers": [[n, h] for n, h in self.headers],
            "body_length": self.body_length, "body_sha256": self.body_sha256,
            "body_streamed": self.body_streamed, "rule": self.rule,
            "addresses": [a.fields() for a in self.addresses], "chosen": self.chosen,
            "secrets": list(self.secrets), "dropped_headers": list(self.dropped_headers),
        }


@dataclass(frozen=True)
class CompletionRecord:
    """How one hop ended: status (``None`` if no response), body bytes in and out, time taken,
    and the error-code case when it failed.
    """

    kind: ClassVar[str] = "completion"
    capsule: str
    request_id: str
    hop: int
    status: int | None
    bytes_in: int
    bytes_out: int
    elapsed_ms: int
    error: str | None = None

    @classmethod
    def build(
        cls, *, capsule: str, request_id: str, hop: int, status: int | None, bytes_in: int,
        bytes_out: int, elapsed_ms: int, error: ErrorCode | None = None,
    ) -> CompletionRecord:
        """``error`` is recorded by its case name only (payload texts may quote the server)."""
        return cls(capsule, request_id, hop, status, bytes_in, bytes_out, elapsed_ms,
                   None if error is None else error.case)

    def fields(self) -> dict[str, Any]:
        """The kind's fields (without the envelope)."""
        return {"capsule": self.capsule, "request_id": self.request_id, "hop": self.hop,
                "status": self.status, "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "elapsed_ms": self.elapsed_ms, "error": self.error}


AuditRecord = SegmentRecord | RecoveryRecord | DecisionRecord | CompletionRecord


# --- the chain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sealed:
    """One sealed record: its sequence number, its line (no newline) and that line's sha256."""

    seq: int
    line: bytes
    digest: str


@dataclass
class Chain:
    """The state of a trail's hash chain: the last sequence number and the last line's hash.

    Not thread-safe: the sink that owns it seals and writes under one lock, so the order of
    the lines is the order of the sequence numbers.
    """

    key: bytes | None = None
    seq: int = 0
    prev: str = GENESIS

    @classmethod
    def resume(cls, last_line: bytes, key: bytes | None = None) -> Chain:
        """Continue after ``last_line`` (a record read back from a trail)."""
        record = parse_line(last_line)
        return cls(key, record["seq"], sha256_hex(last_line))

    def seal(self, record: AuditRecord, time: float) -> Sealed:
        """Give ``record`` the next sequence number, chain it, MAC it; advance the chain."""
        body: dict[str, Any] = {"v": SCHEMA_VERSION, "seq": self.seq + 1, "prev": self.prev,
                                "time": _time_text(time), "kind": record.kind,
                                **record.fields()}
        if self.key is not None:
            body["mac"] = _mac(self.key, body)
        line = canonical_json(body)
        sealed = Sealed(self.seq + 1, line, sha256_hex(line))
        self.seq, self.prev = sealed.seq, sealed.digest
        return sealed


def parse_line(line: bytes) -> dict[str, Any]:
    """Parse one line into its record, checking the envelope and the canonical form.

    Raises :class:`RecordError` naming the first problem.
    """
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"not JSON ({exc})") from None
    except RecursionError:  # a hostile line of nested brackets
        raise RecordError("not JSON (nested too deeply)") from None
    if not isinstance(record, dict):
        raise RecordError("not a JSON object")
    if record.get("v") != SCHEMA_VERSION:
        raise RecordError(f"unknown schema version {record.get('v')!r}")
    seq, prev = record.get("seq"), record.get("prev")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise RecordError("'seq' is not a positive integer")
    if not isinstance(prev, str) or len(prev) != 64 or not set(prev) <= _HEX64:
        raise RecordError("'prev' is not a sha256 hex digest")
    if not isinstance(record.get("time"), str):
        raise RecordError("'time' is missing")
    if record.get("kind") not in KINDS:
        raise RecordError(f"unknown kind {record.get('kind')!r}")
    if "mac" in record and not isinstance(record["mac"], str):
        raise RecordError("'mac' is not a string")
    try:
        canonical = canonical_json(record)
    except ValueError:  # NaN or infinity
        raise RecordError("not in canonical form (edited)") from None
    if canonical != line:
        raise RecordError("not in canonical form (edited: the bytes differ from what the "
                          "host writes)")
    return record


# --- verification --------------------------------------------------------------------------


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
