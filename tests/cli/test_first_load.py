"""The first load of a capsule compiles it (a Python capsule for tens of seconds): that is said
before it starts, as a log record on the `astrid_host` logger from the library and as one line
on stderr from the CLI, terminal or not. Later loads come from the compile cache, silently."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from astrid_host import Host
from astrid_host._cli import main
from tests.cli._support import TRAPPING_RUN_WAT


def _compiling(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name.startswith("astrid_host") and r.getMessage().startswith("compiling ")]


async def test_the_library_logs_the_first_compile_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="astrid_host")
    async with Host(cache_dir=tmp_path) as host:
        await host.load(TRAPPING_RUN_WAT.encode(), name="first")
        [record] = _compiling(caplog)
        assert record.levelno == logging.INFO
        assert "first" in record.getMessage() and str(tmp_path) in record.getMessage()
        caplog.clear()
        await host.load(TRAPPING_RUN_WAT.encode(), name="first")
        assert _compiling(caplog) == []


def test_the_cli_says_it_in_one_line_on_stderr_when_it_is_not_a_terminal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(tmp_path / "cache"))
    capsule = tmp_path / "first.wat"
    capsule.write_text(TRAPPING_RUN_WAT)
    main(["run", str(capsule), "--input", "x"])
    lines = capsys.readouterr().err.splitlines()
    compiling = [line for line in lines if line.startswith("astrid-host: compiling first")]
    assert len(compiling) == 1, lines
    assert "later loads take milliseconds" in compiling[0]
    main(["run", str(capsule), "--input", "x"])
    assert "compiling" not in capsys.readouterr().err
