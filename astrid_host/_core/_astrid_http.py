"""Upstream Astrid's `astrid:http/host@1.1.0` values, mapped onto astrid-host's own model.

The Astrid front (``astrid_host._wasm._astrid_http``) serves upstream's interface over the same
:class:`~astrid_host._core._contracts.HttpBackend` as our own `astrid:http@0.1.0`; this module
is the pure part of that bridge: a request and its options in upstream's shape become one of
our :class:`Request` values (or a refusal in upstream's `error-code`), our responses become
upstream's, and :data:`ERROR_TABLE` says which upstream `error-code` arm every outcome of ours
is (docs/astrid.md has the same table).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from astrid_host._core._model import (
    DigestAlgorithm,
    ErrorCode,
    Integrity,
    RedirectPolicy,
    Request,
    RequestOptions,
    Response,
)
from astrid_host._core._wit_astrid_http import (
    HostErrorCode,
    HttpMethod,
    HttpRequestData,
    HttpResponseData,
    KeyValuePair,
)
from astrid_host._core._wit_astrid_http import RedirectPolicy as UpstreamRedirect
from astrid_host._core._wit_astrid_http import RequestOptions as UpstreamOptions
from astrid_host._core._wit_astrid_http import ResponseMeta as UpstreamMeta
from astrid_host._core._wit_astrid_http_1_0 import HostErrorCode as HostErrorCode10
from astrid_host._core._wit_astrid_http_1_0 import HttpRequestData as HttpRequestData10
from astrid_host._core._wit_astrid_http_1_0 import HttpResponseData as HttpResponseData10
from astrid_host._core._wit_astrid_http_1_0 import KeyValuePair as KeyValuePair10

__all__ = ["BUFFERED_DEFAULTS", "DOWN_TO_1_0", "ERROR_TABLE", "U32_MAX", "error_to_1_0",
           "headers_to_1_0", "headers_to_upstream", "request_from_1_0", "request_from_upstream",
           "response_to_1_0", "response_to_upstream", "to_upstream_error"]

#: Our `error-code` case → upstream's arm. Cases whose arm carries a string pass our text.
#: Two outcomes need more than our case to be told apart (see :func:`to_upstream_error`):
#: a `denied` for the scheme is `scheme-denied` (checked before the request is sent), and a
#: `body-too-large` hit by `max-decompressed-bytes` is `decompression-bomb`.
ERROR_TABLE: Mapping[str, str] = {
    "denied": "capability-denied",
    "destination-prohibited": "airlock-rejected",
    "invalid-request": "invalid-request",
    "dns-error": "dns-error",
    "connection-refused": "connection-error",
    "connection-failed": "connection-error",
    "tls-error": "tls-error",
    "timeout": "timeout",
    "body-too-large": "body-too-large",
    "request-too-large": "invalid-request",
    "too-many-redirects": "too-many-redirects",
    "redirect-blocked": "redirect-blocked",
    "integrity-mismatch": "integrity-mismatch",
    "protocol-error": "protocol",
    "stream-limit": "quota",
    "closed": "closed",
    "cancelled": "unknown",
    "internal": "unknown",
}

#: Upstream's buffered-request defaults (astrid-capsule 2026.10.1): follow at most 10
#: redirects, 30 s in total, 10 MiB of body, decompression on. Streams get no total deadline.
BUFFERED_DEFAULTS = RequestOptions(total_timeout_ms=30_000, redirect_policy=RedirectPolicy.FOLLOW,
                                   max_redirects=10, max_response_bytes=10 * 1024 * 1024,
                                   decompress=True)

#: Our options are u32 milliseconds and bytes; upstream's u64 values are clamped to this.
U32_MAX = (1 << 32) - 1

_UNIT_ARMS = {"capability-denied", "invalid-request", "dns-error", "airlock-rejected",
              "tls-error", "timeout", "connection-error", "body-too-large", "closed", "quota",
              "redirect-blocked", "too-many-redirects", "integrity-mismatch", "scheme-denied",
              "decompression-bomb"}
_REDIRECTS = {UpstreamRedirect.FOLLOW: RedirectPolicy.FOLLOW,
              UpstreamRedirect.ERROR: RedirectPolicy.ERROR,
              UpstreamRedirect.MANUAL: RedirectPolicy.MANUAL}
_DIGESTS = {"sha256": (DigestAlgorithm.SHA256, 32), "sha384": (DigestAlgorithm.SHA384, 48),
            "sha512": (DigestAlgorithm.SHA512, 64)}
#: Methods upstream names that our client does not send.
_REFUSED_METHODS = {"connect", "trace"}


def to_upstream_error(code: ErrorCode, *, decompression_limited: bool = False) -> HostErrorCode:
    """Upstream's `error-code` for one of ours (:data:`ERROR_TABLE`).

    ``decompression_limited``: the request's body limit came from `max-decompressed-bytes`,
    so a `body-too-large` is upstream's `decompression-bomb`.
    """
    arm = ERROR_TABLE[code.case]
    if arm == "body-too-large" and decompression_limited:
        arm = "decompression-bomb"
    if arm in _UNIT_ARMS:
        return HostErrorCode(arm)
    return HostErrorCode(arm, code.case if code.payload is None else str(code))


def _clamp(value: int | None) -> int | None:
    return None if value is None else min(value, U32_MAX)


def _integrity(text: str) -> Integrity | HostErrorCode:
    name, sep, encoded = text.partition("-")
    found = _DIGESTS.get(name)
    if not sep or found is None:
        return HostErrorCode.invalid_request()
    algorithm, size = found
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return HostErrorCode.invalid_request()
    if len(digest) != size:
        return HostErrorCode.invalid_request()
    return Integrity(algorithm, digest)


def _options(opts: UpstreamOptions | None, *, buffered: bool
             ) -> tuple[RequestOptions, bool] | HostErrorCode:
    """Our options for upstream's, and whether the body limit is the decompression limit."""
    base = BUFFERED_DEFAULTS if buffered else RequestOptions(
        redirect_policy=RedirectPolicy.FOLLOW, max_redirects=10, decompress=True)
    if opts is None:
        return base, False
    t = opts.timeouts
    limit = base.max_response_bytes
    limited_by_decompression = False
    for cap, from_decompression in ((opts.max_response_bytes, False),
                                    (opts.max_decompressed_bytes, True)):
        if cap is not None and (limit is None or cap < limit):
            limit, limited_by_decompression = cap, from_decompression
    redirects = base.max_redirects if opts.max_redirects is None \
        else min(opts.max_redirects, base.max_redirects or U32_MAX)
    integrity = None
    if opts.integrity is not None:
        parsed = _integrity(opts.integrity)
        if isinstance(parsed, HostErrorCode):
            return parsed
        integrity = parsed
    mapped = RequestOptions(
        connect_timeout_ms=_clamp(t.connect_ms) if t else None,
        first_byte_timeout_ms=_clamp(t.first_byte_ms) if t else None,
        between_bytes_timeout_ms=_clamp(t.between_bytes_ms) if t else None,
        total_timeout_ms=_clamp(t.total_ms) if t and t.total_ms is not None
        else base.total_timeout_ms,
        redirect_policy=_REDIRECTS[opts.redirect] if opts.redirect is not None
        else base.redirect_policy,
        max_redirects=redirects,
        max_response_bytes=_clamp(limit),
        https_only=bool(opts.https_only),
        decompress=base.decompress if opts.auto_decompress is None else opts.auto_decompress,
        integrity=integrity,
    )
    return mapped, limited_by_decompression


def request_from_upstream(data: HttpRequestData, opts: UpstreamOptions | None, *,
                          buffered: bool) -> tuple[Request, bool] | HostErrorCode:
    """Our request for upstream's, with whether a `body-too-large` means a decompression bomb;
    or the `error-code` refusing it before anything is sent.

    A URL that is not http(s), or http under `https-only`, is `scheme-denied`; `connect` and
    `trace` (which our client does not send) and a malformed `integrity` are
    `invalid-request`.
    """
    scheme = data.url.partition(":")[0].lower() if ":" in data.url else ""
    if scheme not in ("http", "https") or (opts is not None and opts.https_only
                                           and scheme != "https"):
        return HostErrorCode.scheme_denied()
    method = data.method
    if method.case in _REFUSED_METHODS:
        return HostErrorCode.invalid_request()
    token = str(method.payload) if method.case == "other" else method.case.upper()
    options = _options(opts, buffered=buffered)
    if isinstance(options, HostErrorCode):
        return options
    mapped, limited = options
    headers = tuple((h.key, h.value.encode("utf-8")) for h in data.headers)
    return Request(method=token, url=data.url, headers=headers, body=data.body,
                   options=mapped), limited


def headers_to_upstream(headers: tuple[tuple[str, bytes], ...]) -> tuple[KeyValuePair, ...]:
    """Header values as upstream's strings: bytes that are not UTF-8 read as latin-1
    (lossless: every byte is one character)."""
    out = []
    for name, value in headers:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("latin-1")
        out.append(KeyValuePair(name, text))
    return tuple(out)


def response_to_upstream(resp: Response) -> HttpResponseData:
    """Our buffered response as upstream's."""
    meta = resp.meta
    return HttpResponseData(resp.status, headers_to_upstream(resp.headers), resp.body,
                            UpstreamMeta(meta.final_url, meta.redirect_count, meta.elapsed_ms,
                                         meta.wire_bytes))


# --- astrid:http@1.0.0 -------------------------------------------------------------------------

#: 1.1.0 arms that 1.0.0 lacks → the 1.0.0 arm (upstream's kernel maps them so, in
#: ``astrid-capsule`` ``engine/wasm/host/http/mod.rs``); a text makes a ``protocol(text)``.
#: Every other arm has the same name in both versions.
DOWN_TO_1_0: Mapping[str, tuple[str, str | None]] = {
    "redirect-blocked": ("airlock-rejected", None),
    "too-many-redirects": ("protocol", "too many redirects"),
    "scheme-denied": ("invalid-request", None),
    "integrity-mismatch": ("protocol", "integrity mismatch"),
    "decompression-bomb": ("body-too-large", None),
}


def error_to_1_0(code: HostErrorCode) -> HostErrorCode10:
    """A 1.1.0 `error-code` as 1.0.0's (:data:`DOWN_TO_1_0`)."""
    arm, text = DOWN_TO_1_0.get(code.case, (code.case, None))
    if text is not None:
        return HostErrorCode10(arm, text)
    if arm in ("protocol", "unknown"):
        return HostErrorCode10(arm, str(code.payload))
    return HostErrorCode10(arm)


def request_from_1_0(data: HttpRequestData10) -> HttpRequestData:
    """A 1.0.0 request in 1.1.0's shape (the records are the same)."""
    method = data.method
    return HttpRequestData(data.url, HttpMethod(method.case, method.payload),
                           tuple(KeyValuePair(h.key, h.value) for h in data.headers), data.body)


def headers_to_1_0(headers: tuple[KeyValuePair, ...]) -> tuple[KeyValuePair10, ...]:
    """1.1.0 header pairs as 1.0.0's (the same record)."""
    return tuple(KeyValuePair10(h.key, h.value) for h in headers)


def response_to_1_0(data: HttpResponseData) -> HttpResponseData10:
    """A 1.1.0 buffered response as 1.0.0's (no `meta`)."""
    return HttpResponseData10(data.status, headers_to_1_0(data.headers), data.body)
