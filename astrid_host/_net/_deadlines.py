"""Time in the engine: an exchange's per-phase deadlines, and the bound on cleaning up.

The per-phase limits are data (:class:`Limits`, tightened by the request's options); this is
the only module that turns them into deadlines on the event loop's clock (AnyIO: trio or
asyncio alike). Closing what an exchange leaves behind (a response, a pool, an upload's task)
runs shielded from cancellation but never longer than :data:`CLEANUP_S` (:func:`cleanup`), so
a cancelled capsule still releases its connections and a stuck peer cannot hold the host.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

import anyio

from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, HttpError, RequestOptions, TimeoutPhase

__all__ = ["CLEANUP_S", "Deadlines", "cleanup", "elapsed_ms"]

#: Longest time closing one thing (a response, a pool, an upload's task) may take.
CLEANUP_S = 5.0


class Deadlines:
    """The per-phase time limits of one exchange, as deadlines on the event loop's clock.

    connect: handed to httpcore, which gives it to the pinned backend's connect and TLS
      handshake (capped by what is left of total).
    first-byte: from the end of the last request write until the response head is complete
      (an absolute deadline, so a head trickled byte by byte still ends on time).
    between-bytes: longest wait for one piece of the body.
    total: the whole exchange, redirects included; for streamed responses until the body ends.
    """

    def __init__(self, limits: Limits, opts: RequestOptions) -> None:
        now = anyio.current_time()
        self.started = now
        self.connect_s = Limits.tighten_ms(limits.connect_timeout_s, opts.connect_timeout_ms)
        self.first_byte_s = Limits.tighten_ms(limits.first_byte_timeout_s,
                                              opts.first_byte_timeout_ms)
        self.between_s = Limits.tighten_ms(limits.between_bytes_timeout_s,
                                           opts.between_bytes_timeout_ms)
        self.total_at = now + Limits.tighten_ms(limits.total_timeout_s, opts.total_timeout_ms)
        self.head_at = now + self.first_byte_s
        self.head_done = False

    def elapsed_ms(self) -> int:
        """Milliseconds since the exchange started."""
        return elapsed_ms(self.started)

    def httpcore_timeouts(self) -> dict[str, float | None]:
        """The ``timeout`` extension for httpcore: only ``connect`` (reads are ours)."""
        left = max(0.0, self.total_at - anyio.current_time())
        return {"connect": min(self.connect_s, left), "read": None, "write": None,
                "pool": None}

    def new_hop(self) -> None:
        """A new request is about to be sent: the head deadline starts over."""
        self.head_done = False
        self.head_at = anyio.current_time() + self.first_byte_s

    def wrote(self) -> None:
        """A request write finished: the first-byte clock counts from here."""
        self.head_at = anyio.current_time() + self.first_byte_s

    def read_phase(self) -> _Phase:
        """Bound one socket read: first-byte until the head is in, then between-bytes."""
        if self.head_done:
            return _Phase(TimeoutPhase.BETWEEN_BYTES, anyio.current_time() + self.between_s,
                          self.total_at)
        return _Phase(TimeoutPhase.FIRST_BYTE, self.head_at, self.total_at)

    def total(self) -> _Phase:
        """Bound a block by the exchange's total deadline."""
        return _Phase(TimeoutPhase.TOTAL, self.total_at, self.total_at)


class _Phase:
    """``with``: a block bounded by the deadline of one phase (the total's when that comes
    first), its expiry raised as ``timeout(phase)``. A class, not a generator context
    manager: it wraps every socket read."""

    __slots__ = ("_phase", "_scope")

    def __init__(self, phase: TimeoutPhase, at: float, total_at: float) -> None:
        if total_at <= at:
            phase, at = TimeoutPhase.TOTAL, total_at
        self._phase = phase
        self._scope = anyio.CancelScope(deadline=at)

    def __enter__(self) -> None:
        self._scope.__enter__()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        suppressed = self._scope.__exit__(exc_type, exc, tb)
        if self._scope.cancelled_caught:
            raise HttpError(ErrorCode.timeout(self._phase))
        return bool(suppressed)


def elapsed_ms(since: float) -> int:
    """Whole milliseconds from ``since`` (an ``anyio.current_time()`` reading) until now."""
    return max(0, int((anyio.current_time() - since) * 1000))


@contextmanager
def cleanup() -> Iterator[None]:
    """Run a block that closes something: shielded from cancellation, at most ``CLEANUP_S``."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_S):
        yield
