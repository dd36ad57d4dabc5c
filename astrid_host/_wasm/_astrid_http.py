"""The host side of upstream Astrid's `astrid:http/host@1.1.0`, over the same
:class:`~astrid_host._core._contracts.HttpBackend` (engine and egress guard) as our own
`astrid:http/client@0.1.0` (``_imports.py``).

The values are the generated model (``_core/_wit_astrid_http.py``); the mapping onto our
requests, responses and error codes is ``_core/_astrid_http.py``. Served: `http-request`,
`http-request-opts`, `http-stream-start`, `http-stream-start-opts` and the `http-stream`
methods `status`, `headers`, `read-chunk`, `close`, `trailers`. The functions that need
`astrid:io` pollables and streams (`subscribe-readable`, `body-stream`, `http-upload-start` and
`http-upload`) are not linked yet: a capsule importing them fails to load, naming the function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from astrid_host._core._astrid_http import (
    error_to_1_0,
    headers_to_1_0,
    headers_to_upstream,
    request_from_1_0,
    request_from_upstream,
    response_to_1_0,
    response_to_upstream,
    to_upstream_error,
)
from astrid_host._core._contracts import IncomingStream
from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._core._wit_astrid_http import (
    HOST,
    HTTP_REQUEST_DATA_TY,
    HostErrorCode,
    HttpRequestData,
    KeyValuePair,
)
from astrid_host._core._wit_astrid_http import RequestOptions as UpstreamOptions
from astrid_host._core._wit_astrid_http_1_0 import HOST as HOST_1_0
from astrid_host._core._wit_astrid_http_1_0 import HostErrorCode as HostErrorCode10
from astrid_host._core._wit_astrid_http_1_0 import HttpRequestData as HttpRequestData10
from astrid_host._core._witschema import Err, Func, Ok
from astrid_host._wasm._astrid_io import AstridUpload, InputStream, OutputStream, Pollable
from astrid_host._wasm._convert import ValueOutOfRange
from astrid_host._wasm._dispatch import Call, HostInterface, handled
from astrid_host._wasm._imports import READ_CHUNK_MAX, request_layout, request_sizes
from astrid_host._wasm._session import SessionCancelled

__all__ = ["ASTRID_HTTP", "ASTRID_HTTP_1_0", "AstridStream"]

log = logging.getLogger("astrid_host.wasm")


class AstridStream:
    """An `http-stream`: our :class:`IncomingStream` with upstream's end and close rules
    (the end is an empty chunk; after `close`, reads are `closed`), and one chunk of
    read-ahead so that readiness (`subscribe-readable`, `body-stream`) means something: it is
    ready when a chunk, the end or a failure is known without waiting."""

    def __init__(self, stream: IncomingStream, decompression_limited: bool) -> None:
        self.stream = stream
        self.decompression_limited = decompression_limited
        self.closed = False
        self.ended = False
        self.buffer = b""
        self.failure: HttpError | None = None

    def ready(self) -> bool:
        return self.closed or self.ended or bool(self.buffer) or self.failure is not None

    async def fill(self) -> None:
        """Wait until :meth:`ready`: read one chunk ahead (or learn the end, or the failure)."""
        if self.ready():
            return
        try:
            piece = await self.stream.read(READ_CHUNK_MAX)
        except HttpError as exc:
            self.failure = exc
            return
        if piece is None:
            self.ended = True
        else:
            self.buffer = piece

    def take(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the chunk read ahead (nothing if none is)."""
        out, self.buffer = self.buffer[:limit], self.buffer[limit:]
        return out

    async def read_chunk(self) -> bytes:
        if self.closed:
            raise HttpError(ErrorCode.closed())
        if not self.ready():
            await self.fill()
        if self.buffer:
            return self.take(len(self.buffer))
        if self.failure is not None:
            raise self.failure
        return b""  # the end

    def trailers(self) -> tuple[KeyValuePair, ...] | None:
        """`trailers`: upstream makes them "available only after the body has been fully read
        (EOF); `none` if the response carried no trailers". So `none` until the body's end
        is known and every byte of it has been handed to the guest (by `read-chunk` or
        `body-stream`), and when the response had none; after that the trailer fields, also
        once the stream is closed. A body closed or failed before its end has none."""
        if not self.ended or self.buffer:
            return None
        fields = self.stream.trailers()
        return headers_to_upstream(fields) if fields else None

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.buffer = b""
            await self.stream.aclose()

    async def aclose(self) -> None:
        await self.close()


def _failure(call: Call, exc: BaseException, *, decompression_limited: bool = False
             ) -> HostErrorCode:
    """The upstream `error-code` a failed call answers with."""
    if isinstance(exc, HttpError):
        return to_upstream_error(exc.code, decompression_limited=decompression_limited)
    if isinstance(exc, SessionCancelled):
        return HostErrorCode.unknown("cancelled")
    if isinstance(exc, Exception):
        log.error("astrid:http import failed in capsule %s", call.session.name, exc_info=exc)
        return HostErrorCode.unknown(
            f"host fault ({type(exc).__name__}); details are in the host log")
    return HostErrorCode.unknown("cancelled")


def _request(call: Call, data: HttpRequestData, opts: UpstreamOptions | None, *,
             stream: bool) -> Ok[Any] | Err[HostErrorCode]:
    mapped = request_from_upstream(data, opts, buffered=not stream)
    if isinstance(mapped, HostErrorCode):
        return Err(mapped)
    req, limited = mapped
    backend = call.session.backend
    try:
        if stream:
            return Ok(AstridStream(call.session.run_io(backend.start, req), limited))
        resp = call.session.run_io(backend.send, req)
    except BaseException as exc:
        return Err(_failure(call, exc, decompression_limited=limited))
    if len(resp.body) > call.session.limits.memory_bytes:
        return Err(HostErrorCode.body_too_large())
    return Ok(response_to_upstream(resp))


def _read_chunk(call: Call, stream: AstridStream) -> Ok[bytes] | Err[HostErrorCode]:
    try:
        return Ok(call.session.run_io(stream.read_chunk))
    except BaseException as exc:
        return Err(_failure(call, exc, decompression_limited=stream.decompression_limited))


def _close(call: Call, stream: AstridStream) -> Ok[None] | Err[HostErrorCode]:
    try:
        call.session.run_io(stream.close)
    except BaseException as exc:
        return Err(_failure(call, exc))
    return Ok(None)


def _upload_start(call: Call, data: HttpRequestData, opts: UpstreamOptions
                  ) -> Ok[AstridUpload] | Err[HostErrorCode]:
    """`http-upload-start`: the request's own `body` is ignored (upstream's rule)."""
    mapped = request_from_upstream(data, opts, buffered=False)
    if isinstance(mapped, HostErrorCode):
        return Err(mapped)
    req, limited = mapped
    try:
        upload = call.session.run_io(call.session.backend.upload, replace(req, body=None))
    except BaseException as exc:
        return Err(_failure(call, exc, decompression_limited=limited))
    return Ok(AstridUpload(upload, limited))


def _finish(call: Call, upload: AstridUpload) -> Ok[AstridStream] | Err[HostErrorCode]:
    """`finish`: the body ends; the response comes as an `http-stream`. Once only: `closed`."""
    try:
        stream = call.session.run_io(upload.upload.finish_streaming)
    except BaseException as exc:
        upload.closed = True
        return Err(_failure(call, exc, decompression_limited=upload.decompression_limited))
    upload.closed = True  # the sink accepts nothing more
    return Ok(AstridStream(stream, upload.decompression_limited))


_HANDLERS: dict[str, Callable[..., Any]] = {
    "http-request": lambda call, req: _request(call, req, None, stream=False),
    "http-request-opts": lambda call, req, opts: _request(call, req, opts, stream=False),
    "http-stream-start": lambda call, req: _request(call, req, None, stream=True),
    "http-stream-start-opts": lambda call, req, opts: _request(call, req, opts, stream=True),
    "[method]http-stream.status": lambda call, s: s.stream.status,
    "[method]http-stream.headers": lambda call, s: headers_to_upstream(s.stream.headers),
    "[method]http-stream.read-chunk": _read_chunk,
    "[method]http-stream.close": _close,
    "[method]http-stream.trailers": lambda call, s: Ok(s.trailers()),
    "[method]http-stream.subscribe-readable": lambda call, s: Pollable(s),
    "[method]http-stream.body-stream": lambda call, s: InputStream(s),
    "http-upload-start": _upload_start,
    "[method]http-upload.body-sink": lambda call, u: OutputStream(u),
    "[method]http-upload.subscribe-writable": lambda call, u: Pollable(u),
    "[method]http-upload.finish": _finish,
}


def _guest_error(exc: Exception) -> HostErrorCode | None:
    """A number out of range in the guest's request is its `invalid-request`."""
    return HostErrorCode.invalid_request() if isinstance(exc, ValueOutOfRange) else None


_REQUEST = request_layout(HTTP_REQUEST_DATA_TY)


def _precheck(call: Call, func: Func) -> HostErrorCode | None:
    """Refuse an oversized request from its raw sizes, before it is lifted (as ``_imports``)."""
    if not func.params or func.params[0][0] != "request":
        return None
    sizes = request_sizes(call.raw_arg(0), _REQUEST)
    if sizes is None:
        return None
    limits = call.session.limits
    url, headers, size = sizes
    if (url is not None and url > limits.max_url_bytes) or (
            headers is not None and headers > limits.max_request_headers) or (
            size is not None and size > limits.max_request_bytes):
        return HostErrorCode.invalid_request()
    return None


#: `astrid:http/host@1.1.0` as astrid-host serves it (the functions with a handler).
ASTRID_HTTP = HostInterface(
    model=handled(HOST, _HANDLERS),
    handlers=_HANDLERS,
    error_value=lambda call, exc: _failure(call, exc),
    guest_error=_guest_error,
    precheck=_precheck,
)


# --- astrid:http/host@1.0.0: the same code, errors mapped down (upstream's kernel does so) ---

def _down(answer: Ok[Any] | Err[HostErrorCode]) -> Ok[Any] | Err[HostErrorCode10]:
    return Err(error_to_1_0(answer.value)) if isinstance(answer, Err) else answer


def _request_1_0(call: Call, data: HttpRequestData10, *, stream: bool
                 ) -> Ok[Any] | Err[HostErrorCode10]:
    answer = _request(call, request_from_1_0(data), None, stream=stream)
    if isinstance(answer, Ok) and not stream:
        return Ok(response_to_1_0(answer.value))
    return _down(answer)


_HANDLERS_1_0: dict[str, Callable[..., Any]] = {
    "http-request": lambda call, req: _request_1_0(call, req, stream=False),
    "http-stream-start": lambda call, req: _request_1_0(call, req, stream=True),
    "[method]http-stream.status": lambda call, s: s.stream.status,
    "[method]http-stream.headers": lambda call, s: headers_to_1_0(
        headers_to_upstream(s.stream.headers)),
    "[method]http-stream.read-chunk": lambda call, s: _down(_read_chunk(call, s)),
    "[method]http-stream.close": lambda call, s: _down(_close(call, s)),
    "[method]http-stream.subscribe-readable": lambda call, s: Pollable(s),
    "[method]http-stream.body-stream": lambda call, s: InputStream(s),
}

#: `astrid:http/host@1.0.0` as astrid-host serves it: every function.
ASTRID_HTTP_1_0 = HostInterface(
    model=handled(HOST_1_0, _HANDLERS_1_0),
    handlers=_HANDLERS_1_0,
    error_value=lambda call, exc: error_to_1_0(_failure(call, exc)),
    guest_error=lambda exc: (HostErrorCode10.invalid_request()
                             if isinstance(exc, ValueOutOfRange) else None),
    precheck=lambda call, func: (None if (refused := _precheck(call, func)) is None
                                 else error_to_1_0(refused)),
)
