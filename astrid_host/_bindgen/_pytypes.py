"""Which WIT types a generated module needs, their Python names, annotations and descriptors.

Shared by both generators: typed bindings of a world's exports (``host=False``) and host
models of served interfaces (``host=True``). They differ only where the Python mapping does:
a host model keeps lists as tuples (its values are frozen and hashable), describes handles as
resources the host implements, and may represent a type its own way (:class:`Adapted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from astrid_host._bindgen import _model as m
from astrid_host._bindgen._names import constant, pascal, upper

__all__ = ["DEFS", "Adapted", "TypeMapper"]

#: The kinds of named definitions (as opposed to type expressions and aliases).
DEFS = (m.RecordDef, m.EnumDef, m.FlagsDef, m.VariantDef, m.ResourceDef)

_PY_PRIM = {
    "bool": "bool", "s8": "int", "u8": "int", "s16": "int", "u16": "int", "s32": "int",
    "u32": "int", "s64": "int", "u64": "int", "f32": "float", "f64": "float",
    "char": "str", "string": "str",
}


@dataclass(frozen=True)
class Adapted:
    """A WIT variant a host model represents its own way: as ``py`` values, converted by the
    :class:`~astrid_host._core._witschema.VariantCodec` ``codec`` (``"module:NAME"``)."""

    py: str
    codec: str


class TypeMapper:
    """Reachable named types of one generated module and how each is spelled in Python."""

    def __init__(self, resolve: m.Resolve, *, host: bool,
                 adapted: Mapping[str, Adapted] | None = None) -> None:
        self.r = resolve
        self.host = host
        self.rt = "wit" if host else "rt"  # the module alias descriptors come from
        self.values = "wit." if host else ""  # how Ok/Err/Some are spelled
        self.adapted_by_name = dict(adapted or {})
        self.used: list[int] = []  # named type indices to emit, in type-table order
        self.cls: dict[int, str] = {}  # type index → class / alias name
        self.descs: dict[int, str] = {}  # type index → descriptor constant
        self.adapted: dict[int, Adapted] = {}
        self.resources: list[int] = []  # host mode: reachable resources (no class emitted)
        self.handles: dict[int, str] = {}  # host mode: resource index → handle constant stem

    def resource_functions(self, resource: int) -> list[m.Function]:
        """The constructor, methods and static functions of a resource, in WIT order."""
        td = self.r.types[resource]
        if td.owner is None or td.owner[0] != "interface":
            return []
        return [f for f in self.r.interfaces[td.owner[1]].functions if f.resource == resource]

    # --- reachability and names ----------------------------------------------------------

    def collect(self, roots: Iterable[m.Type | None]) -> None:
        """Find every named type reachable from ``roots`` and choose its Python names."""
        seen: set[int] = set()
        pending = list(roots)
        while pending:
            ty = pending.pop()
            if ty is None:
                continue
            if isinstance(ty, m.Ref):
                if ty.index in seen:
                    continue
                seen.add(ty.index)
                kind = self.r.types[ty.index].kind
                if isinstance(kind, m.RecordDef):
                    pending += [f.type for f in kind.fields]
                elif isinstance(kind, (m.VariantDef, m.EnumDef, m.FlagsDef)):
                    pending += [c.type for c in kind.cases]
                elif isinstance(kind, m.ResourceDef):
                    for fn in self.resource_functions(ty.index):
                        pending += [p.type for p in fn.params] + [fn.result]
                else:
                    pending.append(kind)
            elif isinstance(ty, m.ListOf):
                pending.append(ty.element)
            elif isinstance(ty, m.OptionOf):
                pending.append(ty.inner)
            elif isinstance(ty, m.ResultOf):
                pending += [ty.ok, ty.err]
            elif isinstance(ty, m.TupleOf):
                pending += list(ty.items)
            elif isinstance(ty, m.Handle):
                pending.append(m.Ref(ty.resource))
        # Emit definitions and named aliases; `use` aliases just point at the original.
        for index in sorted(seen):
            td = self.r.types[index]
            if td.name is None or isinstance(td.kind, m.Ref):
                continue
            if self.host and isinstance(td.kind, m.ResourceDef):
                # The host's own objects stand behind its resources: no class, two handles.
                self.resources.append(index)
                self.handles[index] = upper(td.name)
                continue
            if td.name in self.adapted_by_name:
                if not isinstance(td.kind, m.VariantDef):
                    raise m.BindgenError(f"only variants can be adapted, not {td.name}")
                self.adapted[index] = self.adapted_by_name[td.name]
            self.used.append(index)
        taken: dict[str, int] = {}
        for index in self.used:
            td = self.r.types[index]
            assert td.name is not None
            name = pascal(td.name)
            if name in taken:
                # Two interfaces define the same name: qualify this one by its interface.
                owner = td.owner
                prefix = ""
                if owner is not None and owner[0] == "interface":
                    prefix = pascal(self.r.interfaces[owner[1]].name or f"iface{owner[1]}")
                name = prefix + name
                if name in taken:
                    raise m.BindgenError(f"cannot find a unique Python name for WIT type {td.name}")
            taken[name] = index
            self.cls[index] = name
            self.descs[index] = ("" if self.host else "_") + constant(name)

    def resource_def(self, index: int) -> int:
        """The index of the resource definition a (possibly `use`d) resource name means."""
        kind = self.r.types[index].kind
        while isinstance(kind, m.Ref):
            index = kind.index
            kind = self.r.types[index].kind
        return index

    # --- type expressions ------------------------------------------------------------------

    def target(self, ty: m.Type) -> m.Type | m.TypeDef:
        """Follow `use` aliases only (named type aliases keep their own name)."""
        while isinstance(ty, m.Ref):
            td = self.r.types[ty.index]
            if isinstance(td.kind, m.Ref):
                ty = td.kind
                continue
            if td.name is None:
                assert not isinstance(td.kind, DEFS)
                return td.kind
            return td
        return ty

    def can_be_none(self, ty: m.Type) -> bool:
        """Whether ``None`` is a value of ``ty`` (so an option of it needs ``Some``)."""
        return isinstance(self.r.resolve(ty), m.OptionOf)

    def py(self, ty: m.Type | None) -> str:
        """The Python annotation for a WIT type."""
        if ty is None:
            return "None"
        t = self.target(ty)
        if isinstance(t, m.TypeDef):
            if t.index in self.adapted:
                return self.adapted[t.index].py
            return self.cls[t.index]
        if isinstance(t, m.Prim):
            return _PY_PRIM[t.name]
        if isinstance(t, m.ListOf):
            if t.element == m.Prim("u8"):
                return "bytes"
            if self.host:
                return f"tuple[{self.py(t.element)}, ...]"
            return f"list[{self.py(t.element)}]"
        if isinstance(t, m.OptionOf):
            inner = self.py(t.inner)
            if self.can_be_none(t.inner):
                return f"{self.values}Some[{inner}] | None"
            return f"{inner} | None"
        if isinstance(t, m.ResultOf):
            return f"{self.values}Ok[{self.py(t.ok)}] | {self.values}Err[{self.py(t.err)}]"
        if isinstance(t, m.TupleOf):
            if not t.items:
                return "tuple[()]"
            return "tuple[" + ", ".join(self.py(i) for i in t.items) + "]"
        if isinstance(t, m.Handle):
            return "Any" if self.host else self.cls[t.resource]
        raise m.BindgenError(f"unsupported type {t!r}")  # pragma: no cover

    def desc(self, ty: m.Type | None) -> str:
        """A descriptor expression for a WIT type."""
        if ty is None:
            return "None"
        t = self.target(ty)
        rt = self.rt
        if isinstance(t, m.TypeDef):
            if isinstance(t.kind, DEFS):
                return self.descs[t.index]
            assert not isinstance(t.kind, m.Ref)
            return self.desc(t.kind)  # a named alias of a type expression
        if isinstance(t, m.Prim):
            return f"{rt}.{t.name.upper()}"
        if isinstance(t, m.ListOf):
            if t.element == m.Prim("u8"):
                return f"{rt}.BytesTy()"
            return f"{rt}.ListTy({self.desc(t.element)}{', tuple' if self.host else ''})"
        if isinstance(t, m.OptionOf):
            wrap = ", wrap=True" if self.can_be_none(t.inner) else ""
            return f"{rt}.OptionTy({self.desc(t.inner)}{wrap})"
        if isinstance(t, m.ResultOf):
            return f"{rt}.ResultTy({self.desc(t.ok)}, {self.desc(t.err)})"
        if isinstance(t, m.TupleOf):
            return f"{rt}.TupleTy(" + ", ".join(self.desc(i) for i in t.items) + ")"
        if isinstance(t, m.Handle):
            if not self.host:
                return self.descs[t.resource]
            return f"{self.handles[self.resource_def(t.resource)]}_{t.mode.upper()}"
        raise m.BindgenError(f"unsupported type {t!r}")  # pragma: no cover
