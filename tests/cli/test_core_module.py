"""A core module where a component is expected (a Rust build's output before `wasm-tools
component new`): `inspect` and `run` say what it is and the command that makes it a
component, and exit 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from wasmtime import wat2wasm

from astrid_host._cli import main
from astrid_host._cli._wasmfile import core_module_problem


def _core_module(tmp_path: Path, *, wit: bool, wasi_p1: bool = False) -> Path:
    imports = ('(import "wasi_snapshot_preview1" "fd_write" '
               '(func (param i32 i32 i32 i32) (result i32)))') if wasi_p1 else ""
    core = tmp_path / "core.wasm"
    core.write_bytes(bytes(wat2wasm(f'(module {imports} (memory (export "memory") 1))')))
    if not wit:
        return core
    # What wit-bindgen leaves in a Rust build: the world's WIT in a custom section. (A world
    # without exports, so that this module without code is a valid implementation of it.)
    (tmp_path / "wit").mkdir()
    (tmp_path / "wit" / "world.wit").write_text("package demo:empty;\nworld nothing {}\n")
    embedded = tmp_path / "astrid_example.wasm"
    subprocess.run(["wasm-tools", "component", "embed", str(tmp_path / "wit"), "--world",
                    "nothing", str(core), "-o", str(embedded)], check=True, timeout=60)
    return embedded


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_core_module_with_embedded_wit_is_refused_with_the_fix(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _core_module(tmp_path, wit=True)
    code = main([command, str(module)])
    err = capsys.readouterr().err
    assert code == 2
    assert "is a core WebAssembly module, not a component" in err
    assert f"wasm-tools component new {module} -o capsule.wasm" in err


@pytest.mark.parametrize("command", ["inspect", "run"])
def test_json_reports_it_as_an_invalid_capsule(
        command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([command, str(_core_module(tmp_path, wit=True)), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 2
    assert doc["ok"] is False and doc["kind"] == "invalid-capsule"
    assert "wasm-tools component new" in doc["error"]


def test_the_suggested_command_makes_a_component_inspect_accepts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _core_module(tmp_path, wit=True)
    main(["inspect", str(module)])
    command = capsys.readouterr().err.split("`")[-2]  # the command between backticks
    subprocess.run(command.split(), check=True, timeout=60, cwd=tmp_path)
    assert main(["inspect", str(tmp_path / "capsule.wasm"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imports"] == []


def test_a_module_without_wit_is_told_to_embed_it_first(tmp_path: Path) -> None:
    core = _core_module(tmp_path, wit=False)
    message = core_module_problem(str(core), core.read_bytes())
    assert message is not None and "carries no WIT" in message
    assert f"wasm-tools component embed wit --world capsule {core}" in message


def test_a_wasi_preview1_module_is_told_about_the_adapter(tmp_path: Path) -> None:
    module = _core_module(tmp_path, wit=True, wasi_p1=True)
    message = core_module_problem(str(module), module.read_bytes())
    assert message is not None
    assert "--adapt wasi_snapshot_preview1=" in message


@pytest.mark.parametrize("data", [b"", b"\0asm\x0d\x00\x01\x00", b"(component)",
                                  b"\0asm\x01\x00\x00\x00\x00\xff\xff\xff\xff\xff"])
def test_components_text_and_garbage_are_not_called_core_modules(data: bytes) -> None:
    message = core_module_problem("x.wasm", data)
    if data.startswith(b"\0asm\x01"):
        assert message is not None and "carries no WIT" in message  # truncated: no sections
    else:
        assert message is None
