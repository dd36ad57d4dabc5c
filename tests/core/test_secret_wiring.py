"""The pure pieces the engine wiring of secrets added (issue 13): each capsule's own copy of the
values, scrubbing echoed values from host-written text, the redirect safelist's exception for
placeholder headers, refusals that keep their parsed URL for the audit record, and the
manifest's declared secret names."""

from __future__ import annotations

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._manifest import ManifestError, parse_manifest
from astrid_host._core._model import ErrorCode, Request, RequestPart
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._redirects import (
    Hop,
    RedirectRules,
    Refusal,
    carried_headers,
    plan_redirect,
    plan_request,
)
from astrid_host._core._secrets import REDACTED, Secret, Secrets
from astrid_host._core._url import parse_url

VALUE = b"sk-\xc3\xa9-value-42"  # UTF-8 "é" inside: found as UTF-8 and as Latin-1 text


def _secrets() -> Secrets:
    return Secrets.build({"k": Secret(VALUE, origins=["https://api.example.com"])})


def test_a_copy_is_wiped_without_touching_the_original() -> None:
    original = _secrets()
    copy = original.copy()
    copy.wipe()
    assert original.values["k"].reveal() == VALUE
    assert copy.values["k"].origins == original.values["k"].origins
    assert copy.declared == original.declared


@pytest.mark.parametrize("text", [
    VALUE.decode("utf-8"), VALUE.decode("latin-1"), f"x{VALUE.decode('utf-8')}y{VALUE!r}"])
def test_scrub_replaces_every_exact_occurrence(text: str) -> None:
    scrubbed = _secrets().scrub(text)
    assert REDACTED in scrubbed
    assert VALUE.decode("utf-8") not in scrubbed and VALUE.decode("latin-1") not in scrubbed


def test_scrub_error_cleans_text_payloads_and_keeps_others() -> None:
    secrets = _secrets()
    text = f"redirect to http://x.example/{VALUE.decode()}"
    assert secrets.scrub_error(ErrorCode.redirect_blocked(text)).payload == (
        f"redirect to http://x.example/{REDACTED}")
    invalid = secrets.scrub_error(ErrorCode.invalid_request(RequestPart.URL, text))
    assert invalid.payload.detail.endswith(REDACTED)  # type: ignore[union-attr]
    closed = ErrorCode.closed()
    assert secrets.scrub_error(closed) is closed
    plain = ErrorCode.denied("nothing secret")
    assert secrets.scrub_error(plain) is plain
    wiped = _secrets()
    wiped.wipe()
    assert wiped.scrub("anything") == "anything"


def test_cross_origin_keeps_only_safelisted_and_placeholder_headers() -> None:
    headers = ((b"Accept", b"*/*"), (b"Authorization", b"Bearer {{secret:k}}"),
               (b"Authorization", b"Bearer capsule-own"), (b"X-Key", b"{{secret:k}}"),
               (b"Content-Type", b"{{secret:k}}"))
    kept = carried_headers(headers, cross_origin=True, body_kept=False)
    assert kept == ((b"Accept", b"*/*"), (b"Authorization", b"Bearer {{secret:k}}"),
                    (b"X-Key", b"{{secret:k}}"))
    assert carried_headers(headers, cross_origin=False, body_kept=True) == headers


def test_refusals_keep_the_parsed_url_they_judged() -> None:
    check = EgressPolicy.parse(["https://api.example.com"]).check
    refused = plan_request(Request("GET", "https://other.example/x"), Limits(), check)
    assert isinstance(refused, Refusal) and refused.target == parse_url("https://other.example/x")
    unparsable = plan_request(Request("GET", "file:///etc/passwd"), Limits(), check)
    assert isinstance(unparsable, Refusal) and unparsable.target is None
    hop = plan_request(Request("GET", "https://api.example.com/"), Limits(), check)
    assert isinstance(hop, Hop)
    step = plan_redirect(hop, status=302, headers=((b"location", b"https://evil.example/p"),),
                         resolution=None, rules=RedirectRules(), check=check)
    assert isinstance(step, Refusal) and step.target == parse_url("https://evil.example/p")


MANIFEST = '[package]\nname = "w"\nversion = "1.0.0"\ncomponent = "w.wasm"\n[capabilities]\n'


def test_a_manifest_declares_secret_names_and_never_values() -> None:
    assert parse_manifest(MANIFEST).secrets is None
    assert parse_manifest(MANIFEST + 'secrets = ["api_key", "org.id", "api_key"]\n').secrets == (
        "api_key", "org.id")
    assert parse_manifest(MANIFEST + "secrets = []\n").secrets == ()


@pytest.mark.parametrize(("line", "message"), [
    ('secrets = "api_key"', "must be a list of secret names"),
    ('secrets = [{ name = "k", value = "v" }]', "must be a list of secret names"),
    ('secrets = ["ok", "not ok"]', "secret name 'not ok'"),
])
def test_bad_secret_declarations_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message) as exc:
        parse_manifest(MANIFEST + line + "\n")
    assert exc.value.line == 6
