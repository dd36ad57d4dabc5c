"""Bulk conversion of `list<u8>` values across the wasmtime-py boundary.

wasmtime-py 50 converts a `list<u8>` one element at a time: one ctypes call and one 32-byte
`wasmtime_component_val_t` per byte, about 1 µs per byte (1 MiB ≈ 1 s). This module replaces
that for byte lists only by writing and reading the element array in one piece: every element
is `kind` (1 byte) at offset 0 and the `u8` payload at offset 8 of a 32-byte slot, so a strided
`bytearray` slice builds or reads the whole array at C speed.

It depends on wasmtime-py internals (`ListType.convert_to_c/convert_from_c`, the C value layout),
so it is gated: :func:`install` checks the wasmtime version and the layout first and leaves the
stock conversion in place when anything differs (``installed()`` then reports False, and
``tests/wasm/test_fastbytes.py`` fails loudly on the verified version where it did not install).
Lists of anything but ``u8`` always take the stock path.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from typing import Any

from wasmtime import _ffi as ffi
from wasmtime.component import _types

from astrid_host._wasm._wasmtime_patches._version import VERIFIED_WASMTIME, verified

__all__ = ["SUPPORTED_WASMTIME", "install", "installed", "layout_ok", "supported", "uninstall"]

#: wasmtime-py major versions whose internals this module was verified against.
SUPPORTED_WASMTIME = (VERIFIED_WASMTIME,)

_SLOT = 32
_PAYLOAD = 8
_U8_KIND = bytes((ffi.WASMTIME_COMPONENT_U8.value,))
_lock = threading.Lock()
_original: tuple[Callable[..., Any], Callable[..., Any]] | None = None


def layout_ok() -> bool:
    """Whether the C value layout and the wasmtime-py internals used here are as verified."""
    val = ffi.wasmtime_component_val_t
    return (
        ctypes.sizeof(val) == _SLOT
        and val.kind.offset == 0
        and val.of.offset == _PAYLOAD
        and hasattr(ffi, "wasmtime_component_vallist_new_uninit")
        and hasattr(ffi, "wasmtime_component_vallist_delete")
        and hasattr(_types.ListType, "_is_bytes")
    )


def supported() -> bool:
    """True when this wasmtime-py build matches the verified version and value layout."""
    return verified() and layout_ok()


def _slots(data_ptr: Any, n: int) -> memoryview:
    """The C element array of a value list, as a writable flat byte view (no copy)."""
    array = (ctypes.c_ubyte * (n * _SLOT)).from_address(ctypes.addressof(data_ptr.contents))
    return memoryview(array).cast("B")


def _bytes_to_c(val: Any, ptr: Any) -> None:
    if not isinstance(val, (bytes, bytearray, memoryview)):
        raise TypeError("expected bytes value")
    n = len(val)
    raw = ffi.wasmtime_component_vallist_t()
    ffi.wasmtime_component_vallist_new_uninit(raw, n)
    if n:
        # Written in place: only `kind` and the u8 payload of each slot are ever read.
        slots = _slots(raw.data, n)
        slots[0::_SLOT] = _U8_KIND * n
        slots[_PAYLOAD::_SLOT] = val
    ptr.contents.kind = ffi.WASMTIME_COMPONENT_LIST
    ptr.contents.of.list = raw


def _bytes_from_c(c: Any) -> bytes:
    lst = c.of.list
    try:
        n = lst.size
        if n == 0:
            return b""
        slots = _slots(lst.data, n)
        if bytes(slots[0::_SLOT]).count(_U8_KIND) != n:
            raise TypeError("list<u8> value holds elements that are not u8")
        return bytes(slots[_PAYLOAD::_SLOT])
    finally:
        ffi.wasmtime_component_vallist_delete(ctypes.byref(lst))


def install() -> bool:
    """Switch byte lists to the bulk path; returns whether it is active. Idempotent."""
    global _original
    with _lock:
        if _original is not None:
            return True
        if not supported():
            return False
        stock_to_c = _types.ListType.convert_to_c
        stock_from_c = _types.ListType.convert_from_c

        def convert_to_c(self: Any, store: Any, val: Any, ptr: Any) -> None:
            if self._is_bytes():
                _bytes_to_c(val, ptr)
            else:
                stock_to_c(self, store, val, ptr)

        def convert_from_c(self: Any, c: Any) -> Any:
            if self._is_bytes():
                return _bytes_from_c(c)
            return stock_from_c(self, c)

        _original = (stock_to_c, stock_from_c)
        _types.ListType.convert_to_c = convert_to_c  # type: ignore[method-assign]
        _types.ListType.convert_from_c = convert_from_c  # type: ignore[method-assign]
        return True


def uninstall() -> None:
    """Restore wasmtime-py's own conversion (used by benchmarks to measure the baseline)."""
    global _original
    with _lock:
        if _original is None:
            return
        _types.ListType.convert_to_c, _types.ListType.convert_from_c = _original  # type: ignore[method-assign]
        _original = None


def installed() -> bool:
    """Whether the bulk path is active."""
    return _original is not None
