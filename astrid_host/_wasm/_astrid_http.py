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
    headers_to_upstream,
    request_from_upstream,
    response_to_upstream,
    to_upstream_error,
)
from astrid_host._core._contracts import IncomingStream
from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._core._wit_astrid_http import HOST, HostErrorCode, HttpRequestData
from astrid_host._core._wit_astrid_http import RequestOptions as UpstreamOptions
from astrid_host._core._witschema import Err, Func, Ok
from astrid_host._wasm._convert import ValueOutOfRange
from astrid_host._wasm._dispatch import Call, HostInterface
from astrid_host._wasm._imports import READ_CHUNK_MAX
from astrid_host._wasm._session import SessionCancelled
from astrid_host._wasm._wasmtime_patches import list_size, option_value, record_fields, string_size

__all__ = ["ASTRID_HTTP", "AstridStream"]

log = logging.getLogger("astrid_host.wasm")


class AstridStream:
    """An `http-stream`: our :class:`IncomingStream` with upstream's end and close rules
    (the end is an empty chunk; after `close`, reads are `closed`)."""

    def __init__(self, stream: IncomingStream, decompression_limited: bool) -> None:
        self.stream = stream
        self.decompression_limited = decompression_limited
        self.closed = False
        self.ended = False

    async def read_chunk(self) -> bytes:
        if self.closed:
            raise HttpError(ErrorCode.closed())
        if self.ended:
            return b""
        piece = await self.stream.read(READ_CHUNK_MAX)
        if piece is None:
            self.ended = True
            return b""
        return piece

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
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


_HANDLERS: dict[str, Callable[..., Any]] = {
    "http-request": lambda call, req: _request(call, req, None, stream=False),
    "http-request-opts": lambda call, req, opts: _request(call, req, opts, stream=False),
    "http-stream-start": lambda call, req: _request(call, req, None, stream=True),
    "http-stream-start-opts": lambda call, req, opts: _request(call, req, opts, stream=True),
    "[method]http-stream.status": lambda call, s: s.stream.status,
    "[method]http-stream.headers": lambda call, s: headers_to_upstream(s.stream.headers),
    "[method]http-stream.read-chunk": _read_chunk,
    "[method]http-stream.close": _close,
    # The engine does not expose trailers yet: `none`, as upstream answers.
    "[method]http-stream.trailers": lambda call, s: Ok(None),
}


def _guest_error(exc: Exception) -> HostErrorCode | None:
    """A number out of range in the guest's request is its `invalid-request`."""
    return HostErrorCode.invalid_request() if isinstance(exc, ValueOutOfRange) else None


#: Field positions in upstream's `http-request-data`: url, method, headers, body.
_URL, _HEADERS, _BODY = 0, 2, 3


def _precheck(call: Call, func: Func) -> HostErrorCode | None:
    """Refuse an oversized request from its raw sizes, before it is lifted (as ``_imports``)."""
    if not func.params or func.params[0][0] != "request":
        return None
    fields = record_fields(call.raw_arg(0), 4)
    if fields is None:
        return None
    limits = call.session.limits
    url = string_size(fields[_URL])
    headers = list_size(fields[_HEADERS])
    body = option_value(fields[_BODY])
    size = None if body is None else list_size(body)
    if (url is not None and url > limits.max_url_bytes) or (
            headers is not None and headers > limits.max_request_headers) or (
            size is not None and size > limits.max_request_bytes):
        return HostErrorCode.invalid_request()
    return None


#: `astrid:http/host@1.1.0` as astrid-host serves it (the functions with a handler).
ASTRID_HTTP = HostInterface(
    model=replace(HOST, functions=tuple(f for f in HOST.functions if f.name in _HANDLERS)),
    handlers=_HANDLERS,
    error_value=lambda call, exc: _failure(call, exc),
    guest_error=_guest_error,
    precheck=_precheck,
)
