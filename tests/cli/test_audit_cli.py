"""`astrid-host audit verify` and `audit show`: messages and exit status on real trails."""

from __future__ import annotations

import json
from ipaddress import ip_address
from pathlib import Path

import pytest

from astrid_host._audit._file import FileSink
from astrid_host._cli import main
from astrid_host._core._audit_records import CompletionRecord, DecisionRecord
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._secret_value import Secret
from astrid_host._core._secrets import Secrets, Substitution
from astrid_host._core._url import parse_url

KEY = b"cli-test-key-0123456789"
VALUE = b"sk-live-DO-NOT-LEAK-42"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["audit", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    (tmp_path / "audit.key").write_bytes(KEY + b"\n")
    return f"@{tmp_path / 'audit.key'}"


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """A keyed trail of two files: a secret-carrying allowed request and its completion, then
    (after a rotation) a denial."""
    directory = tmp_path / "trail"
    directory.mkdir()
    path = directory / "audit.jsonl"
    url = parse_url("https://api.example.com/v1/items?key=Q-TOKEN-XYZ")
    secrets = Secrets.build({"api_key": Secret(VALUE, origins=["https://api.example.com"])})
    sub = secrets.substitute([(b"Authorization", b"Bearer {{secret:api_key}}")], url)
    assert isinstance(sub, Substitution)
    check = EgressPolicy.parse([]).check_address(ip_address("93.184.216.34"), 443)
    with FileSink(path, key=KEY, max_bytes=1500) as sink:
        sink.append(DecisionRecord.build(
            capsule="weather", request_id="1", hop=0, method="GET", allowed=True,
            reason="allowed-by-rule", url=url, headers=sub.template, rule="https://api.example.com",
            addresses=[check], chosen=check.address, secrets=sub.names))
        sink.append(CompletionRecord("weather", "1", 0, 200, 512, 0, 31))
        sink.append(DecisionRecord.build(
            capsule="other", request_id="2", hop=0, method="POST", allowed=False,
            reason="no-matching-rule", url=parse_url("http://[2001:db8::1]:8080/x"),
            body=b"payload"))
    return directory


def files(directory: Path) -> list[str]:
    return sorted(str(p) for p in directory.iterdir())


def test_an_intact_trail_verifies_with_its_key(capsys: pytest.CaptureFixture[str], trail: Path,
                                               key_file: str) -> None:
    status, out, _ = run(capsys, "verify", *files(trail), "--key", key_file)
    assert status == 0
    assert out.splitlines()[-1] == "ok: 5 records verified (seq 1-5), MACs checked"


def test_without_the_key_macs_are_noted_unchecked(capsys: pytest.CaptureFixture[str],
                                                   trail: Path) -> None:
    status, out, _ = run(capsys, "verify", *files(trail))
    assert status == 0
    assert "note: the records carry MACs that were not checked (no key given)" in out
    assert out.splitlines()[-1].endswith("MACs not checked")


def test_json_output(capsys: pytest.CaptureFixture[str], trail: Path, key_file: str) -> None:
    status, out, _ = run(capsys, "verify", *files(trail), "--key", key_file, "--json")
    assert status == 0
    assert json.loads(out) == {"ok": True, "torn": False, "records": 5, "first_seq": 1,
                               "last_seq": 5, "macs_checked": True, "problem": None,
                               "notes": []}


def test_an_edited_record_exits_1_naming_file_and_line(
        capsys: pytest.CaptureFixture[str], trail: Path, key_file: str) -> None:
    active = trail / "audit.jsonl"
    lines = active.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"decision":"deny"', b'"decision":"allow"')
    active.write_bytes(b"".join(lines))
    status, out, _ = run(capsys, "verify", *files(trail), "--key", key_file)
    assert status == 1
    assert out.splitlines()[0].startswith(f"FAILED {active}:2: edited: ")
    assert out.splitlines()[1] == "verified prefix: 4 records (seq 1-4)"
    status, out, _ = run(capsys, "verify", *files(trail), "--key", key_file, "--json")
    problem = json.loads(out)["problem"]
    assert (status, problem["kind"], problem["file"], problem["line"]) == (
        1, "edited", str(active), 2)


def test_a_torn_last_line_exits_4(capsys: pytest.CaptureFixture[str], trail: Path,
                                  key_file: str) -> None:
    active = trail / "audit.jsonl"
    active.write_bytes(active.read_bytes()[:-20])
    status, out, _ = run(capsys, "verify", *files(trail), "--key", key_file)
    assert status == 4
    assert out.startswith(f"TORN {active}:2: torn: the last line is incomplete")
    assert "the 4 records before it verified (seq 1-4)" in out
    status, out, _ = run(capsys, "verify", *files(trail), "--json")
    assert status == 4 and json.loads(out)["torn"] is True


def test_the_wrong_key_exits_1(capsys: pytest.CaptureFixture[str], trail: Path,
                               tmp_path: Path) -> None:
    (tmp_path / "other.key").write_bytes(b"a-different-key-0123456789")
    status, out, _ = run(capsys, "verify", *files(trail), "--key", f"@{tmp_path / 'other.key'}")
    assert status == 1 and "wrong-key: wrong key: the segment was written with key id" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--key", "literal-key-0123456789"], "--key takes @FILE"),
    (["--key", "@/nonexistent/key"], "cannot read the audit key"),
])
def test_bad_keys_exit_2(capsys: pytest.CaptureFixture[str], trail: Path, args: list[str],
                         message: str) -> None:
    status, _, err = run(capsys, "verify", *files(trail), *args)
    assert status == 2 and message in err


def test_an_unreadable_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "verify", str(tmp_path / "nope.jsonl"))
    assert status == 2 and "cannot read" in err
    status, _, err = run(capsys, "show", str(tmp_path / "nope.jsonl"))
    assert status == 2 and "cannot read" in err


def test_audit_without_a_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys)
    assert status == 2 and "verify" in err and "show" in err


def test_show_prints_one_line_per_record(capsys: pytest.CaptureFixture[str],
                                         trail: Path) -> None:
    status, out, _ = run(capsys, "show", *files(trail))
    lines = out.splitlines()
    assert status == 0 and len(lines) == 5
    first = json.loads((trail / "audit.jsonl.000001").read_bytes().splitlines()[0])
    assert lines[0] == f"#1 {first['time']} segment 1 starts (key id {first['key_id']})"
    assert lines[3].endswith("segment 2 starts (key id {})".format(first["key_id"]))
    assert lines[1].split(" ", 2)[2] == (
        "weather req=1 hop=0 GET https://api.example.com:443 allow allowed-by-rule "
        "rule=https://api.example.com addresses=93.184.216.34/public chosen=93.184.216.34 "
        "secrets=api_key")
    assert lines[2].split(" ", 2)[2] == (
        "weather req=1 hop=0 done status=200 in=512 out=0 elapsed=31ms error=-")
    assert lines[-1].split(" ", 2)[2] == (
        "other req=2 hop=0 POST http://[2001:db8::1]:8080 deny no-matching-rule body=7B")


def test_show_filters_by_capsule_and_prints_json(capsys: pytest.CaptureFixture[str],
                                                 trail: Path) -> None:
    status, out, _ = run(capsys, "show", *files(trail), "--capsule", "weather", "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0
    assert [(r["kind"], r["capsule"]) for r in records] == [("decision", "weather"),
                                                           ("completion", "weather")]


def test_show_reports_lines_that_are_not_records(capsys: pytest.CaptureFixture[str],
                                                 trail: Path) -> None:
    active = trail / "audit.jsonl"
    active.write_bytes(b"garbage\n" + active.read_bytes()[:-20])
    status, out, err = run(capsys, "show", str(active))
    assert status == 1 and len(out.splitlines()) == 1
    assert f"{active}:1: not a record: not JSON" in err
    assert f"{active}:3: torn line" in err


def test_no_secret_value_reaches_the_trail_or_its_output(
        capsys: pytest.CaptureFixture[str], trail: Path) -> None:
    for path in trail.iterdir():
        assert VALUE not in path.read_bytes() and b"Q-TOKEN-XYZ" not in path.read_bytes()
    _, out, _ = run(capsys, "show", *files(trail))
    _, out_json, _ = run(capsys, "show", *files(trail), "--json")
    assert VALUE.decode() not in out + out_json


def test_show_reports_a_record_with_fields_of_the_wrong_type(
        capsys: pytest.CaptureFixture[str], trail: Path) -> None:
    active = trail / "audit.jsonl"
    lines = active.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[1])
    record["addresses"] = [1]
    lines[1] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    active.write_bytes(b"".join(lines))
    status, out, err = run(capsys, "show", str(active))
    assert status == 1 and len(out.splitlines()) == 1
    assert f"{active}:2: a decision record with fields of unexpected types" in err
