"""A capsule's connections, and one hop on the wire: :class:`Transport` and :func:`frame`.

:func:`frame` adds what the host owns to a hop the planner decided (``Host``, the body's
framing, ``Accept-Encoding`` when the host decodes): what it returns is exactly what goes on
the wire. :class:`Transport` sends it through one of the capsule's two connection pools and
returns the response head; the pool's metered, pinned backend does the resolving, classifying
and connecting, and reports into the hop's :class:`HopTrace` (set in :data:`TRACE` here).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
from collections.abc import AsyncIterable, Sequence

import certifi
import httpcore

from astrid_host._core._headers import header_values
from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._core._policy import Classifier, EgressPolicy
from astrid_host._core._redirects import Hop
from astrid_host._net._backend import (
    TRACE,
    HopTrace,
    PinnedBackend,
    ProhibitedDestination,
    Resolver,
)
from astrid_host._net._body import close_response
from astrid_host._net._deadlines import Deadlines, cleanup
from astrid_host._net._metering import IoGate, MeteredBackend

__all__ = ["KEEPALIVE_EXPIRY_S", "Body", "Transport", "default_ssl_context", "frame"]

_log = logging.getLogger("astrid_host.http")

#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_EXPIRY_S = 15.0
#: Methods sent with ``Content-Length: 0`` when the capsule gives no body.
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})

#: A hop's body on the wire: buffered bytes, the pieces of a streamed upload, or none.
Body = bytes | AsyncIterable[bytes] | None


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


def frame(hop: Hop, body: Body, *, headers: Sequence[tuple[bytes, bytes]], decompress: bool,
          deadlines: Deadlines) -> httpcore.Request:
    """The request that goes on the wire for ``hop``: ``headers`` (the hop's, as the planner
    left them, with their secrets filled in), then the host's (``Host`` first; the framing is
    the host's, so the capsule may not send these headers, see ``_core/_headers.py``)."""
    url, method = hop.url, hop.request.method
    extra: list[tuple[bytes, bytes]] = []
    if decompress and not header_values(headers, b"accept-encoding"):
        extra.append((b"Accept-Encoding", b"gzip, deflate"))
    if isinstance(body, bytes):
        extra.append((b"Content-Length", str(len(body)).encode()))
    elif body is not None:
        extra.append((b"Transfer-Encoding", b"chunked"))
    elif method in _BODY_METHODS:
        body = b""  # servers (nginx) answer 411 to a POST without a length
        extra.append((b"Content-Length", b"0"))
    return httpcore.Request(
        method,
        httpcore.URL(scheme=url.scheme.encode(), host=url.host.encode(), port=url.port,
                     target=url.target.encode()),
        headers=[(b"Host", url.authority.encode()), *headers, *extra],
        content=body,
        extensions={"timeout": deadlines.httpcore_timeouts()},
    )


class Transport:
    """The capsule's two connection pools (HTTP/1.1, keep-alive), bounded by
    ``limits.max_connections`` each, and the sending of one framed hop.

    ``pool`` carries the capsule's own requests. Redirect hops use ``redirect_pool``, whose
    backend knows no local allowance: a remote server must never be able to send the capsule
    into the operator's local services (by IP literal, by a name resolving there, or by reusing
    a keep-alive connection that was opened through the allowance for an earlier request).
    """

    def __init__(self, policy: EgressPolicy, limits: Limits, *, resolver: Resolver | None,
                 classifier: Classifier, ssl_context: ssl.SSLContext | None,
                 gate: IoGate) -> None:
        self._limits = limits
        tls = ssl_context or default_ssl_context()

        def pool(policy: EgressPolicy) -> httpcore.AsyncConnectionPool:
            backend = PinnedBackend(policy, resolver, classifier=classifier,
                                    dns_timeout=limits.connect_timeout_s)
            return httpcore.AsyncConnectionPool(
                ssl_context=tls, max_connections=limits.max_connections,
                keepalive_expiry=KEEPALIVE_EXPIRY_S, http1=True, http2=False, retries=0,
                network_backend=MeteredBackend(backend, gate))

        self.pool = pool(policy)
        self.redirect_pool = pool(dataclasses.replace(policy, local=()))

    async def send(self, hop: Hop, request: httpcore.Request,
                   trace: HopTrace) -> httpcore.Response:
        """Send ``request`` (framed for ``hop``) and return its response head.

        The backend reports what it resolved and chose into ``trace``. A redirect hop whose
        every answer was refused fails with ``redirect-blocked``; a head over
        ``max_response_header_bytes`` with ``protocol-error``.
        """
        token = TRACE.set(trace)
        try:
            pool = self.redirect_pool if hop.redirects else self.pool
            resp = await pool.handle_async_request(request)
        except ProhibitedDestination as e:
            if not hop.redirects:
                raise
            raise HttpError(ErrorCode.redirect_blocked(f"{hop.url.redacted()}: {e.code}")) from None
        finally:
            TRACE.reset(token)
        head_bytes = sum(len(n) + len(v) + 4 for n, v in resp.headers)
        if head_bytes > self._limits.max_response_header_bytes:
            await close_response(resp)
            raise HttpError(ErrorCode.protocol_error(
                f"response head over {self._limits.max_response_header_bytes} bytes"))
        return resp

    async def aclose(self) -> None:
        """Close both pools and every connection in them."""
        for pool in (self.pool, self.redirect_pool):
            with cleanup():
                try:
                    await pool.aclose()
                except Exception:
                    _log.debug("error while closing a pool", exc_info=True)
