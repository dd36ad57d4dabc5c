"""`astrid-host run --output` with the Python example capsule (`"output": true`): the body
goes back through `output.write-str` (the string lane, pieces of 1 MiB), larger than the
~2.67 MiB a guest could return as `list<u8>`, byte for byte; a trap writes no file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astrid_host._cli import main
from tests.cli._support import TRAPPING_RUN_WAT, example_capsule, loopback_server

SIZE = 3 * 1024 * 1024 + 5


def test_the_python_example_hands_over_a_body_larger_than_a_result_can_carry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsule = example_capsule()
    saved = tmp_path / "body.bin"
    with loopback_server() as port:
        code = main(["run", str(capsule), "--local", f"127.0.0.1:{port}", "--output", str(saved),
                     "--json", "--input",
                     json.dumps({"url": f"http://127.0.0.1:{port}/?bytes={SIZE}",
                                 "output": True})])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    assert doc["output_bytes"] == SIZE
    assert json.loads(doc["output"])["bytes"] == SIZE
    assert saved.read_bytes() == b"x" * SIZE


def test_a_capsule_that_traps_writes_no_output(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    wat = tmp_path / "trap.wat"
    wat.write_text(TRAPPING_RUN_WAT)
    saved = tmp_path / "body.bin"
    assert main(["run", str(wat), "--output", str(saved)]) == 1
    assert "trap" in capsys.readouterr().err
    assert not saved.exists()


def test_a_body_past_the_output_limit_fails_the_call_and_saves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The example hands over a 3 MiB body against a manifest's 1 MiB output limit: the host
    refuses the second piece, the capsule answers err (a body handed over in part never passes
    for an answer), the command fails and no file is written."""
    import shutil

    shutil.copy(example_capsule(), tmp_path / "example.wasm")
    (tmp_path / "Capsule.toml").write_text(
        '[package]\nname = "example"\nversion = "0.1.0"\ncomponent = "example.wasm"\n\n'
        '[limits]\nmax-output-bytes = "1MiB"\n')
    saved = tmp_path / "body.bin"
    with loopback_server() as port:
        code = main(["run", str(tmp_path), "--local", f"127.0.0.1:{port}", "--output",
                     str(saved), "--input",
                     json.dumps({"url": f"http://127.0.0.1:{port}/?bytes={SIZE}",
                                 "output": True})])
    err = capsys.readouterr().err
    assert code != 0
    assert "body-too-large" in err
    assert not saved.exists()
