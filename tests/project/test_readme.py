"""The README's promises: the two commands first, and Python examples that use real names."""

from __future__ import annotations

import ast
import re

import astrid_host
from tests.support.paths import ROOT

README = ROOT / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.DOTALL)


def test_readme_starts_with_exactly_the_two_commands() -> None:
    first = README.read_text().split("```")[1]
    commands = [line.split("#")[0].strip() for line in first.splitlines()[1:] if line.strip()]
    assert commands == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert re.search(r"^\./dev test\b", ci, re.MULTILINE)


def test_python_examples_compile_and_import_only_public_names() -> None:
    blocks = _blocks("python")
    assert blocks
    for code in blocks:
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "astrid_host":
                for alias in node.names:
                    assert alias.name in astrid_host.__all__, alias.name
