"""The HTTP engine behind ``astrid:http/client``: :class:`CapsuleHttp`, one per capsule.

Plain trio code, usable without wasm. Every request runs hop by hop through the egress guard:
each hop (the first request and every redirect) is parsed by ``parse_url`` and judged by
``EgressPolicy.check``; the connection is made by
:class:`~astrid_host._net._backend.PinnedBackend`, which resolves once, classifies every answer
and dials a vetted address. What follows a response is decided by the pure
:func:`~astrid_host._core._redirects.plan_redirect`. The HTTP library (httpcore) never follows
redirects.

Decision lines (``astrid_host.egress``) are written by ``CapsuleHttp._record`` only, from
three points: a request or hop **refused** before anything was resolved (``_refuse``), a hop that
**ended** (its response head arrived, or it failed on the way: ``_hop_ended``, with what the
backend resolved and chose, read from the hop's :class:`~astrid_host._net._backend.HopTrace`),
and the **completion** of a response's body.

The plumbing of one exchange (per-phase deadlines, metered sockets, the capped body reader)
lives in :mod:`astrid_host._net._exchange`. Errors are translated at the edge by
:func:`~astrid_host._net._errors.translating`; only ``HttpError`` leaves this module.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import certifi
import httpcore
import trio

from astrid_host._core._bodies import ByteCap
from astrid_host._core._classify import classify_ip
from astrid_host._core._decision import EgressDecision, log_decision, redact_url_text
from astrid_host._core._headers import WireRequest, header_values, validate_request
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    AddressVerdict,
    ErrorCode,
    Header,
    HttpError,
    RedirectPolicy,
    Request,
    RequestOptions,
    RequestPart,
    Response,
    ResponseMeta,
)
from astrid_host._core._policy import Classifier, EgressPolicy, PolicyDecision
from astrid_host._core._redirects import (
    Follow,
    NextRequest,
    RedirectRules,
    Refusal,
    Stop,
    plan_redirect,
)
from astrid_host._core._url import InvalidUrl, ParsedUrl, parse_url
from astrid_host._net._backend import (
    TRACE,
    HopTrace,
    PinnedBackend,
    ProhibitedDestination,
    Resolver,
)
from astrid_host._net._errors import translating
from astrid_host._net._exchange import (
    CURRENT,
    BodyReader,
    Deadlines,
    Exchange,
    IoGate,
    MeteredBackend,
    close_response,
    response_headers,
)

__all__ = ["CapsuleHttp", "IncomingStream", "OutgoingUpload", "default_ssl_context"]

_log = logging.getLogger("astrid_host.http")

#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_EXPIRY_S = 15.0
#: A redirect response's own body is read (and dropped) up to this size so its connection can
#: be reused; a larger one closes the connection instead.
REDIRECT_DRAIN_BYTES = 64 * 1024
#: Pieces fed to the upload are at most this large (larger writes are split).
UPLOAD_PIECE_BYTES = 256 * 1024
#: Methods sent with ``Content-Length: 0`` when the capsule gives no body.
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Verifying client TLS context with certifi's CA bundle (TLS 1.2 or newer).

    Built once and shared by every capsule: loading the bundle costs ~20 ms, and a context is
    configuration only (Python reuses a TLS session only when one is passed explicitly, so no
    session state crosses capsules).
    """
    ctx = ssl.create_default_context(cafile=certifi.where())
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


# --- hops ------------------------------------------------------------------------------------

@dataclass
class _Hop:
    """One request on the wire: where it goes, the policy's (allowing) decision, what is sent,
    and the trace the backend fills in with what it resolved and connected to."""

    url: ParsedUrl
    decision: PolicyDecision
    method: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: Any  # bytes | None | the streamed upload's pieces
    trace: HopTrace = field(default_factory=HopTrace)

    @property
    def streamed(self) -> bool:
        """The body is a streamed upload (it cannot be sent twice)."""
        return self.body is not None and not isinstance(self.body, bytes)


@dataclass
class _Head:
    """A response head and how it was reached."""

    resp: httpcore.Response
    url: ParsedUrl
    redirects: int
    decision: EgressDecision
    method: bytes


@dataclass
class _Call:
    """What a request asks for, after validation, and the hop in flight (for the audit)."""

    req: Request
    wire: WireRequest
    opts: RequestOptions
    first: _Hop
    inflight: _Hop | None = None


class CapsuleHttp:
    """Guarded outgoing HTTP for one capsule (see ``docs/dev/contracts.md``).

    name: the capsule's name (in every log line).
    policy: its egress policy; limits: its :class:`Limits`.
    resolver/classifier: handed to :class:`PinnedBackend` (tests inject fakes; production
      uses the system resolver and the real classifier).
    ssl_context: TLS client context (default: :func:`default_ssl_context`, certifi CAs).
    io_limiter: a host-wide limiter bounding concurrent network operations of all capsules.

    The connection pool (HTTP/1.1, keep-alive) belongs to this capsule alone and is bounded
    by ``limits.max_connections``. Every method raises only :class:`HttpError`.
    """

    def __init__(
        self,
        name: str,
        policy: EgressPolicy,
        limits: Limits | None = None,
        *,
        resolver: Resolver | None = None,
        classifier: Classifier = classify_ip,
        ssl_context: ssl.SSLContext | None = None,
        io_limiter: trio.CapacityLimiter | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.limits = limits or Limits()
        self._classifier = classifier
        # At most one foreground operation plus one per open stream/upload at a time.
        self._gate = IoGate(io_limiter, self.limits.max_open_streams + 1)
        tls = ssl_context or default_ssl_context()
        self._pool = self._new_pool(PinnedBackend(
            policy, resolver, classifier=classifier, dns_timeout=self.limits.connect_timeout_s),
            tls)
        # Redirect hops use a pool whose backend knows no local allowance: a remote server must
        # never be able to send the capsule into the operator's local services (by IP literal,
        # by a name resolving there, or by reusing a keep-alive connection that was opened
        # through the allowance for an earlier direct request).
        self._redirect_pool = self._new_pool(PinnedBackend(
            dataclasses.replace(policy, local=()), resolver, classifier=classifier,
            dns_timeout=self.limits.connect_timeout_s), tls)
        self._scopes: set[trio.CancelScope] = set()
        self._open: set[IncomingStream | OutgoingUpload] = set()
        # start() holds a slot while its head is on the way, before the stream exists.
        self._reserved = 0
        self._closed = False

    def _new_pool(self, backend: PinnedBackend,
                  tls: ssl.SSLContext) -> httpcore.AsyncConnectionPool:
        return httpcore.AsyncConnectionPool(
            ssl_context=tls,
            max_connections=self.limits.max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
            http1=True, http2=False, retries=0,
            network_backend=MeteredBackend(backend, self._gate),
        )

    # -- public API --

    async def send(self, req: Request) -> Response:
        """Send ``req`` and return the whole response (redirects followed per its options)."""
        with self._guard():
            call = self._prepare(req)
            ex = self._new_exchange(call.opts)
            CURRENT.set(ex)
            with self._audited(call), ex.deadlines.total(), translating():
                head = await self._fetch_head(ex, call)
                return await self._buffer(ex, call, head)

    async def start(self, req: Request) -> IncomingStream:
        """Send ``req``; return as soon as the response head arrived, body still to read."""
        with self._guard():
            call = self._prepare(req)
            self._reserve_stream()
            ex = self._new_exchange(call.opts)
            CURRENT.set(ex)
            try:
                with self._audited(call), ex.deadlines.total(), translating():
                    head = await self._fetch_head(ex, call)
                    return await self._stream(ex, call, head)
            finally:
                self._reserved -= 1

    async def upload(self, req: Request) -> OutgoingUpload:
        """Start ``req`` (its ``body`` must be ``None``); write the body with the handle."""
        with self._guard():
            if req.body is not None:
                raise HttpError(ErrorCode.invalid_request(
                    RequestPart.BODY, "upload() takes its body through write(); body must be none"))
            call = self._prepare(req)
            self._reserve_stream()
            self._reserved -= 1
            up = OutgoingUpload(self, call, self._new_exchange(call.opts))
            self._open.add(up)
            trio.lowlevel.spawn_system_task(up._run, name=f"astrid upload {self.name}")
            return up

    async def aclose(self) -> None:
        """Cancel in-flight work (it ends with ``cancelled``), close streams and the pool."""
        self._closed = True
        for scope in list(self._scopes):
            scope.cancel()
        with trio.CancelScope(shield=True):
            for handle in list(self._open):
                await handle._abort()
            for pool in (self._pool, self._redirect_pool):
                with trio.move_on_after(5):
                    try:
                        await pool.aclose()
                    except Exception:
                        _log.debug("error while closing a pool", exc_info=True)

    @property
    def open_streams(self) -> int:
        """Streamed responses and uploads currently open."""
        return len(self._open) + self._reserved

    # -- internals --

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Register the call so aclose can cancel it; translate every failure at the edge."""
        if self._closed:
            raise HttpError(ErrorCode.closed())
        scope = trio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope, translating():
                yield
        finally:
            self._scopes.discard(scope)
        if scope.cancelled_caught:
            raise HttpError(ErrorCode.cancelled())

    def _reserve_stream(self) -> None:
        if self.open_streams >= self.limits.max_open_streams:
            raise HttpError(ErrorCode.stream_limit(self.limits.max_open_streams))
        self._reserved += 1

    def _new_exchange(self, opts: RequestOptions) -> Exchange:
        now = trio.current_time()
        return Exchange(Deadlines(self.limits, opts, now), now)

    def _prepare(self, req: Request) -> _Call:
        """Validate ``req`` and judge its URL; a refusal is recorded (a request-shape error,
        found before the URL is judged, is the capsule's ``invalid-request`` and no decision)."""
        wire = validate_request(req, self.limits)
        opts = req.options or RequestOptions()
        try:
            url = parse_url(req.url, max_length=self.limits.max_url_bytes)
        except InvalidUrl as e:
            raise self._refuse(req.method, redact_url_text(req.url), "invalid-url",
                               ErrorCode.invalid_request(RequestPart.URL, str(e))) from None
        if url.username or url.password:
            raise self._refuse(req.method, url.redacted(), "credentials-in-url",
                               ErrorCode.invalid_request(
                                   RequestPart.URL,
                                   "credentials in the URL are not sent; use an Authorization"
                                   " header"))
        decision = self._check(url, req.method)
        if not decision.allowed:
            code = ErrorCode.denied(f"{decision.reason_key}: {decision.detail}")
            if decision.address is not None and not decision.address.allowed:
                a = decision.address
                code = ErrorCode.destination_prohibited(url.host, (
                    AddressVerdict(str(a.address), a.verdict.reason.value),))
            raise self._refuse(req.method, url.redacted(), decision.reason_key, code, decision)
        if opts.https_only and url.scheme != "https":
            raise self._refuse(req.method, url.redacted(), "https-only", ErrorCode.denied(
                "https-only: the request refuses http: URLs"), decision)
        return _Call(req, wire, opts, _Hop(url, decision, wire.method, wire.headers, req.body))

    def _check(self, url: ParsedUrl, method: str) -> PolicyDecision:
        return self.policy.check(url, method, classifier=self._classifier)

    # -- the audit: every decision line is written by _record, from these three places --

    def _record(self, d: EgressDecision) -> None:
        log_decision(d)

    def _refuse(self, method: str, url: str, reason: str, code: ErrorCode,
                policy: PolicyDecision | None = None) -> HttpError:
        """Record a request or hop refused before anything was resolved; the capsule's error."""
        self._record(EgressDecision.refused(self.name, method, url, reason, code.case, policy))
        return HttpError(code)

    def _hop_ended(self, hop: _Hop, *, status: int | None = None,
                   error: ErrorCode | None = None) -> EgressDecision:
        """Record how a hop ended: its head arrived (``status``) or it failed (``error``)."""
        d = dataclasses.replace(
            EgressDecision.from_policy(self.name, hop.method.decode("latin-1"),
                                       hop.url.redacted(), hop.decision, hop.trace.resolution),
            status=status, error=None if error is None else error.case)
        self._record(d)
        return d

    @contextmanager
    def _audited(self, call: _Call) -> Iterator[None]:
        """Around a request's hops: if it ends while a hop is in flight, that hop's decision is
        recorded with the error the capsule gets (wrap the deadline and the translation, so
        the error is the final one); every failure is logged on ``astrid_host.http``."""
        try:
            yield
        except HttpError as e:
            self._failed(call, e.code)
            raise
        except trio.Cancelled:
            self._failed(call, ErrorCode.cancelled())
            raise

    def _failed(self, call: _Call, code: ErrorCode) -> None:
        hop, call.inflight = call.inflight, None
        if hop is not None:
            self._hop_ended(hop, error=code)
        _log.warning("http failed capsule=%s method=%s url=%s error=%s", self.name,
                     call.req.method, call.first.url.redacted(), code)

    async def _fetch_head(self, ex: Exchange, call: _Call) -> _Head:
        """Send hop after hop until a response that is not followed; return its head."""
        opts = call.opts
        max_hops = self.limits.max_redirects
        if opts.max_redirects is not None:
            max_hops = min(max_hops, opts.max_redirects)
        rules = RedirectRules(opts.redirect_policy or RedirectPolicy.FOLLOW, max_hops,
                              opts.https_only, self.limits.max_url_bytes)
        hop = call.first
        redirects = 0
        while True:
            ex.deadlines.new_hop()
            call.inflight = hop
            resp = await self._roundtrip(ex, hop, first=redirects == 0,
                                         decompress=opts.decompress)
            call.inflight = None
            decision = self._hop_ended(hop, status=resp.status)
            resolution = hop.trace.resolution
            step = plan_redirect(
                status=resp.status, locations=header_values(resp.headers, b"location"),
                url=hop.url,
                sent=NextRequest(hop.method, hop.headers, None if hop.streamed else hop.body),
                streamed=hop.streamed,
                from_local=hop.decision.via_local or (resolution is not None
                                                      and resolution.via_local),
                redirects=redirects, rules=rules, check=self._check)
            match step:
                case Stop():
                    return _Head(resp, hop.url, redirects, decision, hop.method)
                case Refusal():
                    # Recorded when decided, before the redirect's body is drained.
                    refused = self._refuse(step.method, step.url, step.reason, step.code,
                                           step.policy)
                    await self._discard(resp)
                    raise refused
                case Follow(url=target, request=nxt, policy=allowed):
                    await self._discard(resp)
                    hop = _Hop(target, allowed, nxt.method, nxt.headers, nxt.body)
                    redirects += 1

    async def _roundtrip(self, ex: Exchange, hop: _Hop, *, first: bool,
                         decompress: bool) -> httpcore.Response:
        """One hop on the wire, up to its response head; the backend reports into its trace."""
        url, method, headers, body = hop.url, hop.method, hop.headers, hop.body
        extra: list[tuple[bytes, bytes]] = []
        if decompress and not header_values(headers, b"accept-encoding"):
            extra.append((b"Accept-Encoding", b"gzip, deflate"))
        # Framing is the host's: the capsule may not send these headers (see _headers).
        if isinstance(body, bytes):
            extra.append((b"Content-Length", str(len(body)).encode()))
        elif body is not None:
            extra.append((b"Transfer-Encoding", b"chunked"))
        elif method in _BODY_METHODS:
            body = b""  # servers (nginx) answer 411 to a POST without a length
            extra.append((b"Content-Length", b"0"))
        request = httpcore.Request(
            method,
            httpcore.URL(scheme=url.scheme.encode(), host=url.host.encode(), port=url.port,
                         target=url.target.encode()),
            headers=[(b"Host", url.authority.encode()), *headers, *extra],
            content=body,
            extensions={"timeout": ex.deadlines.httpcore_timeouts()},
        )
        TRACE.set(hop.trace)
        try:
            pool = self._pool if first else self._redirect_pool
            resp = await pool.handle_async_request(request)
        except ProhibitedDestination as e:
            if first:
                raise
            raise HttpError(ErrorCode.redirect_blocked(f"{url.redacted()}: {e.code}")) from None
        ex.deadlines.head_done = True
        head_bytes = sum(len(n) + len(v) + 4 for n, v in resp.headers)
        if head_bytes > self.limits.max_response_header_bytes:
            await close_response(resp)
            raise HttpError(ErrorCode.protocol_error(
                f"response head over {self.limits.max_response_header_bytes} bytes"))
        return resp

    async def _discard(self, resp: httpcore.Response) -> None:
        """Drop a redirect's body, reusing the connection when the body is small."""
        reader = None
        try:
            reader = BodyReader(resp, REDIRECT_DRAIN_BYTES, RequestOptions(),
                                 has_body=True)
            while await reader.next() is not None:
                pass
        except Exception:
            # Too large, too slow or broken (a raw read error from httpcore, too): the body is
            # dropped anyway, and closing the connection below is all it needs.
            pass
        finally:
            if reader is not None:
                await reader.aclose()
            else:
                await close_response(resp)

    def _body_limit(self, opts: RequestOptions, streamed: bool) -> int:
        base = self.limits.max_stream_bytes if streamed else self.limits.max_response_bytes
        return Limits.tighten_bytes(base, opts.max_response_bytes)

    async def _buffer(self, ex: Exchange, call: _Call, head: _Head) -> Response:
        reader = None
        try:
            reader = BodyReader(head.resp, self._body_limit(call.opts, False), call.opts,
                                 has_body=_has_body(head))
            parts: list[bytes] = []
            while (piece := await reader.next()) is not None:
                parts.append(piece)
        finally:
            if reader is not None:
                await reader.aclose()
            else:
                await close_response(head.resp)
        body = b"".join(parts)
        elapsed = _ms(trio.current_time() - ex.started)
        meta = ResponseMeta(head.url.url(), head.redirects, elapsed, ex.wire_bytes)
        self._record(dataclasses.replace(head.decision, bytes=len(body), elapsed_ms=elapsed))
        return Response(head.resp.status, response_headers(head.resp, reader.decoder is not None),
                        body, meta)

    async def _stream(self, ex: Exchange, call: _Call, head: _Head) -> IncomingStream:
        try:
            reader = BodyReader(head.resp, self._body_limit(call.opts, True), call.opts,
                                 has_body=_has_body(head),
                                 decoded_limit=self.limits.max_decoded_stream_bytes,
                                 max_ratio=self.limits.max_decompression_ratio)
        except HttpError:
            await close_response(head.resp)
            raise
        meta = ResponseMeta(head.url.url(), head.redirects,
                            _ms(trio.current_time() - ex.started), ex.wire_bytes)
        stream = IncomingStream(self, ex, head, reader, meta)
        self._open.add(stream)
        return stream

    def _release(self, handle: IncomingStream | OutgoingUpload) -> None:
        self._open.discard(handle)


def _has_body(head: _Head) -> bool:
    """Whether the response can carry a body at all (RFC 9110 §6.4.1)."""
    status = head.resp.status
    return head.method != b"HEAD" and status not in (204, 304) and status >= 200


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


# --- handles ---------------------------------------------------------------------------------

class IncomingStream:
    """A streamed response: ``status``, ``headers``, ``meta()``, ``read(max)``, ``aclose()``.

    Created by :meth:`CapsuleHttp.start` and :meth:`OutgoingUpload.finish_streaming`; it
    holds one of the capsule's open-stream slots until the body ends, fails or is closed.
    """

    def __init__(self, client: CapsuleHttp, ex: Exchange, head: _Head, reader: BodyReader,
                 meta: ResponseMeta) -> None:
        self._client = client
        self._ex = ex
        self._head = head
        self._reader = reader
        self._meta = meta
        self._buffer = b""
        self._failed: HttpError | None = None
        self._finished = False
        self._busy = False
        self.status: int = head.resp.status
        self.headers: tuple[Header, ...] = response_headers(head.resp,
                                                             reader.decoder is not None)

    def meta(self) -> ResponseMeta:
        """Final URL, redirect count, elapsed ms until the head, wire bytes received so far."""
        return dataclasses.replace(self._meta, wire_bytes=self._ex.wire_bytes)

    async def read(self, max_bytes: int) -> bytes | None:
        """Up to ``max_bytes`` of the body (at least 1 while any remain); ``None`` at the end.

        After a failure every later call raises ``closed``.
        """
        if self._failed is not None or self._busy:
            raise HttpError(ErrorCode.closed())
        if max_bytes <= 0:
            return b""
        if not self._buffer:
            if self._finished:
                return None
            self._busy = True
            try:
                with self._client._guard():
                    CURRENT.set(self._ex)
                    with self._ex.deadlines.total():
                        piece = await self._reader.next()
            except HttpError as e:
                self._failed = e
                await self._end()
                raise
            finally:
                self._busy = False
            if piece is None:
                await self._end()
                return None
            self._buffer = piece
        out, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return out

    async def aclose(self) -> None:
        """Close the stream (and its connection if the body was not read to its end)."""
        if self._failed is None and not self._finished:
            self._failed = HttpError(ErrorCode.closed())
        await self._end()

    async def _abort(self) -> None:
        if not self._finished and self._failed is None:
            self._failed = HttpError(ErrorCode.cancelled())
        if not self._busy:
            await self._end()

    async def _end(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._client._release(self)
        await self._reader.aclose()
        if self._failed is None:
            elapsed = _ms(trio.current_time() - self._ex.started)
            self._client._record(dataclasses.replace(
                self._head.decision, bytes=self._reader.decoded, elapsed_ms=elapsed))


class _Pieces:
    """The streamed upload's request body: pieces arrive through a memory channel."""

    def __init__(self, receive: trio.MemoryReceiveChannel[bytes]) -> None:
        self._receive = receive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._receive:
            yield piece


class OutgoingUpload:
    """A request whose body is written in pieces: ``write``, ``finish``, ``finish_streaming``.

    The request starts at once in a background task; each ``write`` hands a piece to it
    through a zero-capacity channel, so at most one piece waits in memory whatever the body
    size. Holds one open-stream slot until finished, failed or closed.
    """

    def __init__(self, client: CapsuleHttp, call: _Call, ex: Exchange) -> None:
        self._client = client
        self._ex = ex
        send, receive = trio.open_memory_channel[bytes](0)
        self._send = send
        self._receive = receive
        call.first.body = _Pieces(receive)
        self._call = call
        self._cap = ByteCap(client.limits.max_upload_bytes, request=True)
        self._done = trio.Event()
        self._head: _Head | None = None
        self._error: HttpError | None = None
        self._state = "open"  # open -> finishing -> done
        self._scope = trio.CancelScope()

    async def _run(self) -> None:
        CURRENT.set(self._ex)
        try:
            with self._scope:
                with (self._client._audited(self._call), self._ex.deadlines.total(),
                      translating()):
                    self._head = await self._client._fetch_head(self._ex, self._call)
            if self._scope.cancelled_caught:
                self._error = HttpError(ErrorCode.cancelled())
        except HttpError as e:
            self._error = e
        except Exception as e:
            self._error = HttpError(ErrorCode.internal(f"upload task: {e!r}"))
        finally:
            self._receive.close()
            self._done.set()

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body (``request-too-large`` past the limit)."""
        if self._state != "open":
            raise HttpError(ErrorCode.closed())
        with self._client._guard():
            CURRENT.set(self._ex)
            try:
                self._cap.add(len(chunk))
            except HttpError:
                await self._fail()
                raise
            view = memoryview(chunk)
            try:
                with self._ex.deadlines.total():
                    for i in range(0, len(view), UPLOAD_PIECE_BYTES):
                        await self._send.send(bytes(view[i:i + UPLOAD_PIECE_BYTES]))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                # The request ended early (error, or the server answered before the body
                # was complete): report why.
                await self._done.wait()
                if self._error is not None:
                    self._state = "done"
                    self._client._release(self)
                    raise self._error from None
                # The server answered before taking the whole body: finish() returns it.
                raise HttpError(ErrorCode.closed()) from None

    async def finish(self) -> Response:
        """End the body and return the whole response."""
        head = await self._finish()
        try:
            with self._client._guard():
                CURRENT.set(self._ex)
                with self._ex.deadlines.total():
                    return await self._client._buffer(self._ex, self._call, head)
        finally:
            self._client._release(self)

    async def finish_streaming(self) -> IncomingStream:
        """End the body and return the response as a stream (the slot moves to it)."""
        head = await self._finish()
        with self._client._guard():
            self._client._release(self)
            return await self._client._stream(self._ex, self._call, head)

    async def aclose(self) -> None:
        """Abandon the upload: the request is cancelled and its connection closed."""
        if self._state != "done":
            await self._fail()

    async def _finish(self) -> _Head:
        if self._state != "open":
            raise HttpError(ErrorCode.closed())
        self._state = "finishing"
        with self._client._guard():
            await self._send.aclose()
            await self._done.wait()
        self._state = "done"
        if self._error is not None:
            self._client._release(self)
            raise self._error
        assert self._head is not None
        return self._head

    async def _fail(self) -> None:
        self._state = "done"
        self._scope.cancel()
        await self._send.aclose()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self._done.wait()
        if self._head is not None:
            await close_response(self._head.resp)
            self._head = None
        self._client._release(self)

    async def _abort(self) -> None:
        await self._fail()

