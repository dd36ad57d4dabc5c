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

import contextvars
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import outcome
import trio
from wasmtime.component import Component, Linker

from astrid_host._core._astrid_protocol import (
    DESCRIBE_ACTION,
    CapsuleDescription,
    CapsuleProtocolError,
    HookResult,
    ToolCall,
    ToolResult,
    TriggerResult,
    parse_tool_describe,
    tool_result_of,
    trigger_payload,
)
from astrid_host._core._astrid_state import AstridState
from astrid_host._core._contracts import HttpBackend
from astrid_host._core._limits import Limits
from astrid_host._core._output import CallOutput, OutputBuffer
from astrid_host._wasm._deadline import CANCEL_GRACE_S, EpochTicker, classify_trap
from astrid_host._wasm._errors import (
    CapsuleClosed,
    CapsuleRunError,
    CapsuleTrap,
    ExportNotFound,
    StaleResource,
)
from astrid_host._wasm._handles import (
    dropped,
    holds_foreign_resource,
    mark_dropped,
    store_of,
    tag_resources,
)
from astrid_host._wasm._live import Live, Trapped, in_store, lookup, new_live, wait_for_thread
from astrid_host._wasm._loop import Loop
from astrid_host._wasm._session import StoreSession
from astrid_host._wasm._wasmtime_patches import BoundExport

if TYPE_CHECKING:
    from wasmtime import Engine

__all__ = ["CANCEL_GRACE_S", "HOOK_EXPORT", "Capsule", "EpochTicker", "classify_trap"]

#: The export upstream Astrid's kernel calls for hooks and tools (``astrid:guest``).
HOOK_EXPORT = "astrid-hook-trigger"

log = logging.getLogger("astrid_host.wasm")


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
        thread_limiter: anyio.CapacityLimiter,
        ticker: EpochTicker,
        loop: Loop,
        on_close: Callable[[Capsule], None] | None = None,
        astrid: Any = None,
    ) -> None:
        self.name = name
        #: The Astrid front's state for this capsule (``AstridState``), or ``None``.
        self.astrid = astrid
        self.limits = limits
        self._engine = engine
        self._linker = linker
        self._component = component
        self._backend = backend
        self._limiter = thread_limiter
        self._ticker = ticker
        self._on_close = on_close
        self._lock = anyio.Lock()
        self._live: Live | None = None
        self._closed = False
        self._loop = loop
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
        interrupts the guest at the next epoch tick; the call then raises the event loop's
        cancellation (trio's ``Cancelled``, asyncio's ``CancelledError``) once the guest has
        left the Store, and the next call gets a fresh Store if it trapped. Called from
        another event loop than the host's: :class:`EventLoopError`.
        """
        self._loop.check(f"capsule {self.name!r}: call({export!r})")
        self._check_open()
        async with self._lock:
            return await self._call_locked(export, args)

    async def call_with_output(self, export: str, *args: Any) -> CallOutput[Any]:
        """:meth:`call`, asking the guest for output: the body it hands over through
        `astrid:http/output` beside the result (``wit/output.wit``).

        Returns a :class:`CallOutput`: ``value`` is what :meth:`call` would return, ``output``
        the bytes written, in order (``b""`` for none), at most ``limits.max_output_bytes``.
        Raises what :meth:`call` raises; the output of a call that traps, is cancelled or fails
        is discarded. In a plain :meth:`call` the guest's writes fail with `invalid-request`.
        """
        self._loop.check(f"capsule {self.name!r}: call_with_output({export!r})")
        self._check_open()
        output = OutputBuffer(self.limits.max_output_bytes)
        async with self._lock:
            try:
                value = await self._call_locked(export, args, output)
            except BaseException:
                output.discard()  # the session holds it until the next call: free it now
                raise
        return CallOutput(value, output.take())

    async def _call_locked(self, export: str, args: tuple[Any, ...],
                           output: OutputBuffer | None = None) -> Any:
        """:meth:`call`, with ``self._lock`` held by the caller (``output``: see
        :meth:`call_with_output`)."""
        self._check_open()
        live = self._live
        if live is None:
            live = await self._instantiate()
            self._check_open()  # aclose may have come while the Store was being built
        if holds_foreign_resource(args, live.store):
            # Handing wasmtime a handle of another Store fails inside the guest call and
            # would poison this healthy Store; refuse it here instead.
            raise StaleResource(self.name, export)
        live.session.begin_call(output)
        result = await self._run_guest(live, self._enter, live, export, args)
        if self._closed and _trapped(result):
            raise CapsuleClosed(self.name) from None
        return self._unwrap(result, export)

    async def _run_guest(self, live: Live | None, fn: Callable[..., Any],
                         *args: Any) -> outcome.Outcome[Any]:
        """Run ``fn`` on a worker thread and return its outcome; a trapped Store is discarded.

        The thread cannot be abandoned (it is inside the Store). If our caller is cancelled
        while it runs, the guest's host I/O is cancelled and its deadline cut to
        :data:`CANCEL_GRACE_S`; the caller's cancellation (trio's ``Cancelled``, asyncio's
        ``CancelledError``) is raised once the thread is back, never turned into a result. A
        caller cancelled while still waiting for a thread slot leaves without running anything.

        The thread comes from trio's thread cache (``trio.lowlevel.start_thread_soon`` needs no
        trio run, so it serves asyncio too) and wakes the caller without blocking
        (:meth:`Loop.call_soon`), rather than through ``anyio.to_thread.run_sync`` in a task
        group: this is on the path of every guest call, and the task group, its tasks and
        to_thread's bookkeeping cost as much again as the thread hand-off itself (about 50 µs
        of ~115 µs for a trivial export).
        """
        done = anyio.Event()
        box: list[outcome.Outcome[Any]] = []
        loop = self._loop

        def deliver(result: outcome.Outcome[Any]) -> None:  # on the worker thread
            box.append(result)
            loop.call_soon(done.set)

        context = contextvars.copy_context()
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        try:
            self._ticker.enter()
            try:
                trio.lowlevel.start_thread_soon(lambda: context.run(fn, *args), deliver,
                                                name=f"astrid guest {self.name}")
                cancelled = await wait_for_thread(done, live)
            finally:
                self._ticker.exit()
        finally:
            self._limiter.release_on_behalf_of(borrower)
        result = box[0]
        if _trapped(result):
            with anyio.CancelScope(shield=True):
                await self._discard()  # poisoned for good, whoever is still waiting
        if cancelled is not None:
            raise cancelled
        return result

    async def drop_resource(self, handle: Any) -> None:
        """Drop a guest-owned resource handle that an export returned (generated bindings'
        ``close()``). A handle from a Store that has since died, or one already dropped, is
        already gone: no-op. A guest destructor runs like any call (fuel, deadline, host
        imports); if it traps, :class:`CapsuleTrap` and the next call gets a fresh Store."""
        self._loop.check(f"capsule {self.name!r}: dropping a resource")
        self._check_open()
        async with self._lock:
            live = self._live
            # Using a handle with a Store other than its own aborts the process (a Rust
            # panic), so only handles tagged with the live Store are ever dropped.
            if live is None or store_of(handle) is not live.store or dropped(handle):
                return
            live.session.begin_call()
            result = await self._run_guest(live, self._enter_drop, live, handle)
            self._unwrap(result, "[resource-drop]")

    async def trigger(self, action: str, payload: bytes | str | Mapping[str, Any] | list[Any]
                      ) -> TriggerResult:
        """Call an upstream Astrid capsule's ``astrid-hook-trigger(action, payload)``.

        ``payload`` is sent as is when bytes, UTF-8 encoded when text, and as compact JSON
        otherwise. Returns the ``capsule-result`` and the messages the capsule published during
        this call, in order (a capsule loaded without Astrid state may publish none). Raises
        what :meth:`call` raises, and :class:`ExportNotFound` for a capsule without the hook.
        """
        data = trigger_payload(payload)
        state: AstridState | None = self.astrid
        self._check_open()
        async with self._lock:
            if state is not None:
                state.take_messages()  # left over from a call that trapped
            answer = await self._call_locked(HOOK_EXPORT, (action, data))
            messages = tuple(state.take_messages()) if state is not None else ()
        action_out = getattr(answer, "action", None)
        data_out = getattr(answer, "data", None)
        if not isinstance(action_out, str) or not (data_out is None or isinstance(data_out, str)):
            raise CapsuleProtocolError(f"{HOOK_EXPORT} returned {answer!r}, not a capsule-result")
        return TriggerResult(HookResult(action_out, data_out), messages)

    async def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None, *,
                        call_id: str | None = None) -> ToolResult:
        """Run tool ``name`` of an upstream Astrid capsule with the tool-call protocol.

        Returns the :class:`ToolResult` the capsule published (``is_error`` when the tool
        reported a failure). Raises :class:`InvalidToolCall` for a bad name or arguments,
        :class:`ToolCallDenied` when the capsule refused the call, and
        :class:`CapsuleProtocolError` when it published no (or a malformed) result.
        """
        call = ToolCall(call_id or f"call-{uuid.uuid4().hex}", name,
                        {} if arguments is None else arguments)
        trigger = await self.trigger(call.action, call.payload())
        return tool_result_of(call, trigger)

    async def describe_tools(self) -> CapsuleDescription:
        """What the capsule's ``tool_describe`` hook reports: its description and tools."""
        trigger = await self.trigger(DESCRIBE_ACTION, b"{}")
        if trigger.result.denied or trigger.result.data is None:
            raise CapsuleProtocolError(f"{DESCRIBE_ACTION} answered {trigger.result.action!r} "
                                       f"without a description")
        return parse_tool_describe(trigger.result.data)

    async def run(self, input: str) -> str:
        """Call the ``capsule`` world's ``run`` export: the ``ok`` text, or raises.

        An ``err`` result raises :class:`CapsuleRunError` with the capsule's message.
        """
        return self._run_answer(await self.call("run", input))

    async def run_with_output(self, input: str) -> CallOutput[str]:
        """:meth:`run`, asking the capsule for output (see :meth:`call_with_output`): the
        ``ok`` text and the bytes it wrote. An ``err`` answer raises :class:`CapsuleRunError`
        and its output is discarded."""
        done = await self.call_with_output("run", input)
        return CallOutput(self._run_answer(done.value), done.output)

    def _run_answer(self, result: Any) -> str:
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
        self._loop.check(f"capsule {self.name!r}: aclose()")
        self._closed = True
        if self._live is not None:
            self._live.session.cancel()
            self._live.budget.shorten(CANCEL_GRACE_S)
        with anyio.CancelScope(shield=True):
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

    async def _instantiate(self) -> Live:
        """A fresh Store + instance (on a worker thread: instantiation may run guest code)."""
        session = StoreSession(backend=self._backend, loop_token=self._loop.token, name=self.name,
                               limits=self.limits, astrid=self.astrid)
        result = await self._run_guest(None, lambda: new_live(
            self._engine, self._linker, self._component, self.limits, session,
            closing=self._closed))
        live: Live = self._unwrap(result, "<instantiate>")
        self._live = live
        self.instantiations += 1
        return live

    def _unwrap(self, result: outcome.Outcome[Any], where: str) -> Any:
        """The value of a guest run, or its trap raised as :class:`CapsuleTrap` (``where``:
        the export, or what the host was doing)."""
        if isinstance(result, outcome.Error) and isinstance(result.error, Trapped):
            message = result.error.message
            raise CapsuleTrap(classify_trap(message), where, message,
                              memory_limit=self.limits.memory_bytes) from None
        return result.unwrap()

    def _enter(self, live: Live, export: str, args: tuple[Any, ...]) -> Any:
        """Runs on the worker thread, holding the capsule lock."""
        bound = live.exports.get(export)
        if bound is None:
            func = lookup(live, export)
            if func is None:
                raise ExportNotFound(self.name, export, self.exports)
            bound = live.exports[export] = BoundExport.of(func, live.store)
        result = in_store(live, self.limits, self._closed, lambda: bound(live.store, args))
        tag_resources(result, live.store)
        return result

    def _enter_drop(self, live: Live, handle: Any) -> None:
        """Runs on the worker thread, holding the capsule lock: a resource's destructor."""
        in_store(live, self.limits, self._closed, lambda: handle.drop(live.store))
        mark_dropped(handle)

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


def _trapped(result: outcome.Outcome[Any]) -> bool:
    """Whether a guest run ended in a trap (its Store is gone)."""
    return isinstance(result, outcome.Error) and isinstance(result.error, Trapped)
