"""The one registry behind every C callback the host hands wasmtime.

A C callback gets an opaque ``void *data`` back on each call; a Python object cannot travel
through it safely, so each callback's Python side lives here under a small integer id, which
is what wasmtime stores. wasmtime calls :data:`SLOTS`' finalizer when it drops the callback
(a linker, a Store), and the slot goes with it. ``kind`` labels what a slot holds so tests can
count them (``SLOTS.live("import")``).
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from typing import Any

from wasmtime import WasmtimeError

__all__ = ["SLOTS", "CallbackSlots", "error_pointer"]


class CallbackSlots:
    """Python objects reachable from C callbacks by id, freed by wasmtime's finalizer."""

    def __init__(self) -> None:
        self._slots: dict[int, tuple[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

        @ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
        def finalize(data: Any) -> None:
            with self._lock:
                self._slots.pop(data or 0, None)

        #: Pass as the ``finalizer`` of a wasmtime callback registered with a slot id.
        #: (Kept on the instance: ctypes callbacks must outlive every use by C.)
        self.finalizer = finalize

    def add(self, kind: str, obj: Any) -> int:
        """Store ``obj`` and return the id to give wasmtime as the callback's data."""
        with self._lock:
            ident = next(self._ids)
            self._slots[ident] = (kind, obj)
        return ident

    def get(self, data: Any) -> Any:
        """The object behind a callback's data pointer (``KeyError`` when it is gone)."""
        return self._slots[data or 0][1]

    def live(self, kind: str) -> int:
        """How many slots of ``kind`` wasmtime still holds."""
        with self._lock:
            return sum(1 for k, _ in self._slots.values() if k == kind)


#: The process-wide registry (epoch callbacks of Stores, host import functions of linkers).
SLOTS = CallbackSlots()


def error_pointer(message: str) -> int:
    """A new ``wasmtime_error_t *`` holding ``message``, owned by the caller (wasmtime, when a
    callback returns it: it becomes a trap)."""
    return ctypes.cast(WasmtimeError(message)._consume(), ctypes.c_void_p).value or 0
