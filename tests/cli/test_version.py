"""`astrid-host --version`: the package's one version, with wasmtime's for bug reports."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import astrid_host
from astrid_host._cli import main


def test_version_prints_the_package_and_wasmtime_versions(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"astrid-host {astrid_host.__version__} ")
    assert f"wasmtime {importlib.metadata.version('wasmtime')}" in out


def test_python_dash_m_has_it_too() -> None:
    proc = subprocess.run([sys.executable, "-m", "astrid_host", "--version"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("astrid-host ")
