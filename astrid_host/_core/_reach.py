"""What an address network really reaches, and whether a local allowance may name it.

A local-allowance entry lifts the address check for a network, so it must be judged by every
address a connection to that network can end up at, not by how it is written. An IPv6 address
can stand for an IPv4 one: the socket dials the IPv4 host of an IPv4-mapped address, and a NAT64
translator, a 6to4 relay or a Teredo relay forwards to the IPv4 address inside. So
``[64:ff9b::/96]:80`` is not a narrow IPv6 entry: it is every IPv4 address on port 80, the
metadata address included.

:func:`allowance_problem` applies the width caps to the network *and* to every IPv4 range it
carries, and refuses any network that reaches a place no allowance may open
(:data:`NEVER_ALLOWED`: the unspecified addresses, link-local, cloud metadata endpoints).
The carriers are the classifier's embedded-IPv4 blocks (:data:`~astrid_host._core._ranges.RANGES`
rows with an ``embedding``) plus the two it denies without decoding: the local-use NAT64 prefix,
whose embedding depends on the prefix length the operator picked, and Teredo.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network

from astrid_host._core._ranges import RANGES, Embedding

__all__ = ["Carrier", "NEVER_ALLOWED", "allowance_problem", "carried_ipv4"]

IPNetwork = IPv4Network | IPv6Network

#: The widest network an entry may name, per IP version (10.0.0.0/8 is a site; 0.0.0.0/0 is
#: everything). The IPv4 cap also applies to the IPv4 range an IPv6 network carries.
MIN_PREFIX = {4: 8, 6: 32}

#: Where no local allowance may lead, with the reason shown to the operator. Link-local is
#: refused whole: it is where cloud providers put their metadata services (169.254.169.254 on
#: AWS, GCP, Azure, OCI, OpenStack; 169.254.170.2 for ECS task credentials; 169.254.0.23 on
#: Tencent Cloud, ...) and nothing else a capsule should call lives there. The other rows are
#: the metadata endpoints that providers put outside link-local.
NEVER_ALLOWED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ip_network(net), why) for net, why in (
        ("169.254.169.254/32", "the cloud instance metadata service (AWS, GCP, Azure, OCI, ...)"),
        ("169.254.0.0/16", "link-local, home of cloud metadata services such as 169.254.169.254"),
        ("fe80::/10", "IPv6 link-local, home of metadata services such as fe80::a9fe:a9fe"),
        ("100.100.100.200/32", "the Alibaba Cloud metadata service"),
        ("192.0.0.192/32", "the Oracle Cloud Classic metadata service"),
        ("fd00:ec2::254/128", "the AWS instance metadata service over IPv6"),
        ("fd00:ec2::23/128", "the AWS EKS Pod Identity credentials service over IPv6"),
        ("fd20:ce::254/128", "the Google Cloud metadata service over IPv6"),
        ("fd00:42::42/128", "the Scaleway metadata service over IPv6"),
        ("0.0.0.0/32", "the unspecified address (connecting to it reaches this host)"),
        ("::/128", "the unspecified address (connecting to it reaches this host)"),
    ))

# A layout: the bit positions (0 = most significant) that hold the IPv4 address, in order,
# and a mask the IPv4 address is XORed with (Teredo stores its client address inverted).
_Layout = tuple[tuple[int, ...], int]


@dataclass(frozen=True)
class Carrier:
    """An IPv6 block that carries IPv4 addresses, and where they sit inside it."""

    block: IPv6Network
    name: str
    layouts: tuple[_Layout, ...]


def _low_bits(shift: int) -> _Layout:
    return tuple(range(96 - shift, 128 - shift)), 0


_SHORT = {Embedding.MAPPED: "IPv4-mapped", Embedding.COMPATIBLE: "IPv4-compatible",
          Embedding.NAT64: "NAT64", Embedding.SIX_TO_FOUR: "6to4"}


def _rfc6052(prefix_length: int) -> _Layout:
    # RFC 6052 section 2.2: the IPv4 address follows the prefix, skipping bits 64-71 ("u").
    return tuple(p for p in range(prefix_length, 128) if not 64 <= p < 72)[:32], 0


#: Every carrier: the classifier's decoded blocks (mapped, compatible, NAT64, 6to4), then the
#: local-use NAT64 prefix (RFC 8215: the operator picks a /48, /56, /64 or /96 inside it, so
#: every layout counts) and Teredo (RFC 4380: server at bits 32-63, client inverted in 96-127).
CARRIERS: tuple[Carrier, ...] = (
    *(Carrier(IPv6Network(r.network), f"{_SHORT[r.embedding]} {r.network}",
              (_low_bits(r.embedding.shift),))
      for r in RANGES if r.embedding is not None),
    Carrier(IPv6Network("64:ff9b:1::/48"), "local-use NAT64 64:ff9b:1::/48",
            tuple(_rfc6052(n) for n in (48, 56, 64, 96))),
    Carrier(IPv6Network("2001::/32"), "Teredo 2001::/32",
            ((tuple(range(32, 64)), 0), (tuple(range(96, 128)), 0xFFFF_FFFF))),
)


def _carried(net: IPv6Network, layout: _Layout) -> IPv4Network:
    """The IPv4 network whose addresses ``net`` holds at ``layout``.

    Positions increase, so the IPv4 bits that ``net``'s prefix fixes are a prefix of the IPv4
    address: the result is always one network.
    """
    positions, xor = layout
    n = int(net.network_address)
    value = 0
    for p in positions:
        value = (value << 1) | ((n >> (127 - p)) & 1)
    fixed = sum(1 for p in positions if p < net.prefixlen)
    value ^= xor
    return IPv4Network((value >> (32 - fixed) << (32 - fixed), fixed))


def carried_ipv4(net: IPNetwork) -> list[tuple[IPv4Network, Carrier]]:
    """Every IPv4 range that connections to ``net`` can end up at, with the carrier."""
    if isinstance(net, IPv4Network):
        return []
    found: list[tuple[IPv4Network, Carrier]] = []
    for carrier in CARRIERS:
        if net.subnet_of(carrier.block):
            part = net
        elif carrier.block.subnet_of(net):
            part = carrier.block
        else:
            continue
        found.extend((_carried(part, layout), carrier) for layout in carrier.layouts)
    return found


def _never_allowed(net: IPNetwork) -> tuple[IPNetwork, str] | None:
    return next(((bad, why) for bad, why in NEVER_ALLOWED
                 if bad.version == net.version and net.overlaps(bad)), None)


_MAPPED = next(c for c in CARRIERS if c.block == IPv6Network("::ffff:0:0/96"))


def _show(net: IPNetwork) -> str:
    """A network as written in an entry: a single address without its /32 or /128."""
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _meets(net: IPNetwork, bad: IPNetwork, why: str) -> str:
    if net == bad:
        return f"is {why}"
    where = "is in" if net.subnet_of(bad) else "includes"  # type: ignore[arg-type]
    return f"{where} {_show(bad)}, {why}"


def _wide(net: IPNetwork) -> bool:
    return net.prefixlen < MIN_PREFIX[net.version]


def _describe(net: IPv4Network) -> str:
    return "every IPv4 address" if net.prefixlen == 0 else f"IPv4 {_show(net)}"


def allowance_problem(net: IPNetwork) -> str | None:
    """Why a local allowance may not name ``net``, or ``None`` if it may.

    Refused: a network wider than :data:`MIN_PREFIX`; an IPv6 network carrying an IPv4 range
    wider than the IPv4 cap; anything that reaches :data:`NEVER_ALLOWED`, directly or through
    a carrier; and IPv4-mapped networks (they are IPv4: write them so, so that one entry
    covers both spellings of the address).
    """
    shown = _show(net)
    if isinstance(net, IPv6Network) and net.subnet_of(_MAPPED.block):
        plain = _show(_carried(net, _MAPPED.layouts[0]))
        return f"{shown} is {plain} in IPv4-mapped form: write {plain} instead"
    bad = _never_allowed(net)
    if _wide(net):
        also = f" (it would reach {_show(bad[0])}, {bad[1]})" if bad else ""
        return (f"{shown} is wider than /{MIN_PREFIX[net.version]}{also}: an entry names "
                "services, it does not open a network")
    carried = carried_ipv4(net)
    for v4, carrier in carried:
        if _wide(v4):
            inner = _never_allowed(v4)
            also = f", {_show(inner[0])} included," if inner else ""
            return (f"{shown} reaches {_describe(v4)}{also} through {carrier.name}: wider "
                    f"than /{MIN_PREFIX[4]}; an entry names services, it does not open a network")
    if bad is not None:
        return f"{shown} {_meets(net, *bad)}: no allowance may reach it"
    for v4, carrier in carried:
        inner = _never_allowed(v4)
        if inner is not None:
            return (f"{shown} reaches {_describe(v4)} through {carrier.name}, which "
                    f"{_meets(v4, *inner)}: no allowance may reach it")
    return None
