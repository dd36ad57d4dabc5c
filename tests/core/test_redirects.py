"""Redirect rules (astrid_host/_core/_redirects.py): tables plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._model import HttpError
from astrid_host._core._redirects import (
    CREDENTIAL_HEADERS,
    is_redirect,
    keeps_body,
    next_request,
    resolve_location,
)

A = "http://a.test"
B = "http://b.test"
HEADERS = ((b"Authorization", b"Bearer t"), (b"Cookie", b"c=1"), (b"X-Keep", b"1"),
           (b"Content-Type", b"text/plain"), (b"proxy-authorization", b"p"))


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
    (307, b"POST", b"POST", True),
    (308, b"PUT", b"PUT", True),
    (307, b"GET", b"GET", True),
])
def test_method_and_body_rewriting(status: int, method: bytes, new_method: bytes,
                                   body_kept: bool) -> None:
    body = None if method == b"HEAD" else b"payload"
    nxt = next_request(status=status, method=method, headers=HEADERS, body=body,
                       current=A, target=A, https_only=False)
    assert nxt.method == new_method
    assert nxt.body == (body if body_kept else None)
    has_ct = any(n.lower() == b"content-type" for n, _ in nxt.headers)
    assert has_ct is (body_kept or method == b"HEAD")


def test_keeps_body_only_for_307_and_308() -> None:
    assert [s for s in (301, 302, 303, 307, 308) if keeps_body(s, b"POST")] == [307, 308]


def test_same_origin_hop_keeps_credentials() -> None:
    nxt = next_request(status=307, method=b"GET", headers=HEADERS, body=None,
                       current=A, target=A, https_only=False)
    assert nxt.headers == HEADERS


@pytest.mark.parametrize("target", [B, "https://a.test", "http://a.test:8080"])
def test_cross_origin_hop_drops_credentials(target: str) -> None:
    nxt = next_request(status=307, method=b"GET", headers=HEADERS, body=None,
                       current=A, target=target, https_only=False)
    assert [n for n, _ in nxt.headers] == [b"X-Keep", b"Content-Type"]


def test_https_to_http_is_refused_when_https_only() -> None:
    with pytest.raises(HttpError) as exc:
        next_request(status=302, method=b"GET", headers=(), body=None,
                     current="https://a.test", target="http://a.test", https_only=True)
    assert exc.value.code.case == "redirect-blocked"
    assert "downgrade" in str(exc.value)
    ok = next_request(status=302, method=b"GET", headers=(), body=None,
                      current="https://a.test", target="http://a.test", https_only=False)
    assert ok.method == b"GET"


_names = st.sampled_from([b"Authorization", b"cookie", b"COOKIE", b"X-A", b"Accept",
                          b"Proxy-Authorization", b"content-type"])


@given(st.lists(st.tuples(_names, st.binary(max_size=4)), max_size=8),
       st.sampled_from([301, 302, 303, 307, 308]),
       st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD"]))
def test_cross_origin_never_carries_credentials(headers: list[tuple[bytes, bytes]],
                                                status: int, method: bytes) -> None:
    """Invariant: after a cross-origin hop no credential header is left, every other header
    that is not about a dropped body survives in order, and only 307/308 keep the body."""
    nxt = next_request(status=status, method=method, headers=tuple(headers), body=b"b",
                       current=A, target=B, https_only=False)
    assert not any(n.lower() in CREDENTIAL_HEADERS for n, _ in nxt.headers)
    assert (nxt.body is not None) is (status in (307, 308) or method == b"HEAD")
    kept = [h for h in headers if h[0].lower() not in CREDENTIAL_HEADERS
            and (nxt.body is not None or h[0].lower() != b"content-type")]
    assert list(nxt.headers) == kept


@pytest.mark.parametrize(("location", "expected"), [
    (b"/\\evil.example/x", "https://evil.example/x"),      # a browser reads /\ as //
    (b"\\\\evil.example/x", "https://evil.example/x"),
    (b"  http://10.0.0.1/  ", "http://10.0.0.1/"),        # surrounding spaces dropped
    (b"/a\\b?q=\\x", "https://api.example.com/a/b?q=\\x"),  # not inside the query
])
def test_location_is_read_the_way_a_browser_reads_it(location: bytes, expected: str) -> None:
    assert resolve_location("https://api.example.com/p/q", location) == expected
