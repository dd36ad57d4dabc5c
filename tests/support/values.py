"""WIT values for wasmtime-py (records by attribute, dashed names) and their decoding."""

from __future__ import annotations

from typing import Any

from wasmtime.component import Record, Variant

from astrid_host._core._model import RequestOptions

__all__ = ["ERROR_CASE_NAMES", "FNV_OFFSET", "fnv1a64", "outcome_of", "wit_options", "wit_request"]

ERROR_CASE_NAMES = frozenset({
    "denied", "destination-prohibited", "invalid-request", "dns-error", "connection-refused",
    "connection-failed", "tls-error", "timeout", "body-too-large", "request-too-large",
    "too-many-redirects", "redirect-blocked", "integrity-mismatch", "protocol-error",
    "stream-limit", "closed", "cancelled", "internal"})

_OPTION_FIELDS = ("connect_timeout_ms", "first_byte_timeout_ms", "between_bytes_timeout_ms",
                  "total_timeout_ms", "redirect_policy", "max_redirects", "max_response_bytes",
                  "integrity")


def _record(**fields: Any) -> Record:
    r = Record()
    r.__dict__.update({k.replace("_", "-"): v for k, v in fields.items()})
    return r


def wit_options(**given: Any) -> Record:
    """A WIT ``request-options``: every field absent/false unless given (snake_case names)."""
    fields: dict[str, Any] = dict.fromkeys(_OPTION_FIELDS)
    fields.update(https_only=False, decompress=False)
    fields.update(given)
    return _record(**fields)


def wit_request(url: str, method: str = "get", *, headers: list[tuple[str, bytes]] | None = None,
                body: bytes | None = None, options: dict[str, Any] | None = None) -> Record:
    """A WIT ``request`` value."""
    return _record(method=Variant(method), url=url, headers=headers or [], body=body,
                   options=None if options is None else wit_options(**options))


def model_options(options: dict[str, Any] | None) -> RequestOptions | None:
    """The same options as the model's :class:`RequestOptions` (for CapsuleHttp directly)."""
    if options is None:
        return None
    return RequestOptions(**options)


def outcome_of(value: Any) -> tuple[str, Any]:
    """``result<T, error-code>`` from wasmtime-py: ("ok", T) or (case, payload).

    A bare ``Variant`` whose tag is an error-code case is the error (no ok type used with this
    helper is a variant)."""
    if isinstance(value, Variant) and value.tag in ERROR_CASE_NAMES:
        return value.tag, value.payload
    return "ok", value


#: FNV-1a 64-bit, the hash the conformance guests report over the bytes they read.
FNV_OFFSET, FNV_PRIME, MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """FNV-1a 64 of ``data``, as the guests compute it."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h
