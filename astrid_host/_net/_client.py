"""The HTTP engine behind ``astrid:http/client``: :class:`CapsuleHttp`, one per capsule.

Plain AnyIO code (trio or asyncio), usable without wasm. Where each part lives:

- what every hop of a request is (the first, and each redirect): the pure planner,
  :mod:`astrid_host._core._redirects`;
- one request from its first hop to the end of its body: :class:`~._exchange.Exchange`;
- the handles a capsule holds: :mod:`._handles` (``IncomingStream``, ``OutgoingUpload``);
- the connection pools and one hop on the wire: :mod:`._transport`; every socket operation's
  token, deadline and count: :mod:`._metering`; the body reader: :mod:`._body`;
- the decision lines and the audit trail's records: :class:`~._audit.Audit`; what ``aclose``
  cancels and the open-stream slots: :class:`~._inflight.Inflight`;
- the capsule's secrets: filled into each hop's headers by the exchange, from
  :class:`~astrid_host._core._secrets.Secrets`.

The connection is made by :class:`~astrid_host._net._backend.PinnedBackend`, which resolves
once, classifies every answer and dials a vetted address; httpcore never follows redirects.
Errors are translated at the edge by :func:`~astrid_host._net._errors.translating`; only
``HttpError`` leaves this module.
"""

from __future__ import annotations

import functools
import logging
import ssl

import anyio

from astrid_host._audit._sink import AuditSink
from astrid_host._core._classify import classify_ip
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    ErrorCode,
    HttpError,
    Request,
    RequestOptions,
    RequestPart,
    Response,
)
from astrid_host._core._policy import Classifier, EgressPolicy
from astrid_host._core._redirects import Refusal, plan_request
from astrid_host._core._secrets import Secrets
from astrid_host._net._audit import Audit
from astrid_host._net._backend import Resolver
from astrid_host._net._exchange import Exchange
from astrid_host._net._handles import IncomingStream, OutgoingUpload, open_stream
from astrid_host._net._inflight import Inflight
from astrid_host._net._metering import IoGate
from astrid_host._net._transport import Transport, default_ssl_context

__all__ = ["CapsuleHttp", "IncomingStream", "OutgoingUpload", "default_ssl_context"]

_log = logging.getLogger("astrid_host.secrets")


class CapsuleHttp:
    """Guarded outgoing HTTP for one capsule (see ``docs/dev/contracts.md``).

    name: the capsule's name (in every log line).
    policy: its egress policy; limits: its :class:`Limits`.
    resolver/classifier: handed to :class:`PinnedBackend` (tests inject fakes; production
      uses the system resolver and the real classifier).
    ssl_context: TLS client context (default: :func:`default_ssl_context`, certifi CAs).
    io_limiter: a host-wide limiter bounding concurrent network operations of all capsules.
    secrets: the capsule's secrets (see ``docs/secrets.md``); the client owns them and wipes
      their values when it closes (``Host.load`` gives it copies).
    audit: the audit trail's sink (``None``: no trail); every hop's decision is put on it
      before the hop sends anything, and its completion after (see ``docs/audit.md``).

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
        io_limiter: anyio.CapacityLimiter | None = None,
        secrets: Secrets | None = None,
        audit: AuditSink | None = None,
    ) -> None:
        self.name = name
        self.policy = policy
        self.limits = limits or Limits()
        self._check = functools.partial(policy.check, classifier=classifier)
        self._secrets = secrets if secrets is not None else Secrets()
        if missing := self._secrets.missing():
            _log.warning("capsule %s declares secrets it was not given (requests using them "
                         "are denied): %s", name, ", ".join(missing))
        self._audit = Audit(name, audit, self._secrets)
        self._inflight = Inflight(self.limits.max_open_streams)
        # At most one foreground operation plus one per open stream/upload at a time.
        gate = IoGate(io_limiter, self.limits.max_open_streams + 1)
        self._transport = Transport(policy, self.limits, resolver=resolver,
                                    classifier=classifier, ssl_context=ssl_context, gate=gate)

    async def send(self, req: Request) -> Response:
        """Send ``req`` and return the whole response (redirects followed per its options)."""
        with self._inflight.operation():
            ex = await self._exchange(req)
            await ex.fetch_head()
            return await ex.buffer()

    async def start(self, req: Request) -> IncomingStream:
        """Send ``req``; return as soon as the response head arrived, body still to read."""
        with self._inflight.operation():
            ex = await self._exchange(req)
            slot = self._inflight.take_slot()
            try:
                await ex.fetch_head()
                return await open_stream(ex, slot, self._inflight)
            except BaseException:
                slot.release()
                raise

    async def upload(self, req: Request) -> OutgoingUpload:
        """Start ``req`` (its ``body`` must be ``None``); write the body with the handle."""
        with self._inflight.operation():
            if req.body is not None:
                raise HttpError(ErrorCode.invalid_request(
                    RequestPart.BODY, "upload() takes its body through write(); body must be none"))
            ex = await self._exchange(req, streamed=True)
            return OutgoingUpload(ex, self._inflight.take_slot(), self._inflight,
                                  max_bytes=self.limits.max_upload_bytes,
                                  name=f"astrid upload {self.name}")

    async def aclose(self) -> None:
        """Cancel in-flight work (it ends with ``cancelled``), close streams and the pool, and
        wipe the secrets' values."""
        await self._inflight.aclose()
        await self._transport.aclose()
        self._secrets.wipe()

    @property
    def open_streams(self) -> int:
        """Streamed responses and uploads currently open."""
        return self._inflight.open_count

    async def _exchange(self, req: Request, *, streamed: bool = False) -> Exchange:
        """The exchange of ``req``, or its refusal (recorded) raised as ``HttpError``."""
        first = plan_request(req, self.limits, self._check, streamed=streamed)
        records = self._audit.request()
        if isinstance(first, Refusal):
            raise await records.refused(
                first, 0, headers=tuple((n.encode("latin-1"), v) for n, v in req.headers),
                body=req.body, streamed=streamed)
        return Exchange(first, req.options or RequestOptions(), limits=self.limits,
                        transport=self._transport, audit=self._audit, check=self._check,
                        records=records, secrets=self._secrets)
