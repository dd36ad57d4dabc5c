"""Everything the host imports need for one Store: backend, event loop, handle table.

The capsule creates one :class:`StoreSession` for each fresh Store and sets it in
:func:`current_session` (on the worker thread) before it enters the guest; the host import
handlers find it there. Host I/O goes back to the event loop (trio or asyncio) through
:meth:`run_io`.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel

from astrid_host._core._contracts import HttpBackend
from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, HttpError, TimeoutPhase
from astrid_host._core._output import OutputBuffer
from astrid_host._wasm._errors import HostFault
from astrid_host._wasm._wasmtime_patches import StoreMemories, TypeCache

__all__ = ["SessionCancelled", "StoreSession", "current_session"]

#: Resource handles are u32 in the component model.
_REP_MAX = (1 << 32) - 1


class SessionCancelled(Exception):
    """The session was closed (or the event loop ended) while the host waited."""


@dataclass
class _Slot:
    kind: int
    obj: Any


@dataclass
class StoreSession:
    """Everything the host imports need for one Store: backend, event loop, handle table.

    Created by the capsule for each fresh Store. The handle table maps the ``rep`` of each
    live resource handle to the backend object behind it; wasmtime never calls destructors
    for handles still alive when a Store dies, so :meth:`take_resources` hands them to the
    capsule to close.
    """

    backend: HttpBackend
    #: The event loop the host I/O runs on (the loop that entered the Host).
    loop_token: anyio.lowlevel.EventLoopToken
    name: str = "capsule"
    limits: Limits = field(default_factory=Limits)
    resources: dict[int, _Slot] = field(default_factory=dict)
    closed: bool = False
    _reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _scopes: set[anyio.CancelScope] = field(default_factory=set)
    #: The guest's declared import types, read once per Store (see _wasmtime_patches).
    types: TypeCache = field(default_factory=dict)
    #: The Astrid front's per-capsule state (configuration, topic ACL, messages published),
    #: or ``None`` for a capsule loaded without one (see ``_wasm/_astrid_sys.py``).
    astrid: Any = None
    #: The linear memories the Store's instantiation created (the body lane's target).
    memories: StoreMemories = field(default_factory=lambda: StoreMemories([]))

    #: Set when the caller of the current call was cancelled; reset by :meth:`begin_call`.
    call_cancelled: bool = False
    #: ``time.monotonic()`` when the current call's wall-clock budget ends (set on entry).
    call_deadline: float = math.inf
    #: Where the current call's `astrid:http/output` writes go; ``None`` when the caller did
    #: not ask for output. Set by :meth:`begin_call`.
    output: OutputBuffer | None = None

    # -- called on the event loop

    def cancel(self) -> None:
        """Cancel every host I/O in flight and make all later ones fail with ``cancelled``."""
        self.closed = True
        self._cancel_scopes()

    def cancel_call(self) -> None:
        """Cancel the current call's host I/O; later I/O in this call fails too."""
        self.call_cancelled = True
        self._cancel_scopes()

    def begin_call(self, output: OutputBuffer | None = None) -> None:
        """A new call starts: a previous call's cancellation no longer applies, and its
        output (if the caller asked for one) goes to ``output``."""
        self.call_cancelled = False
        self.output = output

    def _cancel_scopes(self) -> None:
        for scope in list(self._scopes):
            scope.cancel()

    def take_resources(self) -> list[Any]:
        """Remove and return every backend object still owned by a guest handle."""
        objs = [slot.obj for slot in self.resources.values()]
        self.resources.clear()
        return objs

    async def _guarded(self, afn: Callable[..., Awaitable[Any]], remaining: float,
                       *args: Any) -> Any:
        if self.closed or self.call_cancelled:
            raise SessionCancelled
        # The call's wall-clock budget bounds its host I/O too: the epoch deadline only
        # interrupts guest code, and a request's own timeouts may be longer than the call's.
        with anyio.CancelScope() as scope, anyio.move_on_after(max(remaining, 0.0)) as budget:
            self._scopes.add(scope)
            try:
                return await afn(*args)
            finally:
                self._scopes.discard(scope)
        if budget.cancelled_caught and not scope.cancelled_caught:
            raise HttpError(ErrorCode.timeout(TimeoutPhase.TOTAL))
        raise SessionCancelled  # only reached when the scope was cancelled

    # -- called on the worker thread

    def run_io(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Await ``afn(*args)`` on the event loop; raises HttpError or SessionCancelled."""
        if self.closed or self.call_cancelled:
            raise SessionCancelled
        try:
            remaining = self.call_deadline - time.monotonic()
            return anyio.from_thread.run(self._guarded, afn, remaining, *args,
                                         token=self.loop_token)
        except (anyio.RunFinishedError, concurrent.futures.CancelledError):
            # asyncio hands a cancellation of the I/O's task (the loop shutting down) to the
            # waiting thread as concurrent.futures' CancelledError; trio as Cancelled.
            raise SessionCancelled from None

    def run_cleanup(self, afn: Callable[[], Awaitable[Any]]) -> None:
        """Await ``afn()`` on the event loop, shielded and even after cancellation: closing
        a resource must happen whatever state the call is in."""
        async def shielded() -> None:
            with anyio.CancelScope(shield=True):
                await afn()
        try:
            anyio.from_thread.run(shielded, token=self.loop_token)
        except anyio.RunFinishedError:
            pass

    def add(self, kind: int, obj: Any) -> int:
        """A new handle (``rep``) for ``obj``, a host resource of type ``kind``."""
        rep = next(self._reps)
        if rep > _REP_MAX:
            raise HostFault("resource handle space exhausted")
        self.resources[rep] = _Slot(kind, obj)
        return rep

    def get(self, kind: int, this: Any, store: Any) -> Any:
        """The object behind the borrowed handle ``this`` of type ``kind``."""
        host = this.to_host(store)
        slot = self.resources.get(host.rep)
        if slot is None or slot.kind != kind or host.type != kind:
            raise HostFault(f"unknown resource handle {host.rep}")
        return slot.obj


_SESSION: ContextVar[StoreSession | None] = ContextVar("astrid_store_session", default=None)


def current_session() -> ContextVar[StoreSession | None]:
    """The context variable the capsule sets (on the worker thread) before entering a Store."""
    return _SESSION
