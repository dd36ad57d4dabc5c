"""Redirect rules (astrid_host/_core/_redirects.py): tables plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._model import HttpError
from astrid_host._core._redirects import (
    CROSS_ORIGIN_HEADERS,
    NextRequest,
    is_redirect,
    next_request,
    resolve_location,
    rewrite_method,
)

HEADERS = ((b"Authorization", b"Bearer t"), (b"Cookie", b"c=1"), (b"X-Keep", b"1"),
           (b"Content-Type", b"text/plain"), (b"Accept", b"*/*"))


@pytest.mark.parametrize(("status", "expected"), [
    (300, False), (301, True), (302, True), (303, True), (304, False), (305, False),
    (306, False), (307, True), (308, True), (200, False), (399, False),
])
def test_which_statuses_redirect(status: int, expected: bool) -> None:
    assert is_redirect(status) is expected


@pytest.mark.parametrize(("base", "location", "expected"), [
    ("http://a.test/x/y?q=1", b"/abs", "http://a.test/abs"),
    ("http://a.test/x/y?q=1", b"rel", "http://a.test/x/rel"),
    ("http://a.test/x/y", b"../up", "http://a.test/up"),
    ("http://a.test/x/y", b"?only=query", "http://a.test/x/y?only=query"),
    ("http://a.test/x", b"//b.test/p", "http://b.test/p"),
    ("https://a.test/x", b"http://c.test:8080/p#frag", "http://c.test:8080/p"),
    ("http://a.test/", b"/caf\xc3\xa9", "http://a.test/caf%C3%A9"),
    ("http://a.test/", b"/a b", "http://a.test/a%20b"),
])
def test_location_resolves_relative_to_the_current_url(base: str, location: bytes,
                                                       expected: str) -> None:
    assert resolve_location(base, location) == expected


@pytest.mark.parametrize("location", [b"", b"/a\r\nSet-Cookie: x", b"/a\x00", b"/\x7f"])
def test_unusable_location_is_a_protocol_error(location: bytes) -> None:
    with pytest.raises(HttpError) as exc:
        resolve_location("http://a.test/", location)
    assert exc.value.code.case == "protocol-error"


@pytest.mark.parametrize(("status", "method", "new_method", "body_kept"), [
    (301, b"POST", b"GET", False),
    (302, b"POST", b"GET", False),
    (303, b"POST", b"GET", False),
    (303, b"PUT", b"GET", False),
    (302, b"DELETE", b"GET", False),
    (303, b"HEAD", b"HEAD", False),
    (301, b"HEAD", b"HEAD", False),
    (307, b"POST", b"POST", True),
    (308, b"PUT", b"PUT", True),
    (307, b"GET", b"GET", True),
])
def test_method_and_body_rewriting(status: int, method: bytes, new_method: bytes,
                                   body_kept: bool) -> None:
    nxt = next_request(status=status, sent=NextRequest(method, HEADERS, b"payload"),
                       cross_origin=False)
    assert nxt is not None and nxt.method == new_method
    assert nxt.body == (b"payload" if body_kept else None)
    has_ct = any(n.lower() == b"content-type" for n, _ in nxt.headers)
    assert has_ct is body_kept
    assert rewrite_method(status, method) == (new_method, body_kept)


def test_same_origin_hop_keeps_every_header() -> None:
    nxt = next_request(status=307, sent=NextRequest(b"GET", HEADERS, None), cross_origin=False)
    assert nxt is not None and nxt.headers == HEADERS


def test_cross_origin_hop_keeps_only_the_safelist() -> None:
    nxt = next_request(status=307, sent=NextRequest(b"GET", HEADERS, None), cross_origin=True)
    assert nxt is not None and nxt.headers == ((b"Accept", b"*/*"),)


@pytest.mark.parametrize("status", [307, 308])
def test_cross_origin_307_308_never_carry_a_body(status: int) -> None:
    sent = NextRequest(b"POST", HEADERS, b"payload")
    assert next_request(status=status, sent=sent, cross_origin=True) is None
    assert next_request(status=303, sent=sent, cross_origin=True) == NextRequest(
        b"GET", ((b"Accept", b"*/*"),), None)


_names = st.sampled_from([b"Authorization", b"cookie", b"COOKIE", b"X-A", b"Accept",
                          b"Proxy-Authorization", b"content-type", b"If-None-Match",
                          b"user-agent", b"Range", b"X-Api-Key"])


@given(st.lists(st.tuples(_names, st.binary(max_size=4)), max_size=8),
       st.sampled_from([301, 302, 303, 307, 308]),
       st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD"]),
       st.one_of(st.none(), st.binary(max_size=4)))
def test_cross_origin_carries_only_the_safelist_and_no_body(
        headers: list[tuple[bytes, bytes]], status: int, method: bytes,
        body: bytes | None) -> None:
    """Invariant: a cross-origin hop is either refused (it would re-send a body: 307/308 with
    one) or carries exactly the safelisted headers, in order, and no body."""
    nxt = next_request(status=status, sent=NextRequest(method, tuple(headers), body),
                       cross_origin=True)
    if nxt is None:
        assert status in (307, 308) and body is not None
        return
    assert nxt.body is None
    assert list(nxt.headers) == [h for h in headers if h[0].lower() in CROSS_ORIGIN_HEADERS]


@pytest.mark.parametrize(("location", "expected"), [
    (b"/\\evil.example/x", "https://evil.example/x"),      # a browser reads /\ as //
    (b"\\\\evil.example/x", "https://evil.example/x"),
    (b"  http://10.0.0.1/  ", "http://10.0.0.1/"),        # surrounding spaces dropped
    (b"/a\\b?q=\\x", "https://api.example.com/a/b?q=\\x"),  # not inside the query
])
def test_location_is_read_the_way_a_browser_reads_it(location: bytes, expected: str) -> None:
    assert resolve_location("https://api.example.com/p/q", location) == expected
