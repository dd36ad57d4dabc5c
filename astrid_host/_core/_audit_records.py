"""The audit trail's records: schema, canonical encoding and the hash chain.

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
a file verified alone. :func:`~astrid_host._core._audit_verify.verify` walks lines (given
by the caller, who reads the files) and reports the first problem with the line it is on.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
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
    "RecordError",
    "RecoveryRecord",
    "Sealed",
    "SegmentRecord",
    "canonical_json",
    "key_id",
    "parse_line",
    "sha256_hex",
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
