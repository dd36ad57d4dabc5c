"""Upstream's down-mapping of `astrid:http@1.1.0` error arms onto 1.0.0's, and the 1.0.0
records in 1.1.0's shape."""

from __future__ import annotations

import pytest

from astrid_host._core._astrid_http import error_to_1_0, request_from_1_0, response_to_1_0
from astrid_host._core._wit_astrid_http import (
    HostErrorCode,
    HttpResponseData,
    KeyValuePair,
    ResponseMeta,
)
from astrid_host._core._wit_astrid_http_1_0 import HostErrorCode as HostErrorCode10
from astrid_host._core._wit_astrid_http_1_0 import HttpMethod, HttpRequestData
from astrid_host._core._wit_astrid_http_1_0 import KeyValuePair as KeyValuePair10


@pytest.mark.parametrize(("arm", "down", "text"), [
    ("redirect-blocked", "airlock-rejected", None),
    ("too-many-redirects", "protocol", "too many redirects"),
    ("scheme-denied", "invalid-request", None),
    ("integrity-mismatch", "protocol", "integrity mismatch"),
    ("decompression-bomb", "body-too-large", None),
    ("capability-denied", "capability-denied", None),
    ("quota", "quota", None),
])
def test_arms_map_down_as_upstream_does(arm: str, down: str, text: str | None) -> None:
    mapped = error_to_1_0(HostErrorCode(arm))
    assert (mapped.case, mapped.payload) == (down, text)


def test_every_1_1_arm_lands_on_a_1_0_arm_and_texts_pass() -> None:
    cases_1_0 = set(HostErrorCode10.CASES)
    for case in HostErrorCode.CASES:
        payload = "detail" if HostErrorCode.CASES[case] is not None else None
        mapped = error_to_1_0(HostErrorCode(case, payload))
        assert mapped.case in cases_1_0, case
        if case in ("protocol", "unknown"):
            assert mapped.payload == "detail"


def test_records_convert_between_versions() -> None:
    req = request_from_1_0(HttpRequestData("https://a.test/", HttpMethod.other("PROPFIND"),
                                           (KeyValuePair10("k", "v"),), b"x"))
    assert (req.url, req.method.case, req.method.payload, req.body) == (
        "https://a.test/", "other", "PROPFIND", b"x")
    assert [(h.key, h.value) for h in req.headers] == [("k", "v")]
    resp = response_to_1_0(HttpResponseData(201, (KeyValuePair("a", "b"),), b"y",
                                            ResponseMeta("https://a.test/", 0, 1, 1)))
    assert (resp.status, resp.body, resp.headers) == (201, b"y", (KeyValuePair10("a", "b"),))
