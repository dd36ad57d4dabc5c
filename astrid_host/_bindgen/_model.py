"""A typed model of a resolved WIT package: the frozen dataclasses the generators read.

Built from ``wasm-tools component wit --json`` by :mod:`~astrid_host._bindgen._witjson`, so
the generators never touch raw dictionaries. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
