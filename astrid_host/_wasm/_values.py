"""WIT values (as wasmtime-py gives and takes them) <-> the `_core._model` values.

Pure conversion functions used by the host imports; a value the guest got wrong raises
:class:`GuestValueError` carrying the `error-code` to return.
"""

from __future__ import annotations

from typing import Any

from wasmtime.component import Record, Variant

from astrid_host._core._model import (
    STANDARD_METHODS,
    DigestAlgorithm,
    ErrorCode,
    Header,
    Integrity,
    InvalidRequest,
    ProhibitedAddress,
    RedirectPolicy,
    Request,
    RequestOptions,
    RequestPart,
    Response,
    ResponseMeta,
    TimeoutPhase,
)

__all__ = [
    "U16_MAX",
    "U32_MAX",
    "U64_MAX",
    "GuestValueError",
    "HostFault",
    "checked_uint",
    "error_to_wit",
    "headers_to_wit",
    "meta_to_wit",
    "request_from_wit",
    "response_to_wit",
]


class GuestValueError(ValueError):
    """A value from the guest is not acceptable; carries the `error-code` to answer with."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(str(code))
        self.code = code


class HostFault(Exception):
    """The host cannot answer and the import has no error channel: the guest must trap."""


U16_MAX = (1 << 16) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1


def _record(fields: dict[str, Any]) -> Record:
    # wasmtime-py lowers records by attribute, and the untagged-result check needs a Record.
    r = Record()
    r.__dict__.update(fields)
    return r


def _opt_int(value: Any, limit: int, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise GuestValueError(ErrorCode.invalid_request(RequestPart.OPTIONS,
                                                         f"{name} out of range"))
    return value


def _method_from_wit(value: Any) -> str:
    if not isinstance(value, Variant):
        raise TypeError(f"method must be a Variant, got {type(value).__name__}")
    if value.tag == "other":
        if not isinstance(value.payload, str):
            raise TypeError("method other(...) payload must be a string")
        # Passed on as given; validating the token is the HTTP engine's job.
        return value.payload
    try:
        return STANDARD_METHODS[value.tag]
    except KeyError:
        raise TypeError(f"unknown method case {value.tag!r}") from None


def _headers_from_wit(value: Any) -> tuple[Header, ...]:
    out: list[Header] = []
    for item in value:
        name, raw = item
        if not isinstance(name, str) or not isinstance(raw, (bytes, bytearray)):
            raise TypeError("header must be (string, bytes)")
        out.append((name, bytes(raw)))
    return tuple(out)


def _options_from_wit(value: Any) -> RequestOptions | None:
    if value is None:
        return None
    g = value.__dict__
    integrity_value = g["integrity"]
    integrity = None
    if integrity_value is not None:
        integrity = Integrity(DigestAlgorithm(integrity_value.algorithm),
                              bytes(integrity_value.digest))
    policy = g["redirect-policy"]
    return RequestOptions(
        connect_timeout_ms=_opt_int(g["connect-timeout-ms"], U32_MAX, "connect-timeout-ms"),
        first_byte_timeout_ms=_opt_int(g["first-byte-timeout-ms"], U32_MAX,
                                       "first-byte-timeout-ms"),
        between_bytes_timeout_ms=_opt_int(g["between-bytes-timeout-ms"], U32_MAX,
                                          "between-bytes-timeout-ms"),
        total_timeout_ms=_opt_int(g["total-timeout-ms"], U32_MAX, "total-timeout-ms"),
        redirect_policy=None if policy is None else RedirectPolicy(policy),
        max_redirects=_opt_int(g["max-redirects"], U32_MAX, "max-redirects"),
        max_response_bytes=_opt_int(g["max-response-bytes"], U64_MAX, "max-response-bytes"),
        https_only=bool(g["https-only"]),
        decompress=bool(g["decompress"]),
        integrity=integrity,
    )


def request_from_wit(value: Any) -> Request:
    """A WIT `request` (as wasmtime-py lifts it) as a :class:`Request`.

    The method becomes its wire token (``other(x)`` gives ``x`` unchanged). Raises
    ``TypeError``/``KeyError``/``AttributeError`` when the value does not have the WIT shape
    (a host fault) and :class:`GuestValueError` for an out-of-range number.
    """
    body = value.body
    return Request(
        method=_method_from_wit(value.method),
        url=value.url if isinstance(value.url, str) else _bad("url must be a string"),
        headers=_headers_from_wit(value.headers),
        body=None if body is None else bytes(body),
        options=_options_from_wit(value.options),
    )


def _bad(message: str) -> Any:
    raise TypeError(message)


def checked_uint(value: int, limit: int, what: str) -> int:
    # wasmtime-py does not range-check integers (u64 2**64 silently becomes 0): check here.
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise ValueError(f"{what} {value!r} does not fit its WIT type")
    return value


def headers_to_wit(headers: tuple[Header, ...] | list[Header]) -> list[tuple[str, bytes]]:
    return [(str(name), bytes(raw)) for name, raw in headers]


def meta_to_wit(meta: ResponseMeta) -> Record:
    """A :class:`ResponseMeta` as a WIT `response-meta` record (numbers range-checked)."""
    return _record({
        "final-url": str(meta.final_url),
        "redirect-count": checked_uint(meta.redirect_count, U32_MAX, "redirect-count"),
        "elapsed-ms": checked_uint(meta.elapsed_ms, U64_MAX, "elapsed-ms"),
        "wire-bytes": checked_uint(meta.wire_bytes, U64_MAX, "wire-bytes"),
    })


def response_to_wit(resp: Response) -> Record:
    """A :class:`Response` as a WIT `response` record."""
    return _record({
        "status": checked_uint(resp.status, U16_MAX, "status"),
        "headers": headers_to_wit(resp.headers),
        "body": bytes(resp.body),
        "meta": meta_to_wit(resp.meta),
    })


#: Largest number each integer-payload case can carry on the wire.
_INT_CASE_LIMITS = {"body-too-large": U64_MAX, "request-too-large": U64_MAX,
                    "too-many-redirects": U32_MAX, "stream-limit": U32_MAX}


def error_to_wit(code: ErrorCode) -> Variant:
    """An :class:`ErrorCode` as the WIT `error-code` variant value wasmtime-py lowers.

    Integer payloads larger than their WIT type saturate: the guest learns "at least this
    much", which is truer than wasmtime's silent wrap-around to 0.
    """
    payload: Any = code.payload
    if isinstance(payload, ProhibitedAddress):
        payload = _record({
            "host": payload.host,
            "addresses": [_record({"address": a.address, "reason": a.reason})
                          for a in payload.addresses],
        })
    elif isinstance(payload, InvalidRequest):
        payload = _record({"part": payload.part.value, "detail": payload.detail})
    elif isinstance(payload, TimeoutPhase):
        payload = payload.value
    elif isinstance(payload, int):
        payload = max(0, min(payload, _INT_CASE_LIMITS[code.case]))
    return Variant(code.case, payload)


