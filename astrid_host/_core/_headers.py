"""Request validation: method token, header names and values, and the headers a capsule may not set.

Pure logic. :func:`validate_request` either returns the request shape the network layer will
put on the wire or raises :class:`~astrid_host._core._model.HttpError` with
``invalid-request`` (the capsule's mistake) or ``request-too-large``.

Decision: hop-by-hop and framing headers are **rejected**, never silently dropped or merged.
The host owns the connection (``Connection``, ``Keep-Alive``, ``Upgrade``, ``TE``,
``Trailer``), the message framing (``Content-Length``, ``Transfer-Encoding``) and the
authority (``Host``: it must match the vetted URL, or a capsule could reach one virtual host
while the policy checked another). ``Proxy-*`` headers would leak credentials or steer a
proxy. ``Forwarded``, ``X-Forwarded-*``, ``Via`` and ``X-Real-IP`` say where a request came
from and which proxies it passed: a capsule setting them could spoof its origin to a
destination that trusts them. Rejecting makes a capsule's mistake visible instead of sending
something else than it asked for.

:func:`check_trailers` holds a response's trailer section to the same field rules and to the
response head's size limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from astrid_host._core._limits import Limits
from astrid_host._core._model import ErrorCode, Header, HttpError, Request, RequestPart

__all__ = [
    "FORBIDDEN_HEADERS",
    "FORBIDDEN_METHODS",
    "MAX_TRAILER_FIELDS",
    "check_trailers",
    "WireRequest",
    "check_body_size",
    "header_values",
    "validate_headers",
    "validate_method",
    "validate_request",
]

#: Header names (lower case) the host sets itself; a capsule sending one gets `invalid-request`.
#: Any name starting with ``proxy-`` is rejected as well.
FORBIDDEN_HEADERS: frozenset[str] = frozenset({
    "host",
    "connection",
    "transfer-encoding",
    "content-length",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    # Where the request came from and what it passed through: only the host (or a real proxy)
    # may say that, or a capsule could pass itself off as another client to a destination
    # that trusts these.
    "forwarded",
    "via",
    "x-real-ip",
})

#: Any header name starting with one of these is host-set as well.
_FORBIDDEN_PREFIXES = ("proxy-", "x-forwarded-")

#: A response's trailer section may hold at most this many fields.
MAX_TRAILER_FIELDS = 100

#: Methods refused outright: CONNECT turns the connection into a tunnel past the guard, TRACE
#: reflects request headers (credentials) back (cross-site tracing).
FORBIDDEN_METHODS: frozenset[str] = frozenset({"CONNECT", "TRACE"})

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: field-value = *field-content, no leading/trailing whitespace, visible chars,
# obs-text (0x80-0xFF) allowed, SP/HTAB only between visible chars. Same rule as h11, so h11
# never gets a value it would refuse halfway through sending.
_FIELD_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff]+(?:[ \t]+[\x21-\x7e\x80-\xff]+)*)?")


@dataclass(frozen=True)
class WireRequest:
    """A validated request: method and headers as bytes, ready for the HTTP library."""

    method: bytes
    headers: tuple[tuple[bytes, bytes], ...]


def validate_method(method: str) -> bytes:
    """The method as wire bytes, or ``invalid-request(method)`` if it is not an allowed token."""
    raw = method.encode("utf-8", "surrogateescape")
    if not _TOKEN.fullmatch(raw):
        raise _invalid(RequestPart.METHOD, f"method {method!r} is not an HTTP token")
    if method.upper() in FORBIDDEN_METHODS:
        raise _invalid(RequestPart.METHOD, f"method {method.upper()} is not allowed")
    return raw


def validate_headers(headers: Iterable[Header], limits: Limits) -> tuple[tuple[bytes, bytes], ...]:
    """Check every header a capsule sent; return them as bytes in the original order.

    Counting ``name: value\\r\\n`` as the size of one field, the total must stay within
    ``limits.max_request_header_bytes`` and the count within ``limits.max_request_headers``.
    """
    out: list[tuple[bytes, bytes]] = []
    total = 0
    for index, (name, value) in enumerate(headers):
        if index >= limits.max_request_headers:
            raise _invalid(RequestPart.HEADER,
                           f"more than {limits.max_request_headers} header fields")
        raw_name = name.encode("utf-8", "surrogateescape")
        if not _TOKEN.fullmatch(raw_name):
            raise _invalid(RequestPart.HEADER, f"header name {name!r} is not an HTTP token")
        lower = name.lower()
        if lower in FORBIDDEN_HEADERS or lower.startswith(_FORBIDDEN_PREFIXES):
            raise _invalid(RequestPart.HEADER, f"header {name!r} is set by the host and may not "
                           f"be sent by a capsule{_WHY.get(_kind(lower), '')}")
        value = bytes(value)
        if any(c in value for c in b"\r\n\x00"):
            raise _invalid(RequestPart.HEADER, f"header {name!r} value contains CR, LF or NUL")
        if not _FIELD_VALUE.fullmatch(value):
            raise _invalid(
                RequestPart.HEADER,
                f"header {name!r} value has control characters or leading/trailing whitespace")
        total += len(raw_name) + len(value) + 4
        if total > limits.max_request_header_bytes:
            raise _invalid(RequestPart.HEADER,
                           f"header fields exceed {limits.max_request_header_bytes} bytes")
        out.append((raw_name, value))
    return tuple(out)


def check_body_size(size: int, limit: int) -> None:
    """Raise ``request-too-large(limit)`` when a body of ``size`` bytes is over ``limit``."""
    if size > limit:
        raise HttpError(ErrorCode.request_too_large(limit))


def validate_request(req: Request, limits: Limits) -> WireRequest:
    """Validate method, header fields and buffered body size of ``req``.

    The URL is the egress guard's: ``parse_url`` checks it, its length included.
    """
    method = validate_method(req.method)
    headers = validate_headers(req.headers, limits)
    if req.body is not None:
        check_body_size(len(req.body), limits.max_request_bytes)
    return WireRequest(method, headers)


def check_trailers(fields: Iterable[tuple[bytes, bytes]], limits: Limits) -> tuple[Header, ...]:
    """A response's trailer fields for the capsule, or ``protocol-error`` when they break the
    response-head rules: at most :data:`MAX_TRAILER_FIELDS` fields, ``name: value\\r\\n``
    adding up to at most ``limits.max_response_header_bytes``, every name a token and every
    value a field value. Trailers never change the message (its framing has ended): they are
    handed on as received, separate from the headers.
    """
    out: list[Header] = []
    total = 0
    for index, (name, value) in enumerate(fields):
        if index >= MAX_TRAILER_FIELDS:
            raise _protocol(f"more than {MAX_TRAILER_FIELDS} trailer fields")
        total += len(name) + len(value) + 4
        if total > limits.max_response_header_bytes:
            raise _protocol(f"response trailers over {limits.max_response_header_bytes} bytes")
        if not _TOKEN.fullmatch(name):
            raise _protocol(f"trailer name {name!r} is not an HTTP token")
        if not _FIELD_VALUE.fullmatch(value):
            raise _protocol(f"trailer {name.decode('latin-1')!r} has an invalid value")
        out.append((name.decode("latin-1"), bytes(value)))
    return tuple(out)


def header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """All values of header ``name`` (case-insensitive), in order."""
    lower = name.lower()
    return [v for n, v in headers if n.lower() == lower]


def _kind(lower: str) -> str:
    return "x-forwarded-" if lower.startswith("x-forwarded-") else lower


#: Why a host-set header is refused, where the name alone does not say.
_WHY = dict.fromkeys(
    ("forwarded", "via", "x-real-ip", "x-forwarded-"),
    " (it tells the destination where the request came from, which a capsule could spoof)")


def _invalid(part: RequestPart, detail: str) -> HttpError:
    return HttpError(ErrorCode.invalid_request(part, detail))


def _protocol(detail: str) -> HttpError:
    return HttpError(ErrorCode.protocol_error(detail))
