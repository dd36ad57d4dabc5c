"""The layering rule, enforced: pure logic imports no I/O libraries, only the network layer
imports httpcore and trio's socket API, only the wasm layer imports wasmtime, and the wasm and
network layers are equals on top of the pure layer: neither imports the other (they meet in
the composition root, `astrid_host/_compose.py`).

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
        "wasmtime", "httpcore", "h11", "trio", "anyio", "sniffio", "ssl", "asyncio",
        "urllib.request", "astrid_host._net", "astrid_host._wasm",
    ),
    "_net": ("wasmtime", "astrid_host._wasm"),
    "_wasm": ("httpcore", "h11", "astrid_host._net"),
    # The audit sinks do blocking file I/O for any caller (trio, asyncio, threads): no event
    # loop, no network, no wasm.
    "_audit": (
        "wasmtime", "httpcore", "h11", "trio", "anyio", "asyncio", "astrid_host._net",
        "astrid_host._wasm",
    ),
}
# Outside these layers, nobody imports wasmtime or httpcore directly.
EVERYWHERE_ELSE = ("wasmtime", "httpcore", "trio.socket")
WASM_DIRS = ("_wasm",)
NET_DIRS = ("_net",)


def _imports(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(PACKAGE.parent).parent.parts)
    return _imports_of(path.read_text(encoding="utf-8"), str(path), package)


def _imports_of(source: str, filename: str, package: str = "") -> list[tuple[int, str]]:
    """Every module an import statement names; relative imports resolved against
    ``package`` (the importing module's package, dotted)."""
    tree = ast.parse(source, filename=filename)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((node.lineno, module))
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _layer_of(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _violations(layer: str | None, imports: list[tuple[int, str]], where: str) -> list[str]:
    forbidden = FORBIDDEN.get(layer or "", ())
    if layer not in WASM_DIRS and layer not in NET_DIRS:
        forbidden = forbidden + EVERYWHERE_ELSE
    return [f"{where}:{line}: imports {name}" for line, name in imports
            for prefix in forbidden if _matches(name, prefix)]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_its_layer(path: Path) -> None:
    violations = _violations(_layer_of(path), _imports(path), str(path.relative_to(PACKAGE)))
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
    assert (2, "wasmtime") in _imports_of(bad.read_text(), str(bad))
    assert _matches("trio.socket", "trio")
    assert not _matches("triopoly", "trio")


@pytest.mark.parametrize(("layer", "package", "source"), [
    ("_wasm", "astrid_host._wasm", "from astrid_host._net._client import CapsuleHttp\n"),
    ("_wasm", "astrid_host._wasm", "def f():\n    import astrid_host._net._client\n"),
    ("_wasm", "astrid_host._wasm", "from .._net import _client\n"),
    ("_net", "astrid_host._net", "from astrid_host._wasm._host import Host\n"),
    ("_net", "astrid_host._net", "from ..import _wasm\n"),
])
def test_wasm_and_net_never_import_each_other(layer: str, package: str, source: str) -> None:
    """A synthetic violation of "_wasm never imports _net and vice versa" is reported, also
    through a lazy or a relative import."""
    found = _imports_of(source, "synthetic.py", package)
    assert _violations(layer, found, "synthetic.py"), found


def test_the_composition_root_may_import_both() -> None:
    root = PACKAGE / "_compose.py"
    names = [name for _, name in _imports(root)]
    assert any(_matches(n, "astrid_host._net") for n in names)
    assert any(_matches(n, "astrid_host._wasm") for n in names)
    assert not _violations(_layer_of(root), _imports(root), "_compose.py")


# --- wasmtime-py internals only behind one door -----------------------------------------------

PATCHES = PACKAGE / "_wasm" / "_wasmtime_patches"
#: wasmtime-py private attributes and conversion internals the patches use.
PRIVATE_ATTRIBUTES = frozenset({
    "_tagged", "_from_ptr", "_consume", "_func", "_invalidate", "_context", "_is_bytes",
    "convert_to_c", "convert_from_c",
})


def _private_wasmtime(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "wasmtime" and any(p.startswith("_") for p in parts[1:])


def _reaches_into_wasmtime(source: str, filename: str, package: str = "") -> list[str]:
    found = [f"imports {name}" for _, name in _imports_of(source, filename, package)
             if _private_wasmtime(name)]
    found += [f"uses .{node.attr}" for node in ast.walk(ast.parse(source, filename))
              if isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES]
    return found


@pytest.mark.parametrize("path", [p for p in MODULES if PATCHES not in p.parents],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_patches_folder_reaches_into_wasmtime_internals(path: Path) -> None:
    """Private modules, ``_ffi`` and private attributes of wasmtime-py are used in
    ``_wasm/_wasmtime_patches/`` only, so a wasmtime-py upgrade is one folder to check."""
    package = ".".join(path.relative_to(PACKAGE.parent).parent.parts)
    assert not _reaches_into_wasmtime(path.read_text(encoding="utf-8"), str(path), package)


@pytest.mark.parametrize("source", [
    "from wasmtime import _ffi as ffi\n",
    "from wasmtime.component._types import FuncType\n",
    "import wasmtime.component._enter\n",
    "def f(t):\n    return t._tagged()\n",
    "def f(err):\n    return err._consume()\n",
])
def test_the_fence_sees_a_reach_into_wasmtime_internals(source: str) -> None:
    assert _reaches_into_wasmtime(source, "synthetic.py")


def test_the_patches_folder_is_where_the_internals_are() -> None:
    found = [hit for path in PATCHES.glob("*.py")
             for hit in _reaches_into_wasmtime(path.read_text(encoding="utf-8"), str(path))]
    assert found  # the fence above is around something


def test_every_layer_directory_exists() -> None:
    for layer in ("_core", "_net", "_wasm"):
        assert (PACKAGE / layer / "__init__.py").is_file()
