"""The check-ip and check-url commands: output fields and exit status. Nothing is connected to;
names are given with --resolve (or are 'localhost', answered by the hosts file)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from astrid_host._cli import _egress, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    _egress.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    status = args.handler(args)
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    status, out, _ = run(capsys, *argv, "--json")
    return status, json.loads(out)


@pytest.mark.parametrize(
    ("address", "status", "reason"),
    [("8.8.8.8", 0, "public"), ("10.0.0.1", 1, "private"), ("::1", 1, "loopback"),
     ("64:ff9b::a9fe:a9fe", 1, "embedded-ipv4:nat64"), ("192.0.0.9", 0, "special-purpose-global")],
)
def test_check_ip_json_and_exit_status(capsys: pytest.CaptureFixture[str], address: str,
                                       status: int, reason: str) -> None:
    code, report = run_json(capsys, "check-ip", address)
    assert (code, report["allowed"], report["reason"]) == (status, status == 0, reason)
    assert report["address"] == address


def test_check_ip_names_range_rfc_and_embedded(capsys: pytest.CaptureFixture[str]) -> None:
    _, report = run_json(capsys, "check-ip", "::ffff:169.254.169.254")
    assert report["range"] == {"network": "::ffff:0:0/96", "name": "IPv4-mapped Address",
                               "rfc": "RFC 4291"}
    assert report["embedded_ipv4"] == "169.254.169.254"
    status, out, _ = run(capsys, "check-ip", "::ffff:169.254.169.254")
    assert status == 1 and "embedded IPv4: 169.254.169.254 (link-local)" in out


@pytest.mark.parametrize("text", ["127.1", "localhost", "1.2.3.4/8", ""])
def test_check_ip_invalid_input_exits_2(capsys: pytest.CaptureFixture[str], text: str) -> None:
    status, report = run_json(capsys, "check-ip", text)
    assert (status, report["reason"]) == (2, "invalid-input")
    status, _, err = run(capsys, "check-ip", text)
    assert status == 2 and "not an IPv4 or IPv6 address" in err


def test_check_url_ip_literal_is_classified_without_resolving(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(capsys, "check-url", "http://0177.0.0.1:8080/x?secret=1")
    assert status == 1
    assert report["url"] == "http://127.0.0.1:8080/x"
    assert (report["host"], report["reason"], report["connect_to"]) == ("127.0.0.1", "loopback",
                                                                        None)
    assert report["addresses"] == [{"address": "127.0.0.1", "allowed": False,
                                    "reason": "loopback"}]


def test_check_url_judges_every_resolved_address(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(capsys, "check-url", "https://api.example.com/",
                              "--resolve", "api.example.com=10.0.0.1,8.8.8.8")
    assert status == 0
    assert report["addresses"] == [
        {"address": "10.0.0.1", "allowed": False, "reason": "private"},
        {"address": "8.8.8.8", "allowed": True, "reason": "public"}]
    assert report["connect_to"] == "8.8.8.8"


def test_check_url_all_answers_refused_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(capsys, "check-url", "https://rebind.test/",
                              "--resolve", "rebind.test=127.0.0.1,::1")
    assert (status, report["allowed"], report["reason"], report["connect_to"]) == (
        1, False, "loopback", None)


def test_check_url_applies_allow_rules_and_methods(capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--allow", "https://*.example.com", "--resolve", "a.example.com=8.8.8.8")
    status, report = run_json(capsys, "check-url", "https://a.example.com/", *base)
    assert (status, report["reason"], report["rule"]) == (0, "allowed-by-rule",
                                                          "https://*.example.com")
    status, report = run_json(capsys, "check-url", "https://example.com/", *base)
    assert (status, report["reason"], report["addresses"]) == (1, "no-matching-rule", [])
    status, report = run_json(capsys, "check-url", "https://a.example.com/", *base,
                              "--method", "BREW")
    assert (status, report["reason"]) == (1, "method-not-allowed")


def test_check_url_local_allowance_reaches_localhost_without_redirects(
        capsys: pytest.CaptureFixture[str]) -> None:
    named = ("--local", "localhost=127.0.0.1:8080", "--resolve", "localhost=127.0.0.1")
    status, report = run_json(capsys, "check-url", "http://localhost:8080/", *named)
    assert (status, report["reason"], report["connect_to"]) == (
        0, "allowed-by-local-allowance", "127.0.0.1")
    assert report["follow_redirects"] is False
    status, report = run_json(capsys, "check-url", "http://localhost:8081/", *named)
    assert (status, report["reason"]) == (1, "loopback")
    # An entry written as an address covers the IP-literal URL, never a name resolving to it.
    status, report = run_json(capsys, "check-url", "http://localhost:8080/", "--local",
                              "127.0.0.1:8080", "--resolve", "localhost=127.0.0.1")
    assert (status, report["reason"]) == (1, "loopback")


def test_check_url_uses_the_system_resolver_for_localhost(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, report = run_json(capsys, "check-url", "http://localhost/")
    assert status == 1
    assert report["addresses"] and not any(a["allowed"] for a in report["addresses"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [(("ftp://a.com/",), "scheme 'ftp'"),
     (("http://a.com\r\n/",), "control character"),
     (("https://a.com/", "--allow", "a.com"), "scheme required"),
     (("https://a.com/", "--local", "127.0.0.1"), "needs a port"),
     (("https://a.com/", "--local", "db.internal:5432"), "db.internal=ADDRESS:5432"),
     (("https://a.com/", "--method", "get"), "did you mean GET?"),
     (("https://a.com/", "--method", "GTE"), "did you mean GET?"),
     (("https://a.com/", "--resolve", "a.com"), "HOST=IP"),
     (("https://a.com/", "--resolve", "a.com=127.1"), "not an IPv4 or IPv6")],
)
def test_check_url_invalid_input_exits_2(capsys: pytest.CaptureFixture[str],
                                         argv: tuple[str, ...], message: str) -> None:
    status, out, err = run(capsys, "check-url", *argv)
    assert status == 2 and message in err and out == ""


def test_commands_are_offered_by_the_main_dispatcher(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-ip", "8.8.8.8"]) == 0
    assert "allowed (public)" in capsys.readouterr().out
    assert main(["check-url", "http://[::1]/"]) == 1
