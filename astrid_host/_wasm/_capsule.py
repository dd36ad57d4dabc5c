"""`Capsule`: one loaded component, one Store at a time, calls serialised.

Lifecycle of the Store behind a capsule:

- ``Host.load`` instantiates it once eagerly, so a missing import is a load error.
- Each :meth:`Capsule.call` resets the fuel (``limits.fuel_per_call``) and the epoch deadline
  (``limits.call_timeout_s``), then enters the guest on a worker thread. Only one thread is
  ever inside the Store: wasmtime aborts the whole process otherwise.
- A trap poisons a Store for good (wasmtime refuses to enter it again, even with a new
  instance). The capsule throws it away, closes every host resource the guest still held
  through it, and instantiates a fresh Store on the next call. Guest state is lost then.
- :meth:`Capsule.aclose` cancels the capsule's in-flight host I/O at once (the guest sees
  `cancelled`), waits for the guest to leave the Store, and frees the Store, the open
  streams and the HTTP client.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Instance, Linker

from astrid_host._core._limits import Limits
from astrid_host._wasm._errors import (
    CapsuleClosed,
    CapsuleRunError,
    CapsuleTrap,
    ExportNotFound,
    TrapKind,
)
from astrid_host._wasm._imports import HttpBackend, StoreSession, current_session

if TYPE_CHECKING:
    from wasmtime import Engine

__all__ = ["Capsule", "classify_trap"]

#: How often the host's ticker advances the engine epoch; the unit of the call deadline.
EPOCH_TICK_S = 0.01

# (substring of wasmtime's message, kind). First match wins; order matters because a fuel
# trap message also mentions "wasm trap".
_TRAP_TABLE: tuple[tuple[str, TrapKind], ...] = (
    ("all fuel consumed", "fuel"),
    ("wasm trap: interrupt", "deadline"),
    ("epoch deadline", "deadline"),
    ("exceeds memory limits", "memory"),
    ("memory limit", "memory"),
    ("out of memory", "memory"),
    ("wasm `unreachable` instruction executed", "unreachable"),
    ("unreachable", "unreachable"),
)


def classify_trap(message: str) -> TrapKind:
    """The :data:`TrapKind` of a wasmtime error message (pure; ``other`` when unknown).

    wasmtime-py reports every call failure as a plain ``WasmtimeError``: the kind is only in
    the text.
    """
    lowered = message.lower()
    for needle, kind in _TRAP_TABLE:
        if needle in lowered:
            return kind
    return "other"


def deadline_ticks(call_timeout_s: float, tick_s: float = EPOCH_TICK_S) -> int:
    """Epoch ticks for a wall-clock budget: rounded up, at least one. Pure."""
    return max(1, math.ceil(call_timeout_s / tick_s))


class _Trapped(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Live:
    """A Store with its instance and the session its host imports use."""

    store: Store
    instance: Instance
    session: StoreSession


class Capsule:
    """A loaded capsule. Create with :meth:`Host.load`, never directly.

    ``await capsule.call(export, *args)`` runs an exported function; arguments and results use
    wasmtime-py's value mapping (``str``, ``int``, ``bytes``, ``wasmtime.component.Variant``,
    ...). For the ``capsule`` world, :meth:`run` returns the ``ok`` string or raises.
    Use it as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        name: str,
        engine: Engine,
        linker: Linker,
        component: Component,
        limits: Limits,
        backend: HttpBackend,
        thread_limiter: trio.CapacityLimiter,
        on_close: Callable[[Capsule], None] | None = None,
    ) -> None:
        self.name = name
        self.limits = limits
        self._engine = engine
        self._linker = linker
        self._component = component
        self._backend = backend
        self._limiter = thread_limiter
        self._on_close = on_close
        self._lock = trio.Lock()
        self._live: _Live | None = None
        self._closed = False
        self._token = trio.lowlevel.current_trio_token()
        #: Stores created so far (1 after load; +1 after each trap). For tests and metrics.
        self.instantiations = 0
        self.exports: tuple[str, ...] = tuple(
            sorted(component.type.exports(engine).keys()))

    # -- public API

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` started (or the host ended)."""
        return self._closed

    async def call(self, export: str, *args: Any) -> Any:
        """Call ``export`` with ``args`` in the guest and return its result.

        Raises :class:`ExportNotFound`, :class:`CapsuleTrap` (the next call gets a fresh
        Store), :class:`CapsuleClosed`, or ``TypeError``/``ValueError`` when ``args`` do not
        fit the export's parameter types. Concurrent calls wait for each other.
        """
        self._check_open()
        async with self._lock:
            self._check_open()
            live = self._live
            if live is None:
                live = await self._instantiate()
            try:
                return await trio.to_thread.run_sync(
                    self._enter, live, export, args, limiter=self._limiter)
            except _Trapped as trap:
                await self._discard()
                if self._closed:
                    raise CapsuleClosed(self.name) from None
                raise CapsuleTrap(classify_trap(trap.message), export, trap.message) from None

    async def run(self, input: str) -> str:
        """Call the ``capsule`` world's ``run`` export: the ``ok`` text, or raises.

        An ``err`` result raises :class:`CapsuleRunError` with the capsule's message.
        """
        result = await self.call("run", input)
        tag = getattr(result, "tag", None)
        if tag == "ok":
            return str(result.payload)
        if tag == "err":
            raise CapsuleRunError(self.name, str(result.payload))
        raise TypeError(f"capsule {self.name!r}: run returned {result!r}, not a result")

    async def aclose(self) -> None:
        """Cancel in-flight host I/O, wait for the guest to leave, free everything.

        Idempotent. The wait is bounded by the guest's own budget: a guest blocked in host I/O
        is released at once; a guest computing stops at its epoch deadline at the latest.
        """
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.session.cancel()
        with trio.CancelScope(shield=True):
            async with self._lock:
                await self._discard()
                try:
                    await self._backend.aclose()
                except Exception:
                    pass
                self._component = None  # type: ignore[assignment]
        if self._on_close is not None:
            self._on_close(self)

    async def __aenter__(self) -> Capsule:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals

    async def _start(self) -> None:
        """Instantiate now (used by ``Host.load`` so missing imports fail the load)."""
        async with self._lock:
            if self._live is None:
                await self._instantiate()

    def _check_open(self) -> None:
        if self._closed:
            raise CapsuleClosed(self.name)

    async def _instantiate(self) -> _Live:
        """A fresh Store + instance (on a worker thread: instantiation may run guest code)."""
        session = StoreSession(backend=self._backend, trio_token=self._token, name=self.name)
        try:
            live = await trio.to_thread.run_sync(self._new_live, session,
                                                 limiter=self._limiter)
        except _Trapped as trap:
            raise CapsuleTrap(classify_trap(trap.message), "<instantiate>",
                              trap.message) from None
        self._live = live
        self.instantiations += 1
        return live

    def _new_live(self, session: StoreSession) -> _Live:
        store = Store(self._engine)
        # A linker with WASI needs WASI state in every Store, or wasmtime aborts the process.
        # The default WasiConfig grants nothing: no files, env, args, sockets or stdio.
        store.set_wasi(WasiConfig())
        store.set_limits(memory_size=self.limits.memory_bytes)
        self._reset_budget(store)
        var = current_session()
        token = var.set(session)
        try:
            instance = self._linker.instantiate(store, self._component)
        except WasmtimeError as exc:
            store.close()
            raise _Trapped(str(exc)) from None
        finally:
            var.reset(token)
        return _Live(store, instance, session)

    def _reset_budget(self, store: Store) -> None:
        store.set_fuel(self.limits.fuel_per_call)
        store.set_epoch_deadline(deadline_ticks(self.limits.call_timeout_s))

    def _enter(self, live: _Live, export: str, args: tuple[Any, ...]) -> Any:
        """Runs on the worker thread, holding the capsule lock."""
        func = _lookup(live, export)
        if func is None:
            raise ExportNotFound(self.name, export, self.exports)
        self._reset_budget(live.store)
        var = current_session()
        token = var.set(live.session)
        try:
            result = func(live.store, *args)
        except WasmtimeError as exc:
            raise _Trapped(str(exc)) from None
        finally:
            var.reset(token)
        return result

    async def _discard(self) -> None:
        """Drop the current Store and close every host resource its guest still held."""
        live, self._live = self._live, None
        if live is None:
            return
        leftovers = live.session.take_resources()
        live.session.closed = True
        live.store.close()
        for obj in leftovers:
            try:
                await obj.aclose()
            except Exception:
                pass


def _lookup(live: _Live, export: str) -> Any:
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

