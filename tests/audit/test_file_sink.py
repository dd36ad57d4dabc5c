"""The file sink (astrid_host/_audit/_file.py): lines on disk, durability modes, rotation that
keeps the chain, reopening (also after a crash), and tampering with real files."""

from __future__ import annotations

import itertools
import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from astrid_host._audit._file import (
    Durability,
    DurabilityMode,
    FileSink,
    default_sync,
    read_key,
    rotated_name,
    segment_of,
)
from astrid_host._audit._read import order_files, verify_files
from astrid_host._audit._sink import AuditError, AuditSink, MemorySink
from astrid_host._core._audit_records import CompletionRecord, sha256_hex
from astrid_host._core._audit_verify import FileLines, ProblemKind, Report, verify

KEY = b"audit-test-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]


def done(n: int, capsule: str = "weather") -> CompletionRecord:
    return CompletionRecord(capsule, f"r{n}", 0, 200, 10 * n, 0, n)


class CountingSync:
    """A `sync` that persists like the default one and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.called = threading.Event()

    def __call__(self, fd: int) -> None:
        default_sync(fd)
        self.calls += 1
        self.called.set()


def trail_files(directory: Path) -> list[Path]:
    return order_files(sorted(directory.iterdir()))


def verify_dir(directory: Path, key: bytes | None = None) -> Report:
    return verify_files(trail_files(directory), key)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_trail(directory: Path, count: int, **options: object) -> Path:
    path = directory / "audit.jsonl"
    with FileSink(path, key=KEY, **options) as sink:  # type: ignore[arg-type]
        for n in range(count):
            sink.append(done(n))
    return path


# --- writing -------------------------------------------------------------------------------


def test_records_are_one_canonical_line_each_in_a_private_file(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 3)
    records = [json.loads(line) for line in lines_of(path)]
    assert [r["kind"] for r in records] == ["segment", "completion", "completion", "completion"]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    report = verify_dir(tmp_path, KEY)
    assert (report.ok, report.records) == (True, 4)


def test_both_sinks_implement_the_interface(tmp_path: Path) -> None:
    with FileSink(tmp_path / "a.jsonl") as sink:
        assert isinstance(sink, AuditSink)
    assert isinstance(MemorySink(), AuditSink)


def test_the_memory_sink_keeps_a_verifiable_trail() -> None:
    sink = MemorySink(key=KEY)
    sink.append(done(1))
    assert [r["kind"] for r in sink.records()] == ["segment", "completion"]
    assert verify([FileLines("memory", None, [(i, line, True) for i, line in
                                               enumerate(sink.lines, 1)])], KEY).ok
    sink.close()
    with pytest.raises(AuditError, match="closed"):
        sink.append(done(2))


def test_reopening_continues_the_chain_in_the_same_file(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 2)
    with FileSink(path, key=KEY) as sink:
        sink.append(done(9))
    assert [json.loads(line)["seq"] for line in lines_of(path)] == [1, 2, 3, 4]
    assert verify_dir(tmp_path, KEY).ok


@pytest.mark.parametrize(("text", "mode", "interval"), [
    ("fsync", DurabilityMode.FSYNC, 0), ("none", DurabilityMode.NONE, 0),
    ("250ms", DurabilityMode.INTERVAL, 250),
])
def test_durability_parses(text: str, mode: DurabilityMode, interval: int) -> None:
    durability = Durability.parse(text)
    assert (durability.mode, durability.interval_ms, str(durability)) == (mode, interval, text)


@pytest.mark.parametrize("text", ["always", "0ms", "5s", "-1ms", ""])
def test_bad_durability_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="durability must be"):
        Durability.parse(text)


def test_fsync_mode_persists_every_record_and_is_blocking(tmp_path: Path) -> None:
    sync = CountingSync()
    with FileSink(tmp_path / "a.jsonl", sync=sync) as sink:
        assert sink.blocking
        after_open = sync.calls
        sink.append(done(1))
        sink.append(done(2))
        assert sync.calls == after_open + 2
    assert after_open == 1  # the segment record


def test_none_mode_never_waits_for_the_disk(tmp_path: Path) -> None:
    sync = CountingSync()
    with FileSink(tmp_path / "a.jsonl", durability=Durability.parse("none"), sync=sync,
                  max_bytes=400) as sink:
        assert not sink.blocking
        for n in range(5):
            sink.append(done(n))
        sink.sync()  # an explicit sync still works
    assert sync.calls == 1
    assert verify_dir(tmp_path).ok


def test_interval_mode_syncs_from_its_own_thread(tmp_path: Path) -> None:
    sync = CountingSync()
    sink = FileSink(tmp_path / "a.jsonl", durability=Durability.parse("1ms"), sync=sync)
    assert not sink.blocking
    sink.append(done(1))
    # The syncer thread runs every millisecond; waiting for it is the point, not its speed.
    assert sync.called.wait(timeout=60)
    sink.close()
    assert sync.calls >= 1
    assert verify_dir(tmp_path).ok


def test_close_syncs_what_the_interval_thread_has_not(tmp_path: Path) -> None:
    sync = CountingSync()
    sink = FileSink(tmp_path / "a.jsonl", durability=Durability.parse("3600000ms"), sync=sync)
    sink.append(done(1))
    assert sync.calls == 0
    sink.close()
    assert sync.calls == 1
    with pytest.raises(AuditError, match="closed"):
        sink.append(done(2))
    sink.close()  # twice is fine


def test_appends_from_many_threads_form_one_chain(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "audit.jsonl", key=KEY, durability=Durability.parse("none"),
                    max_bytes=2000)

    def worker(base: int) -> None:
        for n in range(50):
            sink.append(done(base + n))

    threads = [threading.Thread(target=worker, args=(1000 * t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()
    report = verify_dir(tmp_path, KEY)
    segments = len(list(tmp_path.iterdir()))
    assert report.ok and report.records == 200 + segments


def test_a_second_writer_on_the_same_file_is_refused(tmp_path: Path) -> None:
    with FileSink(tmp_path / "a.jsonl"), \
            pytest.raises(AuditError, match="being written by another audit sink"):
        FileSink(tmp_path / "a.jsonl")


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        FileSink(tmp_path / "a", max_bytes=0)
    with pytest.raises(ValueError, match="16 bytes"):
        FileSink(tmp_path / "a", key=b"short")
    with pytest.raises(AuditError, match="cannot open"):
        FileSink(tmp_path / "missing-dir" / "a")


def test_a_write_failure_fails_closed_for_good(tmp_path: Path) -> None:
    """A file size limit makes a write fail half-way: that append and every later one raise,
    and the torn line it left is reported and recovered like a crash's."""
    path = tmp_path / "audit.jsonl"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))\n"
        "from astrid_host._audit._file import FileSink\n"
        "from astrid_host._audit._sink import AuditError\n"
        "from astrid_host._core._audit_records import CompletionRecord\n"
        "sink = FileSink(sys.argv[1])\n"
        "errors = []\n"
        "for n in range(40):\n"
        "    try:\n"
        "        sink.append(CompletionRecord('c', str(n), 0, 200, 1, 1, 1))\n"
        "    except AuditError as exc:\n"
        "        errors.append(str(exc))\n"
        "print(len(errors), errors[0] == errors[-1], errors[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    failures, same, message = out.split(" ", 2)
    assert int(failures) > 1 and same == "True" and "cannot write the audit trail" in message
    report = verify_dir(tmp_path)
    assert report.problem is not None and report.problem.kind is ProblemKind.TORN
    FileSink(path).close()
    assert verify_dir(tmp_path).ok


# --- rotation ------------------------------------------------------------------------------


def test_rotation_keeps_the_chain_across_files(tmp_path: Path) -> None:
    write_trail(tmp_path, 12, max_bytes=700)
    files = trail_files(tmp_path)
    assert [f.name for f in files][-1] == "audit.jsonl"
    assert [segment_of(f) for f in files[:-1]] == [
        ("audit.jsonl", n) for n in range(1, len(files))]
    assert all(f.stat().st_size <= 700 for f in files)
    for older, newer in itertools.pairwise(files):
        first = json.loads(lines_of(newer)[0])
        assert first["kind"] == "segment" and first["segment"] == segment_of(older)[1] + 1
        assert first["prev"] == sha256_hex(lines_of(older)[-1].rstrip(b"\n"))
    report = verify_files(list(reversed(files)), KEY)  # any order of the same trail's names
    assert report.ok and report.records == 12 + len(files)


def test_a_record_bigger_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    write_trail(tmp_path, 3, max_bytes=10)
    assert [len(lines_of(f)) for f in trail_files(tmp_path)] == [2, 2, 2]
    assert verify_dir(tmp_path, KEY).ok


def test_rotation_names_are_zero_padded_segments() -> None:
    assert rotated_name(Path("/x/audit.jsonl"), 3) == Path("/x/audit.jsonl.000003")
    assert segment_of(Path("audit.jsonl.000003")) == ("audit.jsonl", 3)
    assert segment_of(Path("audit.jsonl.1234567")) == ("audit.jsonl", 1234567)
    assert segment_of(Path("audit.jsonl")) is None and segment_of(Path("a.1")) is None


def test_other_names_keep_the_order_given(tmp_path: Path) -> None:
    names = [tmp_path / "b.jsonl", tmp_path / "a.jsonl"]
    assert order_files(names) == names
    mixed = [tmp_path / "x.jsonl.000002", tmp_path / "y.jsonl.000001"]
    assert order_files(mixed) == mixed


# --- tampering with files ------------------------------------------------------------------


@pytest.fixture
def rotated(tmp_path: Path) -> list[Path]:
    write_trail(tmp_path, 12, max_bytes=700)
    files = trail_files(tmp_path)
    assert len(files) >= 4
    return files


def problem(files: list[Path], key: bytes | None = KEY) -> tuple[ProblemKind, str, int]:
    report = verify_files(files, key)
    assert report.problem is not None, report
    return report.problem.kind, Path(report.problem.source).name, report.problem.line


def test_deleting_the_first_line_of_a_rotated_file_is_found(rotated: list[Path]) -> None:
    target = rotated[1]
    target.write_bytes(b"".join(lines_of(target)[1:]))
    assert problem(rotated) == (ProblemKind.MISSING, target.name, 1)
    # Alone, the file still shows it: it does not start with a segment record.
    kind, _, line = problem([target])
    assert (kind, line) == (ProblemKind.MISSING, 1)


def test_deleting_the_last_record_of_a_rotated_file_is_found_by_the_next(
        rotated: list[Path]) -> None:
    target = rotated[1]
    target.write_bytes(b"".join(lines_of(target)[:-1]))
    assert problem(rotated) == (ProblemKind.MISSING, rotated[2].name, 1)


def test_swapped_files_are_found(rotated: list[Path]) -> None:
    first, second = rotated[0], rotated[1]
    first.rename(first.with_suffix(".tmp"))
    second.rename(first)
    first.with_suffix(".tmp").rename(second)
    kind, name, line = problem(trail_files(first.parent))
    assert (kind, name, line) == (ProblemKind.SEGMENT, first.name, 1)


def test_a_missing_rotated_file_is_found(rotated: list[Path]) -> None:
    rotated[1].unlink()
    assert problem(trail_files(rotated[0].parent))[:2] == (ProblemKind.MISSING, rotated[2].name)


def test_an_edit_in_a_rotated_file_is_found(rotated: list[Path]) -> None:
    target = rotated[1]
    lines = lines_of(target)
    lines[1] = lines[1].replace(b'"status":200', b'"status":201')
    target.write_bytes(b"".join(lines))
    assert problem(rotated) == (ProblemKind.EDITED, target.name, 2)
    assert problem(rotated, None) == (ProblemKind.EDITED, target.name, 2)


def test_a_truncated_last_line_is_torn_not_tampered(rotated: list[Path]) -> None:
    active = rotated[-1]
    active.write_bytes(active.read_bytes()[:-30])
    kind, name, line = problem(rotated)
    assert (kind, name, line) == (ProblemKind.TORN, "audit.jsonl", len(lines_of(active)))


def test_a_truncated_rotated_file_is_not_a_crash(rotated: list[Path]) -> None:
    rotated[1].write_bytes(rotated[1].read_bytes()[:-30])
    assert problem(rotated)[0] is ProblemKind.TORN_INSIDE


def test_the_wrong_key_is_reported(rotated: list[Path]) -> None:
    assert problem(rotated, b"some-other-key-0123456789") == (
        ProblemKind.WRONG_KEY, rotated[0].name, 1)


# --- reopening after a crash ---------------------------------------------------------------


def test_a_torn_tail_is_cut_off_and_recorded_when_the_trail_is_reopened(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 2)
    torn = b'{"addresses":[],"body_le'
    with path.open("ab") as f:
        f.write(torn)
    with FileSink(path, key=KEY) as sink:
        sink.append(done(5))
    records = [json.loads(line) for line in lines_of(path)]
    assert [r["kind"] for r in records] == ["segment", "completion", "completion", "recovery",
                                            "completion"]
    assert (records[3]["torn_bytes"], records[3]["torn_sha256"]) == (len(torn), sha256_hex(torn))
    report = verify_dir(tmp_path, KEY)
    assert report.ok and f"torn line of {len(torn)} bytes" in report.notes[0]


def test_a_file_torn_in_its_first_line_starts_over_after_the_rotated_ones(
        tmp_path: Path) -> None:
    path = write_trail(tmp_path, 6, max_bytes=700)
    path.write_bytes(b'{"key_id":"36ea32')        # the crash tore the new segment record
    with FileSink(path, key=KEY) as sink:
        sink.append(done(7))
    kinds = [json.loads(line)["kind"] for line in lines_of(path)]
    assert kinds == ["segment", "recovery", "completion"]
    assert verify_dir(tmp_path, KEY).ok


def test_a_crash_between_rename_and_new_file_continues_from_the_rotated_file(
        tmp_path: Path) -> None:
    path = write_trail(tmp_path, 6, max_bytes=700)
    segment = json.loads(lines_of(path)[0])["segment"]
    path.rename(rotated_name(path, segment))       # rotated, then the process died
    with FileSink(path, key=KEY, max_bytes=700) as sink:
        assert sink.segment == segment + 1
        sink.append(done(7))
    assert verify_dir(tmp_path, KEY).ok
    path.write_bytes(b"")                           # ...or died right after creating the file
    with FileSink(path, key=KEY, max_bytes=700) as sink:
        assert sink.segment == segment + 1
    # The empty file was started over: the trail verifies up to the rotated files.
    assert verify_dir(tmp_path, KEY).ok


def test_a_torn_newest_rotated_file_is_refused(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 6, max_bytes=700)
    newest = trail_files(tmp_path)[-2]
    path.unlink()
    newest.write_bytes(newest.read_bytes()[:-5])
    with pytest.raises(AuditError, match="ends with a torn line"):
        FileSink(path, key=KEY)


@pytest.mark.parametrize(("content", "message"), [
    (b"hello\n", "not an astrid-host audit trail"),
    (b'{"v":1}\n', "not an astrid-host audit trail"),
])
def test_a_file_that_is_not_a_trail_is_refused(tmp_path: Path, content: bytes,
                                                 message: str) -> None:
    (tmp_path / "a.jsonl").write_bytes(content)
    with pytest.raises(AuditError, match=message):
        FileSink(tmp_path / "a.jsonl")


def test_a_trail_without_its_first_line_is_refused(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 2)
    path.write_bytes(b"".join(lines_of(path)[1:]))
    with pytest.raises(AuditError, match="does not start with a segment record"):
        FileSink(path, key=KEY)


def test_a_trail_written_with_another_key_is_refused(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 1)
    with pytest.raises(AuditError, match="was written with key id"):
        FileSink(path, key=b"another-key-0123456789")
    with pytest.raises(AuditError, match="was written with key id"):
        FileSink(path)


# --- keys ----------------------------------------------------------------------------------


def test_read_key_strips_one_newline_and_wants_16_bytes(tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(KEY + b"\n")
    assert read_key(tmp_path / "k") == KEY
    (tmp_path / "k").write_bytes(KEY + b"\r\n")
    assert read_key(tmp_path / "k") == KEY
    (tmp_path / "k").write_bytes(b"short\n")
    with pytest.raises(AuditError, match="at least 16 bytes"):
        read_key(tmp_path / "k")
    with pytest.raises(AuditError, match="cannot read the audit key"):
        read_key(tmp_path / "nope")


def test_the_key_never_reaches_the_file(tmp_path: Path) -> None:
    path = write_trail(tmp_path, 2)
    assert KEY not in path.read_bytes()
