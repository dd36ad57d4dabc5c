"""The layering rule, enforced: pure logic imports no I/O libraries, only the network layer
imports httpcore and trio's socket API, only the wasm layer imports wasmtime.

The check reads import statements with `ast`, so it also catches imports that are never
executed in the tests (inside functions, behind flags).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PACKAGE = ROOT / "astrid_host"

# Module prefixes (top-level names, or dotted for trio's socket API) that each layer may not import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    # `socket` itself is allowed in _core: inet_pton/inet_ntop are pure conversions.
    "_core": (
        "wasmtime", "httpcore", "h11", "trio", "ssl", "asyncio", "urllib.request",
        "astrid_host._net", "astrid_host._wasm",
    ),
    "_net": ("wasmtime", "astrid_host._wasm"),
}
# Outside these layers, nobody imports wasmtime or httpcore directly.
EVERYWHERE_ELSE = ("wasmtime", "httpcore", "trio.socket")
WASM_DIRS = ("_wasm",)
NET_DIRS = ("_net",)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_its_layer(path: Path) -> None:
    layer = _layer_of(path)
    forbidden = FORBIDDEN.get(layer or "", ())
    if layer not in WASM_DIRS and layer not in NET_DIRS:
        forbidden = forbidden + EVERYWHERE_ELSE
    violations = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {name}"
        for line, name in _imports(path)
        for prefix in forbidden
        if _matches(name, prefix)
    ]
    assert not violations, "\n".join(violations)


def test_the_package_imports_no_test_or_benchmark_code() -> None:
    """Test doubles, servers and probes live in tests/support, which the package never
    imports: what ships is only what runs in production."""
    violations = [
        f"{path.relative_to(PACKAGE)}:{line}: imports {name}"
        for path in MODULES
        for line, name in _imports(path)
        if _matches(name, "tests") or _matches(name, "benchmarks")
    ]
    assert not violations, "\n".join(violations)


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself must see a forbidden import, or the test above proves nothing."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from wasmtime import Store\n")
    assert (2, "wasmtime") in _imports(bad)
    assert _matches("trio.socket", "trio")
    assert not _matches("triopoly", "trio")


def test_every_layer_directory_exists() -> None:
    for layer in ("_core", "_net", "_wasm"):
        assert (PACKAGE / layer / "__init__.py").is_file()
