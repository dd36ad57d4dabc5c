"""Every hop of a request, decided without I/O: the first (:func:`plan_request`) and each
redirect (:func:`plan_redirect`).

This is the one file that says where a request goes and what it sends there. The network
layer sends the :class:`Hop` it is given and, once a response head arrived, calls
:func:`plan_redirect` and acts on the answer: :class:`Stop` (hand the response to the capsule),
:class:`Refusal` (the hop is not made: log it and fail with its error code) or :class:`Follow`
(the next hop, already judged by the policy). A redirect is a new request, never a continuation:
the target goes through URL normalisation and the policy here, then through DNS, classification
and the pinned connect in the network layer, like the capsule's own request.

The first hop: the request's shape is validated (:func:`validate_request`), its URL parsed
(:func:`parse_url`, which is also the one check of the URL's length), credentials in the URL
refused, the policy asked, ``https-only`` applied.

Redirect decisions and their sources:

- Redirect statuses are 301, 302, 303, 307 and 308 (RFC 9110 §15.4). 300 and 304 are not
  redirects to follow; they are returned as they are.
- 301, 302 and 303 turn into ``GET`` without a body (RFC 9110 §15.4.2-4 allow it for 301/302
  "for historical reasons" and every browser does it for POST; we do it for every method so a
  redirect can never replay a body to a new place). ``HEAD`` stays ``HEAD``. The headers that
  describe the dropped body (``Content-Type``, ``Content-Encoding``, ``Content-Language``,
  ``Content-Location``) go with it, as in the Fetch standard.
- 307 and 308 keep the method and the body (RFC 9110 §15.4.8-9), but only on the same origin.
  A *streamed* upload cannot be replayed at all, so such a response is returned instead.
- The **origin** is scheme, host and port as normalised by :func:`parse_url` (lower-case host,
  default port left out, IPv6 compressed): ``http://A.test:80/x`` and ``http://a.test/y`` are
  one origin; ``http``/``https``, another host or another port are not.
- A **cross-origin** hop carries only the headers in :data:`CROSS_ORIGIN_HEADERS` and never a
  body: a 307/308 to another origin for a request with a body is refused (``redirect-blocked``).
  The capsule may opt in with ``redirect-policy.manual`` and send the request there itself, so
  the decision to hand a body or a credential to a host it never named is always the capsule's.
  The one exception to the safelist is a header holding a ``{{secret:NAME}}`` placeholder: it
  goes on in its placeholder form, and ``Secrets.for_redirect`` (``_core/_secrets.py``), which
  the engine applies to every redirect hop before sending it, keeps it only when every secret
  in it is bound to the new origin (and names it as dropped otherwise).
- Endpoints reached through the operator's local allowance never follow redirects, and no
  redirect leads into the allowance.
- With ``https-only`` every hop must be https.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from astrid_host._core._decision import EgressDecision, Resolution, redact_url_text
from astrid_host._core._headers import header_values, validate_request
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    AddressVerdict,
    ErrorCode,
    HttpError,
    RedirectPolicy,
    Request,
    RequestOptions,
    RequestPart,
)
from astrid_host._core._policy import PolicyDecision, PolicyReason
from astrid_host._core._secrets import PLACEHOLDER_OPEN
from astrid_host._core._url import DEFAULT_MAX_LENGTH, InvalidUrl, ParsedUrl, parse_url

__all__ = [
    "CROSS_ORIGIN_HEADERS",
    "REDIRECT_STATUSES",
    "Check",
    "Follow",
    "Hop",
    "NextRequest",
    "RedirectRules",
    "RedirectStep",
    "Refusal",
    "Stop",
    "carried_headers",
    "is_redirect",
    "next_request",
    "plan_redirect",
    "plan_request",
    "resolve_location",
    "rewrite_method",
]

Headers = tuple[tuple[bytes, bytes], ...]

#: The capsule's policy as the planners ask it: ``check(url, method)``.
Check = Callable[[ParsedUrl, str], PolicyDecision]

#: Statuses that carry a ``Location`` the host may follow.
REDIRECT_STATUSES: frozenset[int] = frozenset({301, 302, 303, 307, 308})

#: The only request headers (lower case) that follow a cross-origin hop. They negotiate the
#: representation or control caches and identify nothing: ``Accept``, ``Accept-Language``,
#: ``Accept-Encoding`` (the capsule's own value; the host adds its ``gzip, deflate`` on every
#: hop when ``decompress`` is on), ``User-Agent``, ``Cache-Control``, ``Pragma`` and ``Range``
#: (a download redirected to a mirror asks for the same bytes). Everything else is dropped:
#: credentials (``Authorization``, ``Cookie``), custom headers (``X-Api-Key``, ...), ``Referer``
#: and ``Origin`` (they name the first host), the body's headers (no body crosses origins), and
#: the conditional ``If-*`` headers: their validators belong to the origin that issued them (an
#: ETag can be an identifier, and another origin's 304 against it would be wrong). Headers
#: holding a secret placeholder are judged by the secrets' origins instead (see
#: :func:`carried_headers`).
CROSS_ORIGIN_HEADERS: frozenset[bytes] = frozenset({
    b"accept", b"accept-language", b"accept-encoding", b"user-agent", b"cache-control",
    b"pragma", b"range",
})

# Fetch standard "request-body-header name": they describe a body that a 301/302/303 drops.
_BODY_HEADERS: frozenset[bytes] = frozenset({b"content-type", b"content-encoding",
                                             b"content-language", b"content-location"})


@dataclass(frozen=True)
class NextRequest:
    """What is sent on a hop: method, headers and the buffered body (``None``: no body)."""

    method: bytes
    headers: Headers
    body: bytes | None


@dataclass(frozen=True)
class Hop:
    """One request on the wire, as decided before it is sent.

    url: where it goes (normalised). request: the method, headers and buffered body it sends
      (the capsule's headers: the host adds its framing when it sends the hop).
    policy: the policy's (allowing) decision for ``url``.
    streamed: the body is the capsule's streamed upload (``request.body`` is then ``None``); it
      goes on the wire once and is never re-sent.
    redirects: how many redirects led to this hop (0: the capsule's own request).
    """

    url: ParsedUrl
    request: NextRequest
    policy: PolicyDecision
    streamed: bool = False
    redirects: int = 0

    def ended(self, capsule: str, resolution: Resolution | None, *, status: int | None = None,
              error: ErrorCode | None = None) -> EgressDecision:
        """This hop's decision line once it ended: its response head arrived (``status``) or
        it failed (``error``), with what its connection resolved and chose (``resolution``)."""
        decision = EgressDecision.from_policy(capsule, self.request.method.decode("latin-1"),
                                              self.url.redacted(), self.policy, resolution)
        return dataclasses.replace(decision, status=status,
                                   error=None if error is None else error.case)


@dataclass(frozen=True)
class RedirectRules:
    """What one request allows its redirects (its options within the capsule's limits)."""

    policy: RedirectPolicy = RedirectPolicy.FOLLOW
    max_redirects: int = 10
    https_only: bool = False
    max_url_bytes: int = DEFAULT_MAX_LENGTH

    @classmethod
    def for_request(cls, limits: Limits, opts: RequestOptions) -> RedirectRules:
        """The rules of a request with ``opts`` from a capsule with ``limits``."""
        most = limits.max_redirects
        if opts.max_redirects is not None:
            most = min(most, opts.max_redirects)
        return cls(opts.redirect_policy or RedirectPolicy.FOLLOW, most, opts.https_only,
                   limits.max_url_bytes)


@dataclass(frozen=True)
class Stop:
    """Not followed: the response goes to the capsule as it is."""


@dataclass(frozen=True)
class Refusal:
    """The hop is not made.

    url: the hop's URL for the log (redacted; the URL or ``Location`` text, redacted, when
      unusable). method: the method the hop would have used. reason: a stable key for the
    decision line. code: the error the capsule gets. policy: the policy's decision when it was
    the refusal. target: the parsed URL, when it could be parsed (for the audit record).
    """

    url: str
    method: str
    reason: str
    code: ErrorCode
    policy: PolicyDecision | None = None
    target: ParsedUrl | None = None

    def decision(self, capsule: str) -> EgressDecision:
        """The refusal's decision line."""
        return EgressDecision.refused(capsule, self.method, self.url, self.reason,
                                      self.code.case, self.policy)


@dataclass(frozen=True)
class Follow(Hop):
    """The redirect is followed: this is the next hop."""


RedirectStep = Stop | Refusal | Follow


def plan_request(req: Request, limits: Limits, check: Check, *,
                 streamed: bool = False) -> Hop | Refusal:
    """The first hop of the capsule's request ``req``, or why it is not made.

    A request-shape error (method, header fields, buffered body size), found before the URL
    is judged, is the capsule's mistake and no decision: it raises ``HttpError``
    (``invalid-request``, ``request-too-large``). Then, in the order of the refusal reasons:
    ``invalid-url`` (:func:`parse_url`: not http(s), longer than ``limits.max_url_bytes``,
    unparseable), ``credentials-in-url``, the policy's reason key, ``https-only``.
    streamed: the body comes later, through an upload (``req.body`` is ``None``).
    """
    wire = validate_request(req, limits)
    opts = req.options or RequestOptions()
    try:
        url = parse_url(req.url, max_length=limits.max_url_bytes)
    except InvalidUrl as e:
        return Refusal(redact_url_text(req.url), req.method, "invalid-url",
                       ErrorCode.invalid_request(RequestPart.URL, str(e)))
    if url.username or url.password:
        return Refusal(url.redacted(), req.method, "credentials-in-url", ErrorCode.invalid_request(
            RequestPart.URL, "credentials in the URL are not sent; use an Authorization header"),
            target=url)
    decision = check(url, req.method)
    if not decision.allowed:
        code = ErrorCode.denied(f"{decision.reason_key}: {decision.detail}")
        if decision.address is not None and not decision.address.allowed:
            a = decision.address
            code = ErrorCode.destination_prohibited(url.host, (
                AddressVerdict(str(a.address), a.verdict.reason.value),))
        return Refusal(url.redacted(), req.method, decision.reason_key, code, decision, url)
    if opts.https_only and url.scheme != "https":
        return Refusal(url.redacted(), req.method, "https-only", ErrorCode.denied(
            "https-only: the request refuses http: URLs"), decision, url)
    return Hop(url, NextRequest(wire.method, wire.headers, req.body), decision, streamed)


def is_redirect(status: int) -> bool:
    """True when ``status`` is a redirect the host handles (301, 302, 303, 307, 308)."""
    return status in REDIRECT_STATUSES


def rewrite_method(status: int, method: bytes) -> tuple[bytes, bool]:
    """The next hop's method, and whether it re-sends the body (307/308 only)."""
    if status in (307, 308):
        return method, True
    return (method if method == b"HEAD" else b"GET"), False


def carried_headers(headers: Headers, *, cross_origin: bool, body_kept: bool) -> Headers:
    """The request headers that go on to the next hop, in their order.

    When the redirect drops the body (301/302/303) the headers describing it go too; across
    origins only :data:`CROSS_ORIGIN_HEADERS` remain, and the headers holding a secret
    placeholder, which the engine's ``Secrets.for_redirect`` keeps or drops by the secrets'
    origins.
    """
    out = headers
    if not body_kept:
        out = tuple((n, v) for n, v in out if n.lower() not in _BODY_HEADERS)
    if cross_origin:
        out = tuple((n, v) for n, v in out
                    if n.lower() in CROSS_ORIGIN_HEADERS or PLACEHOLDER_OPEN in v)
    return out


def next_request(*, status: int, sent: NextRequest, cross_origin: bool) -> NextRequest | None:
    """The request a ``status`` redirect leads to, or ``None`` when it would carry the body of
    ``sent`` to another origin (which is never done)."""
    method, keeps_body = rewrite_method(status, sent.method)
    body = sent.body if keeps_body else None
    if cross_origin and body is not None:
        return None
    return NextRequest(method, carried_headers(sent.headers, cross_origin=cross_origin,
                                               body_kept=keeps_body), body)


def resolve_location(base_url: str, location: bytes) -> str:
    """The absolute URL a ``Location`` value points to, relative to the current URL.

    Bytes outside ASCII are percent-encoded (servers send raw UTF-8 in Location; RFC 3986
    needs them encoded) and the fragment is removed: it is never sent. Raises
    ``protocol-error`` when the value is empty or contains control characters, because the
    server sent something that is not a URI reference, and :class:`InvalidUrl` when it cannot
    be joined to the current URL at all (``http://[::1/``).
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
    try:
        absolute = urllib.parse.urljoin(base_url, text)
    except ValueError as e:  # "Invalid IPv6 URL"
        raise InvalidUrl(f"{e} in the Location") from None
    return urllib.parse.urldefrag(absolute).url


def _locate(url: ParsedUrl, location: bytes, method: str, max_url_bytes: int,
            ) -> ParsedUrl | Refusal:
    """The normalised target of ``location``, or the refusal of an unusable one."""
    text = location.strip(b" ").decode("latin-1")
    try:
        text = resolve_location(url.url(), location)
        return parse_url(text, max_length=max_url_bytes)
    except HttpError as e:
        return Refusal(redact_url_text(text), method, "unusable-location", e.code)
    except InvalidUrl as e:
        return Refusal(redact_url_text(text), method, "invalid-url",
                       ErrorCode.redirect_blocked(f"Location is not a usable URL: {e}"))


def plan_redirect(
    hop: Hop,
    *,
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    resolution: Resolution | None,
    rules: RedirectRules,
    check: Check,
) -> RedirectStep:
    """Decide what follows the response (``status``, ``headers``) to ``hop``.

    resolution: what the hop's connection was pinned to; its ``via_local`` (like the hop's own
      policy decision's) says the endpoint was reached through the local allowance.
    rules: the request's :class:`RedirectRules`. check: the capsule's policy.

    The order of the checks is the order of the refusal reasons: the capsule's own
    ``redirect-policy-error``, ``redirect-from-local-allowance``, ``too-many-redirects``, an
    unusable ``Location`` (``unusable-location``: protocol-error; ``invalid-url``), ``https-only``,
    the policy (its reason key, e.g. ``no-matching-rule``, ``private``,
    ``redirect-into-local-allowance``), then ``cross-origin-body``.
    """
    locations = header_values(headers, b"location")
    if not is_redirect(status) or rules.policy is RedirectPolicy.MANUAL or not locations:
        return Stop()
    if hop.streamed and status in (307, 308):
        return Stop()
    url, sent = hop.url, hop.request
    method = rewrite_method(status, sent.method)[0].decode("latin-1")
    target = _locate(url, locations[0], method, rules.max_url_bytes)
    shown = target.url if isinstance(target, Refusal) else target.redacted()
    parsed = None if isinstance(target, Refusal) else target

    def refuse(reason: str, code: ErrorCode, policy: PolicyDecision | None = None) -> Refusal:
        return Refusal(shown, method, reason, code, policy, parsed)

    if rules.policy is RedirectPolicy.ERROR:
        return refuse("redirect-policy-error", ErrorCode.redirect_blocked(
            f"redirect policy is error: {status} from {url.redacted()}"))
    if hop.policy.via_local or (resolution is not None and resolution.via_local):
        return refuse("redirect-from-local-allowance", ErrorCode.redirect_blocked(
            "endpoints reached through the local allowance never follow redirects"))
    if hop.redirects >= rules.max_redirects:
        return refuse("too-many-redirects", ErrorCode.too_many_redirects(rules.max_redirects))
    if isinstance(target, Refusal):
        return target
    if rules.https_only and target.scheme != "https":
        return refuse("https-only", ErrorCode.redirect_blocked(
            f"https to http downgrade refused (https-only): {shown}"))
    decision = check(target, method)
    if decision.allowed and decision.via_local:
        decision = dataclasses.replace(
            decision, allowed=False, reason=PolicyReason.LOCAL_REDIRECT,
            detail="a redirect may not lead into the operator's local allowance")
    if not decision.allowed:
        return refuse(decision.reason_key, ErrorCode.redirect_blocked(
            f"{shown}: {decision.reason_key}: {decision.detail}"), decision)
    nxt = next_request(status=status, sent=sent, cross_origin=target.origin != url.origin)
    if nxt is None:
        return refuse("cross-origin-body", ErrorCode.redirect_blocked(
            f"a {status} to another origin ({target.origin}) would send the request body there;"
            " the host never does: use redirect-policy manual and send the request to the"
            " Location yourself"))
    return Follow(target, nxt, decision, redirects=hop.redirects + 1)
