"""The IP classifier: boundary rows for every range, attack rows, and property tests."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from astrid_host._core._classify import InvalidAddress, IpVerdict, classify_ip
from astrid_host._core._ranges import RANGES, Reason
from tests.support.oracle import ROWS, expect

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _boundaries() -> list[tuple[str, IPAddress]]:
    rows = []
    for rng in RANGES:
        net = ipaddress.ip_network(rng.network)
        first, last = int(net.network_address), int(net.broadcast_address)
        top = 2**net.max_prefixlen - 1
        cls = type(net.network_address)
        rows.append((f"{rng.network} first", cls(first)))
        rows.append((f"{rng.network} last", cls(last)))
        if first > 0:
            rows.append((f"{rng.network} one below", cls(first - 1)))
        if last < top:
            rows.append((f"{rng.network} one above", cls(last + 1)))
    return rows


@pytest.mark.parametrize(("label", "address"), _boundaries(), ids=[b[0] for b in _boundaries()])
def test_range_boundaries_agree_with_the_registry_oracle(label: str, address: IPAddress) -> None:
    verdict = classify_ip(address)
    assert verdict.allowed == expect(address).allowed, f"{label}: {verdict}"
    assert classify_ip(str(address)) == verdict


# (address, allowed, reason key): hand-written expectations, independent of any table.
ATTACK_ROWS = [
    ("8.8.8.8", True, "public"),
    ("2606:4700:4700::1111", True, "public"),
    ("127.0.0.1", False, "loopback"),
    ("127.255.255.255", False, "loopback"),
    ("0.0.0.0", False, "unspecified"),
    ("0.1.2.3", False, "this-network"),
    ("::", False, "unspecified"),
    ("::1", False, "loopback"),
    ("10.0.0.1", False, "private"),
    ("172.31.255.255", False, "private"),
    ("172.32.0.0", True, "public"),
    ("192.168.1.1", False, "private"),
    ("100.64.0.1", False, "cgnat"),
    ("100.127.255.255", False, "cgnat"),
    ("100.63.255.255", True, "public"),
    ("100.128.0.0", True, "public"),
    ("169.254.169.254", False, "link-local"),
    ("fe80::1", False, "link-local"),
    ("fe80::1%eth0", False, "link-local"),
    ("fd00:ec2::254", False, "unique-local"),
    ("fec0::1", False, "site-local"),
    ("224.0.0.1", False, "multicast"),
    ("239.255.255.255", False, "multicast"),
    ("ff02::1", False, "multicast"),
    ("255.255.255.255", False, "broadcast"),
    ("240.0.0.1", False, "reserved"),
    ("4000::1", False, "reserved"),
    ("1::1", False, "reserved"),
    ("192.0.2.1", False, "documentation"),
    ("198.51.100.7", False, "documentation"),
    ("203.0.113.255", False, "documentation"),
    ("2001:db8::1", False, "documentation"),
    ("3fff::1", False, "documentation"),
    ("198.18.0.0", False, "benchmarking"),
    ("198.19.255.255", False, "benchmarking"),
    ("198.20.0.0", True, "public"),
    ("2001:2::1", False, "benchmarking"),
    ("192.0.0.9", True, "special-purpose-global"),
    ("192.0.0.10", True, "special-purpose-global"),
    ("192.0.0.11", False, "special-purpose"),
    ("192.0.0.170", False, "special-purpose"),
    ("192.88.99.1", False, "special-purpose"),
    ("5f00::1", False, "special-purpose"),
    ("64:ff9b:1::1", False, "special-purpose"),
    ("100::1", False, "special-purpose"),
    ("2001:10::1", False, "special-purpose"),
    ("2001:3::1", True, "special-purpose-global"),
    ("2001:1::3", True, "special-purpose-global"),
    ("2001:1::4", False, "special-purpose"),
    # Teredo: not globally reachable, hides an IPv4 client behind an obfuscated field.
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, "teredo"),
    # Embedded IPv4: the classic bypasses of filters that only look at the IPv6 prefix.
    ("::ffff:127.0.0.1", False, "embedded-ipv4:mapped"),
    ("::ffff:a9fe:a9fe", False, "embedded-ipv4:mapped"),
    ("::ffff:8.8.8.8", True, "public"),
    ("64:ff9b::127.0.0.1", False, "embedded-ipv4:nat64"),
    ("64:ff9b::a9fe:a9fe", False, "embedded-ipv4:nat64"),
    ("64:ff9b::8.8.8.8", True, "public"),
    ("2002:7f00:1::", False, "embedded-ipv4:6to4"),
    ("2002:a00:1:1::1", False, "embedded-ipv4:6to4"),
    ("2002:808:808::1", False, "special-purpose"),
    ("::127.0.0.1", False, "embedded-ipv4:compatible"),
    ("::10.0.0.1", False, "embedded-ipv4:compatible"),
    ("::8.8.8.8", False, "reserved"),
]


@pytest.mark.parametrize(("address", "allowed", "reason"), ATTACK_ROWS)
def test_attack_and_edge_rows(address: str, allowed: bool, reason: str) -> None:
    verdict = classify_ip(address)
    assert (verdict.allowed, verdict.reason.value) == (allowed, reason)


@pytest.mark.parametrize(
    ("address", "embedded", "inner_reason"),
    [("::ffff:10.1.2.3", "10.1.2.3", Reason.PRIVATE),
     ("64:ff9b::100.64.0.1", "100.64.0.1", Reason.CGNAT),
     ("2002:c0a8:101::", "192.168.1.1", Reason.PRIVATE),
     ("::169.254.1.1", "169.254.1.1", Reason.LINK_LOCAL)],
)
def test_embedded_verdict_names_the_decoded_ipv4_and_its_reason(
        address: str, embedded: str, inner_reason: Reason) -> None:
    verdict = classify_ip(address)
    assert verdict.embedded_ipv4 == ipaddress.IPv4Address(embedded)
    assert verdict.embedded_reason is inner_reason
    assert verdict.range is not None and verdict.range.rfc.startswith("RFC")


def test_verdict_names_range_and_rfc() -> None:
    verdict = classify_ip("100.64.0.1")
    assert verdict.range is not None
    assert (verdict.range.name, verdict.range.rfc) == ("Shared Address Space", "RFC 6598")
    assert classify_ip("8.8.8.8").range is None


def test_object_and_text_inputs_agree() -> None:
    assert classify_ip(ipaddress.ip_address("::ffff:127.0.0.1")) == classify_ip("::ffff:7f00:1")
    assert classify_ip(ipaddress.IPv6Address("fe80::1%eth0")).reason is Reason.LINK_LOCAL


@pytest.mark.parametrize(
    "text",
    ["", "1.2.3", "127.1", "2130706433", "0x7f.0.0.1", "01.2.3.4", "1.2.3.04", " 1.2.3.4",
     "1.2.3.4\n", "1.2.3.256", "::ffff:1.2.3.4.5", "fe80::1%", "fe80::1%a%b", "::%/",
     "fe80::1%a b", "1::2::3",
     "\uff11.2.3.4", "localhost", "[::1]", "1.2.3.4/32", "1.2.3.4\x00"],
)
def test_non_addresses_raise_invalid_address(text: str) -> None:
    with pytest.raises(InvalidAddress):
        classify_ip(text)


@pytest.mark.parametrize("value", [None, 2130706433, b"1.2.3.4", ipaddress.ip_network("::/0")])
def test_non_address_types_raise_invalid_address(value: object) -> None:
    with pytest.raises(InvalidAddress, match="expected an IP address"):
        classify_ip(value)  # type: ignore[arg-type]


def test_invalid_address_is_a_value_error() -> None:
    assert issubclass(InvalidAddress, ValueError)


# --- properties ---------------------------------------------------------------------------

def _address_in(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[int]:
    first, last = int(net.network_address), int(net.broadcast_address)
    return st.one_of(st.sampled_from([first, last, max(first - 1, 0),
                                      min(last + 1, 2**net.max_prefixlen - 1)]),
                     st.integers(first, last))


_V4_ROWS = [r.network for r in ROWS if r.network.version == 4]
_V6_ROWS = [r.network for r in ROWS if r.network.version == 6]
_special_v4 = st.sampled_from(_V4_ROWS).flatmap(_address_in)
_any_v4 = st.one_of(st.integers(0, 2**32 - 1), _special_v4)
_v4 = _any_v4.map(ipaddress.IPv4Address)
_v6 = st.one_of(st.integers(0, 2**128 - 1),
                st.sampled_from(_V6_ROWS).flatmap(_address_in)).map(ipaddress.IPv6Address)
_embedded = st.one_of(
    _any_v4.map(lambda v4: (0xFFFF << 32) | v4),  # ::ffff:a.b.c.d
    _any_v4,  # ::a.b.c.d
    _any_v4.map(lambda v4: (0x64FF9B << 96) | v4),  # 64:ff9b::a.b.c.d
    st.tuples(_any_v4, st.integers(0, 2**80 - 1)).map(
        lambda t: (0x2002 << 112) | (t[0] << 80) | t[1]),  # 2002:AABB:CCDD::/48
).map(ipaddress.IPv6Address)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(_v4, _v6, _embedded))
@example(ipaddress.ip_address("::ffff:127.0.0.1"))
@example(ipaddress.ip_address("192.0.0.9"))
def test_classifier_agrees_with_the_registry_oracle(address: IPAddress) -> None:
    """Invariant: for any IPv4/IPv6 address (random, near registry boundaries, or an embedded
    form), classify_ip allows it exactly when the oracle built from the IANA CSV does, decodes
    the same embedded IPv4, and blames the embedding whenever the embedded IPv4 is non-global.
    """
    verdict = classify_ip(address)
    expected = expect(address)
    assert verdict.allowed == expected.allowed
    assert verdict.embedded_ipv4 == expected.embedded
    if expected.embedded is not None and expected.embedded_allowed is False:
        assert verdict.reason.value.startswith("embedded-ipv4:")
    assert verdict.allowed == verdict.reason.allows


_address_like = st.text(alphabet="0123456789abcdefxABCDEF:.%[]/ \n\x00\uff11", max_size=45)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=60), _address_like))
@example("::ffff:1.2.3.4%")
@example("1.2.3.4%eth0")
@example("::%/")
@example("fe80::1%eth0.100")
def test_any_text_yields_a_verdict_or_invalid_address(text: str) -> None:
    """Invariant: classify_ip on any string returns an IpVerdict or raises InvalidAddress,
    never anything else; and whatever it accepts, ipaddress parses to the same verdict."""
    try:
        verdict = classify_ip(text)
    except InvalidAddress:
        return
    assert isinstance(verdict, IpVerdict)
    assert classify_ip(ipaddress.ip_address(text)) == verdict
