"""SIGKILL while appending: the verified prefix holds every record the writer saw complete.

A child process appends records in a loop (fsync mode, rotating often) and writes the number of
each completed append to a pipe only after ``append`` returned. The parent kills it with SIGKILL
once it has reported enough, reads everything it reported, and checks the trail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from astrid_host._audit._file import FileSink
from astrid_host._audit._read import iter_lines, order_files, verify_files
from astrid_host._core._audit_records import CompletionRecord
from astrid_host._core._audit_verify import ProblemKind

ROOT = Path(__file__).resolve().parents[2]
KEY = b"crash-test-key-0123456789"

CHILD = """
import os, sys
from astrid_host._audit._file import Durability, FileSink
from astrid_host._core._audit_records import CompletionRecord
sink = FileSink(sys.argv[1], key=sys.argv[2].encode(), durability=Durability.parse(sys.argv[3]),
                max_bytes=int(sys.argv[4]))
n = 0
while True:
    sink.append(CompletionRecord("crash", str(n), 0, 200, n, n, 1))
    os.write(1, b"%d\\n" % n)   # only after append returned
    n += 1
"""


def run_and_kill(path: Path, durability: str, reports: int) -> int:
    """Start the child, let it report ``reports`` completed appends, SIGKILL it; return how
    many appends it reported complete in all."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), KEY.decode(), durability, "3000"],
        cwd=ROOT, stdout=subprocess.PIPE)
    assert child.stdout is not None
    try:
        seen = 0
        while seen < reports:
            line = child.stdout.readline()
            assert line, f"the child stopped early (exit {child.poll()})"
            seen += 1
        os.kill(child.pid, signal.SIGKILL)
        rest = child.stdout.read()   # whatever it reported before the signal landed
        seen += rest.count(b"\n")
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return seen


def verified_request_ids(files: list[Path], count: int) -> set[str]:
    ids: set[str] = set()
    remaining = count
    for path in files:
        for _, data, complete in iter_lines(path):
            if remaining == 0 or not complete:
                return ids
            record = json.loads(data)
            if record["kind"] == "completion":
                ids.add(record["request_id"])
            remaining -= 1
    return ids


@pytest.mark.parametrize("durability", ["fsync", "none"])
def test_sigkill_leaves_a_verified_prefix_with_every_reported_record(
        tmp_path: Path, durability: str) -> None:
    path = tmp_path / "audit.jsonl"
    reported = run_and_kill(path, durability, reports=60)
    files = order_files(sorted(tmp_path.iterdir()))
    report = verify_files(files, KEY)
    # Intact, or intact up to a line the kill tore: never anything else.
    assert report.problem is None or report.problem.kind is ProblemKind.TORN, report.problem
    assert verified_request_ids(files, report.records) >= {str(n) for n in range(reported)}

    # The trail goes on after the crash, and verifies whole again.
    with FileSink(path, key=KEY, max_bytes=3000) as sink:
        sink.append(CompletionRecord("after", "x", 0, 200, 0, 0, 1))
    after = verify_files(order_files(sorted(tmp_path.iterdir())), KEY)
    assert after.ok, after.problem
    # Every record verified before is still there, then at least the new one (a segment
    # record and a recovery record too, when the kill landed mid-rotation or mid-line).
    assert after.records > report.records
