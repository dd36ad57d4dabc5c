"""`astrid-host run` and `astrid-host inspect`: output, JSON fields and exit codes.

`run` drives the example Python capsule (guests/python/example) against a loopback HTTP
server reached through the operator's local allowance (`--local`), so nothing leaves the
machine. The compile cache is pointed at build/cache so the 18 MB guest compiles once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from astrid_host._cli import main
from tests.support.paths import ROOT

EXAMPLE = ROOT / "build" / "guests" / "python-example.wasm"

needs_example = pytest.mark.skipif(not EXAMPLE.exists(),
                                   reason="build/guests/python-example.wasm not built "
                                          "(scripts/build_guests.py)")
needs_runtime = pytest.mark.skipif(
    not (ROOT / "astrid_host" / "_wasm" / "_host.py").exists(), reason="runtime not present")


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from loopback"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))


def _fetch(endpoint: str) -> str:
    return json.dumps({"url": f"http://{endpoint}/hello"})


# --- run --------------------------------------------------------------------------------------

@needs_runtime
@needs_example
def test_run_prints_the_answer_and_allowed_decisions(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLE), "--local", server, "--input", _fetch(server)])
    out, err = capsys.readouterr()
    assert code == 0, err
    answer = json.loads(out)
    assert answer["ok"] is True and answer["status"] == 200
    assert answer["bytes"] == len(b"hello from loopback")
    assert "decision=allow" in err and "reason=allowed-by-local-allowance" in err


@needs_runtime
@needs_example
def test_run_without_allowance_is_denied_with_exit_1(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLE), "--input", _fetch(server)])
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["error"] == "denied"  # the capsule still answers
    assert "decision=deny" in err


@needs_runtime
@needs_example
def test_run_json_reports_output_decisions_and_denials(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(EXAMPLE), "--local", server, "--input", _fetch(server), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["ok"] is True and doc["capsule"] == "python-example" and doc["denied"] == 0
    assert json.loads(doc["output"])["status"] == 200
    assert len(doc["decisions"]) >= 1
    assert all(line.startswith("egress ") for line in doc["decisions"])


@needs_runtime
@needs_example
def test_capsule_err_is_exit_1_with_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(EXAMPLE), "--input", "not json", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["ok"] is False and doc["kind"] == "capsule-error"
    assert "JSON object" in doc["error"]


@needs_runtime
@needs_example
def test_input_from_a_file(server: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in.json").write_text(_fetch(server), encoding="utf-8")
    code = main(["run", str(EXAMPLE), "--local", server, "--input", f"@{tmp_path / 'in.json'}"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["status"] == 200


def _manifest(tmp_path: Path, extra: str = "") -> Path:
    text = (f'[package]\nname = "example"\nversion = "0.1.0"\ncomponent = "{EXAMPLE}"\n'
            + extra)
    (tmp_path / "Capsule.toml").write_text(text, encoding="utf-8")
    return tmp_path / "Capsule.toml"


@needs_runtime
@needs_example
def test_manifest_methods_limit_what_the_capsule_may_do(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _manifest(tmp_path, '[capabilities]\nmethods = ["POST"]\n')
    code = main(["run", str(tmp_path), "--local", server, "--input", _fetch(server), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["capsule"] == "example"  # the manifest's name
    assert doc["denied"] == 1
    assert json.loads(doc["output"])["error"] == "denied"


@needs_runtime
@needs_example
def test_manifest_limits_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1 MiB of memory cannot hold a Python guest: loading fails as the capsule's input problem.
    manifest = _manifest(tmp_path, '[limits]\nmemory = "1MiB"\n')
    code = main(["run", str(EXAMPLE), "--manifest", str(manifest), "--input", "{}", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    assert doc["kind"] == "invalid-capsule"


@needs_runtime
def test_component_without_run_export_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    echo = ROOT / "build" / "guests" / "python-echo.wasm"
    if not echo.exists():
        pytest.skip("echo guest not built")
    assert main(["run", str(echo), "--input", "x"]) == 2
    assert "has no export 'run'" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "fragment"), [
    (["--allow", "ftp://nope"], "ftp"),
    (["--local", "example.com"], "port"),
    (["--input", "@/nonexistent/input.txt"], "cannot read --input"),
])
def test_bad_arguments_are_exit_2(args: list[str], fragment: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(EXAMPLE), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err


def test_bad_manifest_is_exit_2_with_file_and_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _manifest(tmp_path, "[limits]\nmemroy = 5\n")
    code = main(["run", str(manifest)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{manifest}:6: unknown key 'memroy'" in err


@needs_runtime
@pytest.mark.parametrize("content", [None, b"not a component"])
def test_missing_or_invalid_component_is_exit_2(tmp_path: Path, content: bytes | None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "capsule.wasm"
    if content is not None:
        path.write_bytes(content)
    code = main(["run", str(path), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    assert doc["ok"] is False


# --- inspect ----------------------------------------------------------------------------------

@needs_example
def test_inspect_json_lists_imports_exports_and_capabilities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["inspect", str(_manifest(tmp_path, '[capabilities]\nnet = ["https://a.test"]\n')),
                 "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["exports"] == ["run: func(input: string) -> result<string, string>"]
    assert doc["runnable"] is True
    assert doc["capabilities"] == ["net", "output", "wasi"]
    assert doc["unsatisfied_imports"] == []
    assert {"name": "astrid:http/client@0.1.0", "provided": True, "capability": "net",
            "meaning": "outgoing HTTP through the host's egress guard"} in doc["imports"]
    assert {"name": "astrid:http/output@0.1.0", "provided": True, "capability": "output",
            "meaning": "a body handed to the caller beside the answer"} in doc["imports"]
    assert doc["size_bytes"] == EXAMPLE.stat().st_size
    assert doc["cache"]["status"] in ("cached", "not cached")
    assert doc["manifest"]["net"] == ["https://a.test"]


@needs_example
def test_inspect_text_summarises_wasi_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["inspect", str(EXAMPLE)])
    out = capsys.readouterr().out
    assert code == 0
    assert "run: func(input: string) -> result<string, string>" in out
    assert "capabilities: net, output, wasi" in out
    assert sum("wasi" in line for line in out.splitlines()) == 2  # capabilities + summary


@needs_example
@needs_runtime
def test_inspect_reports_cache_status_after_a_run(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", str(EXAMPLE), "--input", "x"])  # compiles or reuses the cached artifact
    capsys.readouterr()
    main(["inspect", str(EXAMPLE), "--json"])
    assert json.loads(capsys.readouterr().out)["cache"]["status"] == "cached"


def test_inspect_flags_imports_the_host_does_not_provide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import subprocess

    if shutil.which("wasm-tools") is None:
        pytest.skip("wasm-tools not on PATH")
    wat = tmp_path / "c.wat"
    wat.write_text('(component (import "acme:db/query@1.0.0" (instance (export "q" '
                   '(func (param "s" string) (result string))))))')
    subprocess.run(["wasm-tools", "parse", str(wat), "-o", str(tmp_path / "c.wasm")],
                   check=True)
    code = main(["inspect", str(tmp_path / "c.wasm"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["unsatisfied_imports"] == ["acme:db/query@1.0.0"]
    assert doc["runnable"] is False


def test_inspect_lists_interface_exports_as_call_names(
    capsys: pytest.CaptureFixture[str],
) -> None:
    guest = ROOT / "build" / "guests" / "rust-conformance.wasm"
    if not guest.exists():
        pytest.skip("rust conformance guest not built")
    assert main(["inspect", str(guest), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert ("astrid:http/conformance-tests@0.1.0#fetch: func(req: request) -> "
            "result<response, error-code>") in doc["exports"]
    assert doc["runnable"] is False


def test_inspect_of_a_non_component_is_exit_2(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.wasm").write_bytes(b"nope")
    assert main(["inspect", str(tmp_path / "x.wasm")]) == 2
    assert "not a readable component" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "missing.wasm")]) == 2


# --- help -------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "inspect", "bindgen"])
def test_every_command_has_help_with_exit_codes(command: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Exit status" in out
