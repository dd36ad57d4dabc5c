"""The HTTP engine behind ``astrid:http/client``: :class:`CapsuleHttp`, one per capsule.

Plain trio code, usable without wasm. Every request runs hop by hop through the egress guard:
each hop (the first request and every redirect) is parsed by ``parse_url``, judged by
``EgressPolicy.check`` and logged with ``log_decision``; the connection is made by
:class:`~astrid_host._net._backend.PinnedBackend`, which resolves once, classifies every answer
and dials a vetted address. The HTTP library (httpcore) never follows redirects.

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
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore
import trio

from astrid_host._core._bodies import ByteCap
from astrid_host._core._classify import classify_ip
from astrid_host._core._decision import EgressDecision, Resolution, log_decision
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
from astrid_host._core._policy import Classifier, EgressPolicy, PolicyDecision, PolicyReason
from astrid_host._core._redirects import is_redirect, next_request, resolve_location
from astrid_host._core._url import InvalidUrl, ParsedUrl, parse_url
from astrid_host._net._backend import PinnedBackend, ProhibitedDestination, Resolver
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
class _Head:
    """A response head and how it was reached."""

    resp: httpcore.Response
    url: ParsedUrl
    redirects: int
    decision: EgressDecision
    method: bytes


@dataclass
class _Call:
    """What a request asks for, after validation."""

    req: Request
    wire: WireRequest
    opts: RequestOptions
    first: tuple[ParsedUrl, PolicyDecision]
    streamed_body: bool = False
    body: Any = None  # bytes | None | async iterable for a streamed upload


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
            try:
                with ex.deadlines.total(), translating():
                    head = await self._fetch_head(ex, call)
                    return await self._buffer(ex, call, head)
            except HttpError as e:
                self._log_failure(call, e)
                raise

    async def start(self, req: Request) -> IncomingStream:
        """Send ``req``; return as soon as the response head arrived, body still to read."""
        with self._guard():
            call = self._prepare(req)
            self._reserve_stream()
            ex = self._new_exchange(call.opts)
            CURRENT.set(ex)
            try:
                with ex.deadlines.total(), translating():
                    head = await self._fetch_head(ex, call)
                    return await self._stream(ex, call, head)
            except HttpError as e:
                self._log_failure(call, e)
                raise
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
        wire = validate_request(req, self.limits)
        opts = req.options or RequestOptions()
        try:
            url = parse_url(req.url, max_length=self.limits.max_url_bytes)
        except InvalidUrl as e:
            raise HttpError(ErrorCode.invalid_request(RequestPart.URL, str(e))) from None
        if url.username or url.password:
            raise HttpError(ErrorCode.invalid_request(
                RequestPart.URL,
                "credentials in the URL are not sent; use an Authorization header"))
        decision = self._check(url, req.method)
        if not decision.allowed:
            self._log_decision(EgressDecision.from_policy(self.name, req.method, url.redacted(),
                                                          decision))
            if decision.address is not None and not decision.address.allowed:
                a = decision.address
                raise HttpError(ErrorCode.destination_prohibited(url.host, (
                    AddressVerdict(str(a.address), a.verdict.reason.value),)))
            raise HttpError(ErrorCode.denied(f"{decision.reason_key}: {decision.detail}"))
        if opts.https_only and url.scheme != "https":
            self._log_decision(EgressDecision(self.name, req.method, url.redacted(), False,
                                              "https-only", decision.rule))
            raise HttpError(ErrorCode.denied("https-only: the request refuses http: URLs"))
        return _Call(req, wire, opts, (url, decision), body=req.body)

    def _check(self, url: ParsedUrl, method: str) -> PolicyDecision:
        return self.policy.check(url, method, classifier=self._classifier)

    def _log_decision(self, d: EgressDecision) -> None:
        log_decision(d)

    def _log_failure(self, call: _Call, e: HttpError) -> None:
        _log.warning("http failed capsule=%s method=%s url=%s error=%s", self.name,
                     call.req.method, call.first[0].redacted(), e.code)

    async def _fetch_head(self, ex: Exchange, call: _Call) -> _Head:
        """Send hop after hop until a response that is not followed; return its head."""
        opts = call.opts
        policy = opts.redirect_policy or RedirectPolicy.FOLLOW
        max_hops = min(self.limits.max_redirects,
                       self.limits.max_redirects if opts.max_redirects is None
                       else opts.max_redirects)
        url, decision = call.first
        method, headers, body = call.wire.method, call.wire.headers, call.body
        redirects = 0
        while True:
            ex.deadlines.new_hop()
            resp, logged = await self._roundtrip(ex, url, decision, method, headers, body,
                                                 hop=redirects, decompress=opts.decompress)
            resolution = _resolution(resp)
            status = resp.status
            locations = header_values(resp.headers, b"location")
            if (not is_redirect(status) or policy is RedirectPolicy.MANUAL or not locations
                    or (call.streamed_body and status in (307, 308) and body is not None)):
                return _Head(resp, url, redirects, logged, method)
            await self._discard(resp)
            if policy is RedirectPolicy.ERROR:
                raise HttpError(ErrorCode.redirect_blocked(
                    f"redirect policy is error: {status} from {url.redacted()}"))
            if decision.via_local or (resolution is not None and resolution.via_local):
                raise HttpError(ErrorCode.redirect_blocked(
                    "endpoints reached through the local allowance never follow redirects"))
            if redirects >= max_hops:
                raise HttpError(ErrorCode.too_many_redirects(max_hops))
            target = self._redirect_url(resolve_location(url.url(), locations[0]), opts)
            nxt = next_request(status=status, method=method, headers=headers, body=body,
                               current=url.origin, target=target.origin,
                               https_only=opts.https_only)
            # The policy judges the request that will really be sent (a 303 turns it into GET).
            decision = self._redirect_decision(target, nxt.method.decode("latin-1"))
            url, method, headers, body = target, nxt.method, nxt.headers, nxt.body
            redirects += 1

    def _redirect_url(self, text: str, opts: RequestOptions) -> ParsedUrl:
        try:
            url = parse_url(text, max_length=self.limits.max_url_bytes)
        except InvalidUrl as e:
            raise HttpError(ErrorCode.redirect_blocked(
                f"Location is not a usable URL: {e}")) from None
        if opts.https_only and url.scheme != "https":
            raise HttpError(ErrorCode.redirect_blocked(
                f"https to http downgrade refused (https-only): {url.redacted()}"))
        return url

    def _redirect_decision(self, url: ParsedUrl, method: str) -> PolicyDecision:
        decision = self._check(url, method)
        if decision.allowed and decision.via_local:
            decision = dataclasses.replace(
                decision, allowed=False, reason=PolicyReason.LOCAL_REDIRECT,
                detail="a redirect may not lead into the operator's local allowance")
        if not decision.allowed:
            self._log_decision(EgressDecision.from_policy(self.name, method, url.redacted(),
                                                          decision))
            raise HttpError(ErrorCode.redirect_blocked(
                f"{url.redacted()}: {decision.reason_key}: {decision.detail}"))
        return decision

    async def _roundtrip(self, ex: Exchange, url: ParsedUrl, decision: PolicyDecision,
                         method: bytes, headers: tuple[tuple[bytes, bytes], ...], body: Any,
                         *, hop: int, decompress: bool,
                         ) -> tuple[httpcore.Response, EgressDecision]:
        """One request on the wire, up to its response head; logs the hop's decision."""
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
        smethod = method.decode("latin-1")
        try:
            pool = self._redirect_pool if hop else self._pool
            resp = await pool.handle_async_request(request)
        except Exception as e:  # log the hop's decision whatever failed, then let it go on
            if isinstance(e, ProhibitedDestination):
                self._log_decision(EgressDecision.from_policy(
                    self.name, smethod, url.redacted(), decision, e.resolution))
                if hop:
                    raise HttpError(ErrorCode.redirect_blocked(
                        f"{url.redacted()}: {e.code}")) from None
            else:
                self._log_decision(EgressDecision.from_policy(self.name, smethod,
                                                              url.redacted(), decision))
            raise
        ex.deadlines.head_done = True
        logged = EgressDecision.from_policy(self.name, smethod, url.redacted(), decision,
                                            _resolution(resp))
        self._log_decision(logged)
        head_bytes = sum(len(n) + len(v) + 4 for n, v in resp.headers)
        if head_bytes > self.limits.max_response_header_bytes:
            await close_response(resp)
            raise HttpError(ErrorCode.protocol_error(
                f"response head over {self.limits.max_response_header_bytes} bytes"))
        return resp, logged

    async def _discard(self, resp: httpcore.Response) -> None:
        """Drop a redirect's body, reusing the connection when the body is small."""
        reader = None
        try:
            reader = BodyReader(resp, REDIRECT_DRAIN_BYTES, RequestOptions(),
                                 has_body=True)
            while await reader.next() is not None:
                pass
        except HttpError:
            pass  # too large or broken: closing the connection below is all we need
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
        self._log_decision(dataclasses.replace(head.decision, status=head.resp.status,
                                               bytes=len(body), elapsed_ms=elapsed))
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


def _resolution(resp: httpcore.Response) -> Resolution | None:
    stream = resp.extensions.get("network_stream")
    if stream is None:
        return None
    res = stream.get_extra_info("astrid.resolution")
    return res if isinstance(res, Resolution) else None


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
            log_decision(dataclasses.replace(self._head.decision, status=self.status,
                                             bytes=self._reader.decoded, elapsed_ms=elapsed))


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
        call.streamed_body = True
        call.body = _Pieces(receive)
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
                with translating(), self._ex.deadlines.total():
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

