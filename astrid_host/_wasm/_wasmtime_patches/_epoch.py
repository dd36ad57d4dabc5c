"""A per-Store epoch deadline callback (C API ``wasmtime_store_epoch_deadline_callback``,
present in wasmtime-py's ``_ffi`` but not wrapped).

On every epoch tick while a guest runs, wasmtime asks the Store's callback whether to trap or
to continue for another tick. A budget that can move while the guest runs is what lets a host
stop a guest that is only computing (``Capsule.aclose``, a cancelled caller); the stock API
only offers a fixed deadline set before the call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import Store
from wasmtime import _ffi as ffi

from astrid_host._wasm._wasmtime_patches._slots import SLOTS, error_pointer

__all__ = ["watch_epochs"]

_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE

# The exact argument types of the C binding (ctypes matches callback types by signature).
_EPOCH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ffi.wasmtime_context_t),
                                   ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                   ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t))


@_EPOCH_CALLBACK  # type: ignore[untyped-decorator]
def _on_epoch(context: Any, data: Any, delta: Any, kind: Any) -> int:
    try:
        message = SLOTS.get(data)()
        if message is not None:
            return error_pointer(message)
    except BaseException:  # an exception here would be lost; keep running instead
        pass
    delta[0] = 1
    kind[0] = _CONTINUE
    return 0


def watch_epochs(store: Store, check: Callable[[], str | None]) -> None:
    """Call ``check()`` on every epoch tick while ``store`` runs guest code (on that thread):
    a message traps the guest with it, ``None`` lets it run one more tick. The callback is
    freed with the Store."""
    ident = SLOTS.add("epoch", check)
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_epoch, ident, SLOTS.finalizer)
