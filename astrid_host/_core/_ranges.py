"""The named address ranges an egress filter must know, as data.

One table, one row per block, each citing its RFC. It follows the IANA IPv4 and IPv6
Special-Purpose Address Registries (2025-10-09), plus the blocks an SSRF filter needs that those
registries do not list: multicast, the deprecated IPv4-compatible and site-local IPv6 blocks, and
the IPv6 space outside 2000::/3 that the IANA IPv6 Address Space registry keeps "Reserved by
IETF". The table is written by hand on purpose: `tests/support/data/iana-special-purpose.csv` is
only the input of the test oracle, so a mistake in one cannot hide a mistake in the other.

Blocks nest; the classifier uses the most specific (longest) matching block. A row whose
``embedding`` is set holds an IPv4 address inside the IPv6 address, and the classifier judges
that IPv4 address too (see :mod:`astrid_host._core._classify`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Embedding", "NamedRange", "RANGES", "Reason"]


class Reason(enum.Enum):
    """Why an address is allowed or denied. The values are stable keys (logs, JSON, metrics)."""

    PUBLIC = "public"
    GLOBAL_SPECIAL = "special-purpose-global"
    UNSPECIFIED = "unspecified"
    THIS_NETWORK = "this-network"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    CGNAT = "cgnat"
    LINK_LOCAL = "link-local"
    UNIQUE_LOCAL = "unique-local"
    SITE_LOCAL = "site-local"
    MULTICAST = "multicast"
    BROADCAST = "broadcast"
    RESERVED = "reserved"
    DOCUMENTATION = "documentation"
    BENCHMARKING = "benchmarking"
    SPECIAL_PURPOSE = "special-purpose"
    TEREDO = "teredo"
    EMBEDDED_MAPPED = "embedded-ipv4:mapped"
    EMBEDDED_COMPATIBLE = "embedded-ipv4:compatible"
    EMBEDDED_NAT64 = "embedded-ipv4:nat64"
    EMBEDDED_6TO4 = "embedded-ipv4:6to4"

    @property
    def allows(self) -> bool:
        """True only for the reasons that let a connection through."""
        return self in (Reason.PUBLIC, Reason.GLOBAL_SPECIAL)

    @property
    def text(self) -> str:
        """A sentence for humans, e.g. in CLI output and error messages."""
        return _TEXT[self]


_TEXT: dict[Reason, str] = {
    Reason.PUBLIC: "globally reachable unicast address",
    Reason.GLOBAL_SPECIAL: "special-purpose block that the IANA registry marks globally reachable",
    Reason.UNSPECIFIED: "unspecified address (means 'any' or 'this host', never a destination)",
    Reason.THIS_NETWORK: "'this network' block, valid only as a source",
    Reason.LOOPBACK: "loopback: the host itself",
    Reason.PRIVATE: "private-use network (RFC 1918)",
    Reason.CGNAT: "shared address space of carrier-grade NAT",
    Reason.LINK_LOCAL: "link-local: includes cloud metadata endpoints such as 169.254.169.254",
    Reason.UNIQUE_LOCAL: "unique-local IPv6 network (the IPv6 private range)",
    Reason.SITE_LOCAL: "deprecated site-local IPv6 network",
    Reason.MULTICAST: "multicast group, not a unicast destination",
    Reason.BROADCAST: "limited broadcast",
    Reason.RESERVED: "reserved address space, not routed on the Internet",
    Reason.DOCUMENTATION: "documentation-only block",
    Reason.BENCHMARKING: "benchmarking-only block",
    Reason.SPECIAL_PURPOSE: "special-purpose block that is not globally reachable",
    Reason.TEREDO: "Teredo tunnel address (not globally reachable; hides an IPv4 endpoint)",
    Reason.EMBEDDED_MAPPED: "IPv4-mapped IPv6 address whose IPv4 address is not globally reachable",
    Reason.EMBEDDED_COMPATIBLE: "deprecated IPv4-compatible address embedding a non-global IPv4",
    Reason.EMBEDDED_NAT64: "NAT64 address whose embedded IPv4 address is not globally reachable",
    Reason.EMBEDDED_6TO4: "6to4 address whose embedded IPv4 address is not globally reachable",
}


class Embedding(enum.Enum):
    """IPv6 forms that carry an IPv4 address. The value is the reason key used for a bad one."""

    MAPPED = "mapped"  # ::ffff:a.b.c.d, low 32 bits; sockets send IPv4 to a.b.c.d
    COMPATIBLE = "compatible"  # ::a.b.c.d, low 32 bits; deprecated, always denied
    NAT64 = "nat64"  # 64:ff9b::a.b.c.d, low 32 bits; the translator forwards to a.b.c.d
    SIX_TO_FOUR = "6to4"  # 2002:AABB:CCDD::/48, bits 16-47; not globally reachable itself

    @property
    def shift(self) -> int:
        """How far to shift the 128-bit address right to bring the IPv4 address down."""
        return 80 if self is Embedding.SIX_TO_FOUR else 0

    @property
    def judged_by_ipv4(self) -> bool:
        """True if the embedded IPv4 alone decides (the block itself is a mere carrier).

        IPv4-mapped addresses never appear on the wire (the socket speaks IPv4), and the
        well-known NAT64 prefix is globally reachable, so both inherit the IPv4 verdict. 6to4
        (registry: not globally reachable) and IPv4-compatible (deprecated) are denied whatever
        they carry; a bad embedded address only changes the reason.
        """
        return self in (Embedding.MAPPED, Embedding.NAT64)

    @property
    def reason(self) -> Reason:
        """The reason given when the embedded IPv4 address is not globally reachable."""
        return _EMBED_REASON[self]


_EMBED_REASON = {
    Embedding.MAPPED: Reason.EMBEDDED_MAPPED,
    Embedding.COMPATIBLE: Reason.EMBEDDED_COMPATIBLE,
    Embedding.NAT64: Reason.EMBEDDED_NAT64,
    Embedding.SIX_TO_FOUR: Reason.EMBEDDED_6TO4,
}


@dataclass(frozen=True)
class NamedRange:
    """One block of the table: CIDR text, the registry's name, the RFC, and the verdict."""

    network: str
    name: str
    rfc: str
    reason: Reason
    embedding: Embedding | None = None

    @property
    def allowed(self) -> bool:
        """Whether addresses in this block (and in no more specific one) may be contacted."""
        return self.reason.allows


_R = Reason
_E = Embedding

#: Every named block. Order is for readers only: the classifier picks the longest prefix.
RANGES: tuple[NamedRange, ...] = (
    # --- IPv4 special-purpose registry -------------------------------------------------------
    NamedRange("0.0.0.0/8", "This network", "RFC 791 Section 3.2", _R.THIS_NETWORK),
    NamedRange("0.0.0.0/32", "This host on this network", "RFC 1122 Section 3.2.1.3",
               _R.UNSPECIFIED),
    NamedRange("10.0.0.0/8", "Private-Use", "RFC 1918", _R.PRIVATE),
    NamedRange("100.64.0.0/10", "Shared Address Space", "RFC 6598", _R.CGNAT),
    NamedRange("127.0.0.0/8", "Loopback", "RFC 1122 Section 3.2.1.3", _R.LOOPBACK),
    NamedRange("169.254.0.0/16", "Link Local", "RFC 3927", _R.LINK_LOCAL),
    NamedRange("172.16.0.0/12", "Private-Use", "RFC 1918", _R.PRIVATE),
    NamedRange("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 Section 2.1",
               _R.SPECIAL_PURPOSE),
    NamedRange("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", _R.SPECIAL_PURPOSE),
    NamedRange("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", _R.SPECIAL_PURPOSE),
    NamedRange("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", _R.GLOBAL_SPECIAL),
    NamedRange("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155",
               _R.GLOBAL_SPECIAL),
    NamedRange("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880; RFC 7050 Section 2.2",
               _R.SPECIAL_PURPOSE),
    NamedRange("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880; RFC 7050 Section 2.2",
               _R.SPECIAL_PURPOSE),
    NamedRange("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", _R.DOCUMENTATION),
    NamedRange("192.31.196.0/24", "AS112-v4", "RFC 7535", _R.GLOBAL_SPECIAL),
    NamedRange("192.52.193.0/24", "AMT", "RFC 7450", _R.GLOBAL_SPECIAL),
    NamedRange("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526",
               _R.SPECIAL_PURPOSE),
    NamedRange("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", _R.SPECIAL_PURPOSE),
    NamedRange("192.168.0.0/16", "Private-Use", "RFC 1918", _R.PRIVATE),
    NamedRange("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534",
               _R.GLOBAL_SPECIAL),
    NamedRange("198.18.0.0/15", "Benchmarking", "RFC 2544 (errata 423)", _R.BENCHMARKING),
    NamedRange("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", _R.DOCUMENTATION),
    NamedRange("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", _R.DOCUMENTATION),
    NamedRange("240.0.0.0/4", "Reserved", "RFC 1112 Section 4", _R.RESERVED),
    NamedRange("255.255.255.255/32", "Limited Broadcast", "RFC 8190; RFC 919 Section 7",
               _R.BROADCAST),
    # --- IPv4, other registries ----------------------------------------------------------------
    NamedRange("224.0.0.0/4", "Multicast", "RFC 5771", _R.MULTICAST),
    # --- IPv6 special-purpose registry -------------------------------------------------------
    NamedRange("::1/128", "Loopback Address", "RFC 4291", _R.LOOPBACK),
    NamedRange("::/128", "Unspecified Address", "RFC 4291", _R.UNSPECIFIED),
    NamedRange("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", _R.RESERVED, _E.MAPPED),
    NamedRange("64:ff9b::/96", "IPv4-IPv6 Translation (NAT64)", "RFC 6052", _R.GLOBAL_SPECIAL,
               _E.NAT64),
    NamedRange("64:ff9b:1::/48", "IPv4-IPv6 Translation (local-use NAT64)", "RFC 8215",
               _R.SPECIAL_PURPOSE),
    NamedRange("100::/64", "Discard-Only Address Block", "RFC 6666", _R.SPECIAL_PURPOSE),
    NamedRange("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", _R.SPECIAL_PURPOSE),
    NamedRange("2001::/23", "IETF Protocol Assignments", "RFC 2928", _R.SPECIAL_PURPOSE),
    NamedRange("2001::/32", "TEREDO", "RFC 4380; RFC 8190", _R.TEREDO),
    NamedRange("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", _R.GLOBAL_SPECIAL),
    NamedRange("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155",
               _R.GLOBAL_SPECIAL),
    NamedRange("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665",
               _R.GLOBAL_SPECIAL),
    NamedRange("2001:2::/48", "Benchmarking", "RFC 5180 (errata 1752)", _R.BENCHMARKING),
    NamedRange("2001:3::/32", "AMT", "RFC 7450", _R.GLOBAL_SPECIAL),
    NamedRange("2001:4:112::/48", "AS112-v6", "RFC 7535", _R.GLOBAL_SPECIAL),
    NamedRange("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", _R.SPECIAL_PURPOSE),
    NamedRange("2001:20::/28", "ORCHIDv2", "RFC 7343", _R.GLOBAL_SPECIAL),
    NamedRange("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374",
               _R.GLOBAL_SPECIAL),
    NamedRange("2001:db8::/32", "Documentation", "RFC 3849", _R.DOCUMENTATION),
    NamedRange("2002::/16", "6to4", "RFC 3056", _R.SPECIAL_PURPOSE, _E.SIX_TO_FOUR),
    NamedRange("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534",
               _R.GLOBAL_SPECIAL),
    NamedRange("3fff::/20", "Documentation", "RFC 9637", _R.DOCUMENTATION),
    NamedRange("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", _R.SPECIAL_PURPOSE),
    NamedRange("fc00::/7", "Unique-Local", "RFC 4193; RFC 8190", _R.UNIQUE_LOCAL),
    NamedRange("fe80::/10", "Link-Local Unicast", "RFC 4291", _R.LINK_LOCAL),
    # --- IPv6, other registries ----------------------------------------------------------------
    NamedRange("ff00::/8", "Multicast", "RFC 4291", _R.MULTICAST),
    NamedRange("::/96", "IPv4-compatible IPv6 address (deprecated)", "RFC 4291 Section 2.5.5.1",
               _R.RESERVED, _E.COMPATIBLE),
    NamedRange("fec0::/10", "Site-Local (deprecated)", "RFC 3879", _R.SITE_LOCAL),
    # Everything outside 2000::/3 is "Reserved by IETF" in the IANA IPv6 Address Space registry;
    # the three blocks below are that complement, and the rows above carve their exceptions.
    NamedRange("::/3", "Reserved by IETF (outside 2000::/3)", "RFC 4291", _R.RESERVED),
    NamedRange("4000::/2", "Reserved by IETF (outside 2000::/3)", "RFC 4291", _R.RESERVED),
    NamedRange("8000::/1", "Reserved by IETF (outside 2000::/3)", "RFC 4291", _R.RESERVED),
)
