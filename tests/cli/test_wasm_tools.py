"""`wasm-tools` comes with the package: `bindgen` and `inspect` find it next to `astrid-host`
even when the virtual environment is not activated (its bin/ not on PATH)."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrid_host._cli import main

ROOT = Path(__file__).resolve().parent.parent.parent


def test_bindgen_finds_wasm_tools_without_path(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", "")
    code = main(["bindgen", str(ROOT / "wit"), "--world", "capsule"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "class CapsuleWorld" in captured.out
