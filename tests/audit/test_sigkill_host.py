"""SIGKILL of a host whose capsules are making requests (issue 13): the verified prefix of its
audit trail holds every request the capsules saw complete.

A child process runs a Host with an audit trail (durability ``none``: only the kernel has the
records) and a loopback server; two WAT-guest capsules send requests concurrently, each with a
query naming it (``c=<capsule>&k=<n>``), and the child writes ``<capsule> <n>`` to a pipe after
each ``fetch`` returned to the capsule. The parent kills the child with SIGKILL once it has
reported enough, reads everything it reported, and looks each reported request up in the
verified prefix: a decision record with that query's hash, and the completion (status 200) of
the same request.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

from astrid_host._audit._read import iter_lines, verify_files
from astrid_host._core._audit_records import ProblemKind

ROOT = Path(__file__).resolve().parents[2]
KEY = b"sigkill-host-key-0123456789"
#: Seconds the child may take to report its next request (compiling the guest included).
PATIENCE = 180

CHILD = """
import os, sys, trio
from astrid_host import AuditTrail, Host, StaticResolver
from tests.hostile._support import HOSTILE
from tests.net._guest import GUEST_NAMES, fetch
from tests.support.guard import loopback_as_public
from tests.support.http import run_http_server

async def main(path, key, cache):
    async with run_http_server() as server, Host(
            cache_dir=cache, resolver=StaticResolver(GUEST_NAMES),
            classifier=loopback_as_public(),
            audit=AuditTrail(path, key=key, durability="none")) as host:
        async def requests(number):
            capsule = await host.load(HOSTILE, policy=["*://*.test:*"], name=f"c{number}")
            n = 0
            while True:
                url = server.url(f"/bytes?n=16&c={number}&k={n}", host="public.test")
                kind, _ = await fetch(capsule, url)
                assert kind == "ok", kind
                os.write(1, b"%d %d\\n" % (number, n))  # only after fetch returned
                n += 1
        async with trio.open_nursery() as nursery:
            for number in range(2):
                nursery.start_soon(requests, number)

trio.run(main, sys.argv[1], sys.argv[2].encode(), sys.argv[3])
"""


def _run_and_kill(path: Path, cache_dir: Path, reports: int) -> list[tuple[int, int]]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), KEY.decode(),
                              str(cache_dir)], cwd=ROOT, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = b""
    try:
        while out.count(b"\n") < reports:
            ready, _, _ = select.select([child.stdout], [], [], PATIENCE)
            assert ready, f"the child reported nothing for {PATIENCE} s"
            piece = os.read(child.stdout.fileno(), 65536)
            assert piece, f"the child stopped early (exit {child.wait()})"
            out += piece
        os.kill(child.pid, signal.SIGKILL)
        while piece := os.read(child.stdout.fileno(), 65536):  # reported before the signal
            out += piece
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    lines = out.decode().split("\n")
    return [(int(a), int(b)) for a, b in (line.split() for line in lines[:-1])]


def test_a_killed_host_leaves_every_completed_request_in_the_verified_prefix(
        tmp_path: Path, cache_dir: Path) -> None:
    path = tmp_path / "audit.jsonl"
    reported = _run_and_kill(path, cache_dir, reports=20)
    assert {capsule for capsule, _ in reported} == {0, 1}  # both were making requests

    report = verify_files([path], KEY)
    assert report.ok or (report.problem is not None and report.problem.kind is ProblemKind.TORN)
    prefix = [json.loads(data) for _, data, complete in iter_lines(path) if complete]
    prefix = prefix[:report.records]
    decided = {r["query_sha256"]: r["request_id"] for r in prefix if r["kind"] == "decision"}
    completed = {r["request_id"] for r in prefix
                 if r["kind"] == "completion" and r["status"] == 200 and r["error"] is None}
    for capsule, n in reported:
        query = hashlib.sha256(b"n=16&c=%d&k=%d" % (capsule, n)).hexdigest()
        assert query in decided, (capsule, n)
        assert decided[query] in completed, (capsule, n)
