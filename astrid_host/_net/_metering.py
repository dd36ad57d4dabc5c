"""Every socket operation of an exchange: an I/O token, the exchange's deadlines, its count.

- :class:`IoGate` hands out tokens for single network operations (per capsule, and host-wide).
- :class:`MeteredBackend` wraps the pinned backend so that every stream it opens is a
  :class:`MeteredStream`, whose reads and writes hold a token, obey the deadlines of the
  exchange they serve and count the bytes it received (``wire-bytes``).
- :class:`Meter` is what a stream reports to: one per exchange.

Why a context variable: httpcore calls the stream, never the engine, and a pooled connection
serves one exchange after another, so a stream cannot be told its exchange when it is made,
and httpcore passes nothing of the request down to a read (only a timeout number). The task
doing an exchange's I/O therefore carries the exchange's meter, set by :meth:`Meter.applied`,
the only place that sets it, around each of the exchange's operations.
"""

from __future__ import annotations

import contextvars
import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import anyio.abc
import httpcore
from anyio.streams.tls import TLSStream

from astrid_host._net._backend import PinnedBackend, SocketStream
from astrid_host._net._deadlines import Deadlines

__all__ = ["IoGate", "Meter", "MeteredBackend", "MeteredStream"]


class Meter:
    """The deadlines one exchange's sockets obey, and the bytes they received for it."""

    def __init__(self, deadlines: Deadlines) -> None:
        self.deadlines = deadlines
        self.wire_bytes = 0

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Make this the meter of every socket operation in the block (in this task)."""
        token = _CURRENT.set(self)
        try:
            yield
        finally:
            _CURRENT.reset(token)


_CURRENT: contextvars.ContextVar[Meter | None] = contextvars.ContextVar(
    "astrid_meter", default=None)


# --- I/O tokens ------------------------------------------------------------------------------

class IoGate:
    """Tokens for one network operation (connect, TLS handshake, one read, one write).

    The capsule's own limiter is taken first, then the host-wide one, so no capsule can hold
    more than ``per_capsule`` of the host's tokens. Tokens are held per operation, never while
    waiting for the guest (an upload waiting for its next piece holds none), so capsules that
    stall cannot starve the others.
    """

    def __init__(self, host: anyio.CapacityLimiter | None, per_capsule: int) -> None:
        self._own = anyio.CapacityLimiter(per_capsule)
        self._host = host if host is not None else anyio.CapacityLimiter(math.inf)

    def hold(self) -> _Token:
        """One token from the capsule's share and one from the host's, for one operation."""
        return _Token(self._own, self._host)


class _Token:
    """``async with``: the two tokens of one operation (:meth:`IoGate.hold`).

    A free token is taken without a trip through the scheduler (``*_nowait``): this runs
    around every socket read and write, and the operation it guards is itself a checkpoint.
    Only a limiter that is full makes the operation wait (and be cancellable) for its token.
    """

    __slots__ = ("_borrower", "_host", "_own")

    def __init__(self, own: anyio.CapacityLimiter, host: anyio.CapacityLimiter) -> None:
        self._own = own
        self._host = host
        # A fresh borrower per operation: a limiter refuses a second token to the same task,
        # and a task that already holds the host's limiter (a caller's own use of it) must
        # not fail.
        self._borrower = object()

    async def __aenter__(self) -> None:
        await _take(self._own, self._borrower)
        try:
            await _take(self._host, self._borrower)
        except BaseException:
            self._own.release_on_behalf_of(self._borrower)
            raise

    async def __aexit__(self, *exc: object) -> None:
        try:
            self._host.release_on_behalf_of(self._borrower)
        finally:
            self._own.release_on_behalf_of(self._borrower)


async def _take(limiter: anyio.CapacityLimiter, borrower: object) -> None:
    try:
        limiter.acquire_on_behalf_of_nowait(borrower)
    except anyio.WouldBlock:
        await limiter.acquire_on_behalf_of(borrower)


# --- metered streams -------------------------------------------------------------------------

class MeteredStream(httpcore.AsyncNetworkStream):
    """A pinned stream whose reads and writes obey the current exchange's deadlines.

    It also lets the engine keep a connection out of the pool: once :meth:`spoil` is called,
    ``get_extra_info("is_readable")`` answers true, which is how httpcore learns that an idle
    connection has data nobody asked for; the pool then closes it instead of reusing it.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream, gate: IoGate) -> None:
        self._inner = inner
        self._gate = gate
        self.spoiled = False

    def spoil(self) -> None:
        """Never reuse this connection: it holds bytes that belong to no response."""
        self.spoiled = True

    def holds_unread(self) -> bool:
        """Whether bytes arrived that no :meth:`read` has returned yet.

        Plain TCP keeps nothing (what is not read stays in the socket, which httpcore checks
        before reusing a connection). TLS can: AnyIO's ``TLSStream`` may hold whole records
        received from the socket, encrypted, and OpenSSL decrypted bytes not read yet. When
        the stream is not the shape this knows, the answer is "yes": never reuse on a guess.
        """
        stream = getattr(self._inner, "_stream", None)
        if not isinstance(stream, TLSStream):
            return not isinstance(stream, SocketStream)
        incoming = getattr(stream, "_read_bio", None)
        ssl_object = self._inner.get_extra_info("ssl_object")
        if not isinstance(incoming, ssl.MemoryBIO) or not isinstance(ssl_object, ssl.SSLObject):
            return True
        return incoming.pending > 0 or ssl_object.pending() > 0

    def ready(self) -> bool:
        """Whether a read would find bytes already received: the socket is readable, or TLS
        holds records or decrypted bytes (False when the stream is not a shape this knows)."""
        stream = getattr(self._inner, "_stream", None)
        if isinstance(stream, TLSStream):
            incoming = getattr(stream, "_read_bio", None)
            ssl_object = self._inner.get_extra_info("ssl_object")
            if (isinstance(incoming, ssl.MemoryBIO) and incoming.pending > 0) or (
                    isinstance(ssl_object, ssl.SSLObject) and ssl_object.pending() > 0):
                return True
        elif not isinstance(stream, SocketStream):
            return False
        try:
            return bool(self._inner.get_extra_info("is_readable"))
        except (OSError, AttributeError, AssertionError):
            return False

    async def read(self, max_bytes: int,
                   timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's API
        meter = _CURRENT.get()
        if meter is None:
            async with self._gate.hold():
                return await self._inner.read(max_bytes)
        with meter.deadlines.read_phase():
            async with self._gate.hold():
                data = await self._inner.read(max_bytes)
        meter.wire_bytes += len(data)
        return data

    async def write(self, buffer: bytes,
                    timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's API
        async with self._gate.hold():
            await self._inner.write(buffer)
        meter = _CURRENT.get()
        if meter is not None:
            meter.deadlines.wrote()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's API
                        ) -> httpcore.AsyncNetworkStream:
        async with self._gate.hold():
            tls = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return MeteredStream(tls, self._gate)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self.spoiled:
            return True
        return self._inner.get_extra_info(info)


class MeteredBackend(httpcore.AsyncNetworkBackend):
    """Wraps :class:`PinnedBackend`; every stream it opens is a :class:`MeteredStream`."""

    def __init__(self, inner: PinnedBackend, gate: IoGate) -> None:
        self._inner = inner
        self._gate = gate

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 - httpcore's API
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        async with self._gate.hold():
            stream = await self._inner.connect_tcp(host, port, timeout, local_address,
                                                   socket_options)
        return MeteredStream(stream, self._gate)

    async def connect_unix_socket(self, path: str,
                                  timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
