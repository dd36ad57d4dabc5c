"""`classify_ip` against `ipaddress.ip_address(x).is_global` on the same mixed corpus.

Candidate: astrid-host's hand-written classifier (`astrid_host._core._classify`), which also
returns the reason, the named range and any embedded IPv4 address.
Baseline: the standard library's parse + `is_global`, which answers only a bool (and a wrong one
for NAT64, IPv4-compatible and multicast addresses).
Corpus: text addresses, a third random IPv4, a third random IPv6, a third drawn from the special
ranges and the embedded-IPv4 forms (the slow paths of both). Goal (issue 3): >= 3x faster.

Run alone with `python3 benchmarks/bench_classify.py [--quick]`.
"""

from __future__ import annotations

import ipaddress
import random
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` and `astrid_host` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from astrid_host._core._classify import classify_ip
from astrid_host._core._ranges import RANGES

from ._harness import Result, compare, ratio, unmeasured

_SPECIAL_V4 = ["10.1.2.3", "127.0.0.1", "100.64.0.1", "169.254.169.254", "192.168.1.1",
               "172.16.5.4", "192.0.0.9", "198.18.0.1", "224.0.0.1", "255.255.255.255"]


def corpus(size: int, seed: int = 3) -> list[str]:
    """A reproducible mixed list of ``size`` address strings."""
    rng = random.Random(seed)
    ranges = [ipaddress.ip_network(r.network) for r in RANGES]
    out: list[str] = []
    for i in range(size):
        kind = i % 6
        if kind == 0:
            out.append(str(ipaddress.IPv4Address(rng.getrandbits(32))))
        elif kind == 1:
            out.append(str(ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(124))))
        elif kind == 2:
            out.append(str(ipaddress.IPv6Address(rng.getrandbits(128))))
        elif kind == 3:
            net = rng.choice(ranges)
            out.append(str(net.network_address + rng.randrange(min(net.num_addresses, 2**32))))
        elif kind == 4:
            v4 = rng.choice(_SPECIAL_V4)
            out.append(rng.choice(["::ffff:", "64:ff9b::", "::"]) + v4)
        else:
            out.append(rng.choice(_SPECIAL_V4))
    return out


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Medians over interleaved rounds; ratio > 1 means classify_ip is faster."""
    addresses = corpus(200 if tiny else 2_000 if quick else 20_000)
    rounds = 1 if tiny else 5 if quick else 15

    def candidate() -> None:
        for a in addresses:
            classify_ip(a)

    def baseline() -> None:
        for a in addresses:
            ipaddress.ip_address(a).is_global  # noqa: B018 -- the property is the work

    cand, base = compare(candidate, baseline, rounds)
    per_cand, per_base = cand / len(addresses) * 1e9, base / len(addresses) * 1e9
    return [Result(
        name="classify_ip", value=per_cand, baseline=per_base, ratio=ratio(per_base, per_cand),
        unit="ns/address", what="classify_ip(text) vs ipaddress.ip_address(text).is_global",
        goal=">= 3x", note=unmeasured(value=per_cand, baseline=per_base),
        extra={"corpus": len(addresses), "rounds": rounds})]


if __name__ == "__main__":
    for result in run("--quick" in sys.argv):
        print(f"{result.name}: {result.value:.0f} {result.unit} vs baseline "
              f"{result.baseline:.0f} -> {result.ratio:.1f}x faster (goal {result.goal})")
