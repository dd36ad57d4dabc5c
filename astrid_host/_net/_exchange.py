"""One request from its first hop to the end of its body: :class:`Exchange`.

The exchange sends the hops the pure planner decides (:mod:`astrid_host._core._redirects`:
the first hop comes from ``plan_request``, every next one from ``plan_redirect``, and this module
only acts on the answer), keeps the final response head, then reads the body, buffered
(:meth:`Exchange.buffer`) or piece by piece for a stream (:meth:`Exchange.read`). It owns the
request's deadlines and byte count (:class:`Meter`), and writes what happens to the capsule's
:class:`Audit` and the request's :class:`RequestAudit`: each hop's decision before it sends
anything, its end, a refused hop, the body's completion, a failure.

Per hop, :meth:`Exchange._send` is the one point where what goes on the wire is final (framed
by :func:`frame`) and not yet sent. Secrets are filled in there, and only there: the first
hop's placeholders by ``Secrets.substitute`` (a refusal stops the request before any
connection), every redirect hop's by ``Secrets.for_redirect`` from the capsule's placeholder
form. The hop's decision record is written once the backend has a connection for it
(:meth:`HopTrace.reached <astrid_host._net._backend.HopTrace.reached>`), before its first byte.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
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
from astrid_host._core._secrets import SecretDenial, Secrets, Substitution
from astrid_host._net._audit import Audit, RequestAudit
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


class _Counted:
    """A streamed upload's pieces, counted once written (the hop's bytes out): the HTTP library
    asks for the next piece only after writing the last one."""

    def __init__(self, pieces: AsyncIterable[bytes]) -> None:
        self._pieces = pieces
        self.count = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._pieces:
            yield piece
            self.count += len(piece)


@dataclass(frozen=True)
class _Head:
    """The final response head, the hop it answered, and how that hop ended."""

    hop: Hop
    resp: httpcore.Response
    ended: EgressDecision


@dataclass
class _Sending:
    """The hop on the wire, until its response head arrived: what it sends, and its trace."""

    hop: Hop
    sub: Substitution
    body: bytes | None
    trace: HopTrace


class Exchange:
    """One request of a capsule: its hops, deadlines, byte count and body.

    first: the request's first hop (from ``plan_request``). opts: its options. limits: the
    capsule's. transport, audit, check: the capsule's connections, audit and policy.
    records: the request's audit records. secrets: the capsule's secrets.
    """

    def __init__(self, first: Hop, opts: RequestOptions, *, limits: Limits,
                 transport: Transport, audit: Audit, check: Check, records: RequestAudit,
                 secrets: Secrets) -> None:
        self._first = first
        self._opts = opts
        self._limits = limits
        self._transport = transport
        self._audit = audit
        self._check = check
        self._records = records
        self._secrets = secrets
        self._rules = RedirectRules.for_request(limits, opts)
        self._deadlines = Deadlines(limits, opts)
        self._meter = Meter(self._deadlines)
        self._phase = Phase.HOPS
        self._sending: _Sending | None = None
        self._head: _Head | None = None
        self._reader: BodyReader | None = None
        self._meta: ResponseMeta | None = None
        # The current hop's status, wire bytes when it started, and buffered body bytes sent;
        # the streamed upload's pieces (the first hop's body), counted.
        self._status: int | None = None
        self._wire_start = 0
        self._sent = 0
        self._upload: _Counted | None = None

    # -- the hops --

    async def fetch_head(self, upload: AsyncIterable[bytes] | None = None) -> None:
        """Send hop after hop until a response that is not followed; keep its head.

        upload: the pieces of the first hop's streamed body (an upload's request).
        """
        async with self._running():
            hop = self._first
            if hop.streamed and upload is not None:
                self._upload = _Counted(upload)
            body: Body = self._upload if hop.streamed else hop.request.body
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
                        await self._hop_done(hop.redirects)
                        refused = await self._records.refused(
                            step, hop.redirects + 1, elapsed_ms=self._deadlines.elapsed_ms())
                        await drain(resp)
                        raise refused
                    case Follow():
                        await drain(resp)
                        await self._hop_done(hop.redirects)
                        hop, body = step, step.request.body

    async def _send(self, hop: Hop, body: Body) -> tuple[httpcore.Response, Resolution | None]:
        """One hop on the wire, up to its response head, and what its connection resolved."""
        self._deadlines.new_hop()
        sub = await self._substitute(hop, body)
        request = frame(hop, body, headers=sub.wire, decompress=self._opts.decompress,
                        deadlines=self._deadlines)
        # Here the hop is final and nothing of it is sent yet: its decision goes on the record
        # once the backend has a connection for it (or when it fails before that).
        recorded = body if isinstance(body, bytes) else None
        self._status, self._wire_start, self._sent = None, self._meter.wire_bytes, 0
        trace = HopTrace(functools.partial(self._reached, hop, sub, recorded))
        self._sending = _Sending(hop, sub, recorded, trace)
        resp = await self._transport.send(hop, request, trace)
        self._sending = None
        self._status = resp.status
        self._deadlines.head_done = True
        return resp, trace.resolution

    async def _substitute(self, hop: Hop, body: Body) -> Substitution:
        """The hop's headers with its secrets filled in; a refused placeholder in the first
        hop is recorded and raised before anything is resolved."""
        headers = hop.request.headers
        if hop.redirects:
            return self._secrets.for_redirect(headers, hop.url)
        sub = self._secrets.substitute(headers, hop.url)
        if isinstance(sub, SecretDenial):
            refusal = Refusal(hop.url.redacted(), hop.request.method.decode("latin-1"),
                              sub.reason, sub.error().code, hop.policy, hop.url)
            raise await self._records.refused(
                refusal, 0, headers=headers, body=body if isinstance(body, bytes) else None,
                streamed=hop.streamed, secrets=() if sub.name is None else (sub.name,))
        return sub

    async def _reached(self, hop: Hop, sub: Substitution, body: bytes | None,
                       resolution: Resolution) -> None:
        if body is not None:
            self._sent = len(body)
        await self._records.reached(hop, sub, body, resolution)

    async def _hop_done(self, hop: int, error: ErrorCode | None = None) -> None:
        """Write the completion of hop number ``hop`` (if it is due) with its status and byte
        counts."""
        sent = self._upload.count if hop == 0 and self._upload is not None else self._sent
        await self._records.done(hop, status=self._status,
                                 bytes_in=self._meter.wire_bytes - self._wire_start,
                                 bytes_out=sent, elapsed_ms=self._deadlines.elapsed_ms(),
                                 error=error)

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """One operation of the exchange: its sockets metered, bounded by the total deadline,
        every failure translated (and scrubbed of secret values); a failure ends the hop in
        flight (recorded with the error the capsule gets) and is warned about."""
        try:
            with self._meter.applied(), self._deadlines.total(), translating():
                yield
        except HttpError as e:
            code = self._secrets.scrub_error(e.code)
            await self._failed(code)
            if code is e.code:
                raise
            raise HttpError(code) from None
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._failed(ErrorCode.cancelled())
            raise

    async def _failed(self, code: ErrorCode) -> None:
        sending, self._sending = self._sending, None
        try:
            if sending is not None:
                hop, resolution = sending.hop, sending.trace.resolution
                self._audit.hop_ended(hop, resolution, error=code)
                if self._records.due != hop.redirects:  # it failed before reaching a connection
                    await self._records.reached(hop, sending.sub, sending.body, resolution)
            if self._records.due is not None:
                await self._hop_done(self._records.due, code)
        except HttpError:
            pass  # the audit trail failed too (logged where it failed); the request's error wins
        self._audit.failed(self._first, code)

    # -- the body --

    async def buffer(self) -> Response:
        """Read the whole body and return the response (the completion is recorded)."""
        async with self._running():
            head = self._final_head()
            reader = await self._open(streamed=False)
            try:
                parts: list[bytes] = []
                while (piece := await reader.next()) is not None:
                    parts.append(piece)
            finally:
                await self._release()
            body = b"".join(parts)
            elapsed = self._deadlines.elapsed_ms()
            meta = ResponseMeta(self._secrets.scrub(head.hop.url.url()), head.hop.redirects,
                                elapsed, self._meter.wire_bytes)
            self._audit.completed(head.ended, body_bytes=len(body), elapsed_ms=elapsed)
            await self._hop_done(head.hop.redirects)
            return Response(head.resp.status,
                            response_headers(head.resp, reader.decoder is not None), body, meta)

    async def open_body(self) -> None:
        """Open the body to be read piece by piece (:meth:`read`)."""
        async with self._running():
            head = self._final_head()
            await self._open(streamed=True)
        self._meta = ResponseMeta(self._secrets.scrub(head.hop.url.url()), head.hop.redirects,
                                  self._deadlines.elapsed_ms(), self._meter.wire_bytes)

    async def read(self) -> bytes | None:
        """The next piece of the opened body; ``None`` at its end (the completion is recorded
        then, once)."""
        if self._phase is Phase.ENDED:
            return None
        if self._phase is not Phase.BODY or self._reader is None:
            raise HttpError(ErrorCode.closed())
        async with self._running():
            piece = await self._reader.next()
            if piece is None:
                self._phase = Phase.ENDED
                head = self._final_head()
                self._audit.completed(head.ended, body_bytes=self._reader.decoded,
                                      elapsed_ms=self._deadlines.elapsed_ms())
                await self._hop_done(head.hop.redirects)
        return piece

    def ready(self) -> bool:
        """Whether :meth:`read` has a piece (or the end) without waiting for the network."""
        if self._phase is not Phase.BODY or self._reader is None:
            return False
        return self._reader.ready()

    async def close(self) -> None:
        """Release the response: its connection goes back to the pool when the body was read
        to its end, and is closed otherwise. Closing again does nothing. A response let go
        before its end is recorded as ``closed``."""
        if self._phase is Phase.CLOSED:
            return
        if self._records.due is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await self._hop_done(self._records.due, ErrorCode.closed())
                except HttpError:
                    pass  # the audit trail failed (logged); closing goes on
        await self._release()

    async def _release(self) -> None:
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

    @property
    def trailers(self) -> tuple[Header, ...] | None:
        """The final response's trailers once its body has ended (``None`` before)."""
        return None if self._reader is None else self._reader.trailers

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
                head.resp, limit, self._opts, limits=limits,
                has_body=can_have_body(head.hop.request.method, head.resp.status),
                decoded_limit=limits.max_decoded_stream_bytes if streamed else None,
                max_ratio=limits.max_decompression_ratio if streamed else None)
        except HttpError:
            await self._release()
            raise
        self._phase = Phase.BODY
        return self._reader
