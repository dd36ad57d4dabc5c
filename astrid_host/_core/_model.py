"""The values that cross the capsule boundary, as plain Python.

They are generated from `wit/types.wit` into :mod:`astrid_host._core._wit_http` (records,
enums, the `error-code` cases and their integer widths); this module re-exports them with the
conveniences the WIT cannot say: the `error-code` text for logs, :class:`HttpError`, the method
tokens. The wasm layer converts between them and wasmtime-py values; the network layer consumes
and produces them and never sees wasmtime. Every failure of a request is an :class:`ErrorCode`
(raised inside an :class:`HttpError`), never a bare exception.
"""

from __future__ import annotations

import enum

from astrid_host._core import _wit_http as _wit
from astrid_host._core._wit_http import AddressVerdict as AddressVerdict
from astrid_host._core._wit_http import DigestAlgorithm as DigestAlgorithm
from astrid_host._core._wit_http import Integrity as Integrity
from astrid_host._core._wit_http import InvalidRequest as InvalidRequest
from astrid_host._core._wit_http import ProhibitedAddress as ProhibitedAddress
from astrid_host._core._wit_http import RedirectPolicy as RedirectPolicy
from astrid_host._core._wit_http import Request as Request
from astrid_host._core._wit_http import RequestOptions as RequestOptions
from astrid_host._core._wit_http import RequestPart as RequestPart
from astrid_host._core._wit_http import Response as Response
from astrid_host._core._wit_http import ResponseMeta as ResponseMeta
from astrid_host._core._wit_http import TimeoutPhase as TimeoutPhase

# The generated values above are re-exported as they are (``X as X``); defined here:
__all__ = ["STANDARD_METHODS", "ErrorCode", "Header", "HttpError"]

#: A header field: (name, raw value bytes). Order and duplicates are significant.
Header = tuple[str, bytes]

#: The methods that have their own case in the WIT `method` variant, WIT name → token.
STANDARD_METHODS: dict[str, str] = {
    case: _wit.METHOD_TY.make(case, None)
    for case, payload in _wit.METHOD_TY.variant_cases
    if payload is None
}


class ErrorCode(_wit.ErrorCode):
    """WIT `error-code`: the case name (as in the WIT, dashed) and its payload.

    Build values with the class methods (``ErrorCode.timeout(TimeoutPhase.CONNECT)``) so the
    payload type always matches the case; ``CASES`` maps each case to its payload type.
    """

    def __str__(self) -> str:
        return self.case if self.payload is None else f"{self.case}: {_describe(self.payload)}"


def _describe(payload: _wit.ErrorCodePayload) -> str:
    if isinstance(payload, enum.Enum):
        return str(payload.value)
    if isinstance(payload, ProhibitedAddress):
        inner = ", ".join(f"{a.address} ({a.reason})" for a in payload.addresses)
        return f"{payload.host} -> {inner}"
    if isinstance(payload, InvalidRequest):
        return f"{payload.part.value}: {payload.detail}"
    return str(payload)


class HttpError(Exception):
    """A request failed; ``code`` is the WIT `error-code` the capsule will receive."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(str(code))
        self.code = code
