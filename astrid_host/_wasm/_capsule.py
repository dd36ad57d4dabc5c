"""`Capsule`: one loaded component, one Store at a time, calls serialised.

Lifecycle of the Store behind a capsule:

- ``Host.load`` instantiates it once eagerly, so a missing import is a load error.
- Each :meth:`Capsule.call` resets the fuel (``limits.fuel_per_call``) and the epoch deadline
  (``limits.call_timeout_s``), then enters the guest on a worker thread. Only one thread is
  ever inside the Store: concurrent entry aborts the process or corrupts the Store.
- A trap poisons a Store for good (wasmtime refuses to enter it again, even with a new
  instance). The capsule throws it away, closes every host resource the guest still held
  through it, and instantiates a fresh Store on the next call. Guest state is lost then.
- :meth:`Capsule.aclose` cancels the capsule's in-flight host I/O at once (the guest sees
  `cancelled`), gives the guest a short grace to return, interrupts it otherwise, and frees
  the Store, the open streams and the HTTP client. A cancelled caller does the same to its
  own call (but the capsule stays open).
- Wall-clock budgets use the engine epoch: the host ticks it every 10 ms (while guests run),
  each Store's deadline is one tick, and a per-Store epoch callback decides on every tick
  whether the call is over its budget (trap) or may continue. The budget can shrink while
  the guest runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import outcome
import trio
from wasmtime import Store, WasiConfig, WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime.component import Component, Instance, Linker, Record, ResourceAny, Variant
from wasmtime.component._enter import enter_wasm

from astrid_host._core._limits import Limits
from astrid_host._wasm._errors import (
    CapsuleClosed,
    CapsuleRunError,
    CapsuleTrap,
    ExportNotFound,
    StaleResource,
    TrapKind,
)
from astrid_host._wasm._imports import HttpBackend, StoreSession, current_session
from astrid_host._wasm._typeinfo import freeze_type

if TYPE_CHECKING:
    from wasmtime import Engine

__all__ = ["CANCEL_GRACE_S", "Capsule", "EpochTicker", "classify_trap"]

log = logging.getLogger("astrid_host.wasm")

#: How often the host's ticker advances the engine epoch; the unit of the call deadline.
EPOCH_TICK_S = 0.01

_DEADLINE_MESSAGE = "astrid: the call's wall-clock budget is exhausted"

# (substring of wasmtime's message, kind). First match wins; order matters because a fuel
# trap message also mentions "wasm trap".
_TRAP_TABLE: tuple[tuple[str, TrapKind], ...] = (
    ("all fuel consumed", "fuel"),
    (_DEADLINE_MESSAGE, "deadline"),
    ("wasm trap: interrupt", "deadline"),
    ("epoch deadline", "deadline"),
    ("exceeds memory limits", "memory"),
    ("memory limit", "memory"),
    ("out of memory", "memory"),
    # A guest whose allocation failed usually aborts (so the trap is `unreachable`); Rust's
    # allocation-failure path leaves these names in the backtrace.
    ("handle_alloc_error", "memory"),
    ("rust_oom", "memory"),
    ("rdl_oom", "memory"),
    ("memory allocation of", "memory"),
    # A trap with the guest's allocator on the stack: wasmtime-py 50 does not tell the host that
    # its limiter refused a `memory.grow` (no callback, and the C API cannot make it trap), but
    # dlmalloc (wasi-libc, CPython, Go's and Rust's wasi builds) failing or tripping over a
    # heap the failed growth left inconsistent is what running out of memory looks like.
    ("!dlmalloc", "memory"),
    ("!malloc", "memory"),
    ("!sbrk", "memory"),
    ("__rdl_alloc", "memory"),
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


#: How long a guest may keep running after its host I/O was cancelled (by aclose or by a
#: cancelled caller) before it is interrupted: enough to return the `cancelled` error it got,
#: short enough that closing stays prompt.
CANCEL_GRACE_S = 0.25


class _Budget:
    """The wall-clock deadline of the current call on one Store, read by the epoch callback."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = math.inf

    def shorten(self, seconds: float) -> None:
        self.deadline = min(self.deadline, time.monotonic() + seconds)


# Budgets by callback id. The epoch callback runs on the worker thread, once per tick while
# the guest runs, and decides between "continue for one more tick" and "trap now". A deadline
# that can move while the guest runs is what lets aclose() and a cancelled caller stop a
# guest that is only computing.
_BUDGETS: dict[int, _Budget] = {}
_BUDGET_IDS = itertools.count(1)
_CONTINUE = 0  # WASMTIME_UPDATE_DEADLINE_CONTINUE


# The exact argument types of the C binding (ctypes matches callback types by signature).
_EPOCH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ffi.wasmtime_context_t),
                                   ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                   ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t))


@_EPOCH_CALLBACK  # type: ignore[untyped-decorator]
def _on_epoch(context: Any, data: Any, delta: Any, kind: Any) -> int:
    try:
        budget = _BUDGETS.get(data or 0)
        if budget is not None:
            if time.monotonic() >= budget.deadline:
                error = WasmtimeError(_DEADLINE_MESSAGE)
                return ctypes.cast(error._consume(), ctypes.c_void_p).value or 0
    except BaseException:  # an exception here would be lost; keep running instead
        pass
    delta[0] = 1
    kind[0] = _CONTINUE
    return 0


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _forget_budget(data: Any) -> None:
    _BUDGETS.pop(data or 0, None)


def _attach_budget(store: Store) -> _Budget:
    budget = _Budget()
    ident = next(_BUDGET_IDS)
    _BUDGETS[ident] = budget
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), _on_epoch, ident, _forget_budget)
    return budget


class EpochTicker:
    """Advances the engine epoch every :data:`EPOCH_TICK_S`, but only while guests run.

    An idle host does not wake up 100 times a second. ``running()`` brackets every stretch
    of guest execution; :meth:`run` is the task that ticks.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._active = 0
        self._wake = trio.Event()

    def enter(self) -> None:
        self._active += 1
        self._wake.set()

    def exit(self) -> None:
        self._active -= 1

    async def run(self) -> None:
        while True:
            if self._active == 0:
                self._wake = trio.Event()
                await self._wake.wait()
            await trio.sleep(EPOCH_TICK_S)
            self._engine.increment_epoch()


class _Trapped(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_STORE_TAG = "_astrid_store"


def _tag_resources(value: Any, store: Store) -> None:
    """Remember which Store each resource handle in an export's result belongs to."""
    if isinstance(value, ResourceAny):
        setattr(value, _STORE_TAG, store)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, (int, float, str, bytes, bool)):
                _tag_resources(item, store)
    elif isinstance(value, Variant):
        _tag_resources(value.payload, store)
    elif isinstance(value, Record):
        for item in vars(value).values():
            _tag_resources(item, store)


class _BoundExport:
    """An export function with its types read once (per Store), called like wasmtime-py does.

    wasmtime-py's ``Func.__call__`` re-reads the function type from C on every call and then
    converts the arguments and result with types that re-read their own structure on every
    access; for a `request` argument and a `result<response, error-code>` that is hundreds of
    ctypes calls. This does the same steps with the types read once and frozen
    (:func:`freeze_type`). Falls back to ``Func.__call__`` when wasmtime-py's ``Func`` does not
    look as expected.
    """

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
    def of(cls, func: Any, store: Store) -> _BoundExport:
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


_DROPPED_TAG = "_astrid_dropped"


def _holds_foreign_resource(value: Any, store: Store) -> bool:
    """True if ``value`` contains a resource handle not tagged with ``store`` (see above)."""
    if isinstance(value, ResourceAny):
        return getattr(value, _STORE_TAG, None) is not store or hasattr(value, _DROPPED_TAG)
    if isinstance(value, (list, tuple)):
        return any(_holds_foreign_resource(item, store) for item in value
                   if not isinstance(item, (int, float, str, bytes, bool)))
    if isinstance(value, Variant):
        return _holds_foreign_resource(value.payload, store)
    if isinstance(value, Record):
        return any(_holds_foreign_resource(item, store) for item in vars(value).values())
    return False


@dataclass
class _Live:
    """A Store with its instance and the session its host imports use."""

    store: Store
    instance: Instance
    session: StoreSession
    budget: _Budget
    #: Exports called so far on this Store, with their types read once.
    exports: dict[str, _BoundExport] = field(default_factory=dict)


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
        ticker: EpochTicker,
        on_close: Callable[[Capsule], None] | None = None,
    ) -> None:
        self.name = name
        self.limits = limits
        self._engine = engine
        self._linker = linker
        self._component = component
        self._backend = backend
        self._limiter = thread_limiter
        self._ticker = ticker
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

        Cancelling the awaiting task cancels the guest's host I/O (it sees ``cancelled``) and
        interrupts the guest at the next epoch tick; the call then raises ``Cancelled`` once
        the guest has left the Store, and the next call gets a fresh Store if it trapped.
        """
        self._check_open()
        async with self._lock:
            self._check_open()
            live = self._live
            if live is None:
                live = await self._instantiate()
                self._check_open()  # aclose may have come while the Store was being built
            if _holds_foreign_resource(args, live.store):
                # Handing wasmtime a handle of another Store fails inside the guest call and
                # would poison this healthy Store; refuse it here instead.
                raise StaleResource(self.name, export)
            live.session.begin_call()
            result = await self._run_guest(live, self._enter, live, export, args)
            if isinstance(result, outcome.Error) and isinstance(result.error, _Trapped):
                message = result.error.message
                if self._closed:
                    raise CapsuleClosed(self.name) from None
                raise CapsuleTrap(classify_trap(message), export, message,
                                  memory_limit=self.limits.memory_bytes) from None
            return result.unwrap()

    async def _run_guest(self, live: _Live | None, fn: Callable[..., Any],
                         *args: Any) -> outcome.Outcome[Any]:
        """Run ``fn`` on a worker thread and return its outcome; a trapped Store is discarded.

        The thread cannot be abandoned (it is inside the Store). If our caller is cancelled
        while it runs, the guest's host I/O is cancelled and its deadline cut to
        :data:`CANCEL_GRACE_S`; ``Cancelled`` is raised once the thread is back. A caller
        cancelled while still waiting for a thread slot leaves without running anything.

        Built on trio's low-level thread API rather than a nursery around
        ``trio.to_thread.run_sync``: this is on the path of every guest call, and the nursery,
        its two tasks and to_thread's bookkeeping cost as much again as the thread hand-off
        itself (about 50 µs of ~115 µs for a trivial export).
        """
        task = trio.lowlevel.current_task()
        token = self._token
        cancelled = False

        def deliver(result: outcome.Outcome[Any]) -> None:  # on the worker thread
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(trio.lowlevel.reschedule, task, outcome.Value(result))

        def abort(raise_cancel: Any) -> trio.lowlevel.Abort:
            nonlocal cancelled
            if not cancelled:
                cancelled = True
                if live is not None:
                    live.session.cancel_call()
                    live.budget.shorten(CANCEL_GRACE_S)
            return trio.lowlevel.Abort.FAILED  # we wait for the thread whatever happens

        context = contextvars.copy_context()
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        try:
            self._ticker.enter()
            try:
                trio.lowlevel.start_thread_soon(lambda: context.run(fn, *args), deliver,
                                                name=f"astrid guest {self.name}")
                result: outcome.Outcome[Any] = await trio.lowlevel.wait_task_rescheduled(abort)
            finally:
                self._ticker.exit()
        finally:
            self._limiter.release_on_behalf_of(borrower)
        if isinstance(result, outcome.Error) and isinstance(result.error, _Trapped):
            with trio.CancelScope(shield=True):
                await self._discard()  # poisoned for good, whoever is still waiting
        if cancelled:
            await trio.lowlevel.checkpoint()  # raises the caller's Cancelled
        return result

    async def drop_resource(self, handle: Any) -> None:
        """Drop a guest-owned resource handle that an export returned (generated bindings'
        ``close()``). A handle from a Store that has since died, or one already dropped, is
        already gone: no-op. A guest destructor runs like any call (fuel, deadline, host
        imports); if it traps, :class:`CapsuleTrap` and the next call gets a fresh Store."""
        self._check_open()
        async with self._lock:
            live = self._live
            # Using a handle with a Store other than its own aborts the process (a Rust
            # panic), so only handles tagged with the live Store are ever dropped.
            if (live is None or getattr(handle, _STORE_TAG, None) is not live.store
                    or hasattr(handle, _DROPPED_TAG)):
                return
            live.session.begin_call()
            result = await self._run_guest(live, self._enter_drop, live, handle)
            if isinstance(result, outcome.Error) and isinstance(result.error, _Trapped):
                raise CapsuleTrap(classify_trap(result.error.message), "[resource-drop]",
                                  result.error.message,
                                  memory_limit=self.limits.memory_bytes) from None
            result.unwrap()

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
        """Cancel in-flight host I/O, stop the guest, free everything. Idempotent.

        A guest blocked in host I/O gets ``cancelled`` at once and has
        :data:`CANCEL_GRACE_S` to return; a guest still running after that is interrupted
        (the call in flight then raises :class:`CapsuleClosed`).
        """
        if self._closed:
            return
        self._closed = True
        if self._live is not None:
            self._live.session.cancel()
            self._live.budget.shorten(CANCEL_GRACE_S)
        with trio.CancelScope(shield=True):
            async with self._lock:
                await self._discard()
                try:
                    await self._backend.aclose()
                except Exception:  # the contract says HttpError only; close regardless
                    log.warning("closing the HTTP client of capsule %s failed", self.name,
                                exc_info=True)
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
            self._check_open()
            if self._live is None:
                await self._instantiate()

    def _check_open(self) -> None:
        if self._closed:
            raise CapsuleClosed(self.name)

    async def _instantiate(self) -> _Live:
        """A fresh Store + instance (on a worker thread: instantiation may run guest code)."""
        session = StoreSession(backend=self._backend, trio_token=self._token, name=self.name,
                               limits=self.limits)
        result = await self._run_guest(None, self._new_live, session)
        if isinstance(result, outcome.Error) and isinstance(result.error, _Trapped):
            message = result.error.message
            raise CapsuleTrap(classify_trap(message), "<instantiate>", message,
                              memory_limit=self.limits.memory_bytes) from None
        live: _Live = result.unwrap()
        self._live = live
        self.instantiations += 1
        return live

    def _new_live(self, session: StoreSession) -> _Live:
        store = Store(self._engine)
        # A linker with WASI needs WASI state in every Store, or wasmtime aborts the process.
        # The default WasiConfig grants nothing: no files, env, args, sockets or stdio.
        store.set_wasi(WasiConfig())
        store.set_limits(memory_size=self.limits.memory_bytes)
        budget = _attach_budget(store)
        self._reset_budget(store, budget)
        var = current_session()
        token = var.set(session)
        try:
            instance = self._linker.instantiate(store, self._component)
        except WasmtimeError as exc:
            store.close()
            raise _Trapped(str(exc)) from None
        finally:
            var.reset(token)
        return _Live(store, instance, session, budget)

    def _reset_budget(self, store: Store, budget: _Budget) -> None:
        # Fuel and the wall-clock budget are per call. The epoch deadline is one tick: the
        # callback then checks the budget and the interrupt flag on every tick.
        store.set_fuel(self.limits.fuel_per_call)
        budget.deadline = time.monotonic() + self.limits.call_timeout_s
        if self._closed:  # aclose ran while this call was starting
            budget.shorten(CANCEL_GRACE_S)
        store.set_epoch_deadline(1)

    def _enter(self, live: _Live, export: str, args: tuple[Any, ...]) -> Any:
        """Runs on the worker thread, holding the capsule lock."""
        bound = live.exports.get(export)
        if bound is None:
            func = _lookup(live, export)
            if func is None:
                raise ExportNotFound(self.name, export, self.exports)
            bound = live.exports[export] = _BoundExport.of(func, live.store)
        result = self._in_store(live, lambda: bound(live.store, args))
        _tag_resources(result, live.store)
        return result

    def _enter_drop(self, live: _Live, handle: Any) -> None:
        """Runs on the worker thread, holding the capsule lock: a resource's destructor."""
        self._in_store(live, lambda: handle.drop(live.store))
        setattr(handle, _DROPPED_TAG, True)

    def _in_store(self, live: _Live, fn: Callable[[], Any]) -> Any:
        """Enter the Store as a call does: fresh fuel and deadline, the session for the host
        imports, and any wasmtime failure reported as a trap."""
        self._reset_budget(live.store, live.budget)
        live.session.call_deadline = live.budget.deadline
        var = current_session()
        token = var.set(live.session)
        try:
            return fn()
        except WasmtimeError as exc:
            raise _Trapped(str(exc)) from None
        finally:
            var.reset(token)

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
            except Exception:  # one bad stream must not keep the others open
                log.debug("closing a resource of capsule %s failed", self.name, exc_info=True)


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

