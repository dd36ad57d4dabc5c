"""Errors of the capsule runtime, each saying whose fault it was.

- :class:`CapsuleLoadError`: the component given to :meth:`Host.load` is unusable (not a
  component, needs imports the host does not provide, ...). The caller's input is at fault.
- :class:`ExportNotFound`: the caller asked for an export the capsule does not have.
- :class:`CapsuleClosed`: the caller used a capsule after closing it (or after its host ended).
- :class:`CapsuleRunError`: the capsule ran and answered ``err`` (the capsule's own verdict).
- :class:`CapsuleTrap`: the guest itself failed while running (fuel, wall-clock deadline,
  memory, ``unreachable``, ...). The capsule stays usable: the next call runs on a fresh Store.

Request failures are *not* exceptions of this module: a guest receives them as WIT
`error-code` values and decides what to do. :class:`HostFault` (internal) ends a host import
that cannot answer and has no error channel: the guest traps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "CapsuleClosed",
    "CapsuleError",
    "CapsuleLoadError",
    "CapsuleRunError",
    "CapsuleTrap",
    "EventLoopError",
    "ExportNotFound",
    "HostFault",
    "TrapKind",
    "instantiation_failure",
    "render_signature",
    "trap_cause",
]

#: Why a guest stopped: fuel exhausted, wall-clock (epoch) deadline, memory limit, an
#: ``unreachable`` instruction (a guest panic/abort), or anything else wasmtime reported.
TrapKind = Literal["fuel", "deadline", "memory", "unreachable", "other"]


class CapsuleError(Exception):
    """Base class of every error raised by the capsule runtime."""


class CapsuleLoadError(CapsuleError):
    """The component could not be loaded; ``name`` is the capsule, ``reason`` says why.

    The :class:`Host` stays usable after this error.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot load capsule {name!r}: {reason}")
        self.name = name
        self.reason = reason


class ExportNotFound(CapsuleError):
    """The capsule has no exported function called ``export`` (the caller's mistake)."""

    def __init__(self, name: str, export: str, available: tuple[str, ...] = ()) -> None:
        hint = f"; it exports {', '.join(available)}" if available else ""
        super().__init__(f"capsule {name!r} has no export {export!r}{hint}")
        self.name = name
        self.export = export
        self.available = available


class StaleResource(CapsuleError):
    """A guest resource handle was passed to a Store it does not belong to: another capsule's,
    or one from before this capsule's Store was replaced after a trap (the caller's mistake).
    The call is refused before the guest runs; the capsule stays healthy."""

    def __init__(self, name: str, export: str) -> None:
        super().__init__(f"capsule {name!r}, export {export!r}: a resource handle argument does "
                         "not belong to this capsule's current Store (another capsule's, or "
                         "from before a trap replaced the Store)")
        self.name = name
        self.export = export


class CapsuleClosed(CapsuleError):
    """The capsule was closed (by :meth:`Capsule.aclose` or its host) before this call."""

    def __init__(self, name: str) -> None:
        super().__init__(f"capsule {name!r} is closed")
        self.name = name


class CapsuleTrap(CapsuleError):
    """The guest trapped while running ``export``.

    ``kind`` is one of :data:`TrapKind`; ``message`` is wasmtime's full description (with the
    guest backtrace when there is one) and ``cause`` its last part, the trap itself (e.g.
    ``wasm trap: wasm `unreachable` instruction executed``). ``memory_limit`` is the capsule's
    memory limit in bytes when the host knows it; a ``memory`` trap names it. The Store that
    trapped is discarded; the capsule's next call runs on a fresh instance, so guest state kept
    between calls is lost.
    """

    def __init__(self, kind: TrapKind, export: str, message: str, *,
                 memory_limit: int | None = None) -> None:
        cause = trap_cause(message)
        if kind == "memory" and memory_limit is not None:
            text = (f"capsule trapped in {export!r} (memory): it ran out of memory at its limit "
                    f"of {_mib(memory_limit)} ({cause})")
        else:
            text = f"capsule trapped in {export!r} ({kind}): {cause}"
        super().__init__(text)
        self.kind: TrapKind = kind
        self.export = export
        self.message = message
        self.cause = cause
        self.memory_limit = memory_limit


def trap_cause(message: str) -> str:
    """The trap itself, in one line, from wasmtime's message (pure).

    wasmtime-py 50 reports a trap as a ``WasmtimeError`` whose text starts with the generic
    ``error while executing at wasm backtrace:``, then the frames, then ``Caused by:`` and the
    cause chain (``wasm trap: ...``, sometimes led by a detail such as ``memory fault at wasm
    address ...``). No trap code is exposed for component calls. The chain is joined with
    ``": "``; a message without a chain gives its first line.
    """
    text = message.strip()
    if "Caused by:" in text:
        chain = []
        for line in text.split("Caused by:", 1)[1].splitlines():
            line = line.strip()
            head, sep, rest = line.partition(": ")
            if sep and head.isdigit():  # "0: memory fault ...", "1: wasm trap: ..."
                line = rest
            if line:
                chain.append(line)
        if chain:
            return ": ".join(chain)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "trap"


def _mib(n: int) -> str:
    mib = n / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{n} bytes"


class CapsuleRunError(CapsuleError):
    """The capsule's ``run`` returned ``err``: the capsule reports a failure of its own."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"capsule {name!r} reported: {message}")
        self.name = name
        self.message = message


class EventLoopError(CapsuleError, RuntimeError):
    """The runtime was used where it cannot run: with no trio or asyncio event loop in the
    calling thread, on another async library, or on an event loop other than the one its
    :class:`Host` was entered in (another thread's, or a later ``run``). The message names
    the fix."""


class HostFault(Exception):
    """The host cannot answer and the import has no error channel: the guest must trap."""


# --------------------------------------------------------------------------------------------
# Instantiation failures in plain words

#: The interfaces named when no list is given (the host passes the ones it really serves).
DEFAULT_PROVIDES = ("astrid:http/client@0.1.0",)

_IMPORT_RE = re.compile(r"component imports (instance|function) `([^`]+)`")
_EXPORT_RE = re.compile(r"instance export `([^`]+)` has the wrong type")
_MISSING = "implementation is missing"


def instantiation_failure(message: str, component: Any = None, engine: Any = None,
                          provides: Sequence[str] = DEFAULT_PROVIDES) -> str:
    """Why a component could not be instantiated, in plain words (the ``reason`` of a
    :class:`CapsuleLoadError`).

    wasmtime says ``component imports instance `acme:db/query@1.0.0`, but a matching
    implementation was not found in the linker`` caused by ``instance export `get` has the
    wrong type``, whether the function is missing or has another type. This names the
    interface and the function, says which of the two it is, and gives the function's type as
    the capsule declares it, read from ``component``'s imports when ``component`` and
    ``engine`` are given. ``provides``: the interface ids the host links (besides WASI 0.2).
    """
    host_provides = f"{', '.join(provides)} and WASI 0.2 only"
    found = _IMPORT_RE.search(message)
    if found is None or "matching implementation was not found" not in message:
        return _generic_failure(message)
    kind, import_name = found.groups()
    chain = _cause_chain(message)
    if kind == "function":
        item, interface = import_name, None
        detail = chain
    else:
        export = _EXPORT_RE.search(message)
        if export is None:
            return (f"needs an import the host does not provide: the capsule imports "
                    f"interface `{import_name}` ({': '.join(chain) or 'no detail'}), and this "
                    f"host provides {host_provides}")
        item, interface = export.group(1), import_name
        detail = [line for line in chain if not _EXPORT_RE.search(line)]
    declared = _declared_type(component, engine, import_name, item if interface else None)
    what = f"`{item}`"
    if declared is not None:
        what = ("function " if declared.startswith("func(") else "") + f"{what} (`{declared}`)"
    if interface:
        what += f" from interface `{interface}`"
    if any(_MISSING in line for line in detail):
        return (f"needs an import the host does not provide: the capsule imports {what}, and "
                f"this host provides {host_provides}")
    return (f"needs an import with another type than the host's: the capsule imports {what}, "
            f"and the host's has a different type ({': '.join(detail) or 'no detail'})")


def _cause_chain(message: str) -> list[str]:
    if "Caused by:" not in message:
        return []
    chain = []
    for line in message.split("Caused by:", 1)[1].splitlines():
        line = line.strip()
        head, sep, rest = line.partition(": ")
        if sep and head.isdigit():
            line = rest
        if line:
            chain.append(line)
    return chain


def _generic_failure(message: str) -> str:
    # wasmtime's first line says what failed, the chain after "Caused by:" why. A trap's first
    # line is always the generic "error while executing at wasm backtrace:".
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    head = lines[0] if lines else message.strip()
    chain = _cause_chain(message)
    if head.startswith("error while executing") and chain:
        return f"cannot be instantiated: it trapped while starting: {': '.join(chain)}"
    cause = chain[0] if chain else ""
    first = f"{head} ({cause})" if cause and cause not in head else head
    return f"cannot be instantiated: {first}"


def _declared_type(component: Any, engine: Any, name: str, item: str | None) -> str | None:
    """The WIT-like type of import ``name`` (or of ``item`` inside that interface) as the
    component declares it; ``None`` when it cannot be read."""
    if component is None or engine is None:
        return None
    try:
        import wasmtime.component as t

        ty = component.type.imports(engine)[name].ty
        if item is not None:
            if not isinstance(ty, t.ComponentInstanceType):
                return None
            ty = ty.exports(engine)[item].ty
        if isinstance(ty, t.FuncType):
            return render_signature(ty)
        return type(ty).__name__.removesuffix("Type").lower() or None
    except Exception:  # a better message is never worth failing the report over
        return None


def render_signature(fty: Any) -> str:
    """``func(name: type, ...) -> type`` for a wasmtime-py component ``FuncType``, in WIT
    spelling (records and variants show their fields and cases, resources ``own<_>``)."""
    params = ", ".join(f"{n}: {_wit(p)}" for n, p in fty.params)
    result = fty.result
    return f"func({params})" + ("" if result is None else f" -> {_wit(result)}")


def _wit(ty: Any) -> str:
    import wasmtime.component as t

    if isinstance(ty, t.ListType):
        return f"list<{_wit(ty.element)}>"
    if isinstance(ty, t.OptionType):
        return f"option<{_wit(ty.payload)}>"
    if isinstance(ty, t.ResultType):
        ok = "_" if ty.ok is None else _wit(ty.ok)
        err = "_" if ty.err is None else _wit(ty.err)
        return f"result<{ok}, {err}>"
    if isinstance(ty, t.TupleType):
        return "tuple<" + ", ".join(_wit(e) for e in ty.elements) + ">"
    if isinstance(ty, t.RecordType):
        return "record { " + ", ".join(f"{n}: {_wit(f)}" for n, f in ty.fields) + " }"
    if isinstance(ty, t.VariantType):
        return "variant { " + ", ".join(
            n if c is None else f"{n}({_wit(c)})" for n, c in ty.cases) + " }"
    if isinstance(ty, t.EnumType):
        return "enum { " + ", ".join(ty.names) + " }"
    if isinstance(ty, t.FlagsType):
        return "flags { " + ", ".join(ty.names) + " }"
    if isinstance(ty, t.OwnType):
        return "own<_>"
    if isinstance(ty, t.BorrowType):
        return "borrow<_>"
    return type(ty).__name__.lower()
