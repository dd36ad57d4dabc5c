"""URL parsing: the host a real client would contact, and strict refusal of the rest."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from astrid_host._core._url import InvalidUrl, ParsedUrl, parse_url

# (url, host, ip-or-None, port, target)
HOST_ROWS = [
    ("http://example.com", "example.com", None, 80, "/"),
    ("https://example.com", "example.com", None, 443, "/"),
    ("HTTPS://Example.COM./Path", "example.com", None, 443, "/Path"),
    ("http://example.com:8080/a?b=c#frag", "example.com", None, 8080, "/a?b=c"),
    ("http://example.com:0080/", "example.com", None, 80, "/"),
    ("http://example.com:/", "example.com", None, 80, "/"),
    # IPv4 spellings that all mean 127.0.0.1 (WHATWG IPv4 parser)
    ("http://2130706433/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://0177.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://0x7f.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://0x7F.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127.0.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127.0.0.1./", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://0x/", "0.0.0.0", "0.0.0.0", 80, "/"),
    ("http://%31%32%37.0.0.1/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127\u30020\uff0e0\uff611/", "127.0.0.1", "127.0.0.1", 80, "/"),
    # IPv6 literals
    ("http://[::ffff:7f00:1]/", "::ffff:7f00:1", "::ffff:7f00:1", 80, "/"),
    ("http://[::FFFF:127.0.0.1]:81/", "::ffff:7f00:1", "::ffff:7f00:1", 81, "/"),
    ("https://[2001:DB8::1]/", "2001:db8::1", "2001:db8::1", 443, "/"),
    # userinfo tricks: the last '@' before the path ends the userinfo
    ("http://a@127.0.0.1", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://a:b@c@10.0.0.1:81/", "10.0.0.1", "10.0.0.1", 81, "/"),
    ("http://evil.com@good.com/", "good.com", None, 80, "/"),
    # '#', '?', '\' and '/' end the authority
    ("http://127.0.0.1#@evil.com", "127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127.0.0.1?@evil.com", "127.0.0.1", "127.0.0.1", 80, "/?@evil.com"),
    ("http://good.com\\@127.0.0.1/", "good.com", None, 80, "/@127.0.0.1/"),
    ("http:\\\\127.0.0.1\\x", "127.0.0.1", "127.0.0.1", 80, "/x"),
    ("http:127.0.0.1/x", "127.0.0.1", "127.0.0.1", 80, "/x"),
    ("http:///127.0.0.1/x", "127.0.0.1", "127.0.0.1", 80, "/x"),
    # names
    ("https://bücher.de/", "xn--bcher-kva.de", None, 443, "/"),
    ("https://\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com/", "example.com", None, 443, "/"),
    ("http://a.b.c.d.1e/", "a.b.c.d.1e", None, 80, "/"),
    # path normalisation as a browser sends it
    ("http://h.com/a/../b/./c", "h.com", None, 80, "/b/c"),
    ("http://h.com/a/%2e%2E/b", "h.com", None, 80, "/b"),
    ("http://h.com/ü?q=ä b", "h.com", None, 80, "/%C3%BC?q=%C3%A4%20b"),
]


@pytest.mark.parametrize(("url", "host", "ip", "port", "target"), HOST_ROWS)
def test_host_is_what_a_real_client_contacts(
        url: str, host: str, ip: str | None, port: int, target: str) -> None:
    parsed = parse_url(url)
    assert parsed.host == host
    assert parsed.ip == (ipaddress.ip_address(ip) if ip else None)
    assert (parsed.port, parsed.target) == (port, target)


INVALID_ROWS = [
    ("ftp://example.com/", "scheme 'ftp'"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("javascript:alert(1)", "scheme"),
    ("example.com", "no scheme"),
    ("//example.com", "no scheme"),
    ("http://", "no host"),
    ("http:///", "no host"),
    ("http://:80/", "no host"),
    ("http://a.com\r\nHost: b/", "control character"),
    ("http://a.com/\x00", "control character"),
    ("http://a.com/\tx", "control character"),
    ("http://a\n.com/", "control character"),
    ("http://a.com:0/", "outside 1-65535"),
    ("http://a.com:65536/", "outside 1-65535"),
    ("http://a.com:8o/", "not a number"),
    ("http://a.com:-1/", "not a number"),
    ("https://[fe80::1%25eth0]/", "zone id"),
    ("http://[::1/", "without ']'"),
    ("http://[::1]x/", "after the IPv6 host"),
    ("http://[1.2.3.4]/", "invalid IPv6"),
    ("http://1.2.3.4.5/", "more than four"),
    ("http://256.0.0.1/", "out-of-range"),
    ("http://1.2.3.0x100/", "out-of-range"),
    ("http://4294967296/", "out-of-range"),
    ("http://09.0.0.1/", "invalid IPv4 part"),
    ("http://1..2.3/", "empty IPv4 part"),
    ("http://a..b/", "empty label"),
    ("http://ex ample.com/", "forbidden"),
    ("http://a<b.com/", "forbidden"),
    ("http://%00.com/", "control character"),
    ("http://%zz.com/", "malformed percent"),
    ("http://%ff.com/", "invalid UTF-8"),
    ("http://" + "a" * 64 + ".com/", "not a valid DNS label"),
]


@pytest.mark.parametrize(("url", "message"), INVALID_ROWS)
def test_unusable_urls_are_refused_saying_why(url: str, message: str) -> None:
    with pytest.raises(InvalidUrl, match=message):
        parse_url(url)


def test_length_cap_applies_before_parsing() -> None:
    url = "http://a.com/" + "x" * 100
    assert parse_url(url, max_length=200).host == "a.com"
    with pytest.raises(InvalidUrl, match="longer than 50 bytes"):
        parse_url(url, max_length=50)
    with pytest.raises(InvalidUrl, match="longer than"):
        parse_url("http://a.com/" + "é" * 30, max_length=50)  # UTF-8 bytes count


def test_non_text_is_refused() -> None:
    with pytest.raises(InvalidUrl, match="must be text"):
        parse_url(b"http://a.com/")  # type: ignore[arg-type]


def test_redacted_drops_credentials_and_query() -> None:
    parsed = parse_url("https://user:secret@api.example.com:8443/v1/items?token=abc#x")
    assert parsed.redacted() == "https://api.example.com:8443/v1/items"
    assert parsed.url() == "https://api.example.com:8443/v1/items?token=abc"
    assert (parsed.username, parsed.password) == ("user", "secret")
    assert "secret" not in repr(parsed.redacted()) and "token" not in parsed.redacted()


def test_origin_authority_and_host_literal() -> None:
    v6 = parse_url("http://[::1]:8080/x")
    assert (v6.origin, v6.authority, v6.host_literal) == (
        "http://[::1]:8080", "[::1]:8080", "[::1]")
    plain = parse_url("https://a.com:443/")
    assert (plain.origin, plain.authority, plain.default_port) == ("https://a.com", "a.com", True)


def test_parsed_url_is_frozen() -> None:
    parsed = parse_url("http://a.com/")
    with pytest.raises(AttributeError):
        parsed.host = "b.com"  # type: ignore[misc]


_url_like = st.builds(
    lambda scheme, sep, user, host, port, rest: f"{scheme}{sep}{user}{host}{port}{rest}",
    st.sampled_from(["http", "https", "HTTP", "ftp", "", "h"]),
    st.sampled_from(["://", ":", ":\\\\", ":///", "//"]),
    st.sampled_from(["", "a@", "a:b@", "@", "x@y@"]),
    st.text(alphabet="0123456789abcxXf.:[]%@#?/\\-_ \uff11\u3002\u0000\t", max_size=30),
    st.sampled_from(["", ":", ":80", ":0", ":65536", ":x", ":0080"]),
    st.text(max_size=15),
)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.text(max_size=80), _url_like))
@example("http://[")
@example("http://%")
@example("http://0x.0x.0x.0x")
@example("http://\u2100/")
def test_any_string_parses_or_raises_invalid_url(text: str) -> None:
    """Invariant: parse_url on any string returns a ParsedUrl or raises InvalidUrl, never
    anything else; a result is always http(s) with a non-empty host, a port in 1-65535, a
    target starting with '/', no control characters, and it parses again to itself."""
    try:
        parsed = parse_url(text)
    except InvalidUrl:
        return
    assert isinstance(parsed, ParsedUrl)
    assert parsed.scheme in ("http", "https")
    assert parsed.host and parsed.host.isascii()
    assert 1 <= parsed.port <= 65535
    assert parsed.target.startswith("/")
    assert not any(ord(c) < 0x20 for c in parsed.url())
    again = parse_url(parsed.url())
    assert (again.host, again.ip, again.port, again.target) == (
        parsed.host, parsed.ip, parsed.port, parsed.target)
