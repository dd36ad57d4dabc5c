"""The bindings generator: names, the WIT → Python type mapping, determinism, resources,
and output that ruff and mypy --strict accept.

Value conversion against a real guest is tested in test_roundtrip.py.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._bindgen import BindgenError, generate, load
from astrid_host._bindgen._generate import pascal, snake
from tests.support.paths import ROOT

needs_wasm_tools = pytest.mark.skipif(shutil.which("wasm-tools") is None,
                                      reason="wasm-tools not on PATH")

SYNTH_WIT = """\
package demo:synth@1.2.0;

/// Things with awkward names.
interface first {
    /// A record whose fields are Python keywords.
    record item { %from: u32, class: string, is-ok: bool, match: option<u8> }
    /// An alias.
    type blob = list<u8>;
    /// A counter held by the guest.
    resource counter {
        /// Start at `start`.
        constructor(start: u32);
        /// Add and return the total.
        add: func(n: u32) -> u32;
        /// Parse a counter.
        parse: static func(text: string) -> result<counter, string>;
    }
    get-item: func(b: blob) -> item;
}

interface second {
    /// Same name as first.item, different shape.
    record item { name: string }
    echo: func(i: item) -> item;
}

/// A world for the generator tests. It has \"\"\"quotes\"\"\" and a \\ backslash.
world synth {
    export first;
    export second;
    export top: func(x: option<option<u8>>) -> list<tuple<s8, f32>>;
}
"""


def _import(source: str, path: Path, name: str) -> ModuleType:
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth-wit")
    (d / "synth.wit").write_text(SYNTH_WIT, encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def synth_source(synth_dir: Path) -> str:
    return generate(synth_dir, "synth")


@pytest.fixture(scope="module")
def synth(synth_source: str, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return _import(synth_source, tmp_path_factory.mktemp("synth-py") / "synth_b.py",
                   "_astrid_test_synth_bindings")


@pytest.fixture(scope="module")
def echo_source() -> str:
    return generate(ROOT / "wit", "echo")


# --- names ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("wit", "py"), [
    ("max-bytes", "max_bytes"),
    ("from", "from_"),
    ("class", "class_"),
    ("match", "match_"),
    ("self", "self_"),
    ("input", "input"),
    ("x", "x"),
])
def test_snake_turns_kebab_names_into_safe_identifiers(wit: str, py: str) -> None:
    assert snake(wit) == py


@pytest.mark.parametrize(("wit", "py"), [
    ("error-code", "ErrorCode"),
    ("point", "Point"),
    ("http-v2-thing", "HttpV2Thing"),
    ("ok", "Ok_"),
    ("some", "Some_"),
    ("err", "Err_"),
])
def test_pascal_names_classes_and_avoids_the_module_s_own_names(wit: str, py: str) -> None:
    assert pascal(wit) == py


wit_names = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z][a-z0-9]{0,6}){0,3}", fullmatch=True)


@settings(max_examples=200)
@given(wit_names)
def test_generated_names_are_always_valid_identifiers(name: str) -> None:
    """For every WIT identifier: snake() and pascal() give Python identifiers that are not
    keywords, and snake() maps distinct WIT names to distinct Python names."""
    for out in (snake(name), pascal(name)):
        assert out.isidentifier()
        assert not keyword.iskeyword(out)
    assert snake(name).rstrip("_").replace("_", "-") == name


# --- the type mapping -----------------------------------------------------------------------

@needs_wasm_tools
@pytest.mark.parametrize("expected", [
    "@dataclass(frozen=True, slots=True)\nclass Point:",
    "class ShapeKind(enum.Enum):",
    '    FREE_FORM = "free-form"',
    "class Permissions(enum.Flag):",
    "    RUN_NOW = 4",
    "Shape: TypeAlias = ShapeCircle | ShapeRect | ShapeNothing | ShapeNamed",
    "    value: float",
    "async def echo_bool(self, v: bool) -> bool:",
    "async def echo_char(self, v: str) -> str:",
    "async def echo_bytes(self, v: bytes) -> bytes:",
    "async def echo_matrix(self, v: list[list[int]]) -> list[list[int]]:",
    "async def echo_tuple(self, v: tuple[int, str, bytes, bool]) -> tuple[int, str, bytes, bool]:",
    "async def echo_option(self, v: int | None) -> int | None:",
    "async def echo_option_option(self, v: Some[str | None] | None) -> Some[str | None] | None:",
    "async def echo_result(self, v: Ok[int] | Err[str]) -> int:",
    "async def echo_result_no_ok(self, v: Ok[None] | Err[str]) -> None:",
    "async def echo_results(self, v: list[Ok[int] | Err[Signal]]) -> list[Ok[int] | Err[Signal]]:",
    "Raises ``Err[str]`` when the capsule returns `err`.",
    '    """Horizontal position."""',
])
def test_echo_world_maps_each_wit_type_to_its_python_form(echo_source: str,
                                                           expected: str) -> None:
    assert expected in echo_source


@needs_wasm_tools
def test_generation_is_deterministic(echo_source: str) -> None:
    assert generate(ROOT / "wit", "echo") == echo_source


@needs_wasm_tools
def test_same_type_name_in_two_interfaces_gets_a_qualified_class(synth: ModuleType) -> None:
    assert [f for f in synth.Item.__dataclass_fields__] == ["from_", "class_", "is_ok", "match_"]
    assert list(synth.SecondItem.__dataclass_fields__) == ["name"]


@needs_wasm_tools
def test_docstrings_with_quotes_and_backslashes_survive(synth: ModuleType) -> None:
    assert '"""quotes"""' in (synth.__doc__ or "")
    assert "\\ backslash" in (synth.__doc__ or "")
    assert synth.SynthWorld.__doc__.startswith("A world for the generator tests.")
    assert synth.Counter.add.__doc__ == "Add and return the total."


@needs_wasm_tools
def test_unknown_world_names_the_known_ones() -> None:
    with pytest.raises(BindgenError, match=r"no world named 'nope'.*capsule"):
        generate(ROOT / "wit", "nope")


@needs_wasm_tools
def test_invalid_wit_is_reported_with_wasm_tools_message(tmp_path: Path) -> None:
    (tmp_path / "bad.wit").write_text("package a:b;\ninterface x { f: func(a: nope); }\n")
    with pytest.raises(BindgenError, match="wasm-tools could not read"):
        load(tmp_path)


@needs_wasm_tools
def test_stream_types_are_refused_as_unsupported(tmp_path: Path) -> None:
    (tmp_path / "s.wit").write_text(
        "package a:b;\nworld w { export f: func() -> stream<u8>; }\n")
    with pytest.raises(BindgenError, match="stream"):
        generate(tmp_path, "w")


# --- behaviour of generated classes (with a fake capsule) ------------------------------------

class FakeCapsule:
    """A CallTarget that answers from a table and records calls and drops."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.dropped: list[Any] = []

    async def call(self, name: str, *args: Any) -> Any:
        self.calls.append((name, args))
        return self.answers[name]

    async def drop_resource(self, handle: Any) -> None:
        self.dropped.append(handle)


@needs_wasm_tools
async def test_resource_constructor_method_and_close(synth: ModuleType) -> None:
    prefix = "demo:synth/first@1.2.0#"
    fake = FakeCapsule({f"{prefix}[constructor]counter": "H1",
                        f"{prefix}[method]counter.add": 7})
    counter = await synth.Counter.create(fake, 5)
    assert isinstance(counter, synth.Counter)
    async with counter:
        assert await counter.add(2) == 7
    assert fake.calls == [(f"{prefix}[constructor]counter", (5,)),
                          (f"{prefix}[method]counter.add", ("H1", 2))]
    assert fake.dropped == ["H1"]
    with pytest.raises(synth.rt.ClosedHandle):
        await counter.add(1)
    await counter.close()  # closing twice is harmless
    assert fake.dropped == ["H1"]


@needs_wasm_tools
async def test_interface_exports_are_called_by_interface_id(synth: ModuleType) -> None:
    from wasmtime.component import Record

    rec = Record()
    rec.name = "n"
    fake = FakeCapsule({"demo:synth/second@1.2.0#echo": rec})
    world = synth.SynthWorld(fake)
    assert await world.second.echo(synth.SecondItem("n")) == synth.SecondItem("n")
    ((name, (sent,)),) = fake.calls
    assert name == "demo:synth/second@1.2.0#echo"
    assert isinstance(sent, Record) and sent.name == "n"


@needs_wasm_tools
async def test_record_with_keyword_fields_uses_wit_names_on_the_wire(synth: ModuleType) -> None:
    from wasmtime.component import Record

    raw = Record()
    for k, v in {"from": 1, "class": "c", "is-ok": True, "match": None}.items():
        setattr(raw, k, v)
    fake = FakeCapsule({"demo:synth/first@1.2.0#get-item": raw})
    item = await synth.SynthWorld(fake).first.get_item(b"\x01")
    assert item == synth.Item(from_=1, class_="c", is_ok=True, match_=None)


# --- the output passes the project's linters ------------------------------------------------

@needs_wasm_tools
@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_generated_modules_pass_ruff(echo_source: str, synth_source: str,
                                     tmp_path: Path) -> None:
    for name, text in (("echo_b.py", echo_source), ("synth_b.py", synth_source)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    proc = subprocess.run(["ruff", "check", "--config", str(ROOT / "pyproject.toml"),
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
@needs_wasm_tools
def test_generated_modules_pass_mypy_strict(echo_source: str, synth_source: str,
                                            tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    usage = (
        "from echo_b import EchoWorld, Point, ShapeNothing, Some, Ok\n"
        "async def use(w: EchoWorld) -> None:\n"
        "    p: Point = await w.echo_point(Point(1, 2))\n"
        "    s = await w.echo_shape(ShapeNothing())\n"
        "    o: Some[str | None] | None = await w.echo_option_option(Some(None))\n"
        "    n: int = await w.echo_result(Ok(3))\n"
        "    del p, s, o, n\n"
    )
    bad = "from echo_b import EchoWorld\nasync def use(w: EchoWorld) -> None:\n" \
          "    await w.echo_point(3)\n"
    for name, text in (("echo_b.py", echo_source), ("synth_b.py", synth_source),
                       ("use_ok.py", usage), ("use_bad.py", bad)):
        (tmp_path / name).write_text(text, encoding="utf-8")
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
           "--config-file", str(ROOT / "pyproject.toml")]
    # An editable install is invisible to mypy: point it at the checkout.
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    ok = subprocess.run([*cmd, "echo_b.py", "synth_b.py", "use_ok.py"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=300, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The types are real: a wrong argument is a type error.
    bad_run = subprocess.run([*cmd, "echo_b.py", "use_bad.py"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, env=env)
    assert bad_run.returncode == 1
    assert 'incompatible type "int"; expected "Point"' in bad_run.stdout
