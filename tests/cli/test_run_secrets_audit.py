"""`astrid-host run --secret NAME=@FILE --secret-origin NAME=ORIGIN --audit FILE
--audit-key @FILE`: the example capsule writes ``{{secret:api_key}}``, the local server checks
what arrived, and the trail verifies; values never appear on the command line or in output."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from astrid_host._cli import main
from tests.cli._support import example_capsule

NAME = "api.capsule-test.example"
VALUE = b"sk-cli-5d1f0e9a77"


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli._support import ROOT

    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))


@contextmanager
def recording_server() -> Iterator[tuple[int, list[str | None]]]:
    """A loopback server answering 200; yields its port and every Authorization received."""
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("authorization"))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    secret, key = tmp_path / "api_key", tmp_path / "audit.key"
    secret.write_bytes(VALUE + b"\n")
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    return {"secret": secret, "key": key, "trail": tmp_path / "audit.jsonl", "dir": tmp_path}


def _args(port: int, files: dict[str, Path], origin: str | None = None) -> list[str]:
    url = f"http://{NAME}:{port}/hello"
    request = {"url": url, "headers": [["authorization", "Bearer {{secret:api_key}}"]]}
    return ["--resolve", f"{NAME}=127.0.0.1", "--allow", f"http://{NAME}:{port}",
            "--local", f"{NAME}=127.0.0.1:{port}", "--input", json.dumps(request),
            "--secret", f"api_key=@{files['secret']}",
            "--secret-origin", f"api_key={origin or f'http://{NAME}:{port}'}",
            "--audit", str(files["trail"]), "--audit-key", f"@{files['key']}"]


def test_run_fills_the_secret_in_for_its_origin_and_writes_a_verifiable_trail(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsule = example_capsule()
    with recording_server() as (port, seen):
        code = main(["run", str(capsule), *_args(port, files)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["status"] == 200
    assert seen == [f"Bearer {VALUE.decode()}"]
    assert main(["audit", "verify", str(files["trail"]), "--key", f"@{files['key']}"]) == 0
    verified = capsys.readouterr().out
    assert verified.startswith("ok: 3 records verified") and "MACs checked" in verified
    trail = files["trail"].read_bytes()
    decision = json.loads(trail.splitlines()[1])
    assert decision["secrets"] == ["api_key"] and decision["decision"] == "allow"
    assert VALUE not in trail and VALUE.decode() not in out + err + verified


def test_run_refuses_the_secret_for_another_origin_before_connecting(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsule = example_capsule()
    with recording_server() as (port, seen):
        code = main(["run", str(capsule), *_args(port, files, "https://elsewhere.example"),
                     "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and seen == []
    answer = json.loads(doc["output"])
    assert answer["error"] == "denied" and "secret-origin-not-allowed" in answer["detail"]
    assert any("reason=secret-origin-not-allowed" in line for line in doc["decisions"])


def test_run_honours_the_secret_names_a_manifest_declares(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    capsule = example_capsule()
    manifest = files["dir"] / "Capsule.toml"
    manifest.write_text(f'[package]\nname = "example"\nversion = "0.1.0"\n'
                        f'component = "{capsule}"\n[capabilities]\nsecrets = ["other"]\n')
    with recording_server() as (port, seen):
        code = main(["run", str(manifest), *_args(port, files), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and seen == []
    assert "secret-undeclared" in json.loads(doc["output"])["detail"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--secret", "api_key=inline-value"], "give the value as @FILE"),
    (["--secret", "api_key=@/nonexistent/file"], "cannot read /nonexistent/file"),
    (["--secret", "bad name=@x"], "secret name"),
    (["--secret-origin", "api_key=https://a.example"], "no --secret api_key=@FILE"),
    (["--audit-key", "@/dev/null"], "need --audit FILE"),
    (["--audit", "t.jsonl", "--audit-key", "inline-key-0123456789"], "--audit-key takes @FILE"),
    (["--audit", "t.jsonl", "--audit-durability", "sometimes"], "--audit-durability"),
], ids=["inline-value", "unreadable", "bad-name", "origin-without-secret", "key-without-trail",
        "inline-key", "bad-durability"])
def test_unusable_secret_and_audit_options_are_exit_2(
        extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "capsule.wasm", *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert "inline-value" not in err and "inline-key-0123456789" not in err


def test_a_secret_without_an_origin_is_exit_2(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "capsule.wasm", "--secret", f"api_key=@{files['secret']}"])
    assert code == 2 and "needs at least one --secret-origin" in capsys.readouterr().err


def test_a_trail_written_with_another_key_is_exit_2(
        files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from astrid_host import FileSink

    FileSink(files["trail"], key=b"another-key-0123456789").close()
    capsule = example_capsule()
    with recording_server() as (port, seen):
        code = main(["run", str(capsule), *_args(port, files), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2 and doc["kind"] == "invalid-audit" and "key id" in doc["error"]
    assert seen == []
