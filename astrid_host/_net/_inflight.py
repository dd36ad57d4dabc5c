"""A capsule's work in flight: what ``aclose`` must cancel, and the open-stream slots.

Every call into the engine (``send``, ``start``, ``upload``, and each method of a stream or
upload) runs inside :meth:`Inflight.operation`, which ``aclose`` cancels. Each open stream or
upload holds one :class:`Slot` (at most ``Limits.max_open_streams``), taken before its request
starts and released once, when it ends, fails or is closed; ``aclose`` aborts whoever holds one.
An upload's request runs in a task of its own, started by :meth:`Inflight.spawn`.

Works under trio and asyncio alike (AnyIO). The one backend-specific line is how
:meth:`Inflight.spawn` starts that task: a client has no task of its own to own a task group
(it is made in ``load``'s task, called from guest threads through the event loop, closed from
any task, and an AnyIO task group must be left by the task that entered it), so the task is a
trio system task or an asyncio task the client keeps; :meth:`Inflight.aclose` aborts it and
waits for it (through its slot) like any other holder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager

import anyio
import sniffio
import trio

from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._net._errors import translating

__all__ = ["Inflight", "Slot"]

Abort = Callable[[], Awaitable[None]]


class Slot:
    """One open-stream slot. Its holder (a stream or an upload) gives the slot the way to
    abort it, and may hand the slot on (an upload's moves to its response stream)."""

    def __init__(self, owner: Inflight) -> None:
        self._owner = owner
        self._abort: Abort | None = None

    def hold(self, abort: Abort) -> None:
        """The slot now belongs to the handle that ``abort`` aborts."""
        self._abort = abort

    def release(self) -> None:
        """Give the slot back (releasing it again does nothing)."""
        self._owner._slots.discard(self)

    async def abort(self) -> None:
        """Abort the holder, if any (``aclose``)."""
        if self._abort is not None:
            await self._abort()


class Inflight:
    """The operations in flight and the open streams and uploads of one capsule."""

    def __init__(self, max_open: int) -> None:
        self.max_open = max_open
        self.closed = False
        self._scopes: set[anyio.CancelScope] = set()
        self._slots: set[Slot] = set()
        #: asyncio keeps only weak references to tasks: the spawned ones live here.
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open_count(self) -> int:
        """Slots held: streams and uploads open, and ``start`` calls waiting for a head."""
        return len(self._slots)

    @contextmanager
    def operation(self) -> Iterator[None]:
        """One call into the engine: refused with ``closed`` after ``aclose``, ended with
        ``cancelled`` by ``aclose``; every failure leaves it as ``HttpError``."""
        if self.closed:
            raise HttpError(ErrorCode.closed())
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope, translating():
                yield
        finally:
            self._scopes.discard(scope)
        if scope.cancelled_caught:
            raise HttpError(ErrorCode.cancelled())

    def take_slot(self) -> Slot:
        """A free slot, or ``stream-limit`` when every slot is held."""
        if len(self._slots) >= self.max_open:
            raise HttpError(ErrorCode.stream_limit(self.max_open))
        slot = Slot(self)
        self._slots.add(slot)
        return slot

    def spawn(self, task: Callable[[], Coroutine[None, None, None]], name: str) -> None:
        """Run ``task`` in the background, outliving the call that started it (an upload's
        request, fed by later ``write`` calls). ``task`` must catch its own failures."""
        if sniffio.current_async_library() == "trio":
            trio.lowlevel.spawn_system_task(task, name=name)
            return
        spawned = asyncio.get_running_loop().create_task(task(), name=name)
        self._tasks.add(spawned)
        spawned.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Refuse new calls, cancel every call in flight, abort every slot's holder."""
        self.closed = True
        for scope in list(self._scopes):
            scope.cancel()
        with anyio.CancelScope(shield=True):
            for slot in list(self._slots):
                await slot.abort()
