"""The generated bindings of the `echo` world (wit/testing.wit), imported as a module.

Generated afresh once per test run from wit/, so they are always those of the current
generator; tests drive them against the Python echo guest (guests/python/echo).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from types import ModuleType

from astrid_host._bindgen import generate
from tests.support.paths import ROOT

__all__ = ["CACHE", "echo_bindings"]

#: Where the generated module (and the roundtrip tests' compiled guest) are kept.
CACHE = ROOT / "build" / "cache" / "test-bindgen"


@functools.cache
def echo_bindings() -> ModuleType:
    """Generate the echo bindings and import them as a module (``BindgenError`` when they
    cannot be generated, e.g. without wasm-tools)."""
    source = generate(ROOT / "wit", "echo")
    path = CACHE / "echo_bindings.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("_astrid_test_echo_bindings", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through it
    spec.loader.exec_module(module)
    return module
