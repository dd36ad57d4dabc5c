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

from typing import Literal

__all__ = [
    "CapsuleClosed",
    "CapsuleError",
    "CapsuleLoadError",
    "CapsuleRunError",
    "CapsuleTrap",
    "ExportNotFound",
    "HostFault",
    "TrapKind",
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

    ``kind`` is one of :data:`TrapKind`; ``message`` is wasmtime's description (with the guest
    backtrace when there is one). The Store that trapped is discarded; the capsule's next call
    runs on a fresh instance, so guest state kept between calls is lost.
    """

    def __init__(self, kind: TrapKind, export: str, message: str) -> None:
        first_line = message.strip().splitlines()[0] if message.strip() else "trap"
        super().__init__(f"capsule trapped in {export!r} ({kind}): {first_line}")
        self.kind: TrapKind = kind
        self.export = export
        self.message = message


class CapsuleRunError(CapsuleError):
    """The capsule's ``run`` returned ``err``: the capsule reports a failure of its own."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"capsule {name!r} reported: {message}")
        self.name = name
        self.message = message


class HostFault(Exception):
    """The host cannot answer and the import has no error channel: the guest must trap."""
