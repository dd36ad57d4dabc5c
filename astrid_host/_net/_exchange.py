"""One exchange's plumbing: per-phase deadlines, metered sockets, and the capped body reader.

- :class:`Deadlines` turns the per-phase limits (data, from :class:`Limits` tightened by the
  request's options) into trio deadlines; it is the only place that does.
- :class:`MeteredBackend` wraps the pinned backend so that every socket read and write of an
  exchange goes through the exchange's deadlines and is counted (``wire-bytes``). The exchange
  travels in a context variable because httpcore calls the stream, not the engine.
- :class:`BodyReader` pulls the body piece by piece through the size caps, the optional
  decoder and the integrity check, stopping the moment a cap is passed. When the response's
  framing ends it makes sure nothing else arrived on the connection: a connection holding
  bytes that belong to no response is closed, never reused (see :meth:`MeteredStream.spoil`).
"""

from __future__ import annotations

import contextvars
import logging
import math
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import h11
import httpcore
import trio

from astrid_host._core._bodies import ByteCap, Decoder, IntegrityCheck, decoder_for
from astrid_host._core._headers import header_values
from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, Header, HttpError, RequestOptions, TimeoutPhase
from astrid_host._net._backend import PinnedBackend

__all__ = [
    "CURRENT",
    "BodyReader",
    "Deadlines",
    "Exchange",
    "IoGate",
    "MeteredBackend",
    "MeteredStream",
    "close_response",
    "response_headers",
]

_log = logging.getLogger("astrid_host.http")


# --- time ------------------------------------------------------------------------------------

class Deadlines:
    """The per-phase time limits of one exchange, turned into trio deadlines (only here).

    connect: handed to httpcore, which gives it to the pinned backend's connect and TLS
      handshake (capped by what is left of total).
    first-byte: from the end of the last request write until the response head is complete
      (an absolute deadline, so a head trickled byte by byte still ends on time).
    between-bytes: longest wait for one piece of the body.
    total: the whole exchange, redirects included; for streamed responses until the body ends.
    """

    def __init__(self, limits: Limits, opts: RequestOptions, now: float) -> None:
        self.connect_s = Limits.tighten_ms(limits.connect_timeout_s, opts.connect_timeout_ms)
        self.first_byte_s = Limits.tighten_ms(limits.first_byte_timeout_s,
                                              opts.first_byte_timeout_ms)
        self.between_s = Limits.tighten_ms(limits.between_bytes_timeout_s,
                                           opts.between_bytes_timeout_ms)
        self.total_at = now + Limits.tighten_ms(limits.total_timeout_s, opts.total_timeout_ms)
        self.head_at = now + self.first_byte_s
        self.head_done = False

    def httpcore_timeouts(self) -> dict[str, float | None]:
        """The ``timeout`` extension for httpcore: only ``connect`` (reads are ours)."""
        left = max(0.0, self.total_at - trio.current_time())
        return {"connect": min(self.connect_s, left), "read": None, "write": None,
                "pool": None}

    def new_hop(self) -> None:
        """A new request is about to be sent: the head deadline starts over."""
        self.head_done = False
        self.head_at = trio.current_time() + self.first_byte_s

    def wrote(self) -> None:
        """A request write finished: the first-byte clock counts from here."""
        self.head_at = trio.current_time() + self.first_byte_s

    @contextmanager
    def read_phase(self) -> Iterator[None]:
        """Bound one socket read: first-byte until the head is in, then between-bytes."""
        if self.head_done:
            with self._phase(TimeoutPhase.BETWEEN_BYTES,
                             trio.current_time() + self.between_s):
                yield
        else:
            with self._phase(TimeoutPhase.FIRST_BYTE, self.head_at):
                yield

    @contextmanager
    def total(self) -> Iterator[None]:
        """Bound a block by the exchange's total deadline."""
        with self._phase(TimeoutPhase.TOTAL, self.total_at):
            yield

    @contextmanager
    def _phase(self, phase: TimeoutPhase, at: float) -> Iterator[None]:
        if self.total_at <= at:
            phase, at = TimeoutPhase.TOTAL, self.total_at
        with trio.move_on_at(at) as scope:
            yield
        if scope.cancelled_caught:
            raise HttpError(ErrorCode.timeout(phase))


@dataclass
class Exchange:
    """State shared by every hop of one request (and by its body reads)."""

    deadlines: Deadlines
    started: float
    wire_bytes: int = 0


CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "astrid_exchange", default=None)


# --- I/O tokens ------------------------------------------------------------------------------

class IoGate:
    """Tokens for one network operation (connect, TLS handshake, one read, one write).

    The capsule's own limiter is taken first, then the host-wide one, so no capsule can hold
    more than ``per_capsule`` of the host's tokens. Tokens are held per operation, never while
    waiting for the guest (an upload waiting for its next piece holds none), so capsules that
    stall cannot starve the others.
    """

    def __init__(self, host: trio.CapacityLimiter | None, per_capsule: int) -> None:
        self._own = trio.CapacityLimiter(per_capsule)
        self._host = host if host is not None else trio.CapacityLimiter(math.inf)

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """One token from the capsule's share and one from the host's, for one operation."""
        # A fresh borrower per operation: trio refuses a second token to the same task, and a
        # task that already holds the host's limiter (a caller's own use of it) must not fail.
        borrower = object()
        await self._own.acquire_on_behalf_of(borrower)
        try:
            await self._host.acquire_on_behalf_of(borrower)
            try:
                yield
            finally:
                self._host.release_on_behalf_of(borrower)
        finally:
            self._own.release_on_behalf_of(borrower)


# --- metering backend ------------------------------------------------------------------------

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
        before reusing a connection). TLS can: trio's ``SSLStream`` may hold whole records
        received from the socket, encrypted, and OpenSSL decrypted bytes not read yet. When
        the stream is not the shape this knows, the answer is "yes": never reuse on a guess.
        """
        stream = getattr(self._inner, "_stream", None)
        if not isinstance(stream, trio.SSLStream):
            return not isinstance(stream, trio.SocketStream)
        incoming = getattr(stream, "_incoming", None)
        ssl_object = self._inner.get_extra_info("ssl_object")
        if not isinstance(incoming, ssl.MemoryBIO) or not isinstance(ssl_object, ssl.SSLObject):
            return True
        return incoming.pending > 0 or ssl_object.pending() > 0

    async def read(self, max_bytes: int,
                   timeout: float | None = None) -> bytes:  # noqa: ASYNC109 - httpcore's API
        ex = CURRENT.get()
        if ex is None:
            async with self._gate.hold():
                return await self._inner.read(max_bytes)
        with ex.deadlines.read_phase():
            async with self._gate.hold():
                data = await self._inner.read(max_bytes)
        ex.wire_bytes += len(data)
        return data

    async def write(self, buffer: bytes,
                    timeout: float | None = None) -> None:  # noqa: ASYNC109 - httpcore's API
        async with self._gate.hold():
            await self._inner.write(buffer)
        ex = CURRENT.get()
        if ex is not None:
            ex.deadlines.wrote()

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
        await trio.sleep(seconds)


# --- bodies ----------------------------------------------------------------------------------

class BodyReader:
    """Pulls a response body through the caps, the decoder and the integrity check.

    ``limit`` caps the body as received and as decoded; ``decoded_limit`` and ``max_ratio``
    (streams) cap what the host decodes further (see :class:`Decoder`). A response that
    cannot have a body (``has_body`` false: HEAD, 204, 304) is never decoded.
    """

    def __init__(self, resp: httpcore.Response, limit: int, opts: RequestOptions,
                 *, has_body: bool, decoded_limit: int | None = None,
                 max_ratio: float | None = None) -> None:
        self._resp = resp
        self._iter: AsyncIterator[bytes] | None = None
        self.limit = limit
        self.raw = ByteCap(limit)
        self.decoded = 0
        self.decoder: Decoder | None = None
        if opts.decompress and has_body:
            self.decoder = decoder_for(
                header_values(resp.headers, b"content-encoding"),
                limit if decoded_limit is None else min(limit, decoded_limit),
                max_ratio=max_ratio)
        self.integrity = IntegrityCheck(opts.integrity) if opts.integrity else None
        self.done = False
        if self.decoder is None and has_body:
            # A declared length over the cap fails before a single body byte is read.
            # (Not for HEAD, 204 and 304: their Content-Length describes a body never sent.)
            for value in header_values(resp.headers, b"content-length"):
                if value.strip().isdigit() and int(value) > limit:
                    raise HttpError(ErrorCode.body_too_large(limit))

    async def next(self) -> bytes | None:
        """The next non-empty piece of the (decoded) body, or ``None`` at its end."""
        if self.done:
            return None
        if self._iter is None:
            stream = self._resp.stream
            assert isinstance(stream, AsyncIterable)
            self._iter = stream.__aiter__()
        while True:
            if self.decoder is not None and self.decoder.pending:
                # A piece that decodes to more than one step's worth: hand it out in steps.
                out = self.decoder.feed(b"")
                if out:
                    self._account(out)
                    return out
                continue
            try:
                raw = await self._iter.__anext__()
            except StopAsyncIteration:
                raw = None
            if raw is None:
                self._end_of_message()
                tail = self.decoder.finish() if self.decoder else b""
                self._account(tail)
                if self.integrity:
                    self.integrity.verify()
                self.done = True
                return tail or None
            self.raw.add(len(raw))
            out = self.decoder.feed(raw) if self.decoder else raw
            if out:
                self._account(out)
                return out

    def _end_of_message(self) -> None:
        """The response's framing ended: keep the connection only if nothing else came.

        h11 keeps bytes received past the end of a response (after a ``Content-Length`` or
        chunked body, or any body of a response to HEAD, 204 or 304) as the start of the next
        one, and httpcore's pool would hand the connection to the next request, which would
        then read the server's extra bytes as its answer. So a connection that received more
        than its response framed is spoiled: the pool closes it, the next request gets a
        fresh one. Bytes arriving later, while the connection is idle, make its socket
        readable, which httpcore already checks before reusing it.
        """
        stream = self._resp.extensions.get("network_stream")
        if not isinstance(stream, MeteredStream):
            return
        extra = _bytes_past_response(self._resp)
        if extra is None:
            why = "cannot tell whether bytes arrived after the response"
        elif extra:
            why = f"{extra} bytes arrived after the response"
        elif stream.holds_unread():
            why = "bytes arrived after the response (held by TLS)"
        else:
            return
        _log.info("connection not reused: %s", why)
        stream.spoil()

    def _account(self, data: bytes) -> None:
        if self.decoder is None and not data:
            return
        self.decoded += len(data)
        if self.integrity:
            self.integrity.update(data)

    async def aclose(self) -> None:
        """Release the connection (closing it when the body was not read to its end)."""
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            it, self._iter = self._iter, None
            try:
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()
                await self._resp.aclose()
            except Exception:
                _log.debug("error while closing a response", exc_info=True)


def _bytes_past_response(resp: httpcore.Response) -> int | None:
    """How many bytes h11 holds past the end of ``resp`` (``None``: this cannot tell).

    The h11 state lives in httpcore's connection, reachable only through private names
    (the pool's stream, its HTTP/1.1 stream, the connection); if httpcore changes that shape
    the answer is ``None`` and the connection is not reused, which a test notices.
    """
    inner = getattr(resp.stream, "_stream", None)
    state = getattr(getattr(inner, "_connection", None), "_h11_state", None)
    if not isinstance(state, h11.Connection):
        return None
    return len(state.trailing_data[0])


async def close_response(resp: httpcore.Response) -> None:
    """Close a response we will not read (its connection closes unless the body was done)."""
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        try:
            await resp.aclose()
        except Exception:
            _log.debug("error while closing a response", exc_info=True)


def response_headers(resp: httpcore.Response, decoded: bool) -> tuple[Header, ...]:
    hidden = {b"content-encoding", b"content-length"} if decoded else set()
    return tuple((n.decode("latin-1"), bytes(v)) for n, v in resp.headers
                 if n.lower() not in hidden)
