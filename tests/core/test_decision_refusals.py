"""Decision values for refusals and failures, and how their lines show them
(astrid_host/_core/_decision.py)."""

from __future__ import annotations

import ipaddress

import pytest

from astrid_host._core._classify import classify_ip
from astrid_host._core._decision import (
    FIELDS,
    URL_TEXT_LIMIT,
    EgressDecision,
    Resolution,
    redact_url_text,
)
from astrid_host._core._policy import AddressCheck, EgressPolicy
from astrid_host._core._url import parse_url


def _check(text: str) -> AddressCheck:
    ip = ipaddress.ip_address(text)
    return AddressCheck(ip, classify_ip(ip), False)


def test_error_is_the_last_field_and_dash_when_the_hop_did_not_fail() -> None:
    assert FIELDS[-1] == "error"
    line = EgressDecision("c", "GET", "https://a.com/", True, "allowed-by-rule").line()
    assert line.endswith(" error=-")


def test_a_refusal_without_a_policy_decision_has_no_rule_or_address() -> None:
    d = EgressDecision.refused("c", "GET", "file:///etc/passwd", "invalid-url",
                               "redirect-blocked")
    fields = d.fields()
    assert (fields["decision"], fields["reason"], fields["rule"], fields["addresses"],
            fields["error"]) == ("deny", "invalid-url", "-", "-", "redirect-blocked")


def test_a_policy_refusal_names_the_rule_and_the_literal_address() -> None:
    policy = EgressPolicy.parse(["http://10.0.0.0/8:*"])
    decision = policy.check(parse_url("http://10.0.0.5:8080/"), "GET")
    d = EgressDecision.refused("c", "GET", "http://10.0.0.5:8080/", decision.reason_key,
                               "redirect-blocked", decision)
    assert d.fields()["rule"] == "http://10.0.0.0/8:*"
    assert d.fields()["addresses"] == "10.0.0.5/private"


def test_a_failed_hop_keeps_the_policy_verdict_and_shows_what_was_resolved() -> None:
    policy = EgressPolicy.parse(["https://*"])
    decision = policy.check(parse_url("https://api.test/"), "GET")
    answers = (_check("8.8.8.8"), _check("10.1.1.1"))
    refused = EgressDecision.from_policy("c", "GET", "https://api.test/", decision,
                                         Resolution("api.test", answers))
    assert refused.fields()["addresses"] == "8.8.8.8/public,10.1.1.1/private"
    assert (refused.allowed, refused.chosen) == (True, None)
    tls = EgressDecision.from_policy(
        "c", "GET", "https://api.test/", decision,
        Resolution("api.test", answers, ipaddress.ip_address("8.8.8.8")))
    assert tls.fields()["chosen"] == "8.8.8.8"


@pytest.mark.parametrize(("text", "shown"), [
    ("file:///etc/passwd", "file:///etc/passwd"),
    ("http://user:pw@host.test/p?token=1#frag", "http://host.test/p"),
    ("http://a:b@c@host.test/", "http://host.test/"),
    ("data:text/html,<b>x</b>?q=1", "data:text/html,<b>x</b>"),
    ("http://[fe80::1%25eth0]:80/x", "http://[fe80::1%25eth0]:80/x"),
    ("http://[::1", "http://[::1"),
    ("x" * (URL_TEXT_LIMIT + 1), "x" * URL_TEXT_LIMIT + "..."),
])
def test_an_unparseable_url_is_shown_without_secrets_and_cut_short(text: str,
                                                                   shown: str) -> None:
    assert redact_url_text(text) == shown


def test_a_url_with_control_characters_stays_one_parseable_field() -> None:
    line = EgressDecision.refused("c", "GET", redact_url_text("/a\x01b c"), "unusable-location",
                                  "protocol-error").line()
    assert 'url="/a\\u0001b c"' in line
