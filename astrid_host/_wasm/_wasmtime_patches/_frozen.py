"""wasmtime-py type objects that read their structure from C once, not on every use.

wasmtime-py's type objects read their structure from C on every access: each conversion of a
`request` re-reads its record fields, the 18 cases of `error-code`, every list's element type,
and recomputes whether each variant is "tagged" (one ctypes call per name and type). That was a
third of a `send` round trip. A frozen type keeps what it read: it is the same object with its
class switched to a subclass whose structural properties come from the instance (read once,
eagerly) and whose private ``_tagged()`` answer is remembered. The conversion code itself is
wasmtime-py's own (and ``_fastbytes``' for byte lists).
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import _types as _t
from wasmtime.component._types import ValType

__all__ = ["freeze_type"]

_STRUCTURE: dict[type, tuple[str, ...]] = {
    _t.ListType: ("element",),
    _t.RecordType: ("fields",),
    _t.TupleType: ("elements",),
    _t.VariantType: ("cases",),
    _t.EnumType: ("names",),
    _t.FlagsType: ("names",),
    _t.OptionType: ("payload",),
    _t.ResultType: ("ok", "err"),
}
_FROZEN: dict[type, type] = {}
_FROZEN_TYPES: set[type] = set()
_TAGGED = "_astrid_tagged"


def _remembered_tagged(self: Any) -> bool:
    tagged: bool | None = self.__dict__.get(_TAGGED)
    if tagged is None:
        tagged = self.__dict__[_TAGGED] = _t.VariantLikeType._tagged(self)
    return tagged


def _frozen_class(cls: type) -> type:
    frozen = _FROZEN.get(cls)
    if frozen is None:
        # A plain class attribute is not a data descriptor, so the instance's own value
        # (stored by freeze_type) wins over it; it only stands in for the base's property.
        namespace: dict[str, Any] = {name: None for name in _STRUCTURE[cls]}
        if issubclass(cls, _t.VariantLikeType):
            namespace["_tagged"] = _remembered_tagged
        frozen = type(f"Frozen{cls.__name__}", (cls,), namespace)
        _FROZEN[cls] = frozen
        _FROZEN_TYPES.add(frozen)
    return frozen


def _children(ty: Any) -> list[Any]:
    if isinstance(ty, _t.ListType):
        return [ty.element]
    if isinstance(ty, (_t.RecordType, _t.VariantType)):
        return [child for _, child in (ty.fields if isinstance(ty, _t.RecordType)
                                       else ty.cases)]
    if isinstance(ty, _t.TupleType):
        return list(ty.elements)
    if isinstance(ty, _t.OptionType):
        return [ty.payload]
    if isinstance(ty, _t.ResultType):
        return [ty.ok, ty.err]
    return []


def freeze_type(ty: ValType) -> ValType:
    """Make ``ty`` (and every type inside it) read its structure from C once, not per use.

    Returns ``ty`` itself. Types without structure (numbers, strings, resources) and types of
    classes this wasmtime-py version does not have in :data:`_STRUCTURE` are left as they
    are, so an unexpected wasmtime-py change costs speed, never correctness.
    """
    cls = type(ty)
    if cls in _FROZEN_TYPES or cls not in _STRUCTURE:
        return ty
    values = {name: getattr(ty, name) for name in _STRUCTURE[cls]}
    ty.__dict__.update(values)
    ty.__class__ = _frozen_class(cls)
    for child in _children(ty):
        if child is not None:
            freeze_type(child)
    return ty
