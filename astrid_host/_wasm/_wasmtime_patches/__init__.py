"""Every reach into wasmtime-py's internals, behind one door.

Private modules, ``_ffi``, private attributes and rewritten wasmtime-py methods are used here
and nowhere else; README.md in this folder lists each patch, what it replaces, why, what it
saves, and how to check it on a new wasmtime-py. :func:`self_check` looks for everything the
patches touch; ``tests/wasm/test_wasmtime_patches.py`` runs it and pins the version.
"""

from __future__ import annotations

from astrid_host._wasm._wasmtime_patches._epoch import watch_epochs
from astrid_host._wasm._wasmtime_patches._exportcall import BoundExport
from astrid_host._wasm._wasmtime_patches._frozen import freeze_type
from astrid_host._wasm._wasmtime_patches._hostfunc import (
    HostCall,
    TypeCache,
    add_func,
    list_size,
    option_value,
    record_fields,
    string_size,
)
from astrid_host._wasm._wasmtime_patches._memories import (
    LaneUnavailable,
    LinearMemory,
    OutOfBounds,
    StoreMemories,
    capture_memories,
    install_memory_creator,
    live_memories,
)
from astrid_host._wasm._wasmtime_patches._slots import SLOTS
from astrid_host._wasm._wasmtime_patches._version import (
    VERIFIED_WASMTIME,
    installed_wasmtime,
    verified,
)

__all__ = [
    "SLOTS", "VERIFIED_WASMTIME", "BoundExport", "HostCall", "LaneUnavailable",
    "LinearMemory", "OutOfBounds", "StoreMemories", "TypeCache", "add_func",
    "capture_memories", "freeze_type", "install_memory_creator", "installed_wasmtime",
    "list_size", "live_memories", "option_value", "record_fields", "self_check",
    "string_size", "verified", "watch_epochs",
]

# (patch, module, class or "", attribute) for everything the patches rely on.
_NEEDS: tuple[tuple[str, str, str, str], ...] = (
    ("_hostfunc", "wasmtime._ffi", "", "wasmtime_component_linker_instance_add_func"),
    ("_hostfunc", "wasmtime._ffi", "", "wasmtime_component_func_callback_t"),
    ("_hostfunc", "wasmtime._ffi", "", "wasmtime_component_val_new"),
    ("_hostfunc", "wasmtime._ffi", "", "wasmtime_component_val_delete"),
    ("_hostfunc", "wasmtime._ffi", "", "WASMTIME_COMPONENT_RESULT"),
    ("_hostfunc", "wasmtime._ffi", "", "WASMTIME_COMPONENT_RECORD"),
    ("_hostfunc", "wasmtime._ffi", "", "WASMTIME_COMPONENT_STRING"),
    ("_hostfunc", "wasmtime._ffi", "", "WASMTIME_COMPONENT_LIST"),
    ("_hostfunc", "wasmtime._ffi", "", "WASMTIME_COMPONENT_OPTION"),
    ("_hostfunc", "wasmtime._store", "StoreContext", "_invalidate"),
    ("_hostfunc", "wasmtime.component._types", "FuncType", "_from_ptr"),
    ("_hostfunc", "wasmtime.component._types", "ResultType", "convert_to_c"),
    ("_slots", "wasmtime._error", "WasmtimeError", "_consume"),
    ("_slots", "wasmtime._error", "WasmtimeError", "_from_ptr"),
    ("_frozen", "wasmtime.component._types", "VariantLikeType", "_tagged"),
    ("_frozen", "wasmtime.component._types", "RecordType", "fields"),
    ("_frozen", "wasmtime.component._types", "VariantType", "cases"),
    ("_exportcall", "wasmtime._ffi", "", "wasmtime_component_func_call"),
    ("_exportcall", "wasmtime._ffi", "", "wasmtime_component_func_t"),
    ("_exportcall", "wasmtime.component._enter", "", "enter_wasm"),
    ("_exportcall", "wasmtime.component._func", "Func", "_func"),
    ("_epoch", "wasmtime._ffi", "", "wasmtime_store_epoch_deadline_callback"),
    ("_epoch", "wasmtime._ffi", "", "wasmtime_update_deadline_kind_t"),
    ("_epoch", "wasmtime._ffi", "", "wasmtime_context_t"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_config_host_memory_creator_set"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_config_memory_init_cow_set"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_memory_creator_t"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_new_memory_callback_t"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_memory_get_callback_t"),
    ("_memories", "wasmtime._bindings", "", "wasmtime_memory_grow_callback_t"),
)


def self_check(needs: tuple[tuple[str, str, str, str], ...] = _NEEDS) -> list[str]:
    """What the patches need but this wasmtime-py lacks, one line each (empty: all there).

    ``needs`` is (patch, module, class or "", attribute) for everything the patches use.
    """
    import importlib

    from astrid_host._wasm._wasmtime_patches import _fastbytes

    problems = []
    for patch, module, cls, attr in needs:
        where = ".".join(p for p in (module, cls, attr) if p)
        try:
            owner = importlib.import_module(module)
            if cls:
                owner = getattr(owner, cls)
        except (ImportError, AttributeError):
            problems.append(f"{patch}: {where} is gone")
            continue
        # An instance attribute (`Func._func`) is declared as a class annotation.
        if not hasattr(owner, attr) and attr not in getattr(owner, "__annotations__", {}):
            problems.append(f"{patch}: {where} is gone")
    if not _fastbytes.layout_ok():
        problems.append("_fastbytes: the wasmtime_component_val_t layout changed")
    return problems
