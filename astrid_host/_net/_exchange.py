"""One request from its first hop to the end of its body: :class:`Exchange`.

The exchange sends the hops the pure planner decides (:mod:`astrid_host._core._redirects`:
the first hop comes from ``plan_request``, every next one from ``plan_redirect``, and this module
only acts on the answer), keeps the final response head, then reads the body, buffered
(:meth:`Exchange.buffer`) or piece by piece for a stream (:meth:`Exchange.read`). It owns the
request's deadlines and byte count (:class:`Meter`), and writes what happens to the capsule's
:class:`Audit`: each hop's end, a refused hop, the body's completion, a failure.

Per hop, :meth:`Exchange._send` is the one point where what goes on the wire is final (framed
by :func:`frame`) and not yet sent.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import anyio
import httpcore

from astrid_host._core._decision import EgressDecision, Resolution
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    ErrorCode,
    Header,
    HttpError,
    RequestOptions,
    Response,
    ResponseMeta,
)
from astrid_host._core._redirects import (
    Check,
    Follow,
    Hop,
    RedirectRules,
    Refusal,
    Stop,
    plan_redirect,
)
from astrid_host._net._audit import Audit
from astrid_host._net._backend import HopTrace
from astrid_host._net._body import (
    BodyReader,
    can_have_body,
    close_response,
    drain,
    response_headers,
)
from astrid_host._net._deadlines import Deadlines
from astrid_host._net._errors import translating
from astrid_host._net._metering import Meter
from astrid_host._net._transport import Body, Transport, frame

__all__ = ["Exchange", "Phase"]


class Phase(enum.Enum):
    """Where an exchange is."""

    HOPS = "hops"      # hops on the way, no final response head yet
    HEAD = "head"      # the final head is in; its body not opened yet
    BODY = "body"      # the body is open for reading
    ENDED = "ended"    # the body was read to its end (its completion recorded)
    CLOSED = "closed"  # the response is released


@dataclass(frozen=True)
class _Head:
    """The final response head, the hop it answered, and how that hop ended."""

    hop: Hop
    resp: httpcore.Response
    ended: EgressDecision


class Exchange:
    """One request of a capsule: its hops, deadlines, byte count and body.

    first: the request's first hop (from ``plan_request``). opts: its options. limits: the
    capsule's. transport, audit, check: the capsule's connections, audit and policy.
    """

    def __init__(self, first: Hop, opts: RequestOptions, *, limits: Limits,
                 transport: Transport, audit: Audit, check: Check) -> None:
        self._first = first
        self._opts = opts
        self._limits = limits
        self._transport = transport
        self._audit = audit
        self._check = check
        self._rules = RedirectRules.for_request(limits, opts)
        self._deadlines = Deadlines(limits, opts)
        self._meter = Meter(self._deadlines)
        self._phase = Phase.HOPS
        self._sending: tuple[Hop, HopTrace] | None = None
        self._head: _Head | None = None
        self._reader: BodyReader | None = None
        self._meta: ResponseMeta | None = None

    # -- the hops --

    async def fetch_head(self, upload: AsyncIterable[bytes] | None = None) -> None:
        """Send hop after hop until a response that is not followed; keep its head.

        upload: the pieces of the first hop's streamed body (an upload's request).
        """
        with self._running():
            hop = self._first
            body: Body = upload if hop.streamed else hop.request.body
            while True:
                resp, resolution = await self._send(hop, body)
                ended = self._audit.hop_ended(hop, resolution, status=resp.status)
                step = plan_redirect(hop, status=resp.status, headers=resp.headers,
                                     resolution=resolution, rules=self._rules,
                                     check=self._check)
                match step:
                    case Stop():
                        self._head = _Head(hop, resp, ended)
                        self._phase = Phase.HEAD
                        return
                    case Refusal():
                        # Recorded when decided, before the redirect's body is drained.
                        refused = self._audit.refused(step)
                        await drain(resp)
                        raise refused
                    case Follow():
                        await drain(resp)
                        hop, body = step, step.request.body

    async def _send(self, hop: Hop, body: Body) -> tuple[httpcore.Response, Resolution | None]:
        """One hop on the wire, up to its response head, and what its connection resolved."""
        self._deadlines.new_hop()
        request = frame(hop, body, decompress=self._opts.decompress, deadlines=self._deadlines)
        # Here the hop is final and nothing of it is sent yet.
        trace = HopTrace()
        self._sending = (hop, trace)
        resp = await self._transport.send(hop, request, trace)
        self._sending = None
        self._deadlines.head_done = True
        return resp, trace.resolution

    @contextmanager
    def _running(self) -> Iterator[None]:
        """One operation of the exchange: its sockets metered, bounded by the total deadline,
        every failure translated; a failure ends the hop in flight (recorded with the error
        the capsule gets) and is warned about."""
        try:
            with self._meter.applied(), self._deadlines.total(), translating():
                yield
        except HttpError as e:
            self._failed(e.code)
            raise
        except anyio.get_cancelled_exc_class():
            self._failed(ErrorCode.cancelled())
            raise

    def _failed(self, code: ErrorCode) -> None:
        sending, self._sending = self._sending, None
        if sending is not None:
            hop, trace = sending
            self._audit.hop_ended(hop, trace.resolution, error=code)
        self._audit.failed(self._first, code)

    # -- the body --

    async def buffer(self) -> Response:
        """Read the whole body and return the response (the completion is recorded)."""
        with self._running():
            head = self._final_head()
            reader = await self._open(streamed=False)
            try:
                parts: list[bytes] = []
                while (piece := await reader.next()) is not None:
                    parts.append(piece)
            finally:
                await self.close()
            body = b"".join(parts)
            elapsed = self._deadlines.elapsed_ms()
            meta = ResponseMeta(head.hop.url.url(), head.hop.redirects, elapsed,
                                self._meter.wire_bytes)
            self._audit.completed(head.ended, body_bytes=len(body), elapsed_ms=elapsed)
            return Response(head.resp.status,
                            response_headers(head.resp, reader.decoder is not None), body, meta)

    async def open_body(self) -> None:
        """Open the body to be read piece by piece (:meth:`read`)."""
        with self._running():
            head = self._final_head()
            await self._open(streamed=True)
        self._meta = ResponseMeta(head.hop.url.url(), head.hop.redirects,
                                  self._deadlines.elapsed_ms(), self._meter.wire_bytes)

    async def read(self) -> bytes | None:
        """The next piece of the opened body; ``None`` at its end (the completion is recorded
        then, once)."""
        if self._phase is Phase.ENDED:
            return None
        if self._phase is not Phase.BODY or self._reader is None:
            raise HttpError(ErrorCode.closed())
        with self._running():
            piece = await self._reader.next()
        if piece is None:
            self._phase = Phase.ENDED
            self._audit.completed(self._final_head().ended, body_bytes=self._reader.decoded,
                                  elapsed_ms=self._deadlines.elapsed_ms())
        return piece

    async def close(self) -> None:
        """Release the response: its connection goes back to the pool when the body was read
        to its end, and is closed otherwise. Closing again does nothing."""
        if self._phase is Phase.CLOSED:
            return
        self._phase = Phase.CLOSED
        if self._reader is not None:
            await self._reader.aclose()
        elif self._head is not None:
            await close_response(self._head.resp)

    @contextmanager
    def deadline(self) -> Iterator[None]:
        """Bound a wait outside the exchange's own I/O (an upload handing a piece to its
        request) by the exchange's total deadline."""
        with self._deadlines.total():
            yield

    @property
    def status(self) -> int:
        """The final response's status."""
        return self._final_head().resp.status

    @property
    def headers(self) -> tuple[Header, ...]:
        """The final response's headers, as the capsule sees them once the body is open."""
        decoded = self._reader is not None and self._reader.decoder is not None
        return response_headers(self._final_head().resp, decoded)

    def meta(self) -> ResponseMeta:
        """A streamed response's meta: final URL, redirects, elapsed ms until the body was
        opened, wire bytes received so far."""
        assert self._meta is not None, "meta() before open_body()"
        return dataclasses.replace(self._meta, wire_bytes=self._meter.wire_bytes)

    def _final_head(self) -> _Head:
        assert self._head is not None, "no response head yet"
        return self._head

    async def _open(self, *, streamed: bool) -> BodyReader:
        head = self._final_head()
        limits = self._limits
        base = limits.max_stream_bytes if streamed else limits.max_response_bytes
        limit = Limits.tighten_bytes(base, self._opts.max_response_bytes)
        try:
            self._reader = BodyReader(
                head.resp, limit, self._opts,
                has_body=can_have_body(head.hop.request.method, head.resp.status),
                decoded_limit=limits.max_decoded_stream_bytes if streamed else None,
                max_ratio=limits.max_decompression_ratio if streamed else None)
        except HttpError:
            await self.close()
            raise
        self._phase = Phase.BODY
        return self._reader
