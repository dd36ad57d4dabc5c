"""The host side of `astrid:http/output@0.1.0`: the body a capsule hands its caller.

A guest writes pieces while an export runs; they go to the call's
:class:`~astrid_host._core._output.OutputBuffer` (``StoreSession.output``, set by
:meth:`Capsule.call_with_output`, ``None`` for a plain call). The three lanes are those of
`outgoing-body` and share its helpers (:mod:`astrid_host._wasm._imports`): ``write-from``
checks the range against the guest's memory and copies the bytes straight out of it,
``write-str`` carries bytes as latin-1 code points, ``write`` is the slow ``list<u8>``. Every
refusal is the guest's `error-code` and keeps nothing of the piece:

- no output asked for: `invalid-request` (part `body`), checked first;
- a range outside the guest's memory (or no single memory): `invalid-request` (part `body`);
- a code point above 255: `invalid-request` (part `body`);
- the output would pass ``Limits.max_output_bytes``: `body-too-large` (the limit), checked
  before the bytes are copied (``write-from``) or lifted (``write``, ``write-str``: from the
  value's size before lifting, then exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from astrid_host._core._model import ErrorCode, RequestPart
from astrid_host._core._output import OutputBuffer
from astrid_host._core._wit_http import OUTPUT
from astrid_host._core._witschema import Err, Func, Ok
from astrid_host._wasm._dispatch import Call, HostInterface
from astrid_host._wasm._imports import HTTP_CLIENT, lane_range, latin1_bytes
from astrid_host._wasm._wasmtime_patches import list_size, string_size

__all__ = ["HTTP_INTERFACES", "HTTP_OUTPUT", "NOT_ASKED"]

#: The detail of the `invalid-request` a write gets in a call that did not ask for output.
NOT_ASKED = "the host did not ask this call for output (Capsule.call_with_output)"


def _output(call: Call) -> OutputBuffer | Err[ErrorCode]:
    output = call.session.output
    if output is None:
        return Err(ErrorCode.invalid_request(RequestPart.BODY, NOT_ASKED))
    return output


def _too_large(output: OutputBuffer) -> Err[ErrorCode]:
    return Err(ErrorCode.body_too_large(output.limit))


def _keep(output: OutputBuffer | Err[ErrorCode], piece: bytes | Err[ErrorCode]
          ) -> Ok[None] | Err[ErrorCode]:
    if isinstance(output, Err):
        return output
    if isinstance(piece, Err):
        return piece
    return Ok(None) if output.append(piece) else _too_large(output)


def _write_from(call: Call, ptr: int, length: int) -> Ok[None] | Err[ErrorCode]:
    output = _output(call)
    if isinstance(output, Err):
        return output
    memory = lane_range(call, ptr, length)
    if isinstance(memory, Err):
        return memory
    if not output.fits(length):  # refused before the host copies it
        return _too_large(output)
    return _keep(output, memory.read(ptr, length))


_HANDLERS: dict[str, Callable[..., Any]] = {
    "write": lambda call, chunk: _keep(_output(call), chunk),
    "write-from": _write_from,
    "write-str": lambda call, chunk: _keep(_output(call), latin1_bytes(chunk)),
}


def _precheck(call: Call, func: Func) -> ErrorCode | None:
    """Refuse a ``write`` or ``write-str`` before its value is lifted when it could not be
    kept anyway: a ``list<u8>`` costs about a microsecond per byte to lift, and a string is
    decoded and encoded again before its size is known."""
    if func.name not in ("write", "write-str") or call.nargs != 1:
        return None
    output = _output(call)
    if isinstance(output, Err):
        return output.value
    raw = call.raw_arg(0)
    if func.name == "write":
        size = list_size(raw)
    else:
        # The string arrives as UTF-8, where a code point up to 255 takes at most two bytes:
        # one of n bytes carries at least ceil(n / 2) body bytes (or a code point above 255,
        # refused anyway).
        utf8 = string_size(raw)
        size = None if utf8 is None else (utf8 + 1) // 2
    return None if size is None or output.fits(size) else ErrorCode.body_too_large(output.limit)


#: `astrid:http/output@0.1.0` as the host serves it; failures are answered like the client's.
HTTP_OUTPUT = HostInterface(
    model=OUTPUT,
    handlers=_HANDLERS,
    error_value=HTTP_CLIENT.error_value,
    guest_error=HTTP_CLIENT.guest_error,
    precheck=_precheck,
    lower_error=HTTP_CLIENT.lower_error,
)

#: Both interfaces of our own `astrid:http@0.1.0` the host serves.
HTTP_INTERFACES: tuple[HostInterface, ...] = (HTTP_CLIENT, HTTP_OUTPUT)
