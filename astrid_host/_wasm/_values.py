"""`astrid:http` values (as wasmtime-py gives and takes them) <-> the `_core._model` values.

Thin: the conversion itself is the single converter (:mod:`astrid_host._wasm._convert`)
reading the generated host model (:mod:`astrid_host._core._wit_http`). What is HTTP's own is
here: a number out of range in a request is the guest's `invalid-request`, and an `error-code`
payload larger than its WIT integer saturates instead of failing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wasmtime.component import Record, Variant

from astrid_host._core import _wit_http as wit
from astrid_host._core._model import ErrorCode, Request, RequestPart, Response
from astrid_host._core._witschema import IntTy
from astrid_host._wasm._convert import ValueOutOfRange, lift, lower
from astrid_host._wasm._errors import GuestValueError, HostFault

__all__ = [
    "GuestValueError",
    "HostFault",
    "error_to_wit",
    "guest_error",
    "request_from_wit",
    "response_to_wit",
]


def guest_error(exc: Exception) -> ErrorCode | None:
    """The `error-code` for a value the guest got wrong while its arguments were lifted, or
    ``None`` when the failure is the host's (a trap)."""
    if isinstance(exc, GuestValueError):
        return exc.code  # type: ignore[no-any-return]
    if isinstance(exc, ValueOutOfRange) and exc.path:
        try:
            part = RequestPart(exc.path[0])
        except ValueError:
            return None
        return ErrorCode.invalid_request(part, f"{exc.path[-1]} out of range")
    return None


def request_from_wit(value: Any) -> Request:
    """A WIT `request` (as wasmtime-py lifts it) as a :class:`Request`.

    The method becomes its wire token (``other(x)`` gives ``x`` unchanged). Raises
    ``TypeError``/``KeyError``/``AttributeError`` when the value does not have the WIT shape
    (a host fault) and :class:`GuestValueError` for an out-of-range number.
    """
    try:
        return lift(wit.REQUEST_TY, value)
    except ValueOutOfRange as exc:
        code = guest_error(exc)
        if code is None:
            raise
        raise GuestValueError(code) from None


def response_to_wit(resp: Response) -> Record:
    """A :class:`Response` as a WIT `response` record (numbers range-checked)."""
    record: Record = lower(wit.RESPONSE_TY, resp)
    return record


_CASES = dict(wit.ERROR_CODE_TY.variant_cases)


def error_to_wit(code: ErrorCode, ctx: Any = None) -> Variant:
    """An :class:`ErrorCode` as the WIT `error-code` variant value wasmtime-py lowers.

    Integer payloads larger than their WIT type saturate: the guest learns "at least this
    much", which is truer than wasmtime's silent wrap-around to 0.
    """
    ty = _CASES[code.case]
    if isinstance(ty, IntTy) and isinstance(code.payload, int):
        code = replace(code, payload=max(ty.lo, min(code.payload, ty.hi)))
    value: Variant = lower(wit.ERROR_CODE_TY, code)
    return value
