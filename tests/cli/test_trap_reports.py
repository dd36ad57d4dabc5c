"""A trapping capsule: the report ends with wasmtime's cause (`wasm trap: ...`), not with
"wasm backtrace:", and running out of memory is reported as `memory` with the limit -- in
`CapsuleTrap`, on the CLI's stderr and in `--json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astrid_host import CapsuleTrap, Host, Limits
from astrid_host._cli import main
from astrid_host._wasm._errors import trap_cause
from tests.cli._support import ROOT, TRAPPING_RUN_WAT, example_capsule, loopback_server

UNREACHABLE = "wasm trap: wasm `unreachable` instruction executed"


@pytest.mark.parametrize(("message", "cause"), [
    ("error while executing at wasm backtrace:\n    0: 0x48 - m!<wasm function 0>\n\n"
     "Caused by:\n    wasm trap: wasm `unreachable` instruction executed\n", UNREACHABLE),
    ("error while executing at wasm backtrace:\n    0: 0x6d - m!f\n\nCaused by:\n"
     "    0: memory fault at wasm address 0x7fffffff in linear memory of size 0x10000\n"
     "    1: wasm trap: out of bounds memory access\n",
     "memory fault at wasm address 0x7fffffff in linear memory of size 0x10000: "
     "wasm trap: out of bounds memory access"),
    ("memory minimum size of 300 pages exceeds memory limits",
     "memory minimum size of 300 pages exceeds memory limits"),
    ("", "trap"),
])
def test_trap_cause_is_the_caused_by_chain(message: str, cause: str) -> None:
    assert trap_cause(message) == cause


async def test_capsule_trap_text_ends_with_the_cause() -> None:
    async with Host(use_cache=False) as host:
        capsule = await host.load(TRAPPING_RUN_WAT.encode(), name="trapper")
        with pytest.raises(CapsuleTrap) as info:
            await capsule.run("x")
    assert str(info.value) == f"capsule trapped in 'run' (unreachable): {UNREACHABLE}"
    assert info.value.cause == UNREACHABLE
    assert "wasm backtrace" in info.value.message  # the full text stays available


def test_cli_reports_the_cause_on_stderr_and_in_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(tmp_path / "cache"))
    capsule = tmp_path / "trapper.wat"
    capsule.write_text(TRAPPING_RUN_WAT)
    assert main(["run", str(capsule), "--input", "x"]) == 1
    err = capsys.readouterr().err
    assert err.rstrip().endswith(UNREACHABLE)
    assert main(["run", str(capsule), "--input", "x", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "trap" and doc["error"].endswith(UNREACHABLE)
    assert doc["trap"] == {"kind": "unreachable", "export": "run", "cause": UNREACHABLE,
                           "memory_limit_bytes": Limits().memory_bytes}


def test_running_out_of_memory_is_reported_as_memory_with_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))
    (tmp_path / "Capsule.toml").write_text(
        f'[package]\nname = "hungry"\nversion = "0.1.0"\ncomponent = "{example_capsule()}"\n'
        '[limits]\nmemory = "14MiB"\n')
    with loopback_server() as port:
        # 6 MiB fits the limit on paper (so the host hands it over), not next to the
        # interpreter: the guest's allocator fails while taking it.
        code = main(["run", str(tmp_path), "--local", f"127.0.0.1:{port}", "--json",
                     "--input", json.dumps({"url": f"http://127.0.0.1:{port}/?bytes={6 << 20}"})])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["trap"]["kind"] == "memory"
    assert doc["trap"]["memory_limit_bytes"] == 14 << 20
    assert "ran out of memory at its limit of 14 MiB" in doc["error"]
    assert "wasm trap:" in doc["error"]
