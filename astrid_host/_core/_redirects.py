"""Redirect rules: which responses redirect, where to, and what the next request looks like.

Pure logic. The network layer asks :func:`resolve_location` for the next URL, runs the full
egress check on it (URL normalisation, policy, DNS, classification, pinned connect: a redirect
is a new request, never a continuation), and builds the next request with :func:`next_request`.

Decisions and their sources:
- Redirect statuses are 301, 302, 303, 307 and 308 (RFC 9110 §15.4). 300 and 304 are not
  redirects to follow; they are returned as they are.
- 301, 302 and 303 turn into ``GET`` without a body (RFC 9110 §15.4.2-4 allow it for 301/302
  "for historical reasons" and every browser does it for POST; we do it for every method so a
  redirect can never replay a body to a new place). ``HEAD`` stays ``HEAD``. The headers that
  describe the dropped body (``Content-Type``, ``Content-Encoding``, ``Content-Language``,
  ``Content-Location``) go with it, as in the Fetch standard.
- 307 and 308 keep the method and the body (RFC 9110 §15.4.8-9). A *streamed* upload cannot
  be replayed, so the caller returns such a response instead of following it.
- On a cross-origin hop (scheme, host or port differ) the credentials ``Authorization``,
  ``Cookie`` and ``Proxy-Authorization`` are dropped, so a redirect cannot forward them to a
  host the capsule never named.
- https to http is refused when the request is https-only.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from astrid_host._core._model import ErrorCode, HttpError

__all__ = [
    "CREDENTIAL_HEADERS",
    "REDIRECT_STATUSES",
    "NextRequest",
    "is_redirect",
    "keeps_body",
    "next_request",
    "resolve_location",
]

#: Statuses that carry a ``Location`` the host may follow.
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

#: Dropped when a redirect leaves the origin.
CREDENTIAL_HEADERS: frozenset[bytes] = frozenset({b"authorization", b"cookie",
                                                  b"proxy-authorization"})

# Fetch standard "request-body-header name": they describe a body that a 301/302/303 drops.
_BODY_HEADERS: frozenset[bytes] = frozenset({b"content-type", b"content-encoding",
                                             b"content-language", b"content-location"})

@dataclass(frozen=True)
class NextRequest:
    """The request to send for the next hop."""

    method: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes | None


def is_redirect(status: int) -> bool:
    """True when ``status`` is a redirect the host handles (301, 302, 303, 307, 308)."""
    return status in REDIRECT_STATUSES


def keeps_body(status: int, method: bytes) -> bool:
    """True when following ``status`` re-sends the request body (307/308, or HEAD never)."""
    return status in (307, 308) and method != b"HEAD"


def resolve_location(base_url: str, location: bytes) -> str:
    """The absolute URL a ``Location`` value points to, relative to the current URL.

    Bytes outside ASCII are percent-encoded (servers send raw UTF-8 in Location; RFC 3986
    needs them encoded) and the fragment is removed: it is never sent. Raises
    ``protocol-error`` when the value is empty or contains control characters, because the
    server sent something that is not a URI reference.
    """
    # Read it the way a browser would (WHATWG URL, special schemes): surrounding spaces are
    # dropped, and a backslash before the query is a slash (so "/\\evil.example" is the
    # scheme-relative "//evil.example", not a path). The result is judged by the guard anyway;
    # this keeps the host that the capsule is told about equal to the one a browser would see.
    location = location.strip(b" ")
    if not location or any(c < 0x20 or c == 0x7F for c in location):
        raise HttpError(ErrorCode.protocol_error(
            f"redirect with an unusable Location header {location[:200]!r}"))
    cut = min((i for i in (location.find(b"?"), location.find(b"#")) if i >= 0),
              default=len(location))
    location = location[:cut].replace(b"\\", b"/") + location[cut:]
    text = urllib.parse.quote(location, safe="".join(chr(c) for c in range(0x21, 0x7F)))
    absolute = urllib.parse.urljoin(base_url, text)
    return urllib.parse.urldefrag(absolute).url


def next_request(
    *,
    status: int,
    method: bytes,
    headers: tuple[tuple[bytes, bytes], ...],
    body: bytes | None,
    current: str,
    target: str,
    https_only: bool,
) -> NextRequest:
    """The request that follows a ``status`` redirect from origin ``current`` to ``target``.

    Origins are ``scheme://host[:port]`` as normalised by the URL parser. Raises
    ``redirect-blocked`` for a refused https to http downgrade.
    """
    if https_only and current.startswith("https:") and not target.startswith("https:"):
        raise HttpError(ErrorCode.redirect_blocked(
            "https to http downgrade refused: the request is https-only"))
    new_method, new_body = method, body
    out = list(headers)
    if status in (301, 302, 303) and method != b"HEAD":
        new_method, new_body = b"GET", None
        out = [(n, v) for n, v in out if n.lower() not in _BODY_HEADERS]
    if current != target:
        out = [(n, v) for n, v in out if n.lower() not in CREDENTIAL_HEADERS]
    return NextRequest(new_method, tuple(out), new_body)
