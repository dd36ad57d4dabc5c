"""The checked-in generated files match what the generator makes from wit/ today.

Regenerate a stale file with the command in its failure message.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from astrid_host._bindgen import BindgenError, generate, load
from astrid_host._bindgen._hostgen import ASTRID_WIT, HOST_MODELS, HostModelSpec
from tests.support.paths import ROOT

try:
    RESOLVE = load(ROOT / "wit")
except BindgenError as exc:
    pytest.skip(f"cannot read wit/: {exc}", allow_module_level=True)

CHECKED_IN = [
    ("astrid_host/bindings/capsule.py", "capsule", "python"),
    ("astrid_host/bindings/conformance.py", "conformance", "python"),
    ("docs/wit.md", None, "markdown"),
]


@pytest.mark.parametrize(("path", "world", "fmt"), CHECKED_IN, ids=[c[0] for c in CHECKED_IN])
def test_checked_in_file_is_up_to_date(path: str, world: str | None, fmt: str) -> None:
    expected = generate(RESOLVE, world, fmt=fmt)
    actual = (ROOT / path).read_text(encoding="utf-8")
    command = (f"astrid-host bindgen wit --world {world} -o {path}" if world
               else f"astrid-host bindgen wit --format markdown -o {path}")
    assert actual == expected, f"{path} is stale: run `{command}`"


def wit_of(spec: HostModelSpec) -> Path:
    """The WIT directory of ``spec``; upstream's is fetched from the pinned crate when missing
    (skipped when that cannot be done here, a failure under ASTRID_REQUIRE_ALL=1)."""
    if spec.wit != ASTRID_WIT:
        return ROOT / spec.wit
    loader = importlib.util.spec_from_file_location(
        "fetch_astrid_wit", ROOT / "scripts" / "fetch_astrid_wit.py")
    assert loader is not None and loader.loader is not None
    fetch = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(fetch)
    try:
        found: Path = fetch.ensure(ROOT / "build")
    except (fetch.FetchError, OSError) as exc:
        if os.environ.get("ASTRID_REQUIRE_ALL") == "1":
            raise
        pytest.skip(f"upstream WIT unavailable ({exc}): run scripts/fetch_astrid_wit.py")
    assert found == ROOT / spec.wit
    return found


@pytest.mark.parametrize("spec", HOST_MODELS, ids=[s.module for s in HOST_MODELS])
def test_checked_in_host_model_is_up_to_date(spec: HostModelSpec) -> None:
    """The host models (what the host serves, generated from the WIT) are not edited by hand:
    each is exactly what `--format host` makes from its WIT today."""
    expected = generate(load(wit_of(spec)), fmt="host", package=spec.package)
    actual = (ROOT / spec.module).read_text(encoding="utf-8")
    command = (f"astrid-host bindgen {spec.wit} --format host --package {spec.package} "
               f"-o {spec.module}")
    assert actual.startswith('"""') and "do not edit by hand" in actual.splitlines()[2]
    assert actual == expected, f"{spec.module} is stale: run `{command}`"


def test_capsule_bindings_expose_run_as_a_typed_coroutine() -> None:
    import inspect

    from astrid_host.bindings.capsule import CapsuleWorld

    sig = inspect.signature(CapsuleWorld.run)
    assert inspect.iscoroutinefunction(CapsuleWorld.run)
    assert list(sig.parameters) == ["self", "input"]
    assert sig.return_annotation == "str"


async def test_capsule_bindings_call_run_and_raise_err_on_err() -> None:
    from wasmtime.component import Variant

    from astrid_host.bindings.capsule import CapsuleWorld, Err

    class Fake:
        def __init__(self, answer: object) -> None:
            self.answer = answer
            self.seen: list[tuple[str, tuple[object, ...]]] = []

        async def call(self, name: str, *args: object) -> object:
            self.seen.append((name, args))
            return self.answer

    ok = Fake(Variant("ok", "done"))
    assert await CapsuleWorld(ok).run("hi") == "done"
    # result<string, string> is tagged in wasmtime-py: both cases are str.
    assert ok.seen == [("run", ("hi",))]
    with pytest.raises(Err) as info:
        await CapsuleWorld(Fake(Variant("err", "nope"))).run("hi")
    assert info.value.value == "nope"
