"""wasmtime-py type objects: read their structure once (:func:`freeze_type`), render them as
WIT text, and check a guest's declared `astrid:http/client` imports against `wit/client.wit`.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import ResourceType
from wasmtime.component import _types as _t
from wasmtime.component._types import ValType

__all__ = ["check_client_imports", "freeze_type", "render_func", "render_type"]

# --------------------------------------------------------------------------------------------
# Type structure read once

# wasmtime-py's type objects read their structure from C on every access: each conversion of
# a `request` re-reads its record fields, the 18 cases of `error-code`, every list's element
# type, and recomputes whether each variant is "tagged" (one ctypes call per name and type).
# That was a third of a `send` round trip. A frozen type keeps what it read: it is the same
# object with its class switched to a subclass whose structural properties come from the
# instance (read once, eagerly) and whose `_tagged()` answer is remembered. The conversion code
# itself is wasmtime-py's own (and `_fastbytes`' for byte lists).

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


# --------------------------------------------------------------------------------------------
# Load-time check of the guest's declared import types


def render_type(ty: Any, resources: dict[str, Any]) -> str:
    """A canonical text for a wasmtime-py component value type (pure over the type objects).

    Two types render the same exactly when they are structurally equal; resources render as
    the name under which the imported instance exports them.
    """
    from wasmtime.component import _types as t

    if isinstance(ty, (t.OwnType, t.BorrowType)):
        kind = "own" if isinstance(ty, t.OwnType) else "borrow"
        name = next((n for n, r in resources.items() if r == ty.ty), "?")
        return f"{kind}<{name}>"
    if isinstance(ty, t.ListType):
        return f"list<{render_type(ty.element, resources)}>"
    if isinstance(ty, t.OptionType):
        return f"option<{render_type(ty.payload, resources)}>"
    if isinstance(ty, t.ResultType):
        ok = "_" if ty.ok is None else render_type(ty.ok, resources)
        err = "_" if ty.err is None else render_type(ty.err, resources)
        return f"result<{ok},{err}>"
    if isinstance(ty, t.TupleType):
        return "tuple<" + ",".join(render_type(e, resources) for e in ty.elements) + ">"
    if isinstance(ty, t.RecordType):
        return "record{" + ",".join(f"{n}:{render_type(f, resources)}"
                                    for n, f in ty.fields) + "}"
    if isinstance(ty, t.VariantType):
        return "variant{" + ",".join(
            n if c is None else f"{n}({render_type(c, resources)})" for n, c in ty.cases) + "}"
    if isinstance(ty, t.EnumType):
        return "enum{" + ",".join(ty.names) + "}"
    if isinstance(ty, t.FlagsType):
        return "flags{" + ",".join(ty.names) + "}"
    return type(ty).__name__.lower()


def render_func(fty: Any, resources: dict[str, Any]) -> str:
    """``func(name:type,...)->type`` for a wasmtime-py component FuncType."""
    params = ",".join(f"{n}:{render_type(p, resources)}" for n, p in fty.params)
    result = fty.result
    return f"func({params})" + ("" if result is None else f"->{render_type(result, resources)}")


#: sha256 of :func:`render_func` of every client function as declared in wit/client.wit.
#: tests/wasm/test_imports.py recomputes these from guests built from wit/ and fails on drift.
EXPECTED_SIGNATURES: dict[str, str] = {
    "[method]incoming-response.status":
        "6d80cbbace9f3228f044e94752ecae062db13047057460c89d1177c6ee053d51",
    "[method]incoming-response.headers":
        "bf58eb30f5f3728c0a2d0e217a1809d4b76e1a811d85350fe808e70ee567549c",
    "[method]incoming-response.meta":
        "467ba8e76b6acdfe6837726cff6d0a12605ce0cecd9fc900c9c4c3d28c973c1c",
    "[method]incoming-response.read":
        "2343cf77ee9aecd37c850978a082f381f6c46f1a15d7283a88a283b7c0d82081",
    "[method]outgoing-body.write":
        "202497236007419a4f9d432fcdcc233be45481af172cf4e4e0f8f1e31a91f7a2",
    "[method]outgoing-body.finish":
        "50a4f895dd4cc7dd84887c324435b961b2aeca9aa1b64cd67d9109f5941f539b",
    "[method]outgoing-body.finish-streaming":
        "19d51c987d6899a7ff3fa278938504884b35d856339b7b6ea41c843c3454babd",
    "send": "bf72256cb6b31905a2774db3b038e0583d6df0c5d2a2702d2c486480d15a286e",
    "start": "b470572cd3caa8a700a8261ac0b6b54316c44985fa219812aa51dc006d5bae7e",
    "upload": "4eb379b8da16fa7392d3afd642217e6526083b3f9dfc63608a442dd5c35301ec",
}


def check_client_imports(component: Any, engine: Any) -> str | None:
    """Why the component's `astrid:http/client` import cannot be served, or ``None`` if it can.

    wasmtime cannot type-check host functions defined dynamically (as ours are), so a guest
    declaring `send` with other types would only fail at its first call. This compares each
    declared function's signature with `wit/client.wit`; importing a subset is fine.
    """
    import hashlib

    from wasmtime.component import _types as t

    for name, ext in component.type.imports(engine).items():
        if not name.startswith("astrid:http/client@"):
            continue
        instance = ext.ty
        if not isinstance(instance, t.ComponentInstanceType):
            return f"{name} is imported as a {type(instance).__name__}, not an interface"
        items = instance.exports(engine)
        resources = {n: x.ty for n, x in items.items() if isinstance(x.ty, ResourceType)}
        for fname, item in items.items():
            if not isinstance(item.ty, t.FuncType):
                continue
            expected = EXPECTED_SIGNATURES.get(fname)
            if expected is None:
                return f"{name} has no function {fname!r}"
            digest = hashlib.sha256(render_func(item.ty, resources).encode()).hexdigest()
            if digest != expected:
                return (f"{name}: {fname!r} is declared with other types than in "
                        "wit/client.wit (a guest built from another version of the WIT?)")
    return None

