"""The Python mirror of the WIT error-code and request values."""

from __future__ import annotations

import re

import pytest

from astrid_host._core._model import (
    AddressVerdict,
    ErrorCode,
    HttpError,
    InvalidRequest,
    ProhibitedAddress,
    RequestPart,
    TimeoutPhase,
)
from tests.support.paths import ROOT

WIT = ROOT / "wit" / "types.wit"


def _wit_cases(name: str) -> list[str]:
    text = WIT.read_text()
    body = text[text.index(f"variant {name} {{"):]
    body = body[: body.index("\n    }")]
    return re.findall(r"^\s{8}([a-z][a-z0-9-]*)[,(]", body, re.MULTILINE)


def test_error_code_cases_match_the_wit_variant_in_order() -> None:
    assert list(ErrorCode.CASES) == _wit_cases("error-code")


def test_every_error_code_case_has_a_constructor_that_validates() -> None:
    samples = {
        "destination-prohibited": ("h", (AddressVerdict("10.0.0.1", "private"),)),
        "invalid-request": (RequestPart.URL, "bad"),
        "timeout": (TimeoutPhase.CONNECT,),
        "body-too-large": (10,),
        "request-too-large": (10,),
        "too-many-redirects": (10,),
        "stream-limit": (4,),
        "closed": (),
        "cancelled": (),
    }
    for case in ErrorCode.CASES:
        ctor = getattr(ErrorCode, case.replace("-", "_"))
        code = ctor(*samples.get(case, ("detail",)))
        assert code.case == case


@pytest.mark.parametrize(
    ("case", "payload"),
    [
        ("timeout", "connect"),
        ("closed", "x"),
        ("body-too-large", True),
        ("denied", 3),
        ("nope", None),
    ],
)
def test_a_mismatched_payload_is_refused(case: str, payload: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        ErrorCode(case, payload)  # type: ignore[arg-type]


def test_error_text_names_the_case_and_detail() -> None:
    code = ErrorCode.destination_prohibited(
        "internal.test", (AddressVerdict("10.0.0.5", "private"), AddressVerdict("::1", "loopback"))
    )
    assert str(code) == (
        "destination-prohibited: internal.test -> 10.0.0.5 (private), ::1 (loopback)"
    )
    assert str(ErrorCode.timeout(TimeoutPhase.FIRST_BYTE)) == "timeout: first-byte"
    invalid = ErrorCode.invalid_request(RequestPart.HEADER, "bad name")
    assert str(invalid) == "invalid-request: header: bad name"
    err = HttpError(ErrorCode.closed())
    assert err.code.case == "closed" and str(err) == "closed"
    assert isinstance(ProhibitedAddress("h", ()).addresses, tuple)
    assert InvalidRequest(RequestPart.BODY, "x").part is RequestPart.BODY
