"""plan_request and the hop values: the first hop of a request, its refusals in order, the
rules its redirects get, and the decision lines a hop and a refusal make
(astrid_host/_core/_redirects.py)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from astrid_host._core._classify import classify_ip
from astrid_host._core._decision import Resolution
from astrid_host._core._headers import validate_request
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    ErrorCode,
    HttpError,
    RedirectPolicy,
    Request,
    RequestOptions,
    RequestPart,
)
from astrid_host._core._policy import EgressPolicy, PolicyDecision
from astrid_host._core._redirects import (
    Follow,
    Hop,
    NextRequest,
    RedirectRules,
    Refusal,
    plan_redirect,
    plan_request,
)
from astrid_host._core._url import InvalidUrl, ParsedUrl, parse_url, too_long

POLICY = EgressPolicy.parse(["*://*.test:*", "http://10.0.0.0/8:*"],
                            local=["sidecar.test=127.0.0.2:8080"])
LIMITS = Limits(max_url_bytes=64)


def _check(url: ParsedUrl, method: str) -> PolicyDecision:
    return POLICY.check(url, method)


def _plan(url: str, method: str = "GET", **options: object) -> Hop | Refusal:
    opts = RequestOptions(**options) if options else None  # type: ignore[arg-type]
    return plan_request(Request(method, url, (("X-K", b"v"),), options=opts), LIMITS, _check)


def test_the_first_hop_carries_the_wire_request_and_the_policy_decision() -> None:
    hop = plan_request(Request("POST", "http://A.test/p?q=1", (("X-K", b"v"),), b"body"),
                       LIMITS, _check)
    assert hop == Hop(parse_url("http://a.test/p?q=1"),
                      NextRequest(b"POST", ((b"X-K", b"v"),), b"body"),
                      _check(parse_url("http://a.test/p?q=1"), "POST"))
    assert hop.redirects == 0 and not hop.streamed and hop.policy.allowed
    upload = plan_request(Request("PUT", "http://a.test/"), LIMITS, _check, streamed=True)
    assert isinstance(upload, Hop) and upload.streamed and upload.request.body is None


#: (row id, URL, options, reason, error case, URL in the line)
REFUSALS: list[tuple[str, str, dict[str, object], str, str, str]] = [
    ("not-http", "file:///etc/passwd", {}, "invalid-url", "invalid-request",
     "file:///etc/passwd"),
    ("too-long", "http://a.test/" + "a" * 60 + "?secret=1", {}, "invalid-url",
     "invalid-request", "http://a.test/" + "a" * 60),
    ("credentials", "http://user:pw@a.test/x?k=v", {}, "credentials-in-url", "invalid-request",
     "http://a.test/x"),
    ("no-rule", "http://example.com/", {}, "no-matching-rule", "denied", "http://example.com/"),
    ("private-literal", "http://10.0.0.5:8080/", {}, "private", "destination-prohibited",
     "http://10.0.0.5:8080/"),
    ("https-only", "http://a.test/", {"https_only": True}, "https-only", "denied",
     "http://a.test/"),
]


@pytest.mark.parametrize(("url", "options", "reason", "case", "shown"),
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_every_first_hop_refusal_has_a_reason_an_error_and_a_redacted_url(
        url: str, options: dict[str, object], reason: str, case: str, shown: str) -> None:
    step = _plan(url, **options)
    assert isinstance(step, Refusal), step
    assert (step.reason, step.code.case, step.url, step.method) == (reason, case, shown, "GET")
    line = step.decision("cap")
    assert (line.allowed, line.reason, line.error, line.url) == (False, reason, case, shown)


def test_a_url_over_the_limit_is_refused_once_with_the_one_message() -> None:
    """The URL's length is checked in one place (parse_url), with one message: not by the
    request-shape validation, and the same text through the planner as through parse_url."""
    url = "http://a.test/" + "é" * 30  # 14 + 60 UTF-8 bytes: over 64, under 64 characters
    assert validate_request(Request("GET", url), LIMITS).method == b"GET"
    with pytest.raises(InvalidUrl) as parsed:
        parse_url(url, max_length=64)
    step = _plan(url)
    assert isinstance(step, Refusal) and step.code.payload.part is RequestPart.URL  # type: ignore[union-attr]
    assert step.code.payload.detail == str(parsed.value) == too_long(64)  # type: ignore[union-attr]


def test_a_request_shape_error_is_raised_before_the_url_is_judged() -> None:
    with pytest.raises(HttpError) as exc:
        _plan("file:///etc/passwd", method="GET POST")
    assert exc.value.code.case == "invalid-request"
    assert exc.value.code.payload.part is RequestPart.METHOD  # type: ignore[union-attr]


def test_a_policy_refusal_of_the_first_hop_keeps_the_policy_decision() -> None:
    step = _plan("http://10.0.0.5:8080/")
    assert isinstance(step, Refusal) and step.policy is not None
    assert step.policy.rule == "http://10.0.0.0/8:*"
    line = step.decision("cap")
    assert line.rule == "http://10.0.0.0/8:*" and [str(a.address) for a in line.addresses] == [
        "10.0.0.5"]


@pytest.mark.parametrize(("configured", "asked", "expected"), [
    (10, None, 10), (10, 3, 3), (3, 10, 3), (10, 0, 0),
])
def test_a_request_can_only_lower_its_redirect_count(configured: int, asked: int | None,
                                                      expected: int) -> None:
    rules = RedirectRules.for_request(Limits(max_redirects=configured, max_url_bytes=99),
                                      RequestOptions(max_redirects=asked))
    assert rules == RedirectRules(RedirectPolicy.FOLLOW, expected, False, 99)


def test_the_request_options_choose_the_redirect_policy_and_https_only() -> None:
    rules = RedirectRules.for_request(Limits(), RequestOptions(
        redirect_policy=RedirectPolicy.MANUAL, https_only=True))
    assert (rules.policy, rules.https_only) == (RedirectPolicy.MANUAL, True)


def test_a_followed_hop_counts_the_redirects_that_led_to_it() -> None:
    hop = _plan("http://a.test/start")
    assert isinstance(hop, Hop)
    for expected in (1, 2, 3):
        step = plan_redirect(hop, status=302, headers=[(b"Location", b"/next")],
                             resolution=None, rules=RedirectRules(), check=_check)
        assert isinstance(step, Follow) and step.redirects == expected
        hop = step


def test_a_hop_whose_url_the_policy_allowed_through_the_local_allowance_never_redirects() -> None:
    hop = _plan("http://sidecar.test:8080/")
    assert isinstance(hop, Hop) and hop.policy.via_local
    step = plan_redirect(hop, status=302, headers=[(b"Location", b"/x")], resolution=None,
                         rules=RedirectRules(), check=_check)
    assert isinstance(step, Refusal) and step.reason == "redirect-from-local-allowance"


def test_a_hop_ended_line_carries_its_status_or_error_and_its_resolution() -> None:
    hop = _plan("http://a.test/p?token=s")
    assert isinstance(hop, Hop)
    public = ip_address("93.184.216.34")
    resolution = Resolution("a.test", (POLICY.check_address(public, 80, "a.test", classify_ip),),
                            chosen=public)
    ok = hop.ended("cap", resolution, status=200)
    assert (ok.capsule, ok.method, ok.url, ok.allowed, ok.status, ok.error) == (
        "cap", "GET", "http://a.test/p", True, 200, None)
    assert ok.chosen == public and ok.rule == "*://*.test:*"
    failed = hop.ended("cap", None, error=ErrorCode.dns_error("a.test"))
    assert (failed.status, failed.error, failed.addresses) == (None, "dns-error", ())
    done = ok.completed(7, 12)
    assert (done.bytes, done.elapsed_ms, done.status) == (7, 12, 200)
