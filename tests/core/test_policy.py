"""Capsule egress policy: rule syntax, matching, the local allowance, and a safety property."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._classify import IpVerdict, Reason
from astrid_host._core._policy import EgressPolicy, PolicyReason, check_url
from astrid_host._core._policy_local import parse_local
from astrid_host._core._policy_rules import PolicyError, parse_rule
from astrid_host._core._url import InvalidUrl, parse_url
from tests.support.oracle import expect

RULES = [
    "https://api.example.com",
    "http://*.example.com:8080",
    "https://*:443",
    "*://10.1.2.0/24:5432",
    "http://example.org:8000-8100",
    "https://[2001:db8::/32]:*",
    "http://8.8.8.8:*",
]
POLICY = EgressPolicy.parse(RULES)

# (method, url, allowed, reason key, rule that decided)
MATCH_ROWS = [
    ("GET", "https://api.example.com/v1", True, "allowed-by-rule", "https://api.example.com"),
    ("GET", "https://API.Example.com./v1", True, "allowed-by-rule", "https://api.example.com"),
    ("GET", "http://api.example.com/", False, "no-matching-rule", None),  # wrong scheme & port
    ("GET", "https://api.example.com:8443/", False, "no-matching-rule", None),
    ("GET", "http://a.example.com:8080/", True, "allowed-by-rule", "http://*.example.com:8080"),
    ("GET", "http://a.b.example.com:8080/", True, "allowed-by-rule", "http://*.example.com:8080"),
    ("GET", "http://example.com:8080/", False, "no-matching-rule", None),  # suffix only
    ("GET", "http://badexample.com:8080/", False, "no-matching-rule", None),
    ("GET", "http://a.example.com:8081/", False, "no-matching-rule", None),
    ("GET", "https://anything.test/", True, "allowed-by-rule", "https://*:443"),
    ("GET", "https://9.9.9.9/", True, "allowed-by-rule", "https://*:443"),
    # A rule never lifts the address check
    ("GET", "https://127.0.0.1/", False, "loopback", "https://*:443"),
    ("GET", "https://2130706433/", False, "loopback", "https://*:443"),
    ("GET", "https://[::ffff:7f00:1]/", False, "embedded-ipv4:mapped", "https://*:443"),
    ("GET", "https://169.254.169.254/", False, "link-local", "https://*:443"),
    ("GET", "http://10.1.2.3:5432/", False, "private", "*://10.1.2.0/24:5432"),
    ("GET", "https://[2001:db8::1]:9/", False, "documentation", "https://[2001:db8::/32]:*"),
    # CIDR/IP rules match IP-literal URLs only, never names
    ("GET", "http://8.8.8.8:53/", True, "allowed-by-rule", "http://8.8.8.8:*"),
    ("GET", "http://8.8.8.9:53/", False, "no-matching-rule", None),
    ("GET", "http://example.org:8000/", True, "allowed-by-rule", "http://example.org:8000-8100"),
    ("GET", "http://example.org:8100/", True, "allowed-by-rule", "http://example.org:8000-8100"),
    ("GET", "http://example.org:8101/", False, "no-matching-rule", None),
    ("BREW", "https://api.example.com/", False, "method-not-allowed", None),
    ("get", "https://api.example.com/", False, "method-not-allowed", None),
]


@pytest.mark.parametrize(("method", "url", "allowed", "reason", "rule"), MATCH_ROWS)
def test_rule_matching(method: str, url: str, allowed: bool, reason: str,
                       rule: str | None) -> None:
    decision = POLICY.check(parse_url(url), method)
    assert (decision.allowed, decision.reason_key, decision.rule) == (allowed, reason, rule)


def test_default_policy_denies_everything() -> None:
    for url in ("https://example.com/", "http://8.8.8.8/", "http://127.0.0.1/"):
        decision = EgressPolicy().check(parse_url(url), "GET")
        assert not decision.allowed
        assert decision.reason is PolicyReason.NO_RULE


def test_methods_can_be_restricted_or_opened() -> None:
    only_get = EgressPolicy.parse(["https://*"], methods=["GET"])
    assert only_get.check(parse_url("https://a.com/"), "GET").allowed
    assert only_get.check(parse_url("https://a.com/"), "POST").reason is PolicyReason.METHOD
    anything = EgressPolicy.parse(["https://*"], methods=["*"])
    assert anything.check(parse_url("https://a.com/"), "PROPFIND").allowed
    with pytest.raises(PolicyError, match="not a valid HTTP method"):
        EgressPolicy.parse([], methods=["GE T"])


LOCAL = EgressPolicy.parse(
    ["https://*:443"],
    local=["127.0.0.1:8080", "10.9.0.0/16:443", "db.internal=10.0.0.0/24:5432",
           "[fd00:ab::/32]:9000-9001"])


@pytest.mark.parametrize(
    ("url", "allowed", "reason", "via_local"),
    [("http://127.0.0.1:8080/", True, "allowed-by-local-allowance", True),
     ("http://127.0.0.1:8081/", False, "no-matching-rule", False),
     ("http://127.0.0.2:8080/", False, "no-matching-rule", False),
     ("http://[::ffff:127.0.0.1]:8080/", True, "allowed-by-local-allowance", True),
     ("https://10.9.200.1/", True, "allowed-by-local-allowance", True),
     ("https://10.10.0.1/", False, "private", False),
     ("http://db.internal:5432/", True, "allowed-by-local-allowance", True),
     ("http://db.internal:5433/", False, "no-matching-rule", False),
     ("http://[fd00:ab::1]:9001/", True, "allowed-by-local-allowance", True),
     ("http://[fd12::1]:9001/", False, "no-matching-rule", False),
     ("https://example.com/", True, "allowed-by-rule", False)],
)
def test_local_allowance_is_the_only_way_to_non_global_addresses(
        url: str, allowed: bool, reason: str, via_local: bool) -> None:
    decision = LOCAL.check(parse_url(url), "GET")
    assert (decision.allowed, decision.reason_key, decision.via_local) == (
        allowed, reason, via_local)
    assert decision.follow_redirects == (allowed and not via_local)


def test_local_allows_checks_address_port_and_name() -> None:
    assert LOCAL.local_allows(ipaddress.ip_address("127.0.0.1"), 8080)
    assert not LOCAL.local_allows(ipaddress.ip_address("127.0.0.1"), 80)
    assert LOCAL.local_allows(ipaddress.ip_address("10.0.0.7"), 5432, "db.internal")
    assert not LOCAL.local_allows(ipaddress.ip_address("10.0.0.7"), 5432)
    assert LOCAL.local_allows(ipaddress.ip_address("::ffff:10.9.1.1"), 443)


def test_check_address_uses_the_injected_classifier() -> None:
    def everything_public(_ip: object) -> IpVerdict:
        return IpVerdict(True, Reason.PUBLIC)

    check = EgressPolicy().check_address(ipaddress.ip_address("127.0.0.1"), 80, None,
                                         everything_public)
    assert check.allowed and not check.via_local


@pytest.mark.parametrize(
    ("rule", "message", "caret"),
    [("api.example.com", "scheme required", 0),
     ("ftp://a.com", "scheme must be http, https or *", 0),
     ("https://a.com/path", "origin only", 13),
     ("https://u@a.com", "origin only", 9),
     ("https://*.*.com", "'*' is only allowed", 10),
     ("https://a*.com", "'*' is only allowed", 9),
     ("https://a.com:99999", "1-65535", 14),
     ("https://a.com:0", "1-65535", 14),
     ("https://a.com:80-x", "1-65535", 17),
     ("https://a.com:90-80", "reversed", 14),
     ("https://a.com:1-2-3", "N, N-M or", 14),
     ("*://10.1.2.0/33:1", "invalid IPv4 network", 4),
     ("*://10.1.2.1/24:1", "invalid IPv4 network", 4),
     ("https://[1.2.3.4]", "brackets are for IPv6", 9),
     ("https://[::1", "closing ']'", 8),
     ("https://0x7f.1", "write it as an address", 8),
     ("https://2130706433", "write it as an address", 8),
     ("https://010.0.0.1", "invalid IPv4 address", 8),
     ("https://exa mple.com", "invalid host", 8),
     ("https://", "invalid host", 8)],
)
def test_bad_rules_fail_at_parse_time_pointing_at_the_problem(
        rule: str, message: str, caret: int) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        parse_rule(rule)
    lines = str(info.value).splitlines()
    assert lines[1].strip() == rule
    assert lines[2].index("^") - 4 == caret


@pytest.mark.parametrize(
    ("entry", "message"),
    [("127.0.0.1", "needs a port"), ("127.0.0.1:*", "explicit port"),
     ("10.0.0.0/8:x", "1-65535"), ("::1:80", "go in brackets"),
     ("[::1]:0", "1-65535"), ("a b:80", "invalid host")],
)
def test_bad_local_entries_fail_at_parse_time(entry: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_local(entry)


def test_rules_must_be_a_list_not_one_string() -> None:
    with pytest.raises(TypeError, match="must be a list of rule strings"):
        EgressPolicy.parse("https://a.com")


# --- property (c) ---------------------------------------------------------------------------

_RULE_POOL = [*RULES, "*://*:*", "http://*", "https://localhost", "*://127.0.0.0/8:*",
              "*://[::/0]:*", "*://0.0.0.0/0:*"]
_LOCAL_POOL = ["127.0.0.1:8080", "10.0.0.0/8:443", "localhost=127.0.0.1:8080",
               "[fd00:ab::/32]:443", "[64:ff9b::a00:0/104]:80"]
_HOSTS = ["api.example.com", "a.example.com", "localhost", "example.org", "127.0.0.1",
          "2130706433", "0x7f.1", "10.1.2.3", "169.254.169.254", "[::1]", "[::ffff:7f00:1]",
          "[64:ff9b::a00:1]", "[fd00::1]", "8.8.8.8", "[2001:db8::1]", "100.64.0.1",
          "[2002:a00:1::]"]
_special = st.sampled_from(["127.0.0.1", "10.0.0.5", "169.254.169.254", "::1", "fd00::1",
                            "::ffff:127.0.0.1", "64:ff9b::7f00:1", "8.8.8.8", "2606:4700::1",
                            "100.64.0.1", "192.0.0.9", "2002:7f00:1::1"])
_addresses = st.lists(
    st.one_of(_special, st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
              st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))),
    min_size=1, max_size=4).map(lambda xs: [ipaddress.ip_address(x) for x in xs])


def _locally_covered(local: list[str], ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                     name: str | None, port: int) -> bool:
    """Independent reading of local entries: network and exact port, and the entry's name
    equal to the resolved ``name`` (``None``, an IP-literal URL, only for unnamed entries)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for entry in local:
        entry_name, _, address = entry.rpartition("=")
        where, _, port_text = address.rpartition(":")
        if (int(port_text) == port and (entry_name or None) == name
                and ip in ipaddress.ip_network(where.strip("[]"))):
            return True
    return False


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_RULE_POOL), max_size=4),
       st.lists(st.sampled_from(_LOCAL_POOL), max_size=2),
       st.sampled_from(["http", "https"]), st.sampled_from(_HOSTS),
       st.sampled_from(["", ":443", ":8080", ":80", ":5432"]), _addresses)
def test_policy_never_allows_what_it_should_deny(
        rules: list[str], local: list[str], scheme: str, host: str, port: str,
        answers: list[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> None:
    """Invariant: whatever the rules, an allowed IP-literal URL and every allowed resolved
    address is globally reachable by the registry oracle, or covered by a local-allowance
    entry for that exact port; and a denied URL is never turned into an allowed one by
    resolution. Rules alone never open a non-global address."""
    policy = EgressPolicy.parse(rules, local=local)
    url = parse_url(f"{scheme}://{host}{port}/")
    decision = policy.check(url, "GET")
    if url.ip is not None:
        if decision.allowed:
            assert expect(url.ip).allowed or _locally_covered(local, url.ip, None, url.port)
        return
    for ip in answers:
        check = policy.check_address(ip, url.port, url.host)
        if check.allowed:
            assert expect(ip).allowed or _locally_covered(local, ip, url.host, url.port)
    if not rules and not local:
        assert not decision.allowed


def test_check_url_parses_then_decides() -> None:
    parsed, decision = check_url("https://api.example.com:443/x?q=1", POLICY, "GET")
    assert (parsed.host, parsed.target) == ("api.example.com", "/x?q=1")
    assert decision.allowed and decision.rule == "https://api.example.com"
    with pytest.raises(InvalidUrl):
        check_url("gopher://a.com/", POLICY)


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [("http://0x7f.1/", False, "loopback"), ("http://[64:ff9b::a9fe:a9fe]/", False,
                                              "embedded-ipv4:nat64"),
     ("https://unresolved.example/", True, "allowed-by-rule"), ("http://8.8.8.8/", True,
                                                                  "allowed-by-rule")],
)
def test_check_url_without_policy_applies_only_the_address_rules(
        url: str, allowed: bool, reason: str) -> None:
    _, decision = check_url(url, method="PROPFIND")
    assert (decision.allowed, decision.reason_key) == (allowed, reason)


@pytest.mark.parametrize("entry", ["0.0.0.0/0:443", "128.0.0.0/1:80", "[::/0]:443",
                                   "[fd00::/8]:9000", "[::/8]:80"])
def test_a_local_entry_may_not_open_a_whole_network(entry: str) -> None:
    """An entry names services: anything wider than an IPv4 /8 or an IPv6 /32 is refused
    (0.0.0.0/0 would reach the metadata address on that port)."""
    with pytest.raises(PolicyError, match="wider than"):
        EgressPolicy.parse([], local=[entry])
