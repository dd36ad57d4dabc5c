"""The Rust example capsule's ways to fetch, through `astrid-host run` against a loopback
server: `client.send`, `client.start` + `read` (`"stream": true`), `client.upload` + `write`
+ `finish` (`"upload": "..."`), and the body handed back as the call's output (`"output":
true`, `run --output`). docs/guests.md shows these functions as excerpts."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from astrid_host._cli import main
from tests.cli._support import ROOT

EXAMPLE = ROOT / "build" / "guests" / "rust-example.wasm"
PAGE = b"<html><head><title>A long page</title></head>" + b"x" * 300_000


class _Handler(BaseHTTPRequestHandler):
    #: Every GET's path, in order (the requests the capsule made).
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Handler.hits.append(self.path)
        self._answer(PAGE, b"text/html")

    def do_POST(self) -> None:
        received = b""
        if self.headers.get("transfer-encoding") == "chunked":
            while size := int(self.rfile.readline().strip(), 16):
                received += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            received = self.rfile.read(int(self.headers.get("content-length") or 0))
        self._answer(f"received {len(received)} bytes, {received.count(b'a')} of them 'a'"
                     .encode(), b"text/plain")

    def _answer(self, body: bytes, content_type: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type.decode())
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    if not EXAMPLE.is_file():
        message = f"{EXAMPLE} missing: python scripts/build_guests.py --only rust-example"
        if os.environ.get("ASTRID_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def _argv(port: int, request: dict[str, object], *extra: str) -> list[str]:
    return ["run", str(EXAMPLE), "--local", f"127.0.0.1:{port}",
            "--input", json.dumps({"url": f"http://127.0.0.1:{port}/", **request}), *extra]


def _run(port: int, request: dict[str, object], capsys: pytest.CaptureFixture[str]) -> list[str]:
    code = main(_argv(port, request))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.splitlines()


def test_send_summarises_the_whole_body(server: int, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run(server, {}, capsys)
    assert lines[:3] == ["status: 200", "content-type: text/html", f"bytes: {len(PAGE)}"]
    assert lines[-1] == "title: A long page"


def test_stream_reads_the_body_in_pieces(server: int,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run(server, {"stream": True}, capsys)
    assert lines[:3] == ["status: 200", "content-type: text/html", f"bytes: {len(PAGE)}"]
    assert "title: A long page" in lines  # from the first piece
    reads = int(lines[-1].removeprefix("reads: "))
    assert reads >= len(PAGE) // (64 * 1024)  # pieces of at most 64 KiB


def test_upload_writes_the_body_in_pieces(server: int,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    lines = _run(server, {"upload": "a" * 40_000}, capsys)
    assert lines[0] == "status: 200"
    assert lines[-1] == "first-line: received 40000 bytes, 40000 of them 'a'"


def test_output_saves_the_body_the_capsule_hands_over(
        server: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "body.html"
    assert main(_argv(server, {"output": True}, "--output", str(saved))) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines() == ["status: 200", f"bytes: {len(PAGE)}", "output: all of it"]
    assert saved.read_bytes() == PAGE


def test_output_to_stdout_moves_the_answer_to_stderr(
        server: int, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(_argv(server, {"output": True}, "--output", "-")) == 0
    out, err = capsysbinary.readouterr()
    assert out == PAGE
    assert b"output: all of it" in err


def test_without_output_the_capsules_write_is_refused(
        server: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(server, {"output": True})) == 1
    _, err = capsys.readouterr()
    assert "invalid-request" in err and "did not ask this call for output" in err


def test_output_to_stdout_and_json_cannot_share_stdout(
        server: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_argv(server, {"output": True}, "--output", "-", "--json")) == 2
    assert "--output - and --json" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["dir", "missing/body.bin"])
def test_an_output_target_that_cannot_be_written_is_refused_before_the_run(
        server: int, target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A directory, or a file in a directory that does not exist: refused as input before the
    capsule runs (no request is made for a body that could not be kept)."""
    (tmp_path / "dir").mkdir()
    before = len(_Handler.hits)
    code = main(_argv(server, {"output": True}, "--output", str(tmp_path / target)))
    assert code == 2
    assert "--output" in capsys.readouterr().err
    assert len(_Handler.hits) == before


def test_the_output_file_replaces_an_old_one_whole_and_leaves_no_temporary_file(
        server: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "body.html"
    saved.write_bytes(b"old contents, longer than nothing" * 1000)
    assert main(_argv(server, {"output": True}, "--output", str(saved))) == 0
    assert saved.read_bytes() == PAGE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["body.html"]
