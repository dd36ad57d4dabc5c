"""Local-allowance entries are judged by what they really reach, and cover only what they name.

Two holes are closed here. An IPv6 entry could carry far more IPv4 than its width suggests
(``[64:ff9b::/96]:80`` is every IPv4 address on port 80 through NAT64, the metadata address
included). And an entry written as an address also admitted any *name* resolving to it, so a
capsule could reach a sidecar under a name (and ``Host`` header) of its own choosing.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._policy import EgressPolicy, PolicyReason
from astrid_host._core._policy_local import LocalEndpoint, parse_local
from astrid_host._core._policy_rules import PolicyError, PortRange
from astrid_host._core._url import parse_url

IPAddress = IPv4Address | IPv6Address
DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy.md"

# --- refused when parsed, for what they reach ----------------------------------------------

REFUSED = [
    # The review's finding: narrower than /32, but every IPv4 address through NAT64.
    ("[64:ff9b::/96]:80", "reaches every IPv4 address, 169.254.169.254 included, through NAT64"),
    ("[64:ff9b::/64]:80", "reaches every IPv4 address"),
    ("[64:ff9b::/100]:80", "reaches IPv4 0.0.0.0/4"),
    ("[64:ff9b::a9fe:a9fe]:80", "reaches IPv4 169.254.169.254 through NAT64"),
    ("[64:ff9b::a9fe:0/112]:80", "reaches IPv4 169.254.0.0/16 through NAT64"),
    ("[64:ff9b:1::/96]:80", "through local-use NAT64"),
    ("[64:ff9b:1:a9fe:a9:fe00::]:80", "169.254.169.254 through local-use NAT64"),  # /48 layout
    ("[64:ff9b:1:0:a9:fea9:fe00:0]:80", "169.254.169.254 through local-use NAT64"),  # /64
    ("[2002::/24]:80", "wider than /32"),
    ("[2002:a9fe:a9fe::/48]:80", "reaches IPv4 169.254.169.254 through 6to4"),
    ("[2001:0:a00:1::/64]:80", "through Teredo"),  # the client address is free
    ("[2001:0:a9fe:a9fe::1]:80", "169.254.169.254 through Teredo"),  # the server address
    ("[2001:0:a00:1:0:0:5601:5601]:80", "169.254.169.254 through Teredo"),  # client, inverted
    ("[::/64]:80", "reaches every IPv4 address"),  # holds the mapped and compatible blocks
    ("[::a9fe:a9fe]:80", "through IPv4-compatible"),
    ("[::ffff:10.0.0.1]:80", "write 10.0.0.1 instead"),
    ("[::ffff:169.254.169.254]:80", "write 169.254.169.254 instead"),
    ("[::ffff:0:0/96]:80", "write 0.0.0.0/0 instead"),
    ("169.254.169.254:80", "the cloud instance metadata service"),
    ("169.254.170.2:80", "link-local"),
    ("169.254.0.23:80", "link-local"),  # Tencent Cloud's metadata address
    ("169.254.0.0/16:80", "includes 169.254.169.254"),
    ("100.64.0.0/10:80", "includes 100.100.100.200, the Alibaba Cloud metadata service"),
    ("[fd00:ec2::254]:80", "the AWS instance metadata service over IPv6"),
    ("[fd00:ec2::/32]:80", "includes fd00:ec2::254"),
    ("[fd20:ce::254]:80", "Google Cloud"),
    ("[fe80::a9fe:a9fe]:80", "IPv6 link-local"),
    ("0.0.0.0:8080", "unspecified address"),
    ("[::]:8080", "unspecified address"),
    ("0.0.0.0/0:443", "wider than /8"),
    ("[::/0]:443", "wider than /32"),
    ("meta.internal=169.254.169.254:80", "metadata"),
    ("meta.internal=[64:ff9b::/96]:80", "reaches every IPv4 address"),
]


@pytest.mark.parametrize(("entry", "fragment"), REFUSED)
def test_an_entry_reaching_too_much_or_metadata_is_refused_when_parsed(
        entry: str, fragment: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(fragment)):
        parse_local(entry)


ACCEPTED = [
    # (entry, an address it covers for an IP-literal URL)
    ("127.0.0.1:8080", "127.0.0.1"),
    ("[::1]:8080", "::1"),
    ("10.0.0.0/8:5432", "10.200.0.1"),
    ("192.168.1.0/24:80", "192.168.1.9"),
    ("[fd00:ab::/32]:9000", "fd00:ab::1"),
    ("[64:ff9b::a00:0/104]:80", "64:ff9b::a00:1"),  # NAT64 to 10.0.0.0/8 only
    ("[2002:a00::/40]:80", "2002:a00:1::1"),  # 6to4 to 10.0.0.0/24
    ("[2002:a00:1::/48]:80", "2002:a00:1::1"),
    ("[2001:0:a00:1:0:0:f5ff:fffe]:80", "2001:0:a00:1::f5ff:fffe"),  # Teredo 10.0.0.1 both ends
]


@pytest.mark.parametrize(("entry", "address"), ACCEPTED)
def test_a_narrow_entry_is_accepted_and_covers_its_ip_literals(entry: str, address: str) -> None:
    local = parse_local(entry)
    port = local.ports.low
    assert local.covers(ipaddress.ip_address(address), port)
    assert not local.covers(ipaddress.ip_address(address), port, "any.example")


def test_ipv4_entry_covers_the_ipv4_mapped_spelling_of_its_addresses() -> None:
    local = parse_local("10.0.0.0/8:80")
    assert local.covers(ipaddress.ip_address("::ffff:10.1.2.3"), 80)
    url = parse_url("http://[::ffff:10.1.2.3]/")
    assert local.matches(url)


# --- a name reaches a local address only when the operator names it -----------------------

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _named() -> EgressPolicy:
    return EgressPolicy.parse([], local=["sidecar.internal=127.0.0.1:8080",
                                         "db.internal=[fd00:ab::/48]:5432"])


def test_an_address_entry_does_not_admit_a_name_resolving_to_that_address() -> None:
    """The Host-header hole: a rule allows the name, the resolver answers 127.0.0.1, and the
    address entry must not lift the check for it."""
    sidecar = EgressPolicy.parse(["http://*:*"], local=["127.0.0.1:8080"])
    decision = sidecar.check(parse_url("http://anything.example:8080/"), "GET")
    assert decision.allowed and decision.reason is PolicyReason.RULE and not decision.via_local
    check = sidecar.check_address(LOOPBACK, 8080, "anything.example")
    assert (check.allowed, check.via_local, check.verdict.reason.value) == (
        False, False, "loopback")
    # ...while the IP-literal URL is still covered.
    literal = sidecar.check(parse_url("http://127.0.0.1:8080/"), "GET")
    assert (literal.allowed, literal.reason, literal.via_local) == (
        True, PolicyReason.LOCAL, True)


@pytest.mark.parametrize(
    ("url", "allowed", "reason"),
    [("http://sidecar.internal:8080/", True, "allowed-by-local-allowance"),
     ("https://SIDECAR.internal.:8080/", True, "allowed-by-local-allowance"),
     ("http://sidecar.internal:8081/", False, "no-matching-rule"),
     ("http://a.sidecar.internal:8080/", False, "no-matching-rule"),
     ("http://127.0.0.1:8080/", False, "no-matching-rule"),  # the name entry is for the name
     ("http://anything.example:8080/", False, "no-matching-rule"),
     ("http://db.internal:5432/", True, "allowed-by-local-allowance")],
)
def test_a_name_entry_allows_that_name_only(url: str, allowed: bool, reason: str) -> None:
    decision = _named().check(parse_url(url), "GET")
    assert (decision.allowed, decision.reason_key) == (allowed, reason)
    assert decision.via_local == allowed


@pytest.mark.parametrize(
    ("address", "port", "name", "via_local"),
    [("127.0.0.1", 8080, "sidecar.internal", True),
     ("::ffff:127.0.0.1", 8080, "sidecar.internal", True),
     ("127.0.0.2", 8080, "sidecar.internal", False),  # outside the entry's network
     ("10.0.0.1", 8080, "sidecar.internal", False),
     ("127.0.0.1", 8081, "sidecar.internal", False),
     ("127.0.0.1", 8080, "other.internal", False),
     ("127.0.0.1", 8080, None, False),  # an IP literal is not the name
     ("fd00:ab::5", 5432, "db.internal", True),
     ("fd00:ab:1::5", 5432, "db.internal", False)],
)
def test_a_name_entry_lifts_the_check_only_for_its_answers_inside_its_network(
        address: str, port: int, name: str | None, via_local: bool) -> None:
    check = _named().check_address(ipaddress.ip_address(address), port, name)
    assert (check.allowed, check.via_local) == (via_local, via_local)


@pytest.mark.parametrize(
    ("entry", "message", "caret"),
    [("db.internal:5432", "write db.internal=ADDRESS:5432 (e.g. db.internal=127.0.0.1:5432)",
      11),
     ("localhost:8080", "write localhost=ADDRESS:8080", 9),
     ("127.0.0.1", "needs a port: write 127.0.0.1:PORT", 9),
     ("db.internal=127.0.0.1", "needs a port: write db.internal=127.0.0.1:PORT", 21),
     ("::1:80", "IPv6 addresses go in brackets: write [::1]:80", 0),
     ("127.0.0.1=db.internal:80", "the name comes first: write db.internal=127.0.0.1:80", 0),
     ("db=other.internal:80", "after '=' comes the address or network 'db' may resolve to", 3),
     ("db=:80", "the address after '=' is missing: write db=ADDRESS:80", 3),
     ("=10.0.0.1:80", "the name before '=' is missing", 0),
     ("a=b=10.0.0.1:80", "only one '='", 3),
     ("*.internal=10.0.0.0/8:80", "no '*' wildcards", 0),
     ("db=10.0.0.0/8:*", "explicit port, not '*'", 14),
     ("http://127.0.0.1:8080", "not a URL", 0),
     ("db=0x7f.1:80", "'0x7f.1' is the IP address 127.0.0.1", 3),
     ("127.0.0.1=0x7f.1:80", "the name comes first", 0),
     ("[::ffff:127.0.0.1]:80", "write 127.0.0.1 instead", 0)],
)
def test_bad_entries_say_what_to_write_instead(entry: str, message: str, caret: int) -> None:
    with pytest.raises(PolicyError) as info:
        parse_local(entry)
    lines = str(info.value).splitlines()
    assert message in lines[0]
    assert lines[1].strip() == entry
    assert lines[2].index("^") - 4 == caret


def test_error_examples_in_the_policy_docs_are_the_real_messages() -> None:
    """docs/policy.md quotes three parse errors verbatim; they must not drift."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Local allowance"):text.index("## URL normalisation")]
    block = section.split("```\n")[1]
    quoted = [chunk.splitlines() for chunk in block.strip().split("\n\n")]
    assert len(quoted) == 3
    for message, entry, _caret in quoted:
        with pytest.raises(PolicyError) as info:
            parse_local(entry.strip())
        assert str(info.value).splitlines()[0] == message


# --- properties ------------------------------------------------------------------------------

#: Where no allowance may lead: metadata endpoints (in and outside link-local) and the
#: unspecified addresses. Written out independently of the module under test.
_V4_TARGETS = ["169.254.169.254", "169.254.170.2", "169.254.0.23", "169.254.42.42",
               "100.100.100.200", "192.0.0.192", "0.0.0.0"]
_V6_TARGETS = ["fd00:ec2::254", "fd00:ec2::23", "fd20:ce::254", "fd00:42::42",
               "fe80::a9fe:a9fe", "::"]


def _nat64_local(v4: int, prefix_length: int, filler: int) -> int:
    """RFC 6052 section 2.2 inside 64:ff9b:1::/48, written out per prefix length."""
    base = 0x0064_FF9B_0001 << 80
    if prefix_length == 48:
        return base | (v4 >> 16) << 64 | (v4 & 0xFFFF) << 40 | filler & 0xFF_FFFF_FFFF
    if prefix_length == 56:
        return (base | (filler & 0xFF) << 72 | (v4 >> 24) << 64 | (v4 & 0xFF_FFFF) << 32
                | filler & 0xFFFF_FFFF)
    if prefix_length == 64:
        return base | (filler & 0xFFFF) << 64 | v4 << 24 | filler & 0xFF_FFFF
    return base | (filler & 0xFFFF_FFFF_FFFF) << 32 | v4


def _encodings(v4: int, filler: int) -> list[int]:
    """Every IPv6 spelling that reaches the IPv4 address ``v4`` (``filler``: arbitrary bits)."""
    return [
        0xFFFF << 32 | v4,  # IPv4-mapped
        v4,  # IPv4-compatible
        0x0064_FF9B << 96 | v4,  # NAT64
        0x2002 << 112 | v4 << 80 | filler & (2**80 - 1),  # 6to4
        0x2001_0000 << 96 | v4 << 64 | filler & (2**64 - 1),  # Teredo server
        0x2001_0000 << 96 | (filler & (2**64 - 1)) << 32 & (2**96 - 1) | (v4 ^ 0xFFFF_FFFF),
        *(_nat64_local(v4, n, filler) for n in (48, 56, 64, 96)),
    ]


@st.composite
def _aimed(draw: st.DrawFn) -> tuple[IPAddress, int]:
    """An address that reaches a forbidden target, and the prefix length of an entry around it."""
    if draw(st.booleans()):
        target = int(IPv4Address(draw(st.sampled_from(_V4_TARGETS))))
        if draw(st.integers(0, 3)) == 0:
            return IPv4Address(target), draw(st.integers(0, 32))
        filler = draw(st.integers(0, 2**128 - 1))
        address = IPv6Address(draw(st.sampled_from(_encodings(target, filler))))
    else:
        address = IPv6Address(draw(st.sampled_from(_V6_TARGETS)))
    return address, draw(st.integers(0, 128))


@settings(max_examples=3000, deadline=None)
@given(_aimed(), st.sampled_from(["", "svc.internal="]), st.integers(1, 65535))
def test_no_accepted_entry_reaches_a_metadata_or_unspecified_address(
        aimed: tuple[IPAddress, int], name: str, port: int) -> None:
    """Invariant: an entry whose network holds an address reaching a metadata endpoint, a
    link-local address or an unspecified address (directly, or through IPv4-mapped,
    -compatible, NAT64, local-use NAT64 in any layout, 6to4 or Teredo) is refused when parsed,
    so such an address is never covered."""
    address, prefix = aimed
    network = ipaddress.ip_network((address, prefix), strict=False)
    where = f"[{network}]" if network.version == 6 else str(network)
    try:
        policy = EgressPolicy.parse([], local=[f"{name}{where}:{port}"])
    except PolicyError:
        return
    host = name.rstrip("=") or None
    raise AssertionError(f"accepted {name}{where}:{port}, which covers {address}: "
                         f"{policy.local_allows(address, port, host)}")


_names = st.sampled_from(["sidecar.internal", "db.internal", "localhost", "evil.example",
                          "sidecar.internal.evil.example", "internal"])
_entry = st.one_of(
    st.tuples(st.just(""), st.sampled_from(["127.0.0.1", "10.0.0.0/8", "[::1]", "[fd00:ab::/32]",
                                            "192.168.0.0/16", "[64:ff9b::a00:0/104]"])),
    st.tuples(_names.map(lambda n: n + "="),
              st.sampled_from(["127.0.0.1", "10.0.0.0/8", "[::1]", "[fd00:ab::/32]"])))


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(_entry, st.sampled_from([80, 8080])), max_size=3), _names,
       st.sampled_from(["127.0.0.1", "10.1.2.3", "::1", "fd00:ab::7", "::ffff:10.9.9.9",
                        "64:ff9b::a00:1", "192.168.4.4"]),
       st.sampled_from([80, 8080]))
def test_a_name_is_covered_only_by_an_entry_that_names_it(
        entries: list[tuple[tuple[str, str], int]], name: str, answer: str, port: int) -> None:
    """Invariant: whatever the entries, an answer for ``name`` is covered only if an entry
    names exactly ``name`` on that port and holds the answer; an IP-literal URL is covered only
    by an entry without a name; and a URL for ``name`` is allowed by the allowance only if an
    entry names it."""
    texts = [f"{prefix}{where}:{p}" for (prefix, where), p in entries]
    policy = EgressPolicy.parse([], local=texts)
    ip = ipaddress.ip_address(answer)
    plain = ip.ipv4_mapped if isinstance(ip, IPv6Address) and ip.ipv4_mapped else ip

    def holds(where: str) -> bool:
        return plain in ipaddress.ip_network(where.strip("[]"))

    named = any(prefix == f"{name}=" and p == port and holds(where)
                for (prefix, where), p in entries)
    unnamed = any(prefix == "" and p == port and holds(where) for (prefix, where), p in entries)
    assert policy.check_address(ip, port, name).via_local == named
    assert policy.check_address(ip, port, None).via_local == unnamed
    decision = policy.check(parse_url(f"http://{name}:{port}/"), "GET")
    assert decision.allowed == any(prefix == f"{name}=" and p == port
                                   for (prefix, where), p in entries)


def test_an_entry_built_without_the_parser_is_judged_too() -> None:
    """The check lives in LocalEndpoint itself, so code that builds entries directly cannot
    open what parse_local refuses."""
    with pytest.raises(PolicyError, match="reaches every IPv4 address"):
        LocalEndpoint("nat64", PortRange(80, 80), ipaddress.ip_network("64:ff9b::/96"))
    entry = LocalEndpoint("loopback", PortRange(80, 80), ipaddress.ip_network("127.0.0.1/32"))
    assert entry.covers(LOOPBACK, 80)
