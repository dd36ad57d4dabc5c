"""The event loop the runtime runs on: trio or asyncio, through AnyIO.

A :class:`Host` belongs to the event loop it was entered in, and so do its capsules: their
guest threads hand host I/O back to that loop (:meth:`Loop.token`, for
``anyio.from_thread.run``) and report that they are done with a non-blocking wake-up
(:meth:`Loop.call_soon`). :func:`current_loop` finds the running loop or raises
:class:`EventLoopError` naming the fix, and :meth:`Loop.check` refuses a call made from any
other loop (a worker thread running its own ``asyncio.run``, a later ``trio.run``), which
would otherwise hang or fail deep inside the loop library.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.lowlevel
import sniffio
import trio

from astrid_host._wasm._errors import EventLoopError

__all__ = ["Loop", "current_loop"]

_FROM_A_THREAD = ("from a worker thread, hand the call to the loop that entered the Host: "
                  "anyio.from_thread.run(capsule.call, ...) or "
                  "asyncio.run_coroutine_threadsafe(capsule.call(...), loop)")


@dataclass(frozen=True, eq=False)
class Loop:
    """One running event loop, as the runtime needs it."""

    library: str
    #: For ``anyio.from_thread.run(..., token=)`` from a guest thread.
    token: anyio.lowlevel.EventLoopToken
    #: The native loop object (the ``TrioToken`` or the asyncio loop): identity only.
    native: Any
    _soon: Callable[[Callable[[], object]], object]

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn()`` on the loop soon, from any thread, without waiting for it; nothing
        happens when the loop has ended (nobody is left to wake)."""
        with contextlib.suppress(trio.RunFinishedError, RuntimeError):
            self._soon(fn)

    def check(self, what: str) -> None:
        """Raise :class:`EventLoopError` unless the caller runs on this loop."""
        here = _native(what)
        if here is not self.native:
            raise EventLoopError(
                f"{what}: this Host was entered in another event loop ({self.library}, "
                "in another thread or an earlier run); a Host and its capsules are used only "
                f"from the loop that entered it; {_FROM_A_THREAD}")


def _native(what: str) -> Any:
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise EventLoopError(
            f"{what} needs a running trio or asyncio event loop in this thread: await it "
            f"inside trio.run(...) or asyncio.run(...); {_FROM_A_THREAD}") from None
    if library == "trio":
        return trio.lowlevel.current_trio_token()
    if library == "asyncio":
        return asyncio.get_running_loop()
    raise EventLoopError(f"{what}: astrid-host runs on trio or asyncio, not {library!r}")


def current_loop(what: str) -> Loop:
    """The running event loop, or :class:`EventLoopError` saying how to get one."""
    native = _native(what)
    soon = native.run_sync_soon if isinstance(native, trio.lowlevel.TrioToken) else (
        native.call_soon_threadsafe)
    library = "trio" if isinstance(native, trio.lowlevel.TrioToken) else "asyncio"
    return Loop(library, anyio.lowlevel.current_token(), native, soon)
