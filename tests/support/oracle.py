"""An independent oracle for the IP classifier, built from the IANA CSV (tests/support/data).

It shares no code or table with `astrid_host._core._ranges`: it reads the registry rows, picks the
most specific row containing an address (CIDR containment via `ipaddress.ip_network`, never
`is_global`), and applies these rules (the registry's own, plus the embedded-IPv4 rules of the
issue):
- only a row with globally_reachable == "True" is reachable; "False", "N/A" and empty are not;
- an IPv4 address in no row is reachable; an IPv6 address in no row is reachable only inside
  2000::/3 (the rest is "Reserved by IETF" in the IPv6 Address Space registry);
- ::ffff:0:0/96 and 64:ff9b::/96 carry an IPv4 address that alone decides;
- ::/96 and 2002::/16 carry one too, but are never reachable.
"""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from pathlib import Path

CSV_PATH = Path(__file__).parent / "data" / "iana-special-purpose.csv"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Row:
    network: IPNetwork
    name: str
    rfc: str
    reachable: bool


def load_rows() -> list[Row]:
    with CSV_PATH.open(newline="") as f:
        return [Row(ipaddress.ip_network(r["address_block"]), r["name"], r["rfc"],
                    r["globally_reachable"] == "True")
                for r in csv.DictReader(f)]


ROWS = load_rows()
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
# Embedded-IPv4 carriers: network -> (bit shift of the IPv4 address, IPv4 alone decides)
EMBEDDINGS = {
    ipaddress.ip_network("::ffff:0:0/96"): (0, True),
    ipaddress.ip_network("64:ff9b::/96"): (0, True),
    ipaddress.ip_network("::/96"): (0, False),
    ipaddress.ip_network("2002::/16"): (80, False),
}


def most_specific(addr: IPAddress) -> Row | None:
    best = None
    for row in ROWS:
        if addr.version == row.network.version and addr in row.network:
            if best is None or row.network.prefixlen > best.network.prefixlen:
                best = row
    return best


@dataclass(frozen=True)
class Expected:
    allowed: bool
    embedded: ipaddress.IPv4Address | None  # the carried IPv4 address, if any
    embedded_allowed: bool | None


def expect(addr: IPAddress) -> Expected:
    row = most_specific(addr)
    if row is not None and row.network in EMBEDDINGS:
        shift, decides = EMBEDDINGS[row.network]
        inner = ipaddress.IPv4Address((int(addr) >> shift) & 0xFFFFFFFF)
        inner_ok = expect(inner).allowed
        return Expected(inner_ok if decides else False, inner, inner_ok)
    if row is not None:
        return Expected(row.reachable, None, None)
    if addr.version == 6 and addr not in _GLOBAL_UNICAST:
        return Expected(False, None, None)
    return Expected(True, None, None)
