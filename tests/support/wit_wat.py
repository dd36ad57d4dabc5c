"""A served interface as component-model WAT: the instance type a guest imports.

Rendered from the generated host model (astrid_host/_core/_wit_*.py), so hand-written WAT
guests import exactly the types of the WIT without writing them out again. Named types
(records, variants, enums, flags) are exported under their WIT names, as the component model
requires for types used in an instance's functions; everything else is an anonymous type.
"""

from __future__ import annotations

from typing import Any

from astrid_host._core import _witschema as w

__all__ = ["instance_type"]


class _Wat:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[int, str] = {}  # id(descriptor) -> $name
        self.resources: dict[tuple[str, str], str] = {}  # (interface, resource) -> $name
        self.keep: list[Any] = []  # descriptors named above stay alive (ids stay unique)
        self.anonymous: dict[str, str] = {}  # body -> $name: one definition per structure

    def define(self, ty: Any, body: str, export: str | None = None) -> str:
        name = self.anonymous.get(body) if export is None else None
        if name is not None:
            return name
        name = f"$t{len(self.keep)}"
        if export is None:
            self.anonymous[body] = name
            self.lines.append(f"(type {name} {body})")
        else:
            self.lines.append(f"(type {name}-def {body})")
            self.lines.append(f'(export "{export}" (type {name} (eq {name}-def)))')
        self.names[id(ty)] = name
        self.keep.append(ty)
        return name

    def ref(self, ty: Any) -> str:
        """A type index (or primitive name) for ``ty``, defining it first if needed."""
        if isinstance(ty, (w.BoolTy, w.IntTy, w.FloatTy, w.StrTy)):
            return ty.wit
        if id(ty) in self.names:
            return self.names[id(ty)]
        if isinstance(ty, w.BytesTy):
            return self.define(ty, "(list u8)")
        if isinstance(ty, w.ListTy):
            return self.define(ty, f"(list {self.ref(ty.element)})")
        if isinstance(ty, w.TupleTy):
            return self.define(ty, "(tuple " + " ".join(self.ref(i) for i in ty.items) + ")")
        if isinstance(ty, w.OptionTy):
            return self.define(ty, f"(option {self.ref(ty.inner)})")
        if isinstance(ty, w.ResultTy):
            ok = "" if ty.ok is None else f" {self.ref(ty.ok)}"
            err = "" if ty.err is None else f" (error {self.ref(ty.err)})"
            return self.define(ty, f"(result{ok}{err})")
        if isinstance(ty, w.RecordTy):
            fields = " ".join(f'(field "{n}" {self.ref(f)})' for n, _, f in ty.fields)
            return self.define(ty, f"(record {fields})", ty.wit)
        if isinstance(ty, w.EnumTy):
            cases = " ".join(f'"{m.value}"' for m in ty.cls)
            return self.define(ty, f"(enum {cases})", ty.wit)
        if isinstance(ty, w.FlagsTy):
            return self.define(ty, "(flags " + " ".join(f'"{n}"' for _, n in ty.names) + ")",
                               ty.wit)
        if isinstance(ty, w.VariantLike):
            cases = " ".join(f'(case "{n}")' if c is None else f'(case "{n}" {self.ref(c)})'
                             for n, c in ty.variant_cases)
            return self.define(ty, f"(variant {cases})", ty.wit)
        if isinstance(ty, w.HandleTy):
            return self.define(ty, f"({ty.mode} {self.resources[ty.interface, ty.wit]})")
        raise TypeError(f"cannot render {ty!r}")


def instance_type(iface: w.Interface) -> str:
    """``(instance ...)``: the resources and functions of ``iface`` with all their types."""
    wat = _Wat()
    for name, handle in iface.resources:
        ref = wat.resources[handle.interface, handle.wit] = f"$r{len(wat.resources)}"
        wat.lines.append(f'(export "{name}" (type {ref} (sub resource)))')
    for func in iface.functions:
        params = "".join(f' (param "{n}" {wat.ref(t)})' for n, t in func.params)
        result = "" if func.result is None else f" (result {wat.ref(func.result)})"
        wat.lines.append(f'(export "{func.name}" (func{params}{result}))')
    return "(instance\n" + "".join(f"  {line}\n" for line in wat.lines) + ")"

