"""The pure bridge between upstream's astrid:http@1.1.0 values and ours (_core/_astrid_http)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from astrid_host._core._astrid_http import (
    BUFFERED_DEFAULTS,
    ERROR_TABLE,
    U32_MAX,
    headers_to_upstream,
    request_from_upstream,
    to_upstream_error,
)
from astrid_host._core._astrid_manifest import TopicAcl
from astrid_host._core._astrid_state import MAX_MESSAGES, AstridState, PublishRefused
from astrid_host._core._model import (
    AddressVerdict,
    DigestAlgorithm,
    ErrorCode,
    RedirectPolicy,
    RequestPart,
    TimeoutPhase,
)
from astrid_host._core._wit_astrid_http import (
    HostErrorCode,
    HttpMethod,
    HttpRequestData,
    KeyValuePair,
    RequestOptions,
    TimeoutConfig,
)
from astrid_host._core._wit_http import ErrorCode as WitErrorCode

SAMPLES = {
    "denied": ErrorCode.denied("no rule"),
    "destination-prohibited": ErrorCode.destination_prohibited(
        "h", (AddressVerdict("10.0.0.1", "private"),)),
    "invalid-request": ErrorCode.invalid_request(RequestPart.URL, "bad"),
    "dns-error": ErrorCode.dns_error("nx"),
    "connection-refused": ErrorCode.connection_refused("r"),
    "connection-failed": ErrorCode.connection_failed("f"),
    "tls-error": ErrorCode.tls_error("t"),
    "timeout": ErrorCode.timeout(TimeoutPhase.TOTAL),
    "body-too-large": ErrorCode.body_too_large(10),
    "request-too-large": ErrorCode.request_too_large(10),
    "too-many-redirects": ErrorCode.too_many_redirects(10),
    "redirect-blocked": ErrorCode.redirect_blocked("x"),
    "integrity-mismatch": ErrorCode.integrity_mismatch("x"),
    "protocol-error": ErrorCode.protocol_error("bad framing"),
    "stream-limit": ErrorCode.stream_limit(4),
    "closed": ErrorCode.closed(),
    "cancelled": ErrorCode.cancelled(),
    "internal": ErrorCode.internal("boom"),
}


def test_the_table_covers_every_case_of_ours_and_names_only_upstream_arms() -> None:
    assert set(ERROR_TABLE) == set(WitErrorCode.CASES) == set(SAMPLES)
    assert set(ERROR_TABLE.values()) <= set(HostErrorCode.CASES)


@pytest.mark.parametrize(("ours", "arm"), [
    ("denied", "capability-denied"),
    ("destination-prohibited", "airlock-rejected"),
    ("stream-limit", "quota"),
    ("connection-refused", "connection-error"),
    ("timeout", "timeout"),
    ("request-too-large", "invalid-request"),
    ("protocol-error", "protocol"),
    ("cancelled", "unknown"),
])
def test_each_outcome_maps_to_its_documented_arm(ours: str, arm: str) -> None:
    assert to_upstream_error(SAMPLES[ours]).case == arm


def test_string_arms_carry_our_text_and_unit_arms_carry_nothing() -> None:
    assert to_upstream_error(SAMPLES["protocol-error"]).payload == "protocol-error: bad framing"
    assert to_upstream_error(SAMPLES["cancelled"]).payload == "cancelled"
    assert to_upstream_error(SAMPLES["destination-prohibited"]).payload is None


def test_a_body_limit_from_max_decompressed_bytes_is_a_decompression_bomb() -> None:
    code = SAMPLES["body-too-large"]
    assert to_upstream_error(code).case == "body-too-large"
    assert to_upstream_error(code, decompression_limited=True).case == "decompression-bomb"


def data(url: str = "https://public.test/", method: HttpMethod | None = None,
         **kw: object) -> HttpRequestData:
    return HttpRequestData(url, method or HttpMethod.get(), **kw)  # type: ignore[arg-type]


def test_a_plain_request_gets_upstreams_buffered_defaults() -> None:
    mapped = request_from_upstream(data(headers=(KeyValuePair("x-a", "é"),)), None,
                                   buffered=True)
    assert not isinstance(mapped, HostErrorCode)
    req, limited = mapped
    assert (req.method, req.url, req.headers) == ("GET", "https://public.test/",
                                                  (("x-a", "é".encode()),))
    assert req.options == BUFFERED_DEFAULTS and not limited


@pytest.mark.parametrize(("url", "https_only"), [
    ("ftp://public.test/", None), ("file:///etc/passwd", None), ("nourl", None),
    ("http://public.test/", True),
])
def test_a_wrong_scheme_is_scheme_denied_before_anything_is_sent(url: str,
                                                                 https_only: bool | None) -> None:
    got = request_from_upstream(data(url), RequestOptions(https_only=https_only), buffered=True)
    assert got == HostErrorCode.scheme_denied()


@pytest.mark.parametrize("method", [HttpMethod.connect(), HttpMethod.trace()])
def test_methods_our_client_never_sends_are_invalid_requests(method: HttpMethod) -> None:
    assert request_from_upstream(data(method=method), None, buffered=True) \
        == HostErrorCode.invalid_request()


def test_options_map_clamp_and_only_tighten() -> None:
    opts = RequestOptions(timeouts=TimeoutConfig(connect_ms=1 << 40, total_ms=500),
                          redirect=None, max_redirects=50, max_response_bytes=1 << 40,
                          max_decompressed_bytes=100, auto_decompress=False)
    mapped = request_from_upstream(data(method=HttpMethod.other("PROPFIND")), opts,
                                   buffered=True)
    assert not isinstance(mapped, HostErrorCode)
    req, limited = mapped
    o = req.options
    assert o is not None and req.method == "PROPFIND"
    assert o.connect_timeout_ms == U32_MAX and o.total_timeout_ms == 500
    assert o.max_redirects == 10 and o.redirect_policy is RedirectPolicy.FOLLOW
    assert o.max_response_bytes == 100 and limited and not o.decompress


def test_integrity_strings_are_parsed_or_refused() -> None:
    digest = hashlib.sha256(b"x").digest()
    good = RequestOptions(integrity="sha256-" + base64.b64encode(digest).decode())
    mapped = request_from_upstream(data(), good, buffered=True)
    assert not isinstance(mapped, HostErrorCode)
    integrity = mapped[0].options.integrity  # type: ignore[union-attr]
    assert integrity is not None and integrity.algorithm is DigestAlgorithm.SHA256
    for bad in ("sha256-!!", "md5-AAAA", "sha256", "sha512-" + base64.b64encode(digest).decode()):
        assert request_from_upstream(data(), RequestOptions(integrity=bad), buffered=True) \
            == HostErrorCode.invalid_request()


def test_response_header_values_that_are_not_utf8_read_as_latin1() -> None:
    assert headers_to_upstream((("a", b"\xff"), ("b", "é".encode()))) == (
        KeyValuePair("a", "ÿ"), KeyValuePair("b", "é"))


def test_publish_is_checked_against_the_acl_and_bounded() -> None:
    state = AstridState("c", publish=TopicAcl(("tool.v1.execute.*.result",)))
    state.publish_message("tool.v1.execute.x.result", "{}")
    for topic, arm in (("other.topic", "capability-denied"), ("bad..topic", "invalid-input")):
        with pytest.raises(PublishRefused) as info:
            state.publish_message(topic, "{}")
        assert info.value.arm == arm
    for _ in range(MAX_MESSAGES - 1):
        state.publish_message("tool.v1.execute.x.result", "{}")
    with pytest.raises(PublishRefused) as info:
        state.publish_message("tool.v1.execute.x.result", "{}")
    assert info.value.arm == "quota"
    assert len(state.take_messages()) == MAX_MESSAGES and state.take_messages() == []
    with pytest.raises(PublishRefused) as info:
        AstridState("c").publish_message("tool.v1.execute.x.result", "{}")
    assert info.value.arm == "capability-denied"
