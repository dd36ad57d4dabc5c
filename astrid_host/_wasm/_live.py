"""One live Store of a capsule and what runs on the guest's worker thread: entering the Store
with a fresh budget, finding an export, and waiting for the thread to come back.

:class:`~astrid_host._wasm._capsule.Capsule` owns the lifecycle (lock, traps, fresh Stores,
closing); this module holds the per-Store pieces it uses on and around the worker thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Instance, Linker

from astrid_host._core._limits import Limits
from astrid_host._wasm._deadline import CANCEL_GRACE_S, Budget
from astrid_host._wasm._session import StoreSession, current_session
from astrid_host._wasm._wasmtime_patches import (
    BoundExport,
    StoreMemories,
    capture_memories,
    watch_epochs,
)

__all__ = ["Live", "Trapped", "in_store", "lookup", "new_live", "reset_budget",
           "wait_for_thread"]


class Trapped(Exception):
    """wasmtime failed inside the Store: the Store is poisoned for good."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Live:
    """A Store with its instance and the session its host imports use."""

    store: Store
    instance: Instance
    session: StoreSession
    budget: Budget
    #: Exports called so far on this Store, with their types read once.
    exports: dict[str, BoundExport] = field(default_factory=dict)


def new_live(engine: Any, linker: Linker, component: Component, limits: Limits,
             session: StoreSession, *, closing: bool) -> Live:
    """A fresh Store with the component instantiated in it (on the guest's worker thread:
    instantiation may run guest code); a failure is :class:`Trapped`."""
    store = Store(engine)
    # A linker with WASI needs WASI state in every Store, or wasmtime aborts the process.
    # The default WasiConfig grants nothing: no files, env, args, sockets or stdio.
    store.set_wasi(WasiConfig())
    store.set_limits(memory_size=limits.memory_bytes)
    budget = Budget()
    watch_epochs(store, budget.expired)
    reset_budget(store, budget, limits, closing=closing)
    var = current_session()
    token = var.set(session)
    try:
        with capture_memories() as memories:
            instance = linker.instantiate(store, component)
        session.memories = StoreMemories(memories)
    except WasmtimeError as exc:
        store.close()
        raise Trapped(str(exc)) from None
    finally:
        var.reset(token)
    return Live(store, instance, session, budget)


def reset_budget(store: Store, budget: Budget, limits: Limits, *, closing: bool) -> None:
    """Fresh fuel and wall-clock budget for one call (``closing``: aclose is under way)."""
    # Fuel and the wall-clock budget are per call. The epoch deadline is one tick: the
    # callback then checks the budget and the interrupt flag on every tick.
    store.set_fuel(limits.fuel_per_call)
    budget.deadline = time.monotonic() + limits.call_timeout_s
    if closing:  # aclose ran while this call was starting
        budget.shorten(CANCEL_GRACE_S)
    store.set_epoch_deadline(1)


def in_store(live: Live, limits: Limits, closing: bool, fn: Callable[[], Any]) -> Any:
    """Enter the Store as a call does: fresh fuel and deadline, the session for the host
    imports, and any wasmtime failure reported as a trap."""
    reset_budget(live.store, live.budget, limits, closing=closing)
    live.session.call_deadline = live.budget.deadline
    var = current_session()
    token = var.set(live.session)
    try:
        return fn()
    except WasmtimeError as exc:
        raise Trapped(str(exc)) from None
    finally:
        var.reset(token)


async def wait_for_thread(done: anyio.Event, live: Live | None) -> BaseException | None:
    """Wait until the guest thread is back, whatever happens; return the caller's
    cancellation if it came meanwhile (the caller raises it once the thread is back)."""
    try:
        await done.wait()
        return None
    except anyio.get_cancelled_exc_class() as exc:
        caught = exc
    if live is not None:
        live.session.cancel_call()
        live.budget.shorten(CANCEL_GRACE_S)
    while not done.is_set():
        with anyio.CancelScope(shield=True):
            # asyncio's task.cancel() reaches a task inside a shielded scope too: keep
            # waiting, the thread is still inside the Store (the one cancellation is enough).
            with contextlib.suppress(anyio.get_cancelled_exc_class()):
                await done.wait()
    return caught


def lookup(live: Live, export: str) -> Any:
    """The exported function ``export`` of the live instance (``None`` when it has none)."""
    # "iface#func" reaches a function inside an exported interface.
    if "#" in export:
        outer, _, inner = export.partition("#")
        index = live.instance.get_export_index(live.store, outer)
        if index is None:
            return None
        index = live.instance.get_export_index(live.store, inner, index)
        if index is None:
            return None
        return live.instance.get_func(live.store, index)
    return live.instance.get_func(live.store, export)

