"""The README and the user docs say only what works: commands the CLI accepts, imports of
public names, links that exist, Rust excerpts of source that CI compiles, and a testing guide
whose Python example runs."""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import astrid_host
from astrid_host._cli import build_parser
from tests.cli._support import example_capsule

ROOT = Path(__file__).resolve().parent.parent.parent
#: The pages a user reads (docs/dev/ is for developers of the host and may name internals).
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "guests" / "rust" / "example" / "README.md"]
RUST_EXAMPLE = ROOT / "guests" / "rust" / "example" / "src" / "lib.rs"


def _blocks(page: Path, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", page.read_text(encoding="utf-8"),
                      re.DOTALL | re.MULTILINE)


def _commands(page: Path) -> list[str]:
    """Each shell command of the page's ``sh`` blocks, continuation lines joined."""
    commands = []
    for block in _blocks(page, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip():
                commands.append(line.strip())
    return commands


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_astrid_host_command_parses(page: Path) -> None:
    parser = build_parser()
    for command in _commands(page):
        words = shlex.split(command, comments=True)
        if not words or words[0] != "astrid-host" or " [-" in command:
            continue  # not ours, or a synopsis ("[--capsule WASM]")
        try:
            parser.parse_args(words[1:])
        except SystemExit as exc:  # argparse's way to refuse (2), or --version/--help (0)
            assert exc.code == 0, f"{_name(page)}: {command}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_python_examples_import_only_public_names(page: Path) -> None:
    for code in _blocks(page, "python"):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "._" not in f".{node.module}", f"{_name(page)} imports {node.module}"
                if node.module == "astrid_host":
                    for alias in node.names:
                        assert alias.name in astrid_host.__all__, f"{_name(page)}: {alias.name}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert "._" not in f".{alias.name}", f"{_name(page)} imports {alias.name}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{_name(page)} links to missing {target}"


def test_readme_links_the_testing_guide_from_its_docs_table() -> None:
    table = (ROOT / "README.md").read_text(encoding="utf-8").split("## Documentation", 1)[1]
    assert "[docs/testing.md](docs/testing.md)" in table.split("\n## ", 1)[0]


def test_rust_blocks_of_the_guide_are_excerpts_of_the_compiled_example() -> None:
    source = RUST_EXAMPLE.read_text(encoding="utf-8")
    blocks = _blocks(ROOT / "docs" / "guests.md", "rust")
    assert len(blocks) >= 4  # bindings, send, start/read, upload/write/finish
    for block in blocks:
        assert block in source, f"docs/guests.md has Rust not in {RUST_EXAMPLE.name}:\n{block}"
    text = "".join(blocks)
    for call in ("client::send(", "client::start(", ".read(", "client::upload(", ".write(",
                 ".finish()"):
        assert call in text, call


def test_the_guide_builds_a_new_crate_without_locked() -> None:
    # --locked needs a Cargo.lock, which a new crate does not have yet.
    for command in _commands(ROOT / "docs" / "guests.md"):
        if "cargo build" in command:
            assert "--locked" not in command, command


def test_the_testing_guide_python_example_runs() -> None:
    example_capsule()  # the example loads build/guests/python-example.wasm
    [code] = _blocks(ROOT / "docs" / "testing.md", "python")
    env = {**os.environ, "ASTRID_CACHE_DIR": str(ROOT / "build" / "cache"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["200", "26"]


def test_the_astrid_page_python_example_runs(tmp_path: Path) -> None:
    from tests.support.paths import built_guest

    capsule = tmp_path / "astrid-fetch"
    capsule.mkdir()
    (capsule / "astrid_fetch.wasm").write_bytes(built_guest("rust-astrid-fetch.wasm")
                                                .read_bytes())
    (capsule / "Capsule.toml").write_text(
        (ROOT / "guests" / "rust" / "astrid-fetch" / "Capsule.toml").read_text())
    [code] = _blocks(ROOT / "docs" / "astrid.md", "python")
    env = {**os.environ, "ASTRID_CACHE_DIR": str(ROOT / "build" / "cache"),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "['fetch']", "False 200", "True True",
        "continue ['tool.v1.response.describe.self']"]
