"""Decision values and their one canonical log line."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from astrid_host._core._classify import classify_ip
from astrid_host._core._decision import FIELDS, EgressDecision, Resolution, log_decision
from astrid_host._core._model import AddressVerdict
from astrid_host._core._policy import AddressCheck, EgressPolicy
from astrid_host._core._url import parse_url


def _check(text: str, via_local: bool = False) -> AddressCheck:
    ip = ipaddress.ip_address(text)
    return AddressCheck(ip, classify_ip(ip), via_local)


def test_line_has_every_field_in_fixed_order_even_when_empty() -> None:
    line = EgressDecision("cap", "GET", "https://a.com/", False, "no-matching-rule").line()
    assert line.startswith("egress ")
    keys = [part.split("=", 1)[0] for part in line.split(" ")[1:]]
    assert keys == list(FIELDS)
    assert "status=- bytes=- elapsed_ms=-" in line


def test_line_lists_addresses_with_their_reasons_and_the_chosen_one() -> None:
    decision = EgressDecision(
        "weather", "GET", "https://api.example.com/v1", True, "allowed-by-rule",
        "https://api.example.com", (_check("10.0.0.1"), _check("8.8.8.8"),
                                    _check("127.0.0.1", via_local=True)),
        ipaddress.ip_address("8.8.8.8"), 200, 512, 31)
    fields = decision.fields()
    assert fields["addresses"] == "10.0.0.1/private,8.8.8.8/public,127.0.0.1/local"
    assert (fields["chosen"], fields["decision"], fields["status"]) == ("8.8.8.8", "allow", "200")


def test_values_with_spaces_or_quotes_are_json_quoted_so_fields_stay_parseable() -> None:
    line = EgressDecision('my "cap" x', "GET", "http://a.com/", True, "r").line()
    assert 'capsule="my \\"cap\\" x"' in line


def test_allowed_logs_at_info_and_denied_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="astrid_host.egress")
    log_decision(EgressDecision("c", "GET", "https://a.com/", True, "allowed-by-rule"))
    log_decision(EgressDecision("c", "GET", "http://127.0.0.1/", False, "loopback"))
    assert [(r.name, r.levelno) for r in caplog.records] == [
        ("astrid_host.egress", logging.INFO), ("astrid_host.egress", logging.WARNING)]
    assert "decision=deny reason=loopback" in caplog.records[1].getMessage()


def test_from_policy_denies_when_every_resolved_address_is_refused() -> None:
    policy = EgressPolicy.parse(["https://*"])
    url = parse_url("https://rebind.test/path?token=secret")
    decision = policy.check(url, "GET")
    resolution = Resolution("rebind.test", (_check("127.0.0.1"), _check("10.0.0.1")))
    combined = EgressDecision.from_policy("cap", "GET", url.redacted(), decision, resolution)
    assert (combined.allowed, combined.reason) == (False, "loopback")
    assert "secret" not in combined.line()


def test_from_policy_keeps_the_policy_reason_and_literal_address() -> None:
    policy = EgressPolicy.parse(["https://*"])
    url = parse_url("https://169.254.169.254/latest/meta-data")
    combined = EgressDecision.from_policy("cap", "GET", url.redacted(), policy.check(url, "GET"))
    assert (combined.allowed, combined.reason, combined.rule) == (False, "link-local",
                                                                  "https://*")
    assert [str(a.address) for a in combined.addresses] == ["169.254.169.254"]


def test_resolution_refused_lists_wit_address_verdicts() -> None:
    resolution = Resolution("h", (_check("8.8.8.8"), _check("::1"), _check("10.1.1.1", True)))
    assert resolution.refused() == (AddressVerdict("::1", "loopback"),)
    assert [str(a.address) for a in resolution.allowed] == ["8.8.8.8", "10.1.1.1"]
