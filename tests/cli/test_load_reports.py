"""A capsule the host cannot instantiate: the reason names the interface, the function and
its declared type, and says whether the host lacks it or has it with another type -- in
`CapsuleLoadError`, on the CLI's stderr and in `--json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astrid_host import CapsuleLoadError, Host
from astrid_host._cli import main
from astrid_host._wasm._errors import instantiation_failure

#: An interface no host provides.
UNKNOWN_INTERFACE_WAT = r"""
(component
  (import "acme:kv/store@1.0.0" (instance
    (export "get" (func (param "key" string) (result (option (list u8)))))))
)
"""

#: A WASI interface the host links, with a function it does not have.
MISSING_FUNCTION_WAT = r"""
(component
  (import "wasi:cli/environment@0.2.0" (instance
    (export "get-secrets" (func (result (list (tuple string string)))))))
)
"""

#: A WASI function the host has, declared with another result type.
WRONG_TYPE_WAT = r"""
(component
  (import "wasi:cli/environment@0.2.0" (instance
    (export "get-arguments" (func (result u32)))))
)
"""

#: A bare function import (no interface).
BARE_FUNCTION_WAT = r"""
(component (import "get" (func (param "url" string) (result string))))
"""

CASES = [
    (UNKNOWN_INTERFACE_WAT, [
        "needs an import the host does not provide",
        "function `get` (`func(key: string) -> option<list<u8>>`) from interface "
        "`acme:kv/store@1.0.0`", "astrid:http/client@0.1.0"]),
    (MISSING_FUNCTION_WAT, [
        "needs an import the host does not provide",
        "function `get-secrets` (`func() -> list<tuple<string, string>>`) from interface "
        "`wasi:cli/environment@0.2.0`"]),
    (WRONG_TYPE_WAT, [
        "needs an import with another type than the host's",
        "function `get-arguments` (`func() -> u32`) from interface `wasi:cli/environment@0.2.0`",
        "different type"]),
    (BARE_FUNCTION_WAT, [
        "needs an import the host does not provide",
        "function `get` (`func(url: string) -> string`)"]),
]


@pytest.mark.parametrize(("wat", "fragments"), CASES)
async def test_load_error_names_what_the_capsule_imports(wat: str, fragments: list[str]) -> None:
    async with Host(use_cache=False) as host:
        with pytest.raises(CapsuleLoadError) as info:
            await host.load(wat.encode(), name="needy")
    for fragment in fragments:
        assert fragment in info.value.reason
    assert "has the wrong type" not in info.value.reason  # wasmtime's wording is replaced


@pytest.mark.parametrize(("wat", "fragments"), CASES[:1] + CASES[2:3])
def test_cli_stderr_and_json_carry_the_same_words(
        wat: str, fragments: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(tmp_path / "cache"))
    capsule = tmp_path / "needy.wat"
    capsule.write_text(wat)
    assert main(["run", str(capsule), "--input", "x"]) == 2
    err = capsys.readouterr().err
    assert main(["run", str(capsule), "--input", "x", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "invalid-capsule"
    for fragment in fragments:
        assert fragment in err and fragment in doc["error"]


def test_without_the_component_the_words_come_from_wasmtime_alone() -> None:
    message = ("component imports instance `acme:kv/store@1.0.0`, but a matching implementation "
               "was not found in the linker\n\nCaused by:\n    0: instance export `get` has the "
               "wrong type\n    1: function implementation is missing\n")
    assert instantiation_failure(message) == (
        "needs an import the host does not provide: the capsule imports `get` from interface "
        "`acme:kv/store@1.0.0`, and this host provides astrid:http/client@0.1.0 and WASI 0.2 "
        "only")


def test_other_failures_keep_their_cause() -> None:
    message = ("error while executing at wasm backtrace:\n    0: 0x1 - m!start\n\nCaused by:\n"
               "    astrid: the call's wall-clock budget is exhausted\n")
    assert instantiation_failure(message) == ("cannot be instantiated: it trapped while "
                                              "starting: astrid: the call's wall-clock budget "
                                              "is exhausted")


async def test_load_error_lists_every_interface_the_host_serves() -> None:
    # The list comes from what the host links, so it names the Astrid front's interfaces too.
    async with Host(use_cache=False) as host:
        with pytest.raises(CapsuleLoadError) as info:
            await host.load(UNKNOWN_INTERFACE_WAT.encode(), name="needy")
    for served in ("astrid:http/client@0.1.0", "astrid:http/host@1.1.0", "astrid:kv/host@1.0.0",
                   "and WASI 0.2 only"):
        assert served in info.value.reason
