"""Render a resolved WIT package as a Markdown reference (``docs/wit.md``).

Built from the same model as the Python bindings so the reference cannot drift from the
WIT: the doc comments are the text, signatures are re-spelled from the resolved types.
"""

from __future__ import annotations

from astrid_host._bindgen._model import (
    EnumDef,
    FlagsDef,
    Function,
    Handle,
    ListOf,
    OptionOf,
    Prim,
    RecordDef,
    Ref,
    Resolve,
    ResourceDef,
    ResultOf,
    TupleOf,
    Type,
    VariantDef,
    WorldItem,
)

__all__ = ["render", "wit_type"]


def wit_type(resolve: Resolve, ty: Type | None) -> str:
    """A type spelled as in WIT source: ``list<tuple<string, list<u8>>>``, ``request``."""
    if ty is None:
        return "_"
    if isinstance(ty, Prim):
        return ty.name
    if isinstance(ty, Ref):
        td = resolve.types[ty.index]
        if td.name is not None:
            return td.name
        assert not isinstance(td.kind, (RecordDef, EnumDef, FlagsDef, VariantDef, ResourceDef))
        return wit_type(resolve, td.kind)
    if isinstance(ty, ListOf):
        return f"list<{wit_type(resolve, ty.element)}>"
    if isinstance(ty, OptionOf):
        return f"option<{wit_type(resolve, ty.inner)}>"
    if isinstance(ty, ResultOf):
        if ty.ok is None and ty.err is None:
            return "result"
        if ty.err is None:
            return f"result<{wit_type(resolve, ty.ok)}>"
        return f"result<{wit_type(resolve, ty.ok)}, {wit_type(resolve, ty.err)}>"
    if isinstance(ty, TupleOf):
        return "tuple<" + ", ".join(wit_type(resolve, t) for t in ty.items) + ">"
    if isinstance(ty, Handle):
        name = resolve.types[ty.resource].name or "?"
        return name if ty.mode == "own" else f"borrow<{name}>"
    raise TypeError(f"not a WIT type: {ty!r}")  # pragma: no cover


def _signature(resolve: Resolve, fn: Function) -> str:
    params = fn.params[1:] if fn.kind == "method" else fn.params
    args = ", ".join(f"{p.name}: {wit_type(resolve, p.type)}" for p in params)
    name = fn.name.split(".", 1)[-1] if fn.resource is not None else fn.name
    if fn.kind == "constructor":
        return f"constructor({args})"
    prefix = "static " if fn.kind == "static" else ""
    ret = "" if fn.result is None else f" -> {wit_type(resolve, fn.result)}"
    return f"{prefix}{name}: func({args}){ret}"


def _para(text: str | None) -> list[str]:
    return [text.strip(), ""] if text else []


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _render_type(resolve: Resolve, index: int, out: list[str]) -> None:
    td = resolve.types[index]
    kind = td.kind
    if isinstance(kind, Ref):
        return  # a `use`: documented where it is defined
    what = {RecordDef: "record", EnumDef: "enum", FlagsDef: "flags", VariantDef: "variant",
            ResourceDef: "resource"}.get(type(kind), "type")
    out += [f"#### {what} `{td.name}`", ""]
    if what == "type":
        assert not isinstance(kind, (RecordDef, EnumDef, FlagsDef, VariantDef, ResourceDef))
        out += [f"`type {td.name} = {wit_type(resolve, kind)}`", ""]
    out += _para(td.docs)
    if isinstance(kind, RecordDef):
        out += ["| field | type | meaning |", "|---|---|---|"]
        out += [f"| `{f.name}` | `{wit_type(resolve, f.type)}` | {_cell(f.docs)} |"
                for f in kind.fields]
        out.append("")
    elif isinstance(kind, (EnumDef, FlagsDef, VariantDef)):
        out += ["| case | payload | meaning |", "|---|---|---|"]
        out += [f"| `{c.name}` | {'`' + wit_type(resolve, c.type) + '`' if c.type else '-'} "
                f"| {_cell(c.docs)} |" for c in kind.cases]
        out.append("")


def _render_functions(resolve: Resolve, fns: list[Function], out: list[str]) -> None:
    for fn in fns:
        out += [f"- `{_signature(resolve, fn)}`" + (f": {_cell(fn.docs)}" if fn.docs else "")]
    if fns:
        out.append("")


def _item(resolve: Resolve, item: WorldItem) -> str:
    if item.interface is not None:
        return f"interface `{resolve.interface_id(item.interface)}`"
    if item.function is not None:
        return f"`{_signature(resolve, item.function)}`"
    assert item.type is not None
    return f"type `{resolve.types[item.type].name}`"


def render(resolve: Resolve) -> str:
    """The whole reference: worlds first, then every named interface with its types."""
    pkgs = ", ".join(f"`{p}`" for p in resolve.packages)
    out = ["# WIT reference", "",
           f"Generated from the WIT package {pkgs} by "
           "`astrid-host bindgen wit --format markdown`; do not edit by hand.", ""]
    out += ["## Worlds", ""]
    for w in resolve.worlds:
        out += [f"### world `{w.name}`", ""]
        out += _para(w.docs)
        for label, items in (("Imports", w.imports), ("Exports", w.exports)):
            shown = [i for i in items if i.type is None]
            if shown:
                out += [f"{label}:", ""]
                for item in shown:
                    line = f"- {_item(resolve, item)}"
                    if item.function is not None and item.function.docs:
                        line += f": {_cell(item.function.docs)}"
                    out.append(line)
                out.append("")
    out += ["## Interfaces", ""]
    for iface in resolve.interfaces:
        if iface.name is None:
            continue
        out += [f"### interface `{resolve.interface_id(iface.index)}`", ""]
        out += _para(iface.docs)
        for _, index in iface.types:
            _render_type(resolve, index, out)
            if isinstance(resolve.types[index].kind, ResourceDef):
                _render_functions(
                    resolve, [f for f in iface.functions if f.resource == index], out)
        free = [f for f in iface.functions if f.resource is None]
        if free:
            out += ["#### functions", ""]
            _render_functions(resolve, free, out)
    return "\n".join(out).rstrip() + "\n"
