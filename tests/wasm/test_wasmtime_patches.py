"""The wasmtime-py patches (astrid_host/_wasm/_wasmtime_patches) are pinned to the version they
were verified against, and everything they reach into is still there.

On a new wasmtime-py this fails loudly with the checklist from the patches' README.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from astrid_host._wasm import _wasmtime_patches as patches

README = Path(patches.__file__).with_name("README.md")


def _checklist() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- checklist")
    start = text.index("\n", start) + 1
    return text[start:text.index("<!-- end checklist -->")].rstrip()


def test_wasmtime_is_the_version_the_patches_were_verified_against() -> None:
    installed = patches.installed_wasmtime()
    if not patches.verified():
        pytest.fail(
            f"wasmtime-py {installed} is installed, but the patches in "
            f"astrid_host/_wasm/_wasmtime_patches/ were verified against "
            f"{patches.VERIFIED_WASMTIME}x. Before widening VERIFIED_WASMTIME, go through the "
            f"checklist ({README}):\n\n{_checklist()}", pytrace=False)


def test_everything_the_patches_reach_into_is_there() -> None:
    assert patches.self_check() == [], _checklist()


def test_the_self_check_names_a_missing_internal() -> None:
    """The check above can fail: a missing function, class or attribute is reported."""
    found = patches.self_check((
        ("_hostfunc", "wasmtime._ffi", "", "wasmtime_no_such_function"),
        ("_frozen", "wasmtime.component._types", "NoSuchType", "_tagged"),
        ("_exportcall", "wasmtime.component._func", "Func", "_no_such_attribute"),
        ("_exportcall", "wasmtime.component._no_such_module", "", "x"),
    ))
    assert found == [
        "_hostfunc: wasmtime._ffi.wasmtime_no_such_function is gone",
        "_frozen: wasmtime.component._types.NoSuchType._tagged is gone",
        "_exportcall: wasmtime.component._func.Func._no_such_attribute is gone",
        "_exportcall: wasmtime.component._no_such_module.x is gone",
    ]


def test_every_patch_module_is_listed_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    modules = sorted(p.name for p in README.parent.glob("_*.py") if p.name != "__init__.py")
    assert modules, "no patches?"
    for name in modules:
        if name != "_version.py":
            assert f"`{name}`" in text, f"{name} is not described in {README.name}"
    assert "1." in _checklist()
