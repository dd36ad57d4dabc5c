"""Wall-clock budgets of guest calls, and what a trap was.

Budgets use the engine epoch: the host ticks it every :data:`EPOCH_TICK_S` while guests run,
each Store's deadline is one tick, and the Store's epoch callback asks its :class:`Budget` on
every tick whether the call is over (trap) or may continue. The budget can shrink while the
guest runs, which is how ``Capsule.aclose`` and a cancelled caller stop a guest that is only
computing. wasmtime-py reports every call failure as a plain ``WasmtimeError``: the kind of
trap is only in its text (:func:`classify_trap`).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import anyio

from astrid_host._wasm._errors import TrapKind

if TYPE_CHECKING:
    from wasmtime import Engine

__all__ = ["CANCEL_GRACE_S", "DEADLINE_MESSAGE", "EPOCH_TICK_S", "Budget", "EpochTicker",
           "classify_trap"]

#: How often the host's ticker advances the engine epoch; the unit of the call deadline.
EPOCH_TICK_S = 0.01

#: How long a guest may keep running after its host I/O was cancelled (by aclose or by a
#: cancelled caller) before it is interrupted: enough to return the `cancelled` error it got,
#: short enough that closing stays prompt.
CANCEL_GRACE_S = 0.25

#: The trap message of a call whose budget ran out.
DEADLINE_MESSAGE = "astrid: the call's wall-clock budget is exhausted"


class Budget:
    """The wall-clock deadline of the current call on one Store, read by the epoch callback."""

    __slots__ = ("deadline",)

    def __init__(self) -> None:
        self.deadline = math.inf

    def shorten(self, seconds: float) -> None:
        """Move the deadline to at most ``seconds`` from now."""
        self.deadline = min(self.deadline, time.monotonic() + seconds)

    def expired(self) -> str | None:
        """The trap message once the deadline has passed (the epoch callback's question)."""
        return DEADLINE_MESSAGE if time.monotonic() >= self.deadline else None


class EpochTicker:
    """Advances the engine epoch every :data:`EPOCH_TICK_S`, but only while guests run.

    An idle host does not wake up 100 times a second. ``running()`` brackets every stretch
    of guest execution; :meth:`run` is the task that ticks.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._active = 0
        self._wake = anyio.Event()

    def enter(self) -> None:
        self._active += 1
        self._wake.set()

    def exit(self) -> None:
        self._active -= 1

    async def run(self) -> None:
        while True:
            if self._active == 0:
                self._wake = anyio.Event()
                await self._wake.wait()
            await anyio.sleep(EPOCH_TICK_S)
            self._engine.increment_epoch()


# (substring of wasmtime's message, kind). First match wins; order matters because a fuel
# trap message also mentions "wasm trap".
_TRAP_TABLE: tuple[tuple[str, TrapKind], ...] = (
    ("all fuel consumed", "fuel"),
    (DEADLINE_MESSAGE, "deadline"),
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
