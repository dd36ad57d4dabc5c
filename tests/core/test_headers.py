"""Request validation (astrid_host/_core/_headers.py): tables plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._headers import (
    FORBIDDEN_HEADERS,
    MAX_TRAILER_FIELDS,
    check_trailers,
    validate_headers,
    validate_method,
    validate_request,
)
from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request, RequestPart

LIMITS = Limits()


def _part(exc: pytest.ExceptionInfo[HttpError]) -> RequestPart:
    assert exc.value.code.case == "invalid-request"
    return exc.value.code.payload.part  # type: ignore[union-attr]


@pytest.mark.parametrize("method", ["GET", "POST", "PROPFIND", "m-search", "X_Y.1~"])
def test_valid_method_tokens_are_sent_as_given(method: str) -> None:
    assert validate_method(method) == method.encode()


@pytest.mark.parametrize("method", ["", "GET ", "G\rET", "GE:T", "GÉT", "(GET)", "A\x00"])
def test_method_that_is_not_a_token_is_invalid_request_method(method: str) -> None:
    with pytest.raises(HttpError) as exc:
        validate_method(method)
    assert _part(exc) is RequestPart.METHOD


@pytest.mark.parametrize("method", ["CONNECT", "TRACE", "connect", "Trace"])
def test_connect_and_trace_are_refused_in_any_case(method: str) -> None:
    with pytest.raises(HttpError) as exc:
        validate_method(method)
    assert _part(exc) is RequestPart.METHOD
    assert "not allowed" in str(exc.value)


@pytest.mark.parametrize("name", [
    *sorted(FORBIDDEN_HEADERS),
    "Host", "CONTENT-LENGTH", "Transfer-Encoding", "Proxy-Authorization", "proxy-anything",
])
def test_hop_by_hop_and_framing_headers_are_rejected(name: str) -> None:
    with pytest.raises(HttpError) as exc:
        validate_headers([(name, b"x")], LIMITS)
    assert _part(exc) is RequestPart.HEADER
    assert "set by the host" in str(exc.value)


@pytest.mark.parametrize("name", [
    "X-Forwarded-For", "x-forwarded-host", "X-FORWARDED-PROTO", "X-Forwarded-Anything",
    "Forwarded", "Via", "X-Real-IP", "x-real-ip",
])
def test_origin_headers_are_rejected_saying_why(name: str) -> None:
    """A capsule may not tell the destination where its request came from: it could spoof
    another client to a server that trusts these headers."""
    with pytest.raises(HttpError) as exc:
        validate_headers([("Accept", b"*/*"), (name, b"203.0.113.7")], LIMITS)
    assert _part(exc) is RequestPart.HEADER
    assert "set by the host" in str(exc.value)
    assert "where the request came from" in str(exc.value)


@pytest.mark.parametrize("name", ["X-Forwarded", "Forwarded-For", "X-Real-IPs", "Vias",
                                  "X-Request-Id"])
def test_names_near_the_origin_headers_are_allowed(name: str) -> None:
    assert validate_headers([(name, b"v")], LIMITS) == ((name.encode(), b"v"),)


# --- response trailers -----------------------------------------------------------------------

def test_trailers_are_kept_in_order_with_their_case_and_bytes() -> None:
    fields = [(b"grpc-status", b"0"), (b"X-Sum", b"\xe9t\xe9"), (b"grpc-status", b"1"),
              (b"Content-Length", b"9")]
    assert check_trailers(fields, LIMITS) == (
        ("grpc-status", b"0"), ("X-Sum", b"\xe9t\xe9"), ("grpc-status", b"1"),
        ("Content-Length", b"9"))
    assert check_trailers([], LIMITS) == ()


def test_trailer_bytes_cap_is_the_response_head_limit_inclusive() -> None:
    limits = Limits(max_response_header_bytes=20)
    assert check_trailers([(b"a", b"x" * 15)], limits) == (("a", b"x" * 15),)  # 1+15+4 = 20
    with pytest.raises(HttpError) as exc:
        check_trailers([(b"a", b"x" * 16)], limits)
    assert exc.value.code.case == "protocol-error"
    assert "response trailers over 20 bytes" in str(exc.value)


def test_trailer_count_cap_is_inclusive() -> None:
    fields = [(b"t%d" % i, b"v") for i in range(MAX_TRAILER_FIELDS)]
    assert len(check_trailers(fields, LIMITS)) == MAX_TRAILER_FIELDS
    with pytest.raises(HttpError) as exc:
        check_trailers([*fields, (b"one-more", b"v")], LIMITS)
    assert exc.value.code.case == "protocol-error"


@pytest.mark.parametrize(("name", "value"), [
    (b"bad name", b"v"), (b"", b"v"), (b"x", b"a\r\nb"), (b"x", b" lead"), (b"x", b"nul\x00"),
])
def test_malformed_trailers_are_a_protocol_error(name: bytes, value: bytes) -> None:
    with pytest.raises(HttpError) as exc:
        check_trailers([(name, value)], LIMITS)
    assert exc.value.code.case == "protocol-error"


@pytest.mark.parametrize(("name", "value", "why"), [
    ("x-a", b"a\r\nInjected: 1", "CR, LF or NUL"),
    ("x-a", b"a\nb", "CR, LF or NUL"),
    ("x-a", b"a\x00b", "CR, LF or NUL"),
    ("x-a", b" leading", "whitespace"),
    ("x-a", b"trailing\t", "whitespace"),
    ("x-a", b"bell\x07", "control"),
    ("x a", b"v", "token"),
    ("x:a", b"v", "token"),
    ("", b"v", "token"),
    ("x\u00e9", b"v", "token"),
])
def test_malformed_header_is_invalid_request_header(name: str, value: bytes, why: str) -> None:
    with pytest.raises(HttpError) as exc:
        validate_headers([(name, value)], LIMITS)
    assert _part(exc) is RequestPart.HEADER
    assert why in str(exc.value)


def test_duplicates_order_and_non_utf8_values_are_kept() -> None:
    hs = [("Set-Thing", b"1"), ("x-bin", b"\xff\xfe"), ("set-thing", b"2"), ("x-empty", b"")]
    assert validate_headers(hs, LIMITS) == (
        (b"Set-Thing", b"1"), (b"x-bin", b"\xff\xfe"), (b"set-thing", b"2"), (b"x-empty", b""))


def test_header_count_cap_is_inclusive() -> None:
    limits = Limits(max_request_headers=3)
    assert len(validate_headers([("a", b"1")] * 3, limits)) == 3
    with pytest.raises(HttpError, match="more than 3 header fields"):
        validate_headers([("a", b"1")] * 4, limits)


def test_header_bytes_cap_counts_name_value_and_separators() -> None:
    limits = Limits(max_request_header_bytes=10)
    assert validate_headers([("ab", b"cdef")], limits)  # 2 + 4 + 4 = 10
    with pytest.raises(HttpError, match="exceed 10 bytes"):
        validate_headers([("ab", b"cdefg")], limits)


def test_buffered_body_over_the_limit_is_request_too_large() -> None:
    limits = Limits(max_request_bytes=4)
    assert validate_request(Request("POST", "http://a.test/", body=b"1234"), limits)
    with pytest.raises(HttpError) as exc:
        validate_request(Request("POST", "http://a.test/", body=b"12345"), limits)
    assert exc.value.code.case == "request-too-large" and exc.value.code.payload == 4


@given(st.binary(max_size=40))
def test_accepted_values_never_contain_cr_lf_nul_or_edge_whitespace(value: bytes) -> None:
    """Invariant: a value is either refused with invalid-request or sent unchanged, and an
    accepted value has no CR/LF/NUL and no leading/trailing whitespace (no injection)."""
    try:
        out = validate_headers([("x-v", value)], LIMITS)
    except HttpError as e:
        assert e.code.case == "invalid-request"
        return
    assert out == ((b"x-v", value),)
    assert not any(c in value for c in b"\r\n\x00")
    assert value == value.strip(b" \t")


@given(st.text(max_size=12))
def test_any_name_is_either_a_token_or_refused(name: str) -> None:
    """Invariant: only RFC 9110 tokens outside the host-owned set get through."""
    try:
        validate_headers([(name, b"v")], LIMITS)
    except HttpError as e:
        assert e.code.case == "invalid-request"
        return
    assert name and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)
    assert name.lower() not in FORBIDDEN_HEADERS
    assert not name.lower().startswith(("proxy-", "x-forwarded-"))
