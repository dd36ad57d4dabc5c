"""Host functions registered with wasmtime's C API directly, instead of
``LinkerInstance.add_func`` (wasmtime-py's ``func_impl`` wrapper).

Two reasons. wasmtime-py lowers a ``result`` whose ok type is ``option<...>`` by trying the ok
case first with an ``isinstance`` check against ``object``, so
``result<option<list<u8>>, error-code>`` can never carry an error: here a result is lowered
with the case the caller chose (:meth:`HostCall.set_result`). And its wrapper re-reads the
function type on every call; here the types are read once per function per Store and frozen
(:func:`.freeze_type`), which halves the cost of a trivial import. Arguments also stay
reachable as raw C values (:meth:`HostCall.raw_arg`), so a host can refuse an oversized value
from its sizes before paying for lifting it.

The callback (:func:`_trampoline`) raises nothing into wasmtime: whatever ``invoke`` raises
becomes a trap with the exception's text, and the store context is invalidated on the way out.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime._store import StoreContext
from wasmtime.component._types import FuncType, ResultType, ValType

from astrid_host._wasm._wasmtime_patches._frozen import freeze_type
from astrid_host._wasm._wasmtime_patches._slots import SLOTS, error_pointer

__all__ = ["HostCall", "Invoke", "TypeCache", "add_func", "list_size", "option_value",
           "record_fields", "string_size"]

#: Frozen (parameter types, result type) by function name, for one Store.
TypeCache = dict[str, tuple[list[ValType], ValType | None]]


class HostCall:
    """One guest → host call as wasmtime hands it over: C values in, a C value out."""

    __slots__ = ("_args", "_results", "_ty_raw", "nargs", "nresults", "params", "result",
                 "store")

    def __init__(self, store: StoreContext, ty_raw: Any, args: Any, nargs: int, results: Any,
                 nresults: int) -> None:
        self.store = store
        self._ty_raw = ty_raw
        self._args = args
        self.nargs = nargs
        self._results = results
        self.nresults = nresults
        self.params: list[ValType] = []
        self.result: ValType | None = None

    def read_types(self, name: str, cache: TypeCache) -> None:
        """Set :attr:`params` and :attr:`result`: the guest's declared types of this import,
        read and frozen on its first call in this Store (``cache``)."""
        cached = cache.get(name)
        if cached is None:
            fty = FuncType._from_ptr(self._ty_raw, owner=self.store)  # wasmtime owns it
            result = fty.result
            cached = ([freeze_type(ty) for _, ty in fty.params],
                      None if result is None else freeze_type(result))
            cache[name] = cached
        self.params, self.result = cached

    @property
    def returns_result(self) -> bool:
        """Whether the declared result type is a ``result``."""
        return isinstance(self.result, ResultType)

    def raw_arg(self, i: int) -> Any:
        """Argument ``i`` as a C value (read it with the helpers below; never keep it)."""
        return self._args[i]

    def lift_args(self) -> list[Any]:
        """The arguments as wasmtime-py values (lifting takes ownership of the C values)."""
        args = self._args
        return [ty.convert_from_c(args[i]) for i, ty in enumerate(self.params)]

    def discard_args(self) -> None:
        """Free the arguments without lifting them (lifting would have taken ownership)."""
        for i in range(self.nargs):
            ffi.wasmtime_component_val_delete(ctypes.byref(self._args[i]))

    def set_value(self, value: Any) -> None:
        """Lower a wasmtime-py value as the (non-``result``) result."""
        assert self.result is not None
        self.result.convert_to_c(self.store, value, self._results)

    def set_result(self, is_ok: bool, payload: Any) -> None:
        """Lower ``ok(payload)`` or ``err(payload)``: the case chosen here, not guessed.

        Mirrors ``ResultType.convert_to_c``, but the case is the caller's."""
        ty = self.result
        assert isinstance(ty, ResultType)
        payload_ty = ty.ok if is_ok else ty.err
        raw_ptr = None
        if payload_ty is not None:
            raw = ffi.wasmtime_component_val_t()
            payload_ty.convert_to_c(self.store, payload, ctypes.pointer(raw))
            raw_ptr = ffi.wasmtime_component_val_new(ctypes.byref(raw))
        out = self._results.contents
        out.kind = ffi.WASMTIME_COMPONENT_RESULT
        out.of.result.is_ok = is_ok
        out.of.result.val = raw_ptr


#: Runs one call: ``invoke(name, call)``; it must set the result (if any) or raise.
Invoke = Callable[[str, Any], None]


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(data: Any, context: Any, ty_raw: Any, args: Any, nargs: int,
                results: Any, nresults: int) -> int:
    try:
        name, invoke, frame = SLOTS.get(data)
    except BaseException:
        return error_pointer("unknown astrid host import")
    store = StoreContext(context)
    try:
        invoke(name, frame(store, ty_raw, args, nargs, results, nresults))
        return 0
    except BaseException as exc:
        return error_pointer(f"astrid host import {name}: {type(exc).__name__}: {exc}")
    finally:
        store._invalidate()


def add_func(instance: Any, name: str, invoke: Invoke,
             frame: type[HostCall] = HostCall) -> None:
    """Define function ``name`` on a ``LinkerInstance``, served by ``invoke``; each call is
    handed over as a ``frame`` (a :class:`HostCall`, or a subclass adding what ``invoke``
    needs)."""
    ident = SLOTS.add("import", (name, invoke, frame))
    raw_name = name.encode()
    buf = ctypes.create_string_buffer(raw_name)
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), buf, len(raw_name), _trampoline, ident, SLOTS.finalizer)
    if err:
        raise WasmtimeError._from_ptr(err)


# --- sizes of raw C values (for refusing a value before lifting it) ---------------------------


def record_fields(raw: Any, count: int) -> list[Any] | None:
    """The field values of a record of ``count`` fields, or ``None`` for any other value."""
    if raw.kind != ffi.WASMTIME_COMPONENT_RECORD.value or raw.of.record.size != count:
        return None
    data = raw.of.record.data
    return [data[i].val for i in range(count)]


def string_size(raw: Any) -> int | None:
    """The byte length of a ``string`` value (``None`` if it is not one)."""
    if raw.kind != ffi.WASMTIME_COMPONENT_STRING.value:
        return None
    return int(raw.of.string.size)


def list_size(raw: Any) -> int | None:
    """The element count of a ``list`` value (``None`` if it is not one)."""
    if raw.kind != ffi.WASMTIME_COMPONENT_LIST.value:
        return None
    return int(raw.of.list.size)


def option_value(raw: Any) -> Any | None:
    """The payload of a ``some`` option value (``None`` for ``none`` or not an option)."""
    if raw.kind != ffi.WASMTIME_COMPONENT_OPTION.value or not raw.of.option:
        return None
    return raw.of.option.contents
