"""The pure parts of scripts/build_guests.py: discovery, selection, the cache key, policies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.paths import ROOT

_spec = importlib.util.spec_from_file_location("build_guests", ROOT / "scripts" / "build_guests.py")
assert _spec is not None and _spec.loader is not None
bg = importlib.util.module_from_spec(_spec)
sys.modules["build_guests"] = bg  # dataclasses look the module up by name
_spec.loader.exec_module(bg)


def make_guest(root: Path, lang: str, name: str, toml: str = 'world = "capsule"\n',
               files: dict[str, str] | None = None) -> Path:
    d = root / "guests" / lang / name
    d.mkdir(parents=True)
    (d / "guest.toml").write_text(toml)
    for rel, text in (files or {}).items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    make_guest(tmp_path, "python", "example", files={"app.py": "x = 1\n"})
    make_guest(tmp_path, "python", "conformance", 'world = "conformance"\n')
    make_guest(tmp_path, "rust", "example", files={"src/lib.rs": "//\n"})
    make_guest(tmp_path, "rust", "conformance", 'world = "conformance"\n')
    make_guest(tmp_path, "go", "conformance", 'world = "conformance"\n')
    (tmp_path / "guests" / "go" / "notaguest").mkdir()  # no guest.toml: ignored
    return tmp_path


def test_discover_finds_every_guest_toml_sorted_by_language_then_name(tree: Path) -> None:
    found = bg.discover(tree / "guests")
    assert [g.ident for g in found] == [
        "go-conformance", "python-conformance", "python-example", "rust-conformance",
        "rust-example"]
    assert {g.ident: g.world for g in found}["python-conformance"] == "conformance"


def test_discover_rejects_a_guest_toml_without_world(tmp_path: Path) -> None:
    make_guest(tmp_path, "rust", "broken", "name = 'x'\n")
    with pytest.raises(bg.GuestConfigError, match="world"):
        bg.discover(tmp_path / "guests")


def test_discover_accepts_a_core_module_guest_without_world(tmp_path: Path) -> None:
    """``component = false`` (an Extism plugin) needs no world; a component still does."""
    make_guest(tmp_path, "rust", "plugin", "component = false\n")
    [plugin] = bg.discover(tmp_path / "guests")
    assert plugin.world == "" and plugin.config["component"] is False
    make_guest(tmp_path, "rust", "zcomp", "component = true\n")
    with pytest.raises(bg.GuestConfigError, match="world"):
        bg.discover(tmp_path / "guests")


def test_discover_rejects_a_component_flag_that_is_not_a_bool(tmp_path: Path) -> None:
    make_guest(tmp_path, "rust", "plugin", 'component = "no"\n')
    with pytest.raises(bg.GuestConfigError, match="component"):
        bg.discover(tmp_path / "guests")


def test_discover_rejects_a_language_that_contradicts_the_folder(tmp_path: Path) -> None:
    make_guest(tmp_path, "rust", "odd", 'world = "capsule"\nlanguage = "python"\n')
    with pytest.raises(bg.GuestConfigError, match="language"):
        bg.discover(tmp_path / "guests")


def test_discover_reports_invalid_toml_with_its_path(tmp_path: Path) -> None:
    make_guest(tmp_path, "go", "bad", "world = \n")
    with pytest.raises(bg.GuestConfigError, match=r"guest\.toml"):
        bg.discover(tmp_path / "guests")


@pytest.mark.parametrize(("only", "langs", "expected"), [
    ([], [], ["go-conformance", "python-conformance", "python-example", "rust-conformance",
              "rust-example"]),
    (["example"], [], ["python-example", "rust-example"]),
    (["rust-example"], [], ["rust-example"]),
    (["conformance"], ["go", "rust"], ["go-conformance", "rust-conformance"]),
    (["example", "go-conformance"], [], ["go-conformance", "python-example", "rust-example"]),
    ([], ["python"], ["python-conformance", "python-example"]),
    (["exam"], [], []),  # no prefix matching
    (["example-rust"], [], []),
])
def test_only_matches_a_name_or_lang_dash_name(tree: Path, only: list[str], langs: list[str],
                                               expected: list[str]) -> None:
    chosen = bg.select(bg.discover(tree / "guests"), only, langs)
    assert [g.ident for g in chosen] == expected


def test_cache_key_is_stable_and_independent_of_the_checkout_location(tmp_path: Path) -> None:
    a = make_guest(tmp_path / "a", "rust", "x", files={"src/lib.rs": "fn f() {}\n"})
    b = make_guest(tmp_path / "b", "rust", "x", files={"src/lib.rs": "fn f() {}\n"})
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "w.wit").write_text("package a:b;\n")
    key_a = bg.cache_key([("guest", a), ("wit", wit)], "rustc 1.96")
    assert key_a == bg.cache_key([("guest", a), ("wit", wit)], "rustc 1.96")
    assert key_a == bg.cache_key([("guest", b), ("wit", wit)], "rustc 1.96")


def test_cache_key_changes_with_source_wit_toolchain_and_script(tmp_path: Path) -> None:
    g = make_guest(tmp_path, "rust", "x", files={"src/lib.rs": "fn f() {}\n"})
    wit = tmp_path / "wit"
    wit.mkdir()
    (wit / "w.wit").write_text("package a:b;\n")

    def key(tool: str = "rustc 1.96", extra: bytes = b"") -> str:
        return bg.cache_key([("guest", g), ("wit", wit)], tool, extra)

    base = key()
    assert key("rustc 1.97") != base
    assert key(extra=b"other script") != base
    (g / "src" / "lib.rs").write_text("fn f() { }\n")
    changed_source = key()
    assert changed_source != base
    (wit / "w.wit").write_text("package a:c;\n")
    assert key() != changed_source
    (g / "src" / "new.rs").write_text("")  # a new empty file is an input too
    assert key() != changed_source


def test_cache_key_ignores_build_products_inside_the_guest(tmp_path: Path) -> None:
    g = make_guest(tmp_path, "python", "x", files={"app.py": "x = 1\n"})
    before = bg.cache_key([("guest", g)], "t")
    for rel in ("target/release/big.rlib", "gen/bindings.go", "__pycache__/app.cpython-311.pyc",
                "core.wasm", ".hidden/file"):
        (g / rel).parent.mkdir(parents=True, exist_ok=True)
        (g / rel).write_text("noise")
    assert bg.cache_key([("guest", g)], "t") == before


def test_cache_key_includes_cargo_configuration(tmp_path: Path) -> None:
    g = make_guest(tmp_path, "rust", "x", files={"src/lib.rs": ""})
    before = bg.cache_key([("guest", g)], "t")
    (g / ".cargo").mkdir()
    (g / ".cargo" / "config.toml").write_text("[build]\n")
    assert bg.cache_key([("guest", g)], "t") != before


def test_cache_key_distinguishes_moving_content_between_files(tmp_path: Path) -> None:
    g = make_guest(tmp_path, "python", "x", files={"a.py": "12", "b.py": "3"})
    first = bg.cache_key([("guest", g)], "t")
    (g / "a.py").write_text("1")
    (g / "b.py").write_text("23")
    assert bg.cache_key([("guest", g)], "t") != first


def test_is_fresh_needs_the_output_and_a_matching_stamp(tmp_path: Path) -> None:
    out = tmp_path / "rust-x.wasm"
    assert not bg.is_fresh(out, "k")
    out.write_bytes(b"\0asm")
    assert not bg.is_fresh(out, "k")
    bg.stamp_path(out).write_text("k\n")
    assert bg.stamp_path(out).name == "rust-x.wasm.stamp"
    assert bg.is_fresh(out, "k")
    assert not bg.is_fresh(out, "other")
    out.unlink()
    assert not bg.is_fresh(out, "k")


@pytest.mark.parametrize(("text", "expected"), [
    ("go version go1.26.8 linux/amd64", (1, 26)),
    ("go version go1.24rc1 linux/amd64", (1, 24)),
    ("go version go1.19.8 linux/amd64", (1, 19)),
    ("nonsense", None),
])
def test_parse_go_version(text: str, expected: tuple[int, int] | None) -> None:
    assert bg.parse_go_version(text) == expected


def test_crate_artifact_uses_the_lib_name_or_the_package_name(tmp_path: Path) -> None:
    toml = tmp_path / "Cargo.toml"
    toml.write_text('[package]\nname = "astrid-example"\n')
    assert bg.crate_artifact(toml) == "astrid_example.wasm"
    toml.write_text('[package]\nname = "astrid-example"\n[lib]\nname = "capsule_lib"\n')
    assert bg.crate_artifact(toml) == "capsule_lib.wasm"


@pytest.mark.parametrize(("env", "strict"), [
    ({}, False),
    ({"CI": "true"}, True),
    ({"CI": "1"}, True),
    ({"CI": "false"}, False),
    ({"ASTRID_REQUIRE_ALL": "1"}, True),
    ({"ASTRID_REQUIRE_ALL": "0"}, False),
])
def test_strict_mode_in_ci_or_when_every_guest_is_required(env: dict[str, str],
                                                           strict: bool) -> None:
    assert bg.strict_mode(env) is strict


def test_every_repository_guest_is_discoverable_with_a_known_language() -> None:
    found = bg.discover(ROOT / "guests")
    assert {g.lang for g in found} <= set(bg.LANGUAGES)
    idents = {g.ident for g in found}
    assert {"python-conformance", "rust-conformance", "go-conformance",
            "rust-example", "rust-extism-fetch"} <= idents


def test_only_with_no_match_exits_non_zero(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    make_guest(tmp_path, "python", "example")
    (tmp_path / "wit").mkdir()
    assert bg.main(["--root", str(tmp_path), "--only", "nope"]) == 1
    assert "nothing to build" in capsys.readouterr().out


@pytest.mark.parametrize(("strict", "is_root", "tried", "action"), [
    (True, False, False, "install"),   # CI: always try (the installer uses sudo when needed)
    (True, True, False, "install"),
    (False, True, False, "install"),   # local root: install
    (False, False, False, "report"),   # local user: a skip line saying how to install
    (True, True, True, "report"),      # the installer runs at most once per build
    (False, True, True, "report"),
])
def test_when_a_toolchain_is_missing(strict: bool, is_root: bool, tried: bool,
                                     action: str) -> None:
    assert bg.when_missing(strict, is_root, tried) == action


def test_missing_toolchain_in_strict_mode_fails_after_one_installer_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path
    make_guest(root, "go", "a")
    make_guest(root, "go", "b")
    (root / "wit").mkdir()
    runs: list[Path] = []
    monkeypatch.setattr(bg, "run_installer", lambda r: runs.append(r) or True)
    monkeypatch.setenv("ASTRID_TOOLCHAINS", str(tmp_path / "no-toolchains"))
    monkeypatch.setenv("ASTRID_REQUIRE_ALL", "1")
    assert bg.main(["--root", str(root)]) == 1
    assert runs == [root]
    err = capsys.readouterr().err
    assert "ERROR go toolchain missing" in err
    assert "failed: go-a, go-b" in err


_names = st.text(alphabet="abcdefgh", min_size=1, max_size=6)
_trees = st.dictionaries(st.lists(_names, min_size=1, max_size=3).map("/".join),
                         st.binary(max_size=40), min_size=1, max_size=6)


def _write_tree(base: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = base / (rel + ".src")  # a suffix keeps files and directories apart
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return base


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_trees, flip=st.integers(min_value=0))
def test_cache_key_is_a_function_of_relative_paths_and_bytes_only(
        tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes], flip: int) -> None:
    """Invariant: two trees with the same relative paths and bytes have the same key wherever
    they are; changing any one file's bytes changes the key."""
    a = _write_tree(tmp_path_factory.mktemp("a"), files)
    b = _write_tree(tmp_path_factory.mktemp("b"), files)
    key = bg.cache_key([("guest", a)], "t")
    assert bg.cache_key([("guest", b)], "t") == key
    rel = sorted(files)[flip % len(files)]
    (b / (rel + ".src")).write_bytes(files[rel] + b"!")
    assert bg.cache_key([("guest", b)], "t") != key


@pytest.mark.slow
def test_build_script_builds_a_guest_then_finds_it_cached(tmp_path: Path) -> None:
    """End to end with the real componentize-py: build, stamp, skip, rebuild on a change."""
    import shutil
    import subprocess

    if shutil.which("componentize-py") is None or shutil.which("wasm-tools") is None:
        pytest.skip("componentize-py/wasm-tools not installed (pip install -e .[guests])")
    shutil.copytree(ROOT / "wit", tmp_path / "wit")
    app = ("import wit_world\n\n\nclass WitWorld(wit_world.WitWorld):\n"
           "    def run(self, input: str) -> str:\n        return input\n")
    guest = make_guest(tmp_path, "python", "tiny", files={"app.py": app})
    script = ROOT / "scripts" / "build_guests.py"

    def build() -> str:
        proc = subprocess.run([sys.executable, str(script), "--root", str(tmp_path)],
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    first = build()
    out = tmp_path / "build" / "guests" / "python-tiny.wasm"
    assert "python-tiny" in first and " s " in first and "MiB" in first
    assert out.read_bytes()[:8] == b"\0asm\x0d\x00\x01\x00"  # a component, not a module
    assert bg.stamp_path(out).is_file()
    assert "cached" in build()
    (guest / "app.py").write_text(app.replace("return input", "return input + '!'"))
    assert "cached" not in build()


def test_a_shared_file_of_another_guest_is_an_input_of_the_guest_that_builds_it(
        tmp_path: Path) -> None:
    make_guest(tmp_path, "rust", "example", files={"src/lib.rs": "//\n", "src/lane.rs": "// a\n"})
    make_guest(tmp_path, "rust", "conformance",
               'world = "conformance"\nshared = ["../example/src/lane.rs"]\n',
               files={"src/lib.rs": "//\n"})
    guests = {g.name: g for g in bg.discover(tmp_path / "guests")}
    conformance = guests["conformance"]
    assert conformance.shared == [conformance.path / "../example/src/lane.rs"]
    assert guests["example"].inputs() == [("guest", guests["example"].path)]

    def key() -> str:
        return bg.cache_key(conformance.inputs(), "rustc 1.96")

    before = key()
    (tmp_path / "guests" / "rust" / "example" / "src" / "lane.rs").write_text("// b\n")
    assert key() != before


@pytest.mark.parametrize(("shared", "message"), [
    ('"../example/src/lane.rs"', "must be a list of paths"),
    ("[1]", "must be a list of paths"),
    ('["../example/src/missing.rs"]', "is not a file of another guest"),
    ('["../example/src"]', "is not a file of another guest"),  # a directory
    ('["../../../outside.rs"]', "is not a file of another guest"),
    ('["guest.toml"]', "is not a file of another guest"),  # its own
])
def test_discover_rejects_a_shared_entry_it_cannot_use(tmp_path: Path, shared: str,
                                                       message: str) -> None:
    make_guest(tmp_path, "rust", "example", files={"src/lane.rs": "//\n"})
    (tmp_path / "outside.rs").write_text("//\n")
    make_guest(tmp_path, "rust", "conformance", f'world = "conformance"\nshared = {shared}\n')
    with pytest.raises(bg.GuestConfigError, match=message):
        bg.discover(tmp_path / "guests")
