"""The host side of `astrid:http/client@0.1.0`: the adapter between the generated host model
and the capsule's :class:`~astrid_host._core._contracts.HttpBackend`.

The interface itself — functions, types, resources, signatures — is generated from the WIT
(:data:`astrid_host._core._wit_http.CLIENT`); serving it (linking, lifting, lowering, the
error channel) is :mod:`astrid_host._wasm._dispatch`. What is HTTP's own is here: one handler
per function awaiting the backend on the event loop, and the rule that every failure becomes
a WIT `error-code` value: :class:`HttpError` carries its own code, cancellation (the capsule
was closed) is ``cancelled``, any other exception is ``internal``; a number out of range in a
request is the guest's `invalid-request`, and an `error-code` payload larger than its WIT
integer saturates. Oversized requests are refused from their raw sizes before they are lifted
(:func:`precheck_request`).

The only trap a handler can cause is a host fault with no error channel (a method like
``status`` on a handle the host no longer knows) or a guest that declared an import with a type
other than the one in `wit/client.wit`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from wasmtime.component import Variant

from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, HttpError, RequestPart
from astrid_host._core._wit_http import CLIENT, ERROR_CODE_TY, REQUEST_TY
from astrid_host._core._witschema import Err, Func, IntTy, Ok, RecordTy
from astrid_host._wasm._convert import ValueOutOfRange, lower
from astrid_host._wasm._dispatch import Call, HostInterface, link_interface, payload_bytes
from astrid_host._wasm._session import SessionCancelled
from astrid_host._wasm._wasmtime_patches import (
    LaneUnavailable,
    LinearMemory,
    OutOfBounds,
    list_size,
    option_value,
    record_fields,
    string_size,
)

__all__ = ["CLIENT_INTERFACE", "HTTP_CLIENT", "LANE_CHUNK_MAX", "READ_CHUNK_MAX",
           "STR_CHUNK_MAX", "error_to_wit", "guest_error", "lane_range", "latin1_bytes",
           "link_client", "precheck_request"]

log = logging.getLogger("astrid_host.wasm")

#: The interface name the guest imports.
CLIENT_INTERFACE = CLIENT.id

#: Largest piece handed back by one ``read``: moving ``list<u8>`` across the boundary costs
#: about a microsecond per byte in wasmtime-py, so a huge ``max`` only makes one call slow.
#: ``read`` may return fewer bytes than asked, so clamping is invisible to a correct guest.
READ_CHUNK_MAX = 256 * 1024

#: Largest piece one ``read-into`` copies: the lane costs a memory copy per byte, so only the
#: host memory held for one piece bounds it.
LANE_CHUNK_MAX = 4 * 1024 * 1024

#: Largest piece one ``read-str`` returns: a string crosses as one buffer (a few ms per MiB),
#: and pieces of about 1 MiB measured cheapest per byte (docs/dev/body-lane.md).
STR_CHUNK_MAX = 1024 * 1024


def _io(call: Call, afn: Callable[..., Awaitable[Any]], *args: Any) -> Ok[Any] | Err[ErrorCode]:
    """Run one backend call on the event loop; a body too large for the guest is refused."""
    value = call.session.run_io(afn, *args)
    too_big = _exceeds_guest_memory(call.session.limits, value)
    return Ok(value) if too_big is None else Err(too_big)


def _exceeds_guest_memory(limits: Limits, value: Any) -> ErrorCode | None:
    """A body that cannot fit in the capsule's memory limit is refused before it is lowered:
    the guest's allocator would fail anyway, after the host had spent time and memory on it."""
    if payload_bytes(value) > limits.memory_bytes:
        return ErrorCode.body_too_large(limits.memory_bytes)
    return None


def _error_value(call: Call, exc: BaseException) -> ErrorCode:
    """The `error-code` a failed call answers with."""
    if isinstance(exc, HttpError):
        return exc.code
    if isinstance(exc, SessionCancelled):
        return ErrorCode.cancelled()
    if isinstance(exc, Exception):
        log.error("host import failed in capsule %s", call.session.name, exc_info=exc)
        # Only the exception type reaches the guest: its text may hold host details
        # (paths, addresses) an untrusted capsule has no business seeing.
        return ErrorCode.internal(
            f"host fault ({type(exc).__name__}); details are in the host log")
    return ErrorCode.cancelled()  # Cancelled/CancelledError, KeyboardInterrupt: never into wasmtime


def guest_error(exc: Exception) -> ErrorCode | None:
    """The `error-code` for a number out of range in a request the guest sent (it is
    refused as `invalid-request`), or ``None`` when lifting failed through the host's fault
    (a trap)."""
    if isinstance(exc, ValueOutOfRange) and exc.path:
        try:
            part = RequestPart(exc.path[0])
        except ValueError:
            return None
        return ErrorCode.invalid_request(part, f"{exc.path[-1]} out of range")
    return None


_ERROR_CASES = dict(ERROR_CODE_TY.variant_cases)


def error_to_wit(code: ErrorCode, ctx: Any = None) -> Variant:
    """An :class:`ErrorCode` as the WIT `error-code` variant value wasmtime-py lowers.

    Integer payloads larger than their WIT type saturate: the guest learns "at least this
    much", which is truer than wasmtime's silent wrap-around to 0.
    """
    ty = _ERROR_CASES[code.case]
    if isinstance(ty, IntTy) and isinstance(code.payload, int):
        code = replace(code, payload=max(ty.lo, min(code.payload, ty.hi)))
    value: Variant = lower(ERROR_CODE_TY, code)
    return value


# --- the handlers: host-model values in, host-model values out -------------------------------

def _read(call: Call, stream: Any, max_bytes: int) -> Ok[Any] | Err[ErrorCode]:
    # 0 would make "at least one byte" impossible; huge values make one call slow.
    return _io(call, stream.read, max(1, min(max_bytes, READ_CHUNK_MAX)))


def lane_range(call: Call, ptr: int, n: int) -> LinearMemory | Err[ErrorCode]:
    """The caller's memory, when ``ptr .. ptr + n`` lies inside it; else the guest's error."""
    try:
        memory = call.session.memories.lane()
        memory.check(ptr, n)
    except (LaneUnavailable, OutOfBounds) as exc:
        return Err(ErrorCode.invalid_request(RequestPart.BODY, str(exc)))
    return memory


def _read_into(call: Call, stream: Any, ptr: int, cap: int) -> Ok[int] | Err[ErrorCode]:
    if cap == 0:
        return Err(ErrorCode.invalid_request(RequestPart.BODY, "cap must be at least 1"))
    memory = lane_range(call, ptr, cap)  # checked before reading: no byte is lost
    if isinstance(memory, Err):
        return memory
    piece = call.session.run_io(stream.read, min(cap, LANE_CHUNK_MAX))
    if not piece:
        return Ok(0)
    memory.write(ptr, piece)
    return Ok(len(piece))


def _write_from(call: Call, upload: Any, ptr: int, length: int) -> Ok[Any] | Err[ErrorCode]:
    memory = lane_range(call, ptr, length)
    if isinstance(memory, Err):
        return memory
    limit = call.session.limits.max_upload_bytes
    if length > limit:  # refused before the host copies it
        return Err(ErrorCode.request_too_large(limit))
    return _io(call, upload.write, memory.read(ptr, length))


def _read_str(call: Call, stream: Any, max_bytes: int) -> Ok[str | None] | Err[ErrorCode]:
    piece = call.session.run_io(stream.read, max(1, min(max_bytes, STR_CHUNK_MAX)))
    return Ok(None if piece is None else piece.decode("latin-1"))


def latin1_bytes(chunk: str) -> bytes | Err[ErrorCode]:
    """The bytes a string-lane piece carries (its code points), or the guest's error for a
    code point above 255."""
    try:
        return chunk.encode("latin-1")
    except UnicodeEncodeError as exc:
        return Err(ErrorCode.invalid_request(
            RequestPart.BODY, f"code point U+{ord(chunk[exc.start]):04X} is not a byte"))


def _write_str(call: Call, upload: Any, chunk: str) -> Ok[Any] | Err[ErrorCode]:
    data = latin1_bytes(chunk)
    return data if isinstance(data, Err) else _io(call, upload.write, data)


_HANDLERS: dict[str, Callable[..., Any]] = {
    "send": lambda call, req: _io(call, call.session.backend.send, req),
    "start": lambda call, req: _io(call, call.session.backend.start, req),
    "upload": lambda call, req: _io(call, call.session.backend.upload, req),
    "[method]incoming-response.status": lambda call, stream: stream.status,
    "[method]incoming-response.headers": lambda call, stream: stream.headers,
    "[method]incoming-response.meta": lambda call, stream: stream.meta(),
    "[method]incoming-response.read": _read,
    "[method]incoming-response.read-into": _read_into,
    "[method]incoming-response.read-str": _read_str,
    "[method]outgoing-body.write": lambda call, upload, chunk: _io(call, upload.write, chunk),
    "[method]outgoing-body.write-from": _write_from,
    "[method]outgoing-body.write-str": _write_str,
    "[method]outgoing-body.finish": lambda call, upload: _io(call, upload.finish),
    "[method]outgoing-body.finish-streaming":
        lambda call, upload: _io(call, upload.finish_streaming),
}


# --- refusing an oversized request before it is lifted ---------------------------------------

def request_layout(ty: RecordTy[Any]) -> tuple[int, int, int, int]:
    """Where :func:`request_sizes` finds what it reads in a request record of type ``ty``
    (fields ``url``, ``headers`` and ``body``, as in ours and upstream's): its field count
    and those three positions. Computed once per type, not per request."""
    names = [wit_name for wit_name, _, _ in ty.fields]
    return len(names), names.index("url"), names.index("headers"), names.index("body")


def request_sizes(raw: Any, layout: tuple[int, int, int, int]
                  ) -> tuple[int | None, int | None, int | None] | None:
    """The URL's bytes, the number of header fields and the body's bytes (``None`` for a body
    that is none) of a raw request record (``layout``: :func:`request_layout`), read without
    lifting it; ``None`` for a value of another shape."""
    count, url, headers, body = layout
    fields = record_fields(raw, count)
    if fields is None:
        return None
    payload = option_value(fields[body])
    return (string_size(fields[url]), list_size(fields[headers]),
            None if payload is None else list_size(payload))


_REQUEST = request_layout(REQUEST_TY)


def precheck_request(raw: Any, limits: Limits) -> ErrorCode | None:
    """Refuse an oversized request from its raw C value, before lifting it into Python.

    Lifting costs about a microsecond per list element (wasmtime-py converts one value at a
    time, in host code the epoch deadline cannot interrupt), so a guest could make the host
    spend seconds materialising 100k headers that would be refused anyway. Reads only sizes:
    the URL's bytes, the number of header fields, the body's bytes. ``None`` means "lift it".
    """
    sizes = request_sizes(raw, _REQUEST)
    if sizes is None:
        return None  # not the shape load-time checking admits; the normal path decides
    url, headers, size = sizes
    if url is not None and url > limits.max_url_bytes:
        return ErrorCode.invalid_request(
            RequestPart.URL, f"the URL is longer than {limits.max_url_bytes} bytes")
    if headers is not None and headers > limits.max_request_headers:
        return ErrorCode.invalid_request(
            RequestPart.HEADER, f"more than {limits.max_request_headers} header fields")
    if size is not None and size > limits.max_request_bytes:
        return ErrorCode.request_too_large(limits.max_request_bytes)
    return None


def _precheck(call: Call, func: Func) -> ErrorCode | None:
    if func.params == (("req", REQUEST_TY),) and call.nargs == 1:
        return precheck_request(call.raw_arg(0), call.session.limits)
    return None


#: `astrid:http/client@0.1.0` as the host serves it.
HTTP_CLIENT = HostInterface(
    model=CLIENT,
    handlers=_HANDLERS,
    error_value=_error_value,
    guest_error=guest_error,
    precheck=_precheck,
    lower_error=error_to_wit,
)


def link_client(linker: Any) -> None:
    """Define every function and resource of `astrid:http/client@0.1.0` on ``linker``.

    The linker must not be locked (no live ``root()`` child).
    """
    link_interface(linker, HTTP_CLIENT)
