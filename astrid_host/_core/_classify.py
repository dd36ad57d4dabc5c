"""Decide whether an IP address may be contacted: :func:`classify_ip`.

Written by hand on purpose. :attr:`ipaddress.IPv4Address.is_global` and friends are not used in
the decision: they call NAT64 and IPv4-compatible addresses global, do not exclude multicast, and
their tables lag the registries (CPython 3.11 lacks 3fff::/20, 5f00::/16, ...).

The whole policy is the check order in :func:`_classify_int`: the longest matching block of
:data:`~astrid_host._core._ranges.RANGES` decides; if that block carries an IPv4 address, the
IPv4 address is judged too; an address in no block is public. Addresses are handled as integers
and the table is indexed by the top 16 bits, so a typical public address costs one list index.
"""

from __future__ import annotations

import ipaddress
import re
import socket  # only inet_pton: a strict, C-speed text->bytes parser, no I/O
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from astrid_host._core._ranges import RANGES, Embedding, NamedRange, Reason

__all__ = ["IPAddress", "InvalidAddress", "IpVerdict", "Reason", "classify_ip"]

#: Either kind of address object.
IPAddress = IPv4Address | IPv6Address


class InvalidAddress(ValueError):
    """The caller passed something that is not an IPv4 or IPv6 address."""


@dataclass(frozen=True)
class IpVerdict:
    """The classifier's answer for one address.

    allowed: whether a capsule may connect to it (without the operator's local allowance).
    reason: the closed :class:`Reason`; ``reason.value`` is the stable key, ``reason.text`` prose.
    range: the most specific named block that matched, with its RFC (``None`` for plain public).
    embedded_ipv4: the IPv4 address decoded from a mapped, compatible, NAT64 or 6to4 address.
    embedded_reason: the verdict reason of that IPv4 address on its own.
    """

    allowed: bool
    reason: Reason
    range: NamedRange | None = None
    embedded_ipv4: IPv4Address | None = None
    embedded_reason: Reason | None = None


_PUBLIC = IpVerdict(True, Reason.PUBLIC)
# Zone ids are interface names or numbers; anything odder is refused rather than guessed at.
_ZONE = re.compile(r"[0-9A-Za-z_.\-]{1,64}")

# A candidate is (shift, prefix, named range, verdict): the address matches when
# ``n >> shift == prefix``. Candidates per top-16-bit key, longest prefix first.
_Candidate = tuple[int, int, NamedRange, IpVerdict]


def _build_index(bits: int) -> list[tuple[_Candidate, ...]]:
    buckets: list[list[_Candidate]] = [[] for _ in range(1 << 16)]
    for rng in RANGES:
        net = ipaddress.ip_network(rng.network)
        if net.max_prefixlen != bits:
            continue
        shift = bits - net.prefixlen
        base = int(net.network_address)
        candidate = (shift, base >> shift, rng, IpVerdict(rng.allowed, rng.reason, rng))
        first = base >> (bits - 16)
        span = 1 << max(0, 16 - net.prefixlen)
        for key in range(first, first + span):
            buckets[key].append(candidate)
    interned: dict[tuple[_Candidate, ...], tuple[_Candidate, ...]] = {}
    index = []
    for bucket in buckets:
        bucket.sort(key=lambda c: c[0])  # smallest shift = longest prefix first
        key_tuple = tuple(bucket)
        index.append(interned.setdefault(key_tuple, key_tuple))
    return index


_V4_INDEX = _build_index(32)
_V6_INDEX = _build_index(128)


def classify_ip(addr: str | IPv4Address | IPv6Address) -> IpVerdict:
    """Classify one address given as text (``"10.0.0.1"``, ``"::1"``, ``"fe80::1%eth0"``) or as
    an :mod:`ipaddress` object. Raises :class:`InvalidAddress` for anything else.

    Text must be a strict address: dotted-quad IPv4 without leading zeros or short forms (the URL
    parser, not this function, decodes ``0x7f.1`` and friends), or IPv6 with an optional zone.
    """
    if isinstance(addr, str):
        version, n = _parse(addr)
    elif isinstance(addr, IPv4Address):
        version, n = 4, int(addr)
    elif isinstance(addr, IPv6Address):
        version, n = 6, int(addr)
    else:
        raise InvalidAddress(
            f"expected an IP address as str or ipaddress object, got {type(addr).__name__}")
    return _classify_int(version, n)


def _classify_int(version: int, n: int) -> IpVerdict:
    # The check order *is* the policy: longest named block, then its embedded IPv4, then public.
    if version == 4:
        for shift, prefix, _rng, verdict in _V4_INDEX[n >> 16]:
            if n >> shift == prefix:
                return verdict
        return _PUBLIC
    for shift, prefix, rng, verdict in _V6_INDEX[n >> 112]:
        if n >> shift == prefix:
            if rng.embedding is None:
                return verdict
            return _judge_embedded(n, rng, rng.embedding)
    return _PUBLIC


def _judge_embedded(n: int, rng: NamedRange, embedding: Embedding) -> IpVerdict:
    v4 = (n >> embedding.shift) & 0xFFFF_FFFF
    inner = _classify_int(4, v4)
    embedded = IPv4Address(v4)
    if embedding.judged_by_ipv4:
        reason = inner.reason if inner.allowed else embedding.reason
        return IpVerdict(inner.allowed, reason, rng, embedded, inner.reason)
    # The carrier block itself is not globally reachable: deny either way, but name the
    # embedded address when it is the worse problem (it usually signals an SSRF attempt).
    reason = rng.reason if inner.allowed else embedding.reason
    return IpVerdict(False, reason, rng, embedded, inner.reason)


def _parse(text: str) -> tuple[int, int]:
    try:
        if ":" in text:
            address, percent, zone = text.partition("%")
            if percent and not _ZONE.fullmatch(zone):
                raise ValueError("zone id must be an interface name or number")
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError, UnicodeError):
        shown = text if len(text) <= 64 else text[:61] + "..."
        raise InvalidAddress(f"{shown!r} is not an IPv4 or IPv6 address") from None
