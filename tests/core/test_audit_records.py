"""Audit records and their verification (astrid_host/_core/_audit_records.py, _audit_verify.py):
schema, canonical lines, the chain, and every kind of tampering on in-memory lines (files:
tests/audit/)."""

from __future__ import annotations

import json
from ipaddress import ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._audit_records import (
    GENESIS,
    Chain,
    CompletionRecord,
    DecisionRecord,
    RecordError,
    RecoveryRecord,
    SegmentRecord,
    canonical_json,
    key_id,
    parse_line,
    sha256_hex,
)
from astrid_host._core._audit_verify import FileLines, ProblemKind, Report, verify
from astrid_host._core._model import ErrorCode, TimeoutPhase
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._url import parse_url

KEY = b"0123456789abcdef-test-key"
T0 = 1_790_000_000.0


def decision(n: int, capsule: str = "weather") -> DecisionRecord:
    return DecisionRecord.build(capsule=capsule, request_id=f"r{n}", hop=0, method="GET",
                                allowed=True, reason="allowed-by-rule",
                                url=parse_url(f"https://api.example.com/v1/{n}"))


def trail(count: int, key: bytes | None = None, segment: int = 1) -> list[bytes]:
    """A segment record then ``count`` decision records, sealed."""
    chain = Chain(key)
    lines = [chain.seal(SegmentRecord(segment, None if key is None else key_id(key)), T0).line]
    lines += [chain.seal(decision(n), T0 + n).line for n in range(count)]
    return lines


def check(lines: list[bytes], key: bytes | None = None, *, torn_last: bool = False,
          name: str = "audit.jsonl", hint: int | None = None) -> Report:
    numbered = [(i, line, not (torn_last and i == len(lines))) for i, line in
                enumerate(lines, start=1)]
    return verify([FileLines(name, hint, numbered)], key)


def problem_of(report: Report) -> tuple[ProblemKind, int]:
    assert report.problem is not None, report
    return report.problem.kind, report.problem.line


def edit(line: bytes, **changes: object) -> bytes:
    record = json.loads(line)
    record.update(changes)
    return canonical_json(record)


# --- records and encoding ------------------------------------------------------------------


def test_canonical_json_is_sorted_compact_ascii() -> None:
    assert canonical_json({"b": 1, "a": ["é", None, True]}) == b'{"a":["\\u00e9",null,true],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_sealing_numbers_chains_and_macs_each_record() -> None:
    chain = Chain(KEY)
    first = chain.seal(SegmentRecord(1, key_id(KEY)), T0)
    second = chain.seal(decision(1), T0 + 0.25)
    one, two = json.loads(first.line), json.loads(second.line)
    assert (one["seq"], one["prev"], two["seq"], two["prev"]) == (1, GENESIS, 2, first.digest)
    assert first.digest == sha256_hex(first.line)
    assert two["time"] == "2026-09-21T14:13:20.250Z"
    assert one["v"] == 1 and one["kind"] == "segment" and two["kind"] == "decision"
    assert len(two["mac"]) == 64 and "mac" not in json.loads(Chain().seal(decision(1), T0).line)
    assert (chain.seq, chain.prev) == (2, second.digest)


def test_a_chain_resumes_after_its_last_line() -> None:
    lines = trail(2)
    chain = Chain.resume(lines[-1])
    assert (chain.seq, chain.prev) == (3, sha256_hex(lines[-1]))
    lines.append(chain.seal(decision(9), T0).line)
    assert check(lines).ok


def test_a_decision_record_hashes_what_may_carry_secrets() -> None:
    policy = EgressPolicy.parse([], local=["127.0.0.1:8080"])
    record = DecisionRecord.build(
        capsule="weather", request_id="7", hop=1, method="POST", allowed=True,
        reason="allowed-by-local-allowance",
        url=parse_url("http://127.0.0.1:8080/a/b?token=abc"),
        headers=[(b"Authorization", b"Bearer {{secret:api}}")], body=b"hello",
        rule="127.0.0.1:8080",
        addresses=[policy.check_address(ip_address("127.0.0.1"), 8080)],
        chosen=ip_address("127.0.0.1"), secrets=["api"], dropped_headers=["X-Key"])
    fields = record.fields()
    assert fields["path_sha256"] == sha256_hex(b"/a/b")
    assert fields["query_sha256"] == sha256_hex(b"token=abc")
    assert fields["headers"] == [["Authorization", sha256_hex(b"Bearer {{secret:api}}")]]
    assert (fields["body_length"], fields["body_sha256"]) == (5, sha256_hex(b"hello"))
    assert fields["addresses"] == [{"address": "127.0.0.1", "reason": "loopback",
                                    "allowed": True, "via_local": True}]
    assert (fields["decision"], fields["chosen"], fields["secrets"], fields["dropped_headers"]) \
        == ("allow", "127.0.0.1", ["api"], ["X-Key"])
    assert b"abc" not in canonical_json(fields) and b"hello" not in canonical_json(fields)


def test_a_decision_record_keeps_absent_parts_distinct() -> None:
    bare = DecisionRecord.build(capsule="c", request_id="1", hop=0, method="GET",
                                allowed=False, reason="invalid-url").fields()
    assert (bare["scheme"], bare["host"], bare["port"], bare["path_sha256"]) == (None,) * 4
    assert (bare["body_length"], bare["body_sha256"], bare["decision"]) == (None, None, "deny")
    empty_query = DecisionRecord.build(capsule="c", request_id="1", hop=0, method="GET",
                                       allowed=True, reason="r", url=parse_url("http://a.test/?"),
                                       body=b"", body_streamed=False).fields()
    assert empty_query["query_sha256"] == sha256_hex(b"")
    assert (empty_query["body_length"], empty_query["body_sha256"]) == (0, sha256_hex(b""))


def test_a_completion_record_keeps_only_the_error_case() -> None:
    fields = CompletionRecord.build(capsule="c", request_id="1", hop=0, status=None, bytes_in=0,
                                    bytes_out=12, elapsed_ms=3,
                                    error=ErrorCode.timeout(TimeoutPhase.CONNECT)).fields()
    assert fields == {"capsule": "c", "request_id": "1", "hop": 0, "status": None,
                      "bytes_in": 0, "bytes_out": 12, "elapsed_ms": 3, "error": "timeout"}
    protocol = CompletionRecord.build(capsule="c", request_id="1", hop=0, status=302,
                                      bytes_in=0, bytes_out=0, elapsed_ms=1,
                                      error=ErrorCode.protocol_error("Location b'/?t=SECRET'"))
    assert protocol.fields()["error"] == "protocol-error"


@pytest.mark.parametrize(("line", "message"), [
    (b"not json", "not JSON"),
    (b"[1]", "not a JSON object"),
    (b'{"v":2}', "unknown schema version"),
    (b'{"prev":"' + GENESIS.encode() + b'","seq":0,"v":1}', "positive integer"),
    (b'{"prev":"xyz","seq":1,"v":1}', "sha256"),
    (b'{"prev":"' + GENESIS.encode() + b'","seq":1,"v":1}', "'time' is missing"),
    (b'{"kind":"other","prev":"' + GENESIS.encode() + b'","seq":1,"time":"t","v":1}',
     "unknown kind"),
    (b'{"kind":"segment","mac":1,"prev":"' + GENESIS.encode() + b'","seq":1,"time":"t","v":1}',
     "'mac' is not a string"),
    (b'{"v":1, "kind":"segment","prev":"' + GENESIS.encode() + b'","seq":1,"time":"t"}',
     "canonical"),
    (b'{"kind":"segment","prev":"' + GENESIS.encode() + b'","seq":1,"time":"t","v":1,"x":NaN}',
     "canonical"),
])
def test_malformed_lines_are_named(line: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        parse_line(line)


# --- verification: every kind of tampering -------------------------------------------------


def test_an_intact_trail_verifies() -> None:
    report = check(trail(5, KEY), KEY)
    assert (report.ok, report.records, report.first_seq, report.last_seq) == (True, 6, 1, 6)
    assert report.notes == []


def test_an_edited_field_is_found_at_the_edited_record() -> None:
    lines = trail(5)
    lines[2] = edit(lines[2], host="evil.test")          # line 3, seq 3
    report = check(lines)
    assert problem_of(report) == (ProblemKind.EDITED, 3)
    assert "record seq 3 was edited" in str(report.problem)
    assert (report.records, report.last_seq) == (2, 2)   # the verified prefix stops before it


def test_with_a_key_an_edit_is_caught_at_the_record_itself_even_the_last() -> None:
    lines = trail(3, KEY)
    lines[-1] = edit(lines[-1], decision="deny")
    assert check(lines).ok          # without the key the last record cannot be checked...
    report = check(lines, KEY)      # ...with it, it can
    assert problem_of(report) == (ProblemKind.EDITED, 4)
    assert "MAC does not match" in str(report.problem)


def test_a_whitespace_edit_breaks_the_canonical_form() -> None:
    lines = trail(2)
    lines[1] = lines[1].replace(b'"hop":0', b'"hop": 0')
    assert problem_of(check(lines)) == (ProblemKind.MALFORMED, 2)


def test_two_reordered_records_are_named() -> None:
    lines = trail(5)
    lines[2], lines[3] = lines[3], lines[2]
    report = check(lines)
    assert problem_of(report) == (ProblemKind.REORDERED, 3)
    assert "seq 4 comes before seq 3" in str(report.problem)


def test_an_inserted_copy_is_named() -> None:
    lines = trail(5)
    lines.insert(3, lines[1])
    report = check(lines)
    assert problem_of(report) == (ProblemKind.INSERTED, 4)


def test_a_forged_record_with_the_right_seq_and_prev_is_caught_by_the_next_record() -> None:
    lines = trail(4)
    forger = Chain.resume(lines[2])
    lines.insert(3, forger.seal(decision(99, "forged"), T0).line)
    assert problem_of(check(lines)) == (ProblemKind.INSERTED, 5)
    keyed = trail(4, KEY)
    forged = Chain.resume(keyed[2], b"not-the-real-key-000").seal(decision(99), T0).line
    keyed.insert(3, forged)
    assert problem_of(check(keyed, KEY)) == (ProblemKind.EDITED, 4)


def test_a_deleted_middle_record_is_named_missing() -> None:
    lines = trail(5)
    del lines[3]
    report = check(lines)
    assert problem_of(report) == (ProblemKind.MISSING, 4)
    assert "seq 4 missing before this record (seq 5)" in str(report.problem)
    lines = trail(8)
    del lines[3:6]
    assert "seq 4 to 6 missing before this record (seq 7)" in str(check(lines).problem)


def test_a_deleted_first_line_is_named_missing() -> None:
    report = check(trail(3)[1:])
    assert problem_of(report) == (ProblemKind.MISSING, 1)
    assert "not a segment start" in str(report.problem)


def test_segment_one_must_start_the_chain() -> None:
    lines = trail(1)
    lines[0] = edit(lines[0], seq=5)
    assert problem_of(check(lines)) == (ProblemKind.EDITED, 1)


def test_a_torn_last_line_is_reported_as_such_after_verifying_the_rest() -> None:
    lines = trail(3)
    lines[-1] = lines[-1][:40]
    report = check(lines, torn_last=True)
    assert problem_of(report) == (ProblemKind.TORN, 4)
    assert (report.records, report.last_seq) == (3, 3)
    assert "incomplete (40 bytes, no newline)" in str(report.problem)


def test_a_torn_line_with_records_after_it_is_not_a_crash() -> None:
    lines = trail(3)
    numbered = [(1, lines[0], True), (2, lines[1][:10], False)]
    report = verify([FileLines("a", None, numbered),
                     FileLines("b", None, [(1, lines[2], True)])])
    assert problem_of(report) == (ProblemKind.TORN_INSIDE, 2)


def test_the_wrong_key_is_named_as_such() -> None:
    report = check(trail(2, KEY), b"another-key-0123456789")
    assert problem_of(report) == (ProblemKind.WRONG_KEY, 1)
    assert f"written with key id {key_id(KEY)}" in str(report.problem)


def test_a_key_given_for_an_unkeyed_trail_finds_no_mac() -> None:
    assert problem_of(check(trail(2), KEY)) == (ProblemKind.NO_MAC, 1)
    lines = trail(2, KEY)
    lines[1] = edit(lines[1])
    record = json.loads(lines[1])
    del record["mac"]
    lines[1] = canonical_json(record)
    assert problem_of(check(lines, KEY)) == (ProblemKind.NO_MAC, 2)


def test_macs_without_a_key_are_noted_as_not_checked() -> None:
    report = check(trail(1, KEY))
    assert report.ok and report.notes == [
        "the records carry MACs that were not checked (no key given)"]


def test_an_empty_trail_is_a_problem() -> None:
    assert check([]).problem is not None
    assert check([]).problem.kind is ProblemKind.EMPTY  # type: ignore[union-attr]


def test_a_trail_may_start_at_a_later_segment_with_a_note() -> None:
    chain = Chain(None, 41, sha256_hex(b"earlier"))
    lines = [chain.seal(SegmentRecord(3), T0).line, chain.seal(decision(1), T0).line]
    report = check(lines, name="audit.jsonl.000003", hint=3)
    assert report.ok and report.first_seq == 42
    assert "starts at segment 3 (seq 42)" in report.notes[0]


def test_segment_structure_is_checked() -> None:
    chain = Chain()
    seg1 = chain.seal(SegmentRecord(1), T0).line
    rec = chain.seal(decision(1), T0).line
    seg3 = chain.seal(SegmentRecord(3), T0).line
    report = verify([FileLines("a.1", None, [(1, seg1, True), (2, rec, True)]),
                     FileLines("a.2", None, [(1, seg3, True)])])
    assert problem_of(report) == (ProblemKind.SEGMENT, 1)
    assert "segment 3 follows segment 1" in str(report.problem)
    report = check([seg1], name="audit.jsonl.000002", hint=2)
    assert "file name says segment 2 but it holds segment 1" in str(report.problem)
    chain = Chain()
    lines = [chain.seal(SegmentRecord(1), T0).line, chain.seal(SegmentRecord(2), T0).line]
    assert "starts in the middle" in str(check(lines).problem)
    chain = Chain()
    bad = [chain.seal(SegmentRecord(0), T0).line]
    assert problem_of(check(bad)) == (ProblemKind.MALFORMED, 1)


def test_a_recovery_record_is_noted() -> None:
    chain = Chain()
    lines = [chain.seal(SegmentRecord(1), T0).line,
             chain.seal(RecoveryRecord(11, sha256_hex(b"x" * 11)), T0).line]
    report = check(lines)
    assert report.ok and "cutting off a torn line of 11 bytes" in report.notes[0]


@given(st.integers(1, 8), st.data())
def test_any_single_change_to_a_keyed_trail_is_found(count: int, data: st.DataObject) -> None:
    """Removing, duplicating, swapping or editing any one line of a keyed trail is reported
    (with the key, the last line too), and never as a torn line."""
    lines = trail(count, KEY)
    index = data.draw(st.integers(0, len(lines) - 1))
    change = data.draw(st.sampled_from(["remove", "duplicate", "swap", "edit"]))
    if change == "remove":
        if len(lines) == 1:
            return
        del lines[index]
    elif change == "duplicate":
        lines.insert(index, lines[index])
    elif change == "swap":
        other = data.draw(st.integers(0, len(lines) - 1))
        if lines[other] == lines[index]:
            return
        lines[index], lines[other] = lines[other], lines[index]
    else:
        lines[index] = edit(lines[index], time="2000-01-01T00:00:00.000Z")
    if change == "remove" and index == len(lines):
        return  # removing the last line is invisible without an outside anchor: documented
    report = check(lines, KEY)
    assert report.problem is not None
    assert report.problem.kind not in (ProblemKind.TORN, ProblemKind.TORN_INSIDE)


def test_a_line_of_nested_brackets_is_malformed_not_a_crash() -> None:
    lines = trail(1)
    lines.insert(1, b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(RecordError, match="nested too deeply"):
        parse_line(lines[1])
    assert problem_of(check(lines)) == (ProblemKind.MALFORMED, 2)
