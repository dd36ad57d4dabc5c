"""Calling a component export with its types read once: a rewrite of wasmtime-py's
``Func.__call__``.

``Func.__call__`` re-reads the function type from C on every call and then converts the
arguments and result with types that re-read their own structure on every access; for a
`request` argument and a `result<response, error-code>` that is hundreds of ctypes calls.
:class:`BoundExport` does the same steps with the types read once and frozen
(:func:`.freeze_type`). It falls back to ``Func.__call__`` when wasmtime-py's ``Func`` does
not look as expected.
"""

from __future__ import annotations

import ctypes
from typing import Any

from wasmtime import Store
from wasmtime import _ffi as ffi
from wasmtime.component._enter import enter_wasm

from astrid_host._wasm._wasmtime_patches._frozen import freeze_type

__all__ = ["BoundExport"]


class BoundExport:
    """An export function with its types read once (per Store), called like wasmtime-py does."""

    __slots__ = ("func", "params", "raw", "result", "type")

    def __init__(self, func: Any, params: list[Any], result: Any, raw: Any,
                 fty: Any = None) -> None:
        self.func = func
        self.params = params
        self.result = result
        self.raw = raw
        # The parameter types own their C pointers, but keeping the function type alive as
        # long as they are used costs nothing and does not depend on that.
        self.type = fty

    @classmethod
    def of(cls, func: Any, store: Store) -> BoundExport:
        """Bind ``func`` (a ``wasmtime.component.Func`` of ``store``'s instance)."""
        raw = getattr(func, "_func", None)
        if not isinstance(raw, ffi.wasmtime_component_func_t):
            return cls(func, [], None, None)
        fty = func.type(store)
        result = fty.result
        return cls(func, [freeze_type(ty) for _, ty in fty.params],
                   None if result is None else freeze_type(result), raw, fty)

    def __call__(self, store: Store, args: tuple[Any, ...]) -> Any:
        if self.raw is None:
            return self.func(store, *args)
        params = self.params
        if len(args) != len(params):
            raise TypeError(f"wrong number of parameters provided: given {len(args)}, "
                            f"expected {len(params)}")
        param_capi = (ffi.wasmtime_component_val_t * len(args))()
        n = 0
        try:
            for ty, value in zip(params, args, strict=True):
                ty.convert_to_c(store, value, ctypes.pointer(param_capi[n]))
                n += 1
            result_ty = self.result
            result_space = None if result_ty is None else ffi.wasmtime_component_val_t()
            raw = self.raw

            def run() -> Any:
                return ffi.wasmtime_component_func_call(
                    ctypes.byref(raw), store._context(), param_capi, n,
                    None if result_space is None else ctypes.byref(result_space),
                    0 if result_space is None else 1)

            enter_wasm(run)
            if result_space is None:
                return None
            return result_ty.convert_from_c(result_space)
        finally:
            for i in range(n):
                ffi.wasmtime_component_val_delete(ctypes.byref(param_capi[i]))
