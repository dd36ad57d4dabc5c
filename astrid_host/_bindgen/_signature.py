"""Canonical text (and its sha256) of a function type, from the WIT.

The same text :func:`astrid_host._wasm._typeinfo.render_func` makes from the types wasmtime-py
reports for a loaded component, so a host model can carry the digest of every function it
serves and a guest that declares one with other types is refused at load: structure only
(records and variants spelled out, type names dropped), resources by name.
"""

from __future__ import annotations

import hashlib

from astrid_host._bindgen import _model as m

__all__ = ["render_func", "render_type", "signature"]


def render_type(resolve: m.Resolve, ty: m.Type) -> str:
    """``record{a:u32,b:list<u8>}``, ``own<incoming-response>``, ``result<_,string>``, ..."""
    t = resolve.resolve(ty)
    if isinstance(t, m.TypeDef):
        return _render_def(resolve, t)
    if isinstance(t, m.Prim):
        return t.name
    if isinstance(t, m.ListOf):
        return f"list<{render_type(resolve, t.element)}>"
    if isinstance(t, m.OptionOf):
        return f"option<{render_type(resolve, t.inner)}>"
    if isinstance(t, m.ResultOf):
        ok = "_" if t.ok is None else render_type(resolve, t.ok)
        err = "_" if t.err is None else render_type(resolve, t.err)
        return f"result<{ok},{err}>"
    if isinstance(t, m.TupleOf):
        return "tuple<" + ",".join(render_type(resolve, i) for i in t.items) + ">"
    if isinstance(t, m.Handle):
        return f"{t.mode}<{resolve.types[t.resource].name}>"
    raise m.BindgenError(f"unsupported type {t!r}")  # pragma: no cover


def _render_def(resolve: m.Resolve, td: m.TypeDef) -> str:
    kind = td.kind
    if isinstance(kind, m.RecordDef):
        return "record{" + ",".join(f"{f.name}:{render_type(resolve, f.type)}"
                                    for f in kind.fields) + "}"
    if isinstance(kind, m.VariantDef):
        return "variant{" + ",".join(
            c.name if c.type is None else f"{c.name}({render_type(resolve, c.type)})"
            for c in kind.cases) + "}"
    if isinstance(kind, m.EnumDef):
        return "enum{" + ",".join(c.name for c in kind.cases) + "}"
    if isinstance(kind, m.FlagsDef):
        return "flags{" + ",".join(c.name for c in kind.cases) + "}"
    assert isinstance(kind, m.ResourceDef)
    raise m.BindgenError(f"resource {td.name} used without own<> or borrow<>")


def render_func(resolve: m.Resolve, fn: m.Function) -> str:
    """``func(name:type,...)->type`` for a WIT function."""
    params = ",".join(f"{p.name}:{render_type(resolve, p.type)}" for p in fn.params)
    result = "" if fn.result is None else f"->{render_type(resolve, fn.result)}"
    return f"func({params}){result}"


def signature(resolve: m.Resolve, fn: m.Function) -> str:
    """sha256 (hex) of :func:`render_func`."""
    return hashlib.sha256(render_func(resolve, fn).encode()).hexdigest()
