"""The values that cross the capsule boundary, as plain Python.

These mirror the records and variants of `wit/types.wit` one to one. The wasm layer converts
between them and wasmtime-py values; the network layer consumes and produces them and never sees
wasmtime. Every failure of a request is an :class:`ErrorCode` (raised inside an
:class:`HttpError`), never a bare exception.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "AddressVerdict",
    "DigestAlgorithm",
    "ErrorCode",
    "Header",
    "HttpError",
    "Integrity",
    "InvalidRequest",
    "ProhibitedAddress",
    "RedirectPolicy",
    "Request",
    "RequestOptions",
    "RequestPart",
    "Response",
    "ResponseMeta",
    "STANDARD_METHODS",
    "TimeoutPhase",
]

#: A header field: (name, raw value bytes). Order and duplicates are significant.
Header = tuple[str, bytes]

#: The methods that have their own case in the WIT `method` variant, lower-case WIT name → token.
STANDARD_METHODS: dict[str, str] = {
    "get": "GET",
    "head": "HEAD",
    "post": "POST",
    "put": "PUT",
    "delete": "DELETE",
    "options": "OPTIONS",
    "patch": "PATCH",
}


class RedirectPolicy(enum.Enum):
    """WIT `redirect-policy`."""

    FOLLOW = "follow"
    ERROR = "error"
    MANUAL = "manual"


class DigestAlgorithm(enum.Enum):
    """WIT `digest-algorithm`; the value is the hashlib name."""

    SHA256 = "sha256"
    SHA384 = "sha384"
    SHA512 = "sha512"


class TimeoutPhase(enum.Enum):
    """WIT `timeout-phase`."""

    DNS = "dns"
    CONNECT = "connect"
    FIRST_BYTE = "first-byte"
    BETWEEN_BYTES = "between-bytes"
    TOTAL = "total"


class RequestPart(enum.Enum):
    """WIT `request-part`."""

    URL = "url"
    METHOD = "method"
    HEADER = "header"
    BODY = "body"
    OPTIONS = "options"


@dataclass(frozen=True)
class Integrity:
    """WIT `integrity`: an expected digest of the response body."""

    algorithm: DigestAlgorithm
    digest: bytes


@dataclass(frozen=True)
class RequestOptions:
    """WIT `request-options`. ``None`` means "use the capsule's configured value"."""

    connect_timeout_ms: int | None = None
    first_byte_timeout_ms: int | None = None
    between_bytes_timeout_ms: int | None = None
    total_timeout_ms: int | None = None
    redirect_policy: RedirectPolicy | None = None
    max_redirects: int | None = None
    max_response_bytes: int | None = None
    https_only: bool = False
    decompress: bool = False
    integrity: Integrity | None = None


@dataclass(frozen=True)
class Request:
    """WIT `request`. ``method`` is the method token as sent on the wire (e.g. ``"GET"``)."""

    method: str
    url: str
    headers: tuple[Header, ...] = ()
    body: bytes | None = None
    options: RequestOptions | None = None


@dataclass(frozen=True)
class ResponseMeta:
    """WIT `response-meta`."""

    final_url: str
    redirect_count: int
    elapsed_ms: int
    wire_bytes: int


@dataclass(frozen=True)
class Response:
    """WIT `response`: a complete, buffered response."""

    status: int
    headers: tuple[Header, ...]
    body: bytes
    meta: ResponseMeta


@dataclass(frozen=True)
class AddressVerdict:
    """WIT `address-verdict`: one refused address and the classifier's reason key."""

    address: str
    reason: str


@dataclass(frozen=True)
class ProhibitedAddress:
    """WIT `prohibited-address`."""

    host: str
    addresses: tuple[AddressVerdict, ...]


@dataclass(frozen=True)
class InvalidRequest:
    """WIT `invalid-request`."""

    part: RequestPart
    detail: str


Payload = None | str | int | TimeoutPhase | ProhibitedAddress | InvalidRequest


@dataclass(frozen=True)
class ErrorCode:
    """WIT `error-code`: the case name (as in the WIT, dashed) and its payload.

    Build values with the class methods (``ErrorCode.timeout(TimeoutPhase.CONNECT)``) so the
    payload type always matches the case.
    """

    case: str
    payload: Payload = None

    #: WIT case name → payload type (``None`` for cases without payload).
    CASES: ClassVar[dict[str, type | None]] = {
        "denied": str,
        "destination-prohibited": ProhibitedAddress,
        "invalid-request": InvalidRequest,
        "dns-error": str,
        "connection-refused": str,
        "connection-failed": str,
        "tls-error": str,
        "timeout": TimeoutPhase,
        "body-too-large": int,
        "request-too-large": int,
        "too-many-redirects": int,
        "redirect-blocked": str,
        "integrity-mismatch": str,
        "protocol-error": str,
        "stream-limit": int,
        "closed": None,
        "cancelled": None,
        "internal": str,
    }

    def __post_init__(self) -> None:
        if self.case not in self.CASES:
            raise ValueError(f"unknown error-code case {self.case!r}")
        expected = self.CASES[self.case]
        if expected is None:
            if self.payload is not None:
                raise TypeError(f"error-code {self.case!r} takes no payload")
        elif not isinstance(self.payload, expected) or isinstance(self.payload, bool):
            raise TypeError(f"error-code {self.case!r} needs a {expected.__name__} payload")

    def __str__(self) -> str:
        return self.case if self.payload is None else f"{self.case}: {_describe(self.payload)}"

    @classmethod
    def denied(cls, reason: str) -> ErrorCode:
        return cls("denied", reason)

    @classmethod
    def destination_prohibited(cls, host: str, addresses: tuple[AddressVerdict, ...]) -> ErrorCode:
        return cls("destination-prohibited", ProhibitedAddress(host, addresses))

    @classmethod
    def invalid_request(cls, part: RequestPart, detail: str) -> ErrorCode:
        return cls("invalid-request", InvalidRequest(part, detail))

    @classmethod
    def dns_error(cls, detail: str) -> ErrorCode:
        return cls("dns-error", detail)

    @classmethod
    def connection_refused(cls, detail: str) -> ErrorCode:
        return cls("connection-refused", detail)

    @classmethod
    def connection_failed(cls, detail: str) -> ErrorCode:
        return cls("connection-failed", detail)

    @classmethod
    def tls_error(cls, detail: str) -> ErrorCode:
        return cls("tls-error", detail)

    @classmethod
    def timeout(cls, phase: TimeoutPhase) -> ErrorCode:
        return cls("timeout", phase)

    @classmethod
    def body_too_large(cls, limit: int) -> ErrorCode:
        return cls("body-too-large", limit)

    @classmethod
    def request_too_large(cls, limit: int) -> ErrorCode:
        return cls("request-too-large", limit)

    @classmethod
    def too_many_redirects(cls, limit: int) -> ErrorCode:
        return cls("too-many-redirects", limit)

    @classmethod
    def redirect_blocked(cls, detail: str) -> ErrorCode:
        return cls("redirect-blocked", detail)

    @classmethod
    def integrity_mismatch(cls, detail: str) -> ErrorCode:
        return cls("integrity-mismatch", detail)

    @classmethod
    def protocol_error(cls, detail: str) -> ErrorCode:
        return cls("protocol-error", detail)

    @classmethod
    def stream_limit(cls, limit: int) -> ErrorCode:
        return cls("stream-limit", limit)

    @classmethod
    def closed(cls) -> ErrorCode:
        return cls("closed")

    @classmethod
    def cancelled(cls) -> ErrorCode:
        return cls("cancelled")

    @classmethod
    def internal(cls, detail: str) -> ErrorCode:
        return cls("internal", detail)


def _describe(payload: Payload) -> str:
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


