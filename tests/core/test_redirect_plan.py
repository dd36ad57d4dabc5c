"""plan_redirect: what follows a response, as a table of every outcome and refusal reason, and
properties over the cross-origin rules (astrid_host/_core/_redirects.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._decision import Resolution
from astrid_host._core._model import RedirectPolicy
from astrid_host._core._policy import EgressPolicy, PolicyDecision
from astrid_host._core._redirects import (
    CROSS_ORIGIN_HEADERS,
    Follow,
    Hop,
    NextRequest,
    RedirectRules,
    RedirectStep,
    Refusal,
    Stop,
    carried_headers,
    plan_redirect,
)
from astrid_host._core._url import ParsedUrl, parse_url

POLICY = EgressPolicy.parse(["*://*.test:*", "http://10.0.0.0/8:*"],
                            local=["sidecar.test=127.0.0.2:8080", "127.0.0.2:8080"])
HERE = parse_url("http://a.test/start?token=1")
HEADERS = ((b"Authorization", b"Bearer t"), (b"X-Api-Key", b"k"), (b"Accept", b"*/*"),
           (b"Content-Type", b"text/plain"), (b"If-None-Match", b'"v1"'), (b"Range", b"bytes=0-9"))


def _check(url: ParsedUrl, method: str) -> PolicyDecision:
    return POLICY.check(url, method)


def _hop(method: bytes = b"GET", headers: tuple[tuple[bytes, bytes], ...] = HEADERS,
         body: bytes | None = None, *, streamed: bool = False, redirects: int = 0) -> Hop:
    return Hop(HERE, NextRequest(method, headers, body), _check(HERE, method.decode()),
               streamed=streamed, redirects=redirects)


def _plan(location: bytes | None, status: int = 302, *, method: bytes = b"GET",
          body: bytes | None = None, streamed: bool = False, from_local: bool = False,
          redirects: int = 0, **rules: Any) -> RedirectStep:
    """``from_local``: the hop's connection was pinned through the local allowance."""
    return plan_redirect(
        _hop(method, body=body, streamed=streamed, redirects=redirects), status=status,
        headers=[] if location is None else [(b"Location", location)],
        resolution=Resolution("a.test", (), via_local=from_local),
        rules=RedirectRules(**rules), check=_check)


@pytest.mark.parametrize(("status", "location", "kwargs"), [
    (200, b"/x", {}),
    (304, b"/x", {}),
    (300, b"/x", {}),
    (302, None, {}),
    (302, b"/x", {"policy": RedirectPolicy.MANUAL}),
    (307, b"http://b.test/", {"streamed": True, "method": b"POST"}),
    (308, b"/x", {"streamed": True, "method": b"PUT"}),
])
def test_responses_that_go_to_the_capsule_as_they_are(status: int, location: bytes | None,
                                                      kwargs: dict[str, Any]) -> None:
    assert isinstance(_plan(location, status, **kwargs), Stop)


#: (row id, Location, status, plan kwargs, reason, error case, url shown in the line)
REFUSALS: list[tuple[str, bytes, int, dict[str, Any], str, str, str]] = [
    ("policy-error", b"/x", 302, {"policy": RedirectPolicy.ERROR},
     "redirect-policy-error", "redirect-blocked", "http://a.test/x"),
    ("from-local", b"/x", 302, {"from_local": True},
     "redirect-from-local-allowance", "redirect-blocked", "http://a.test/x"),
    ("too-many", b"/x", 302, {"redirects": 3, "max_redirects": 3},
     "too-many-redirects", "too-many-redirects", "http://a.test/x"),
    ("zero-allowed", b"/x", 302, {"max_redirects": 0},
     "too-many-redirects", "too-many-redirects", "http://a.test/x"),
    ("file", b"file:///etc/passwd", 302, {},
     "invalid-url", "redirect-blocked", "file:///etc/passwd"),
    ("data", b"data:text/html,<b>hi</b>?q", 302, {},
     "invalid-url", "redirect-blocked", "data:text/html,<b>hi</b>"),
    ("zone-id", b"http://[fe80::1%25eth0]/", 302, {},
     "invalid-url", "redirect-blocked", "http://[fe80::1%25eth0]/"),
    ("unparseable", b"http://[::1/", 302, {},
     "invalid-url", "redirect-blocked", "http://[::1/"),
    ("too-long", b"http://b.test/" + b"a" * 9000 + b"?secret=1", 302, {},
     "invalid-url", "redirect-blocked", "http://b.test/" + "a" * 186 + "..."),
    ("control-character", b"/a\x01b", 302, {},
     "unusable-location", "protocol-error", "/a\x01b"),
    ("empty", b"  ", 302, {}, "unusable-location", "protocol-error", ""),
    ("https-only", b"http://b.test/x", 302, {"https_only": True},
     "https-only", "redirect-blocked", "http://b.test/x"),
    ("no-rule", b"http://example.com/x?k=v", 302, {},
     "no-matching-rule", "redirect-blocked", "http://example.com/x"),
    ("private-literal", b"http://10.0.0.5:8080/", 302, {},
     "private", "redirect-blocked", "http://10.0.0.5:8080/"),
    ("into-local-by-name", b"http://sidecar.test:8080/", 307, {},
     "redirect-into-local-allowance", "redirect-blocked", "http://sidecar.test:8080/"),
    ("into-local-by-ip", b"http://127.0.0.2:8080/", 302, {},
     "redirect-into-local-allowance", "redirect-blocked", "http://127.0.0.2:8080/"),
    ("cross-origin-307-body", b"http://b.test/x", 307, {"method": b"POST", "body": b"p"},
     "cross-origin-body", "redirect-blocked", "http://b.test/x"),
    ("cross-origin-308-empty-body", b"https://a.test/x", 308, {"method": b"PUT", "body": b""},
     "cross-origin-body", "redirect-blocked", "https://a.test/x"),
]


@pytest.mark.parametrize(("location", "status", "kwargs", "reason", "case", "shown"),
                         [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_every_refusal_has_a_reason_an_error_and_the_url_it_would_have_reached(
        location: bytes, status: int, kwargs: dict[str, Any], reason: str, case: str,
        shown: str) -> None:
    step = _plan(location, status, **kwargs)
    assert isinstance(step, Refusal), step
    assert (step.reason, step.code.case, step.url) == (reason, case, shown)
    assert "secret" not in step.url and "token" not in step.url


def test_a_refused_303_is_logged_with_the_method_it_would_have_used() -> None:
    step = _plan(b"http://example.com/", 303, method=b"POST", body=b"x")
    assert isinstance(step, Refusal) and step.method == "GET"
    kept = _plan(b"http://example.com/", 307, method=b"POST", body=b"x")
    assert isinstance(kept, Refusal) and kept.method == "POST"


def test_a_policy_refusal_carries_the_policy_decision() -> None:
    step = _plan(b"http://10.0.0.5:8080/")
    assert isinstance(step, Refusal) and step.policy is not None
    assert step.policy.rule == "http://10.0.0.0/8:*"
    assert step.policy.address is not None and str(step.policy.address.address) == "10.0.0.5"


def test_the_cross_origin_body_refusal_tells_the_capsule_what_to_do() -> None:
    step = _plan(b"http://b.test/x", 307, method=b"POST", body=b"p")
    assert isinstance(step, Refusal)
    assert "redirect-policy manual" in step.code.payload


@pytest.mark.parametrize(("first", "second"), [
    ({"policy": RedirectPolicy.ERROR, "from_local": True}, "redirect-policy-error"),
    ({"from_local": True, "max_redirects": 0}, "redirect-from-local-allowance"),
    ({"max_redirects": 0, "location": b"file:///x"}, "too-many-redirects"),
    ({"location": b"http://[::1/", "https_only": True}, "invalid-url"),
    ({"location": b"http://example.com/", "https_only": True}, "https-only"),
    ({"location": b"http://example.com/", "status": 307, "body": b"p", "method": b"POST"},
     "no-matching-rule"),
])
def test_the_first_applicable_reason_wins(first: dict[str, Any], second: str) -> None:
    location = first.pop("location", b"/x")
    status = first.pop("status", 302)
    step = _plan(location, status, **first)
    assert isinstance(step, Refusal) and step.reason == second


@pytest.mark.parametrize(("location", "status", "method", "body", "expected"), [
    # same origin (host case, explicit default port): every header and the body stay
    (b"/next", 307, b"POST", b"p", NextRequest(b"POST", HEADERS, b"p")),
    (b"HTTP://A.TEST:80/next", 308, b"PUT", b"p", NextRequest(b"PUT", HEADERS, b"p")),
    # same origin 303: GET, the body and its Content-Type go, the rest stays
    (b"/next", 303, b"POST", b"p",
     NextRequest(b"GET", tuple(h for h in HEADERS if h[0] != b"Content-Type"), None)),
    # another host, scheme or port: only the safelist, never a body
    (b"http://b.test/next", 302, b"POST", b"p",
     NextRequest(b"GET", ((b"Accept", b"*/*"), (b"Range", b"bytes=0-9")), None)),
    (b"https://a.test/next", 307, b"GET", None,
     NextRequest(b"GET", ((b"Accept", b"*/*"), (b"Range", b"bytes=0-9")), None)),
    (b"http://a.test:8080/next", 301, b"HEAD", None,
     NextRequest(b"HEAD", ((b"Accept", b"*/*"), (b"Range", b"bytes=0-9")), None)),
])
def test_followed_hops(location: bytes, status: int, method: bytes, body: bytes | None,
                       expected: NextRequest) -> None:
    step = _plan(location, status, method=method, body=body)
    assert isinstance(step, Follow), step
    assert step.request == expected
    assert step.policy.allowed and step.url.host == step.url.host.lower()


_NAMES = st.sampled_from([b"Authorization", b"Cookie", b"X-Api-Key", b"x-custom", b"Accept",
                          b"ACCEPT-LANGUAGE", b"accept-encoding", b"User-Agent",
                          b"Cache-Control", b"Pragma", b"Range", b"If-None-Match",
                          b"If-Modified-Since", b"Referer", b"Origin", b"Content-Type"])
_HEADERS = st.lists(st.tuples(_NAMES, st.binary(min_size=1, max_size=4)), max_size=10)
_TARGETS = st.sampled_from([b"/same", b"//a.test/same", b"http://A.test:80/same",
                            b"http://b.test/", b"https://a.test/", b"http://a.test:81/",
                            b"http://sub.a.test/", b"https://b.test:8443/x"])


@given(headers=_HEADERS, status=st.sampled_from([301, 302, 303, 307, 308]),
       method=st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD"]),
       body=st.one_of(st.none(), st.binary(max_size=4)), location=_TARGETS)
def test_a_cross_origin_hop_never_carries_a_header_outside_the_safelist_or_a_body(
        headers: list[tuple[bytes, bytes]], status: int, method: bytes, body: bytes | None,
        location: bytes) -> None:
    """Invariant: whatever the capsule sent, a followed cross-origin hop carries only safelisted
    headers and no body, and a same-origin hop keeps every header that does not describe a
    dropped body (and, for 307/308, the body itself)."""
    step = plan_redirect(_hop(method, tuple(headers), body), status=status,
                         headers=[(b"location", location)], resolution=None,
                         rules=RedirectRules(), check=_check)
    if isinstance(step, Refusal):
        assert step.reason == "cross-origin-body" and status in (307, 308)
        assert body is not None
        return
    assert isinstance(step, Follow)
    if step.url.origin != HERE.origin:
        assert step.request.body is None
        assert all(n.lower() in CROSS_ORIGIN_HEADERS for n, _ in step.request.headers)
    else:
        keeps = status in (307, 308)
        assert step.request.body == (body if keeps else None)
        assert step.request.headers == carried_headers(tuple(headers), cross_origin=False,
                                                       body_kept=keeps)
        assert keeps or all(n.lower() != b"content-type" for n, _ in step.request.headers)


@given(location=st.binary(max_size=300), status=st.sampled_from([301, 302, 303, 307, 308]))
def test_any_location_is_followed_or_refused_never_an_exception(location: bytes,
                                                                status: int) -> None:
    """Invariant: whatever bytes a server puts in Location, the plan is a Follow to an http(s)
    URL the policy allows or a Refusal with a reason, and never leaks the query into the log."""
    step = _plan(location, status, method=b"POST", body=b"b")
    assert isinstance(step, Follow | Refusal)
    if isinstance(step, Follow):
        assert step.url.scheme in ("http", "https") and step.policy.allowed
    else:
        assert step.reason and "?" not in step.url
