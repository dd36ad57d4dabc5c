"""wasmtime-py component types rendered as canonical text, and a guest's declared imports
checked against the interfaces the host serves.

Only the public type classes of ``wasmtime.component`` are read here. The text is the one
``astrid_host/_bindgen/_signature.py`` renders from the WIT into each generated host model
(``Func.signature``), so the check compares the guest's types with the WIT the host was built
from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from wasmtime.component import (
    BorrowType,
    ComponentInstanceType,
    EnumType,
    FlagsType,
    FuncType,
    ListType,
    OptionType,
    OwnType,
    RecordType,
    ResourceType,
    ResultType,
    TupleType,
    VariantType,
)

from astrid_host._core._witschema import Interface

__all__ = ["check_imports", "render_func", "render_type"]


def render_type(ty: Any, resources: dict[str, Any]) -> str:
    """A canonical text for a wasmtime-py component value type (pure over the type objects).

    Two types render the same exactly when they are structurally equal; resources render as
    the name under which the imported instance exports them.
    """
    if isinstance(ty, (OwnType, BorrowType)):
        kind = "own" if isinstance(ty, OwnType) else "borrow"
        name = next((n for n, r in resources.items() if r == ty.ty), "?")
        return f"{kind}<{name}>"
    if isinstance(ty, ListType):
        return f"list<{render_type(ty.element, resources)}>"
    if isinstance(ty, OptionType):
        return f"option<{render_type(ty.payload, resources)}>"
    if isinstance(ty, ResultType):
        ok = "_" if ty.ok is None else render_type(ty.ok, resources)
        err = "_" if ty.err is None else render_type(ty.err, resources)
        return f"result<{ok},{err}>"
    if isinstance(ty, TupleType):
        return "tuple<" + ",".join(render_type(e, resources) for e in ty.elements) + ">"
    if isinstance(ty, RecordType):
        return "record{" + ",".join(f"{n}:{render_type(f, resources)}"
                                    for n, f in ty.fields) + "}"
    if isinstance(ty, VariantType):
        return "variant{" + ",".join(
            n if c is None else f"{n}({render_type(c, resources)})" for n, c in ty.cases) + "}"
    if isinstance(ty, EnumType):
        return "enum{" + ",".join(ty.names) + "}"
    if isinstance(ty, FlagsType):
        return "flags{" + ",".join(ty.names) + "}"
    return type(ty).__name__.lower()


def render_func(fty: Any, resources: dict[str, Any]) -> str:
    """``func(name:type,...)->type`` for a wasmtime-py component FuncType."""
    params = ",".join(f"{n}:{render_type(p, resources)}" for n, p in fty.params)
    result = fty.result
    return f"func({params})" + ("" if result is None else f"->{render_type(result, resources)}")


def _served(name: str, interfaces: Sequence[Interface]) -> Interface | None:
    """The served interface a guest import names: the same id, or failing that the same
    interface at another version (checked against the one served, so it fails clearly)."""
    for iface in interfaces:
        if iface.id == name:
            return iface
    for iface in interfaces:
        if name.startswith(iface.id.partition("@")[0] + "@"):
            return iface
    return None


def check_imports(component: Any, engine: Any, interfaces: Sequence[Interface]) -> str | None:
    """Why the component's imports of ``interfaces`` cannot be served, or ``None`` if they can.

    wasmtime cannot type-check host functions defined dynamically (as ours are), so a guest
    declaring `send` with other types would only fail at its first call. This compares each
    declared function's signature with the host model's; importing a subset is fine.
    """
    for name, ext in component.type.imports(engine).items():
        iface = _served(name, interfaces)
        if iface is None:
            continue
        instance = ext.ty
        if not isinstance(instance, ComponentInstanceType):
            return f"{name} is imported as a {type(instance).__name__}, not an interface"
        items = instance.exports(engine)
        resources = {n: x.ty for n, x in items.items() if isinstance(x.ty, ResourceType)}
        expected = {f.name: f.signature for f in iface.functions}
        for fname, item in items.items():
            if not isinstance(item.ty, FuncType):
                continue
            if fname not in expected:
                return f"{name} has no function {fname!r}"
            digest = hashlib.sha256(render_func(item.ty, resources).encode()).hexdigest()
            if digest != expected[fname]:
                return (f"{name}: {fname!r} is declared with other types than in the WIT of "
                        f"{iface.id} (a guest built from another version of the WIT?)")
    return None
