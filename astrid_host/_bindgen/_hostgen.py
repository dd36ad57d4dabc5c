"""Emit the host model of a WIT package: the types and functions of the interfaces it serves.

A host model is the host's side of the WIT, generated so that the WIT stays the only
hand-written description of the types. For every served interface it holds the Python value
classes (records as frozen dataclasses, enums, variants as :class:`TaggedValue` classes with
one constructor per case), their descriptors (how each crosses the boundary, with integer
widths and field order), and an :class:`Interface` value listing resources and functions with
the digest of each function's signature. The wasm layer converts, prechecks and checks guest
imports from it; the pure layer re-exports its values with conveniences on top.

:data:`HOST_MODELS` lists the models checked in (``tests/bindgen/test_checked_in.py`` fails
when one is stale). A package may name variants it represents its own way (:class:`Adapted`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from astrid_host._bindgen import _model as m
from astrid_host._bindgen._names import docstring, snake, upper, wrap
from astrid_host._bindgen._pytypes import Adapted, TypeMapper
from astrid_host._bindgen._signature import signature

__all__ = ["HOST_MODELS", "Adapted", "HostModelSpec", "generate_host_model", "host_spec"]


@dataclass(frozen=True)
class HostModelSpec:
    """Which interfaces of ``package`` the host serves, and where their model is checked in."""

    package: str
    interfaces: tuple[str, ...]
    #: The generated module, relative to the repository root.
    module: str
    #: The WIT directory it is generated from, relative to the repository root.
    wit: str = "wit"
    #: WIT variants the host represents its own way, by WIT name.
    adapted: Mapping[str, Adapted] = field(default_factory=dict)


#: Where scripts/fetch_astrid_wit.py puts upstream's WIT, relative to the repository root.
ASTRID_WIT = "build/wit/astrid-sys-0.7.2"

#: Every host model checked in. Serving another package version adds a line here.
HOST_MODELS: tuple[HostModelSpec, ...] = (
    HostModelSpec(
        package="astrid:http@0.1.0",
        interfaces=("client", "output"),
        module="astrid_host/_core/_wit_http.py",
        adapted={"method": Adapted("str", "astrid_host._core._methods:METHOD_TOKEN")},
    ),
    # Upstream Astrid's packages (docs/astrid.md), from the WIT in the published astrid-sys
    # crate that scripts/fetch_astrid_wit.py extracts into build/.
    HostModelSpec(
        package="astrid:io@1.0.0",
        interfaces=("error", "poll", "streams"),
        module="astrid_host/_core/_wit_astrid_io.py",
        wit=ASTRID_WIT,
    ),
    HostModelSpec(
        package="astrid:http@1.1.0",
        interfaces=("host",),
        module="astrid_host/_core/_wit_astrid_http.py",
        wit=ASTRID_WIT,
    ),
    HostModelSpec(
        package="astrid:http@1.0.0",
        interfaces=("host",),
        module="astrid_host/_core/_wit_astrid_http_1_0.py",
        wit=ASTRID_WIT,
    ),
    HostModelSpec(
        package="astrid:sys@1.0.0",
        interfaces=("host",),
        module="astrid_host/_core/_wit_astrid_sys.py",
        wit=ASTRID_WIT,
    ),
    HostModelSpec(
        package="astrid:ipc@1.0.0",
        interfaces=("host",),
        module="astrid_host/_core/_wit_astrid_ipc.py",
        wit=ASTRID_WIT,
    ),
    HostModelSpec(
        package="astrid:kv@1.0.0",
        interfaces=("host",),
        module="astrid_host/_core/_wit_astrid_kv.py",
        wit=ASTRID_WIT,
    ),
)


def host_spec(resolve: m.Resolve, package: str | None) -> HostModelSpec:
    """The registered spec of ``package``, or one serving every interface with functions."""
    if package is None:
        if len(resolve.packages) != 1:
            raise m.BindgenError(f"several packages ({', '.join(resolve.packages)}): choose one "
                               "with --package")
        package = resolve.packages[0]
    if package not in resolve.packages:
        known = ", ".join(resolve.packages) or "none"
        raise m.BindgenError(f"no package {package!r} in the WIT (packages: {known})")
    for spec in HOST_MODELS:
        if spec.package == package:
            return spec
    pkg = resolve.packages.index(package)
    served = tuple(i.name for i in resolve.interfaces
                   if i.package == pkg and i.name is not None and i.functions)
    return HostModelSpec(package, served, module="-")


def generate_host_model(resolve: m.Resolve, spec: HostModelSpec,
                        siblings: Iterable[HostModelSpec] = HOST_MODELS) -> str:
    """The Python source of the host model described by ``spec``.

    A type (or resource) of another package with a model among ``siblings`` is imported from
    that model rather than generated again, so each WIT type has one Python class.
    """
    return _HostGen(resolve, spec, siblings).module()


class _HostGen(TypeMapper):
    def __init__(self, resolve: m.Resolve, spec: HostModelSpec,
                 siblings: Iterable[HostModelSpec] = ()) -> None:
        super().__init__(resolve, host=True, adapted=spec.adapted)
        self.spec = spec
        self.package = resolve.packages.index(spec.package)
        by_name = {i.name: i for i in resolve.interfaces if i.package == self.package}
        missing = [n for n in spec.interfaces if n not in by_name]
        if missing:
            raise m.BindgenError(f"package {spec.package} has no interface {missing[0]!r}")
        self.served = [by_name[n] for n in spec.interfaces]
        self.siblings = [s for s in siblings if s.package != spec.package]
        self.foreign: dict[int, str] = {}  # type index → module it is imported from
        self.lines: list[str] = []

    def prepare(self) -> _HostGen:
        """Find the reachable types, name them, and take other packages' from their models."""
        self.collect(t for iface in self.served for fn in iface.functions
                     for t in [*(p.type for p in fn.params), fn.result])
        models: dict[str, _HostGen] = {}
        for index in [*self.used, *self.resources]:
            owner = self.r.types[index].owner
            package = None if owner is None or owner[0] != "interface" \
                else self.r.interfaces[owner[1]].package
            if package is None or package == self.package:
                continue
            name = self.r.packages[package]
            spec = next((s for s in self.siblings if s.package == name), None)
            if spec is None:
                continue  # no model of that package: its types are generated here too
            if name not in models:
                models[name] = _HostGen(self.r, spec, self.siblings).prepare()
            sibling = models[name]
            if index not in sibling.cls and index not in sibling.handles:
                raise m.BindgenError(f"{self.r.types[index].name} of {name} is not in its host "
                                   f"model {spec.module}: serve an interface that uses it")
            self.foreign[index] = spec.module.removesuffix(".py").replace("/", ".")
            for table, theirs in ((self.cls, sibling.cls), (self.descs, sibling.descs),
                                  (self.handles, sibling.handles)):
                if index in theirs:
                    table[index] = theirs[index]
        return self

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    # --- value classes ---------------------------------------------------------------------

    def defaults_from(self, kind: m.RecordDef) -> int:
        """Trailing fields with an obvious empty value (``none``, ``false``, an empty list)
        may be left out by callers."""
        i = len(kind.fields)
        while i:
            t = self.r.resolve(kind.fields[i - 1].type)
            if not (isinstance(t, m.OptionOf) or t == m.Prim("bool")
                    or (isinstance(t, m.ListOf) and t.element != m.Prim("u8"))):
                break
            i -= 1
        return i

    def default(self, ty: m.Type) -> str:
        t = self.r.resolve(ty)
        return " = None" if isinstance(t, m.OptionOf) else " = False" if t == m.Prim("bool") \
            else " = ()"

    def emit_record(self, td: m.TypeDef, kind: m.RecordDef, name: str) -> None:
        self.emit("@dataclass(frozen=True, slots=True)", f"class {name}:")
        self.emit(*docstring(_described(td, "record"), "    "), "")
        first_default = self.defaults_from(kind)
        for i, f in enumerate(kind.fields):
            self.emit(*_comment(f.docs, "    "))
            default = self.default(f.type) if i >= first_default else ""
            self.emit(f"    {snake(f.name)}: {self.py(f.type)}{default}")

    def emit_enum(self, td: m.TypeDef, kind: m.EnumDef | m.FlagsDef, name: str) -> None:
        flags = isinstance(kind, m.FlagsDef)
        self.emit(f"class {name}({'enum.Flag' if flags else 'enum.Enum'}):")
        self.emit(*docstring(_described(td, "flags" if flags else "enum"), "    "), "")
        for i, c in enumerate(kind.cases):
            self.emit(*_comment(c.docs, "    "))
            self.emit(f"    {upper(c.name)} = " + (str(1 << i) if flags else f'"{c.name}"'))

    def emit_variant(self, td: m.TypeDef, kind: m.VariantDef, name: str) -> None:
        payloads = list(dict.fromkeys(self.py(c.type) for c in kind.cases if c.type is not None))
        self.emit(f"{name}Payload: TypeAlias = " + " | ".join([*payloads, "None"]), "", "")
        self.emit("@dataclass(frozen=True)", f"class {name}(wit.TaggedValue):")
        self.emit(*docstring(td.docs, "    ", [
            "", f"WIT variant `{td.name}`: ``{name}(case, payload)``, the case as in the WIT;",
            "build values with the class methods."]), "")
        self.emit(f"    payload: {name}Payload = None", "")
        self.emit(f'    WIT: ClassVar[str] = "{td.name}"',
                  "    CASES: ClassVar[Mapping[str, type | tuple[type, ...] | None]] = {")
        for c in kind.cases:
            self.emit(f'        "{c.name}": {self.case_classes(c.type)},')
        self.emit("    }")
        for c in kind.cases:
            self.emit_constructor(c.name, c.type, c.docs)

    def emit_constructor(self, case: str, ty: m.Type | None, docs: str | None) -> None:
        method = snake(case)
        if method in {"case", "payload", "cls"}:
            method += "_"
        target = self.target(ty) if ty is not None else None
        if ty is None:
            params: list[str] = []
            value = ""
        elif isinstance(target, m.TypeDef) and isinstance(target.kind, m.RecordDef) \
                and target.index not in self.adapted:
            # A record payload: its fields are the constructor's parameters.
            names = [snake(f.name) + ("_" if snake(f.name) == "cls" else "")
                     for f in target.kind.fields]
            params = [f"{n}: {self.py(f.type)}" for n, f in
                      zip(names, target.kind.fields, strict=True)]
            value = f", {self.cls[target.index]}({', '.join(names)})"
        else:
            params = [f"value: {self.py(ty)}"]
            value = ", value"
        self.emit("", "    @classmethod")
        self.emit(*wrap(f"    def {method}(", ["cls", *params], ") -> Self:"))
        self.emit(*docstring(docs or f"Case `{case}`.", "        "))
        self.emit(f'        return cls("{case}"{value})')

    def case_classes(self, ty: m.Type | None) -> str:
        found = list(dict.fromkeys(self.classes_of(ty))) if ty is not None else []
        if not found:
            return "None"
        return found[0] if len(found) == 1 else "(" + ", ".join(found) + ")"

    def classes_of(self, ty: m.Type) -> Iterator[str]:
        """The Python classes of the values of ``ty`` (for a variant's payload check)."""
        t = self.target(ty)
        if isinstance(t, m.TypeDef):
            if t.index in self.adapted:
                yield self.adapted[t.index].py
            elif isinstance(t.kind, (m.RecordDef, m.EnumDef, m.FlagsDef, m.VariantDef)):
                yield self.cls[t.index]
            else:
                assert not isinstance(t.kind, (m.Ref, m.ResourceDef))
                yield from self.classes_of(t.kind)
        elif isinstance(t, m.Prim):
            yield {"int": "int", "float": "float", "bool": "bool"}.get(self.py(t), "str")
        elif isinstance(t, m.ListOf):
            yield "bytes" if t.element == m.Prim("u8") else "tuple"
        elif isinstance(t, m.OptionOf):
            yield from self.classes_of(t.inner)
            yield "type(None)"
        elif isinstance(t, m.ResultOf):
            yield from ("wit.Ok", "wit.Err")
        elif isinstance(t, m.TupleOf):
            yield "tuple"
        else:
            assert isinstance(t, m.Handle)
            yield "object"

    # --- descriptors and interfaces ----------------------------------------------------------

    def emit_descriptors(self) -> None:
        for index in self.used:
            if index in self.foreign:
                continue
            td = self.r.types[index]
            kind = td.kind
            name, d = self.cls[index], self.descs.get(index)
            if index in self.adapted:
                codec = self.adapted[index].codec.partition(":")[2]
                assert isinstance(kind, m.VariantDef)
                self.emit(f"{d}: wit.CodecTy[{self.adapted[index].py}] = wit.CodecTy(",
                          f'    "{td.name}",', "    [")
                self.emit(*(f'        ("{c.name}", {self.desc(c.type)}),' for c in kind.cases))
                self.emit("    ],", f"    {codec},", ")")
            elif isinstance(kind, m.RecordDef):
                self.emit(f"{d}: wit.RecordTy[{name}] = wit.RecordTy(", f"    {name},", "    [")
                for f in kind.fields:
                    self.emit(f'        ("{f.name}", "{snake(f.name)}", {self.desc(f.type)}),')
                self.emit("    ],", f'    "{td.name}",', ")")
            elif isinstance(kind, m.EnumDef):
                self.emit(f'{d}: wit.EnumTy[{name}] = wit.EnumTy({name}, "{td.name}")')
            elif isinstance(kind, m.FlagsDef):
                self.emit(f"{d}: wit.FlagsTy[{name}] = wit.FlagsTy(", f"    {name},", "    [")
                self.emit(*(f'        ({name}.{upper(c.name)}, "{c.name}"),' for c in kind.cases))
                self.emit("    ],", f'    "{td.name}",', ")")
            elif isinstance(kind, m.VariantDef):
                self.emit(f"{d}: wit.TaggedTy[{name}] = wit.TaggedTy(", f"    {name},", "    [")
                self.emit(*(f'        ("{c.name}", {self.desc(c.type)}),' for c in kind.cases))
                self.emit("    ],", f'    "{td.name}",', ")")

    def emit_interface(self, iface: m.Interface) -> str:
        const = snake(iface.name or "interface").upper()
        resources = [f'("{n}", {self.handles[self.resource_def(i)]}_OWN)' for n, i in iface.types
                     if isinstance(self.r.types[self.resource_def(i)].kind, m.ResourceDef)]
        self.emit("", "", f"#: The functions of `{iface.name}`, as a guest imports them.")
        self.emit(f"{const} = wit.Interface(", f'    "{self.r.interface_id(iface.index)}",')
        self.emit(*wrap("    (", resources, "),") if len(resources) != 1
                  else [f"    ({resources[0]},),"])
        self.emit("    (")
        for fn in iface.functions:
            params = _tuple(f'("{p.name}", {self.desc(p.type)})' for p in fn.params)
            self.emit("        wit.Func(", f'            "{fn.name}",',
                      f"            {params},", f"            {self.desc(fn.result)},",
                      f'            "{signature(self.r, fn)}",', "        ),")
        self.emit("    ),", ")")
        return const

    # --- the module ------------------------------------------------------------------------

    def emit_handles(self) -> None:
        for index in self.resources:
            if index in self.foreign:
                continue
            td = self.r.types[index]
            assert td.owner is not None and td.owner[0] == "interface"
            owner = self.r.interface_id(td.owner[1])
            for mode in ("own", "borrow"):
                self.emit(f"{self.handles[index]}_{mode.upper()}: wit.HandleTy[Any] = "
                          "wit.HandleTy(",
                          f'    "{td.name}", mode="{mode}", host=True, interface="{owner}")')

    def module(self) -> str:
        self.prepare()
        names = ", ".join(self.spec.interfaces)
        self.emit(f'"""Host model of `{self.spec.package}`: the interfaces the host serves '
                  f"({names}).", "",
                  "Generated by `astrid-host bindgen --format host` from the WIT; do not edit by "
                  "hand.", "See astrid_host/_bindgen/_hostgen.py for what it holds.", '"""', "",
                  "# ruff: noqa: E501", "", "from __future__ import annotations", "",
                  "@@IMPORTS@@", "")
        body_start = len(self.lines)
        public: list[str] = []
        for index in self.used:
            td, name = self.r.types[index], self.cls[index]
            kind = td.kind
            if index in self.adapted or index in self.foreign:
                continue
            self.emit("", "")
            public.append(name)
            if isinstance(kind, m.RecordDef):
                self.emit_record(td, kind, name)
            elif isinstance(kind, (m.EnumDef, m.FlagsDef)):
                self.emit_enum(td, kind, name)
            elif isinstance(kind, m.VariantDef):
                self.emit_variant(td, kind, name)
                public.append(f"{name}Payload")
            else:
                assert not isinstance(kind, (m.Ref, m.ResourceDef))
                self.emit(*_comment(td.docs, ""), f"{name}: TypeAlias = {self.py(kind)}")
        self.emit("", "", "# How each type crosses the boundary (astrid_host._core._witschema).")
        self.emit_handles()
        self.emit_descriptors()
        local = [i for i in self.used if i not in self.foreign]
        public += [self.descs[i] for i in local
                   if i in self.adapted or not isinstance(self.r.types[i].kind, (m.Ref, m.ListOf,
                                                                              m.OptionOf, m.TupleOf,
                                                                              m.ResultOf, m.Prim))]
        public += [f"{self.handles[i]}_{mode}" for i in self.resources if i not in self.foreign
                   for mode in ("OWN", "BORROW")]
        public += [self.emit_interface(iface) for iface in self.served]
        self.lines[body_start:body_start] = ["__all__ = ["] + [
            f'    "{n}",' for n in sorted(set(public))] + ["]"]
        text = "\n".join(self.lines) + "\n"
        text = text.replace("@@IMPORTS@@\n", "\n".join(self.imports(text)) + "\n", 1)
        if all(len(line) <= 100 for line in text.splitlines()):
            text = text.replace("# ruff: noqa: E501\n\n", "", 1)
        while "\n\n\n\n" in text:
            text = text.replace("\n\n\n\n", "\n\n\n")
        return text

    def imports(self, text: str) -> list[str]:
        """Only what the module uses, so ruff stays clean on every output."""
        out = []
        if "enum.Enum" in text or "enum.Flag" in text:
            out.append("import enum")
        if "Mapping[" in text:
            out.append("from collections.abc import Mapping")
        out.append("from dataclasses import dataclass")
        typing = [n for n in ("Any", "ClassVar", "Self", "TypeAlias")
                  if re.search(rf"(?:: |-> |\[|\| ){n}\b", text)]
        if typing:
            out.append(f"from typing import {', '.join(typing)}")
        out += ["", "from astrid_host._core import _witschema as wit"]
        imported: dict[str, list[str]] = {}
        for adapted in dict.fromkeys(self.adapted.values()):
            module, _, name = adapted.codec.partition(":")
            imported.setdefault(module, []).append(name)
        for index, module in self.foreign.items():
            names = imported.setdefault(module, [])
            if index in self.handles:
                names += [f"{self.handles[index]}_OWN", f"{self.handles[index]}_BORROW"]
            else:
                names += [self.descs[index]] + ([] if index in self.adapted
                                                else [self.cls[index]])
        for module in sorted(imported):
            # A foreign type reached only through another model's resources is not named here.
            used = [n for n in imported[module] if re.search(rf"\b{n}\b", text)]
            if not used:
                continue
            # isort's order by type: constants, then classes, then the rest.
            names = sorted(set(used),
                           key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))
            line = f"from {module} import {', '.join(names)}"
            out += [line] if len(line) <= 100 else wrap(f"from {module} import (", names, ")")
        return out


def _tuple(items: Iterable[str]) -> str:
    found = list(items)
    return f"({found[0]},)" if len(found) == 1 else "(" + ", ".join(found) + ")"


def _described(td: m.TypeDef, what: str) -> str:
    return td.docs or f"WIT {what} `{td.name}`."


def _comment(text: str | None, indent: str) -> list[str]:
    """``#:`` comment lines (attribute docs that Sphinx reads) for ``text``."""
    return [f"{indent}#: {ln}".rstrip() for ln in (text or "").strip().splitlines()]
