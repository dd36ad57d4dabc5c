"""Emit a typed Python module (or a Markdown reference) for one WIT world.

The output is a pure function of the :class:`~._model.Resolve`: no timestamps, no paths,
names in WIT order, so regenerating unchanged WIT gives byte-identical text and a ``--check``
can compare.

Mapping: records → frozen dataclasses (snake_case fields); enums → :class:`enum.Enum`
(values are the WIT names); flags → :class:`enum.Flag`; variants → one frozen dataclass per
case and a union alias; ``option<T>`` → ``T | None`` (``Some[T] | None`` when ``T`` can be
``None``); ``result`` returned by a function → the ok value, or :class:`Err` raised; a
``result`` anywhere else → ``Ok[T] | Err[E]``; ``list<u8>`` → ``bytes``; other lists →
``list``; tuples → ``tuple``; exported resources → classes with async methods and ``close``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from astrid_host._bindgen._markdown import render
from astrid_host._bindgen._model import (
    EnumDef,
    FlagsDef,
    Function,
    OptionOf,
    RecordDef,
    Ref,
    Resolve,
    ResourceDef,
    ResultOf,
    Type,
    TypeDef,
    VariantDef,
    World,
)
from astrid_host._bindgen._names import docstring, pascal, snake, upper, wrap
from astrid_host._bindgen._pytypes import DEFS, TypeMapper

__all__ = ["generate_markdown", "generate_module", "pascal", "snake"]


class _Gen(TypeMapper):
    def __init__(self, resolve: Resolve, world: World) -> None:
        super().__init__(resolve, host=False)
        self.world = world
        self.lines: list[str] = []
        self.consts: dict[str, tuple[str, str]] = {}  # descriptor expression → (name, type)

    def exported_functions(self) -> list[tuple[str | None, Function]]:
        """(interface id or None for world-level, function) for every export, WIT order."""
        out: list[tuple[str | None, Function]] = []
        for item in self.world.exports:
            if item.function is not None:
                out.append((None, item.function))
            elif item.interface is not None and not self.r.is_toolchain_internal(item):
                iface_id = self.r.export_id(item)
                out.extend((iface_id, f) for f in self.r.interfaces[item.interface].functions)
        return out

    # --- emission ----------------------------------------------------------------------

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def emit_types(self) -> None:
        for index in self.used:
            td = self.r.types[index]
            name = self.cls[index]
            kind = td.kind
            self.emit("", "")
            if isinstance(kind, RecordDef):
                self.emit("@dataclass(frozen=True, slots=True)", f"class {name}:")
                self.emit(*docstring(td.docs, "    ") or [f'    """WIT record `{td.name}`."""'])
                self.emit("")
                # Trailing optional fields default to None, so callers may leave them out.
                optional_from = len(kind.fields)
                while optional_from and isinstance(
                        self.r.resolve(kind.fields[optional_from - 1].type), OptionOf):
                    optional_from -= 1
                for i, f in enumerate(kind.fields):
                    default = " = None" if i >= optional_from else ""
                    self.emit(f"    {snake(f.name)}: {self.py(f.type)}{default}")
                    self.emit(*docstring(f.docs, "    "))
                if not kind.fields:
                    self.emit("    pass")
            elif isinstance(kind, (EnumDef, FlagsDef)):
                base = "enum.Enum" if isinstance(kind, EnumDef) else "enum.Flag"
                self.emit(f"class {name}({base}):")
                what = "enum" if isinstance(kind, EnumDef) else "flags"
                self.emit(*docstring(td.docs, "    ") or [f'    """WIT {what} `{td.name}`."""'])
                self.emit("")
                for i, c in enumerate(kind.cases):
                    value = f'"{c.name}"' if isinstance(kind, EnumDef) else str(1 << i)
                    self.emit(f"    {upper(c.name)} = {value}")
                    self.emit(*docstring(c.docs, "    "))
            elif isinstance(kind, VariantDef):
                members = []
                for c in kind.cases:
                    cname = name + pascal(c.name)
                    members.append(cname)
                    self.emit("@dataclass(frozen=True, slots=True)", f"class {cname}:")
                    docs = c.docs or f"Case `{c.name}`."
                    self.emit(*docstring(f"{docs}\n\nA case of :data:`{name}`.", "    "))
                    if c.type is not None:
                        self.emit("", f"    value: {self.py(c.type)}")
                    self.emit("", "")
                self.emit(f"{name}: TypeAlias = " + " | ".join(members))
                self.emit(*docstring(td.docs, ""))
            elif isinstance(kind, ResourceDef):
                self.emit_resource(td, name)
            else:
                assert not isinstance(kind, Ref)
                self.emit(f"{name}: TypeAlias = {self.py(kind)}")
                self.emit(*docstring(td.docs, ""))

    def emit_descriptors(self) -> None:
        self.emit("", "", "# How each type crosses the boundary (astrid_host._core._witschema).")
        for index in self.used:
            td = self.r.types[index]
            kind = td.kind
            name = self.cls[index]
            d = self.descs.get(index)
            if isinstance(kind, RecordDef):
                self.emit(f"{d}: rt.Ty[{name}] = rt.RecordTy(", f"    {name},", "    [")
                for f in kind.fields:
                    self.emit(f'        ("{f.name}", "{snake(f.name)}", {self.desc(f.type)}),')
                self.emit("    ],", ")")
            elif isinstance(kind, EnumDef):
                self.emit(f"{d}: rt.Ty[{name}] = rt.EnumTy({name})")
            elif isinstance(kind, FlagsDef):
                self.emit(f"{d}: rt.Ty[{name}] = rt.FlagsTy(", f"    {name},", "    [")
                for c in kind.cases:
                    self.emit(f'        ({name}.{upper(c.name)}, "{c.name}"),')
                self.emit("    ],", ")")
            elif isinstance(kind, VariantDef):
                self.emit(f"{d}: rt.Ty[{name}] = rt.VariantTy(", f'    "{td.name}",', "    [")
                for c in kind.cases:
                    self.emit(f'        ("{c.name}", {name}{pascal(c.name)}, {self.desc(c.type)}),')
                self.emit("    ],", ")")
            elif isinstance(kind, ResourceDef):
                self.emit(f'{d}: rt.Ty[{name}] = rt.HandleTy("{td.name}", {name})')

    def const(self, ty: Type | None) -> str:
        """A module-level descriptor constant for ``ty`` (shared by equal types)."""
        expr = self.desc(ty)
        if ty is None or re.fullmatch(r"rt\.[A-Z0-9]+|_[A-Z0-9_]+_TY", expr):
            return expr
        if expr not in self.consts:
            self.consts[expr] = (f"_T{len(self.consts)}", self.py(ty))
        return self.consts[expr][0]

    def returns(self, fn: Function) -> tuple[str, list[str]]:
        """The return annotation and the docstring lines about errors."""
        if fn.result is None:
            return "None", []
        ret = self.r.resolve(fn.result)
        if isinstance(ret, ResultOf):
            return self.py(ret.ok), ["", f"Raises ``Err[{self.py(ret.err)}]`` when the capsule "
                                         "returns `err`."]
        return self.py(fn.result), []

    def emit_method(self, fn: Function, py_name: str, call_name: str, indent: str,
                    ctx: str, *, first: str = "self", receiver: bool = False,
                    decorator: str | None = None) -> None:
        """One async method calling export ``call_name``.

        ``receiver``: a resource method whose WIT ``self`` is this object's handle.
        """
        params = fn.params[1:] if receiver else fn.params
        names = [snake(p.name) for p in params]
        ret, extra = self.returns(fn)
        self.emit("")
        if decorator:
            self.emit(f"{indent}{decorator}")
        sig = [first] + [f"{n}: {self.py(p.type)}" for n, p in zip(names, params, strict=True)]
        self.emit(*wrap(f"{indent}async def {py_name}(", sig, f") -> {ret}:"))
        inner = indent + "    "
        self.emit(*docstring(fn.docs or f"Call `{fn.name}`.", inner, extra))
        args = [f'"{call_name}"']
        if receiver:
            self.emit(f"{inner}if self.handle is None:",
                      f'{inner}    raise rt.ClosedHandle("{fn.name}: the handle was closed")')
            args.append("self.handle")
        args += [f"rt.lower({self.const(p.type)}, {n}, {ctx})"
                 for n, p in zip(names, params, strict=True)]
        if fn.result is None:
            self.emit(*wrap(f"{inner}await {ctx}.call(", args, ")"))
            return
        self.emit(*wrap(f"{inner}raw = await {ctx}.call(", args, ")"))
        lifted = f"rt.lift({self.const(fn.result)}, raw, {ctx})"
        ret_t = self.r.resolve(fn.result)
        if isinstance(ret_t, ResultOf):
            self.emit(f"{inner}{'' if ret_t.ok is None else 'return '}rt.unwrap({lifted})")
        else:
            self.emit(f"{inner}return {lifted}")

    def emit_resource(self, td: TypeDef, name: str) -> None:
        owner = td.owner
        assert owner is not None and owner[0] == "interface"
        iface_id = self.r.interface_id(owner[1])
        self.emit(f"class {name}:")
        self.emit(*docstring(td.docs or f"WIT resource `{td.name}`.", "    ",
                              ["", "Close it (``await obj.close()`` or ``async with``) to drop "
                                   "the guest's handle."]))
        self.emit("",
                  "    def __init__(self, capsule: rt.CallTarget, handle: Any) -> None:",
                  "        self._capsule = capsule",
                  "        self.handle = handle",
                  "",
                  f"    async def __aenter__(self) -> {name}:",
                  "        return self",
                  "",
                  "    async def __aexit__(self, *exc: object) -> None:",
                  "        await self.close()",
                  "",
                  "    async def close(self) -> None:",
                  '        """Drop the guest\'s handle; the object is unusable afterwards."""',
                  "        handle, self.handle = self.handle, None",
                  "        if handle is not None:",
                  "            await rt.drop_handle(self._capsule, handle)")
        for fn in self.resource_functions(td.index):
            call = f"{iface_id}#{fn.name}"
            short = fn.name.split(".", 1)[-1]
            if fn.kind == "method":
                self.emit_method(fn, snake(short), call, "    ", "self._capsule", receiver=True)
            else:
                self.emit_method(fn, "create" if fn.kind == "constructor" else snake(short),
                                 call, "    ", "capsule", first="capsule: rt.CallTarget",
                                 decorator="@staticmethod")

    def emit_world(self) -> str:
        w = self.world
        cls = pascal(w.name) + "World"
        iface_classes: list[tuple[str, str]] = []
        for item in w.exports:
            if item.interface is None or self.r.is_toolchain_internal(item):
                continue
            iface = self.r.interfaces[item.interface]
            iname = pascal(iface.name or item.key)
            iface_id = self.r.export_id(item)
            iface_classes.append((snake(iface.name or item.key), iname))
            self.emit("", "", f"class {iname}:")
            self.emit(*docstring(iface.docs or f"Exports of `{iface_id}`.", "    ",
                                  ["", f"Exported interface `{iface_id}`."]))
            self.emit("", "    def __init__(self, capsule: rt.CallTarget) -> None:",
                      "        self._capsule = capsule")
            for fn in iface.functions:
                if fn.kind == "freestanding":
                    self.emit_method(fn, snake(fn.name), f"{iface_id}#{fn.name}", "    ",
                                     "self._capsule")
        self.emit("", "", f"class {cls}:")
        self.emit(*docstring(w.docs or f"The `{w.name}` world.", "    ",
                              ["", f"Typed calls to the exports of a capsule built for world "
                                   f"`{w.name}`:",
                               f"``bindings = {cls}(capsule); await bindings.<export>(...)``."]))
        self.emit("", "    def __init__(self, capsule: rt.CallTarget) -> None:",
                  "        self._capsule = capsule")
        for attr, iname in iface_classes:
            self.emit(f"        self.{attr} = {iname}(capsule)")
            self.emit(f'        """Exports of interface `{attr.replace("_", "-")}`."""')
        for item in w.exports:
            if item.function is None:
                continue
            fn = item.function
            self.emit_method(fn, snake(fn.name), fn.name, "    ", "self._capsule")
        return cls

    def module(self) -> str:
        self.collect(t for _, fn in self.exported_functions()
                     for t in [*(p.type for p in fn.params), fn.result])
        pkg = self.r.packages[self.world.package] if self.world.package is not None else "?"
        header = [f"Typed bindings for WIT world `{self.world.name}` ({pkg}).", "",
                  "Generated by `astrid-host bindgen`; do not edit by hand."]
        if self.world.docs:
            header += ["", *self.world.docs.strip().splitlines()]
        header = [h.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for h in header]
        header[0] = '"""' + header[0]
        header.append('"""')
        self.emit(*header)
        self.emit("", "# ruff: noqa: E501", "", "from __future__ import annotations", "",
                  "@@IMPORTS@@", "",
                  "from astrid_host._wasm import _bindings_rt as rt",
                  "from astrid_host._wasm._bindings_rt import Err, Ok, Some")
        body_start = len(self.lines)
        self.emit_types()
        self.emit_descriptors()
        consts_at = len(self.lines)
        world_cls = self.emit_world()
        self.lines[consts_at:consts_at] = [
            f"{name}: rt.Ty[{py}] = {expr}" for expr, (name, py) in self.consts.items()]
        public = sorted([world_cls, "Err", "Ok", "Some", *self.public_names()])
        export_lines = ["", "__all__ = ["] + [f'    "{n}",' for n in public] + ["]"]
        self.lines[body_start:body_start] = export_lines
        text = "\n".join(self.lines) + "\n"
        # Import only what this world's module uses, so ruff stays clean on every output.
        kinds = [type(self.r.types[i].kind) for i in self.used]
        imports = []
        if EnumDef in kinds or FlagsDef in kinds:
            imports.append("import enum")
        if RecordDef in kinds or VariantDef in kinds:
            imports.append("from dataclasses import dataclass")
        typing_names = []
        if ResourceDef in kinds:
            typing_names.append("Any")
        if VariantDef in kinds or any(k not in DEFS for k in kinds):
            typing_names.append("TypeAlias")
        if typing_names:
            imports.append(f"from typing import {', '.join(typing_names)}")
        text = text.replace("@@IMPORTS@@\n\n", "\n".join(imports) + "\n\n" if imports else "",
                            1)
        if all(len(line) <= 100 for line in text.splitlines()):
            text = text.replace("# ruff: noqa: E501\n\n", "", 1)
        return re.sub(r"\n{4,}", "\n\n\n", text)

    def public_names(self) -> Iterator[str]:
        for index in self.used:
            name = self.cls[index]
            yield name
            kind = self.r.types[index].kind
            if isinstance(kind, VariantDef):
                for c in kind.cases:
                    yield name + pascal(c.name)
        for item in self.world.exports:
            if item.interface is not None and not self.r.is_toolchain_internal(item):
                yield pascal(self.r.interfaces[item.interface].name or item.key)


def generate_module(resolve: Resolve, world: str) -> str:
    """The Python source of typed bindings for ``world``."""
    return _Gen(resolve, resolve.world(world)).module()


def generate_markdown(resolve: Resolve) -> str:
    """A Markdown reference of every interface and world of the package (from the WIT docs)."""
    return render(resolve)
