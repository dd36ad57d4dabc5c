"""A response body, read through the caps: :class:`BodyReader`, and the helpers around it.

:class:`BodyReader` pulls the body piece by piece through the size caps, the optional decoder
and the integrity check, stopping the moment a cap is passed. When the response's framing ends
it makes sure nothing else arrived on the connection: a connection holding bytes that belong to
no response is closed, never reused (see :meth:`MeteredStream.spoil`). :func:`drain` drops a
redirect's small body so its connection can be reused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator

import httpcore

from astrid_host._core._bodies import ByteCap, Decoder, IntegrityCheck, decoder_for
from astrid_host._core._headers import check_trailers, header_values
from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, Header, HttpError, RequestOptions
from astrid_host._net._deadlines import cleanup
from astrid_host._net._h11_tap import bytes_past_response, watch_trailers
from astrid_host._net._metering import MeteredStream

__all__ = [
    "REDIRECT_DRAIN_BYTES",
    "BodyReader",
    "close_response",
    "drain",
    "can_have_body",
    "response_headers",
]

_log = logging.getLogger("astrid_host.http")

#: A redirect response's own body is read (and dropped) up to this size so its connection can
#: be reused; a larger one closes the connection instead.
REDIRECT_DRAIN_BYTES = 64 * 1024


def can_have_body(method: bytes, status: int) -> bool:
    """Whether the response to ``method`` with ``status`` can carry a body (RFC 9110 §6.4.1)."""
    return method != b"HEAD" and status not in (204, 304) and status >= 200


class BodyReader:
    """Pulls a response body through the caps, the decoder and the integrity check.

    ``limit`` caps the body as received and as decoded; ``decoded_limit`` and ``max_ratio``
    (streams) cap what the host decodes further (see :class:`Decoder`). A response that
    cannot have a body (``has_body`` false: see :func:`can_have_body`) is never decoded.

    ``trailers`` is ``None`` until the body has ended, then the trailer fields of a chunked
    response (empty when there were none), held to ``limits``' response-head rules
    (:func:`check_trailers`: past them the end of the body is a ``protocol-error``).
    """

    def __init__(self, resp: httpcore.Response, limit: int, opts: RequestOptions,
                 *, has_body: bool, limits: Limits, decoded_limit: int | None = None,
                 max_ratio: float | None = None) -> None:
        self._resp = resp
        self._limits = limits
        self._trailer_watch = watch_trailers(resp)
        self.trailers: tuple[Header, ...] | None = None
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
                self._take_trailers()
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

    def ready(self) -> bool:
        """Whether :meth:`next` can answer without waiting for the network: the decoder holds
        output, or the connection has bytes received and not read (readable socket, or TLS
        holding them). A guess never says yes: an unknown stream is "not ready"."""
        if self.done or (self.decoder is not None and self.decoder.pending):
            return True
        stream = self._resp.extensions.get("network_stream")
        return isinstance(stream, MeteredStream) and stream.ready()

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
        extra = bytes_past_response(self._resp)
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

    def _take_trailers(self) -> None:
        """Keep the trailers h11 parsed at the end of the message (checked; see the class)."""
        if self._trailer_watch is None or self._trailer_watch.fields is None:
            # httpcore no longer has the shape _h11_tap knows (its test fails): say nothing
            # rather than something wrong.
            _log.warning("response trailers unknown: httpcore's internals changed")
            self.trailers = ()
            return
        fields, self._trailer_watch.fields = self._trailer_watch.fields, None
        self.trailers = check_trailers(fields, self._limits)

    def _account(self, data: bytes) -> None:
        if self.decoder is None and not data:
            return
        self.decoded += len(data)
        if self.integrity:
            self.integrity.update(data)

    async def aclose(self) -> None:
        """Release the connection (closing it when the body was not read to its end)."""
        with cleanup():
            it, self._iter = self._iter, None
            try:
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()
                await self._resp.aclose()
            except Exception:
                _log.debug("error while closing a response", exc_info=True)


async def close_response(resp: httpcore.Response) -> None:
    """Close a response we will not read (its connection closes unless the body was done)."""
    with cleanup():
        try:
            await resp.aclose()
        except Exception:
            _log.debug("error while closing a response", exc_info=True)


def response_headers(resp: httpcore.Response, decoded: bool) -> tuple[Header, ...]:
    """The response's headers for the capsule (without the coding's, once the host decoded)."""
    hidden = {b"content-encoding", b"content-length"} if decoded else set()
    return tuple((n.decode("latin-1"), bytes(v)) for n, v in resp.headers
                 if n.lower() not in hidden)


async def drain(resp: httpcore.Response) -> None:
    """Drop a redirect's body, reusing the connection when the body is small."""
    reader = None
    try:
        reader = BodyReader(resp, REDIRECT_DRAIN_BYTES, RequestOptions(), has_body=True,
                            limits=Limits())
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
