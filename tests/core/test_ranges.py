"""The hand-written range table against the IANA CSV it is meant to transcribe."""

from __future__ import annotations

import ipaddress

import pytest

from astrid_host._core._ranges import RANGES, Embedding, NamedRange, Reason
from tests.support.oracle import ROWS
from tests.support.paths import ROOT

_BY_NETWORK = {ipaddress.ip_network(r.network): r for r in RANGES}


def test_every_registry_row_is_in_the_table_with_the_same_reachability() -> None:
    """Each CSV block appears in RANGES; reachable rows allow, others deny (carriers aside)."""
    for row in ROWS:
        rng = _BY_NETWORK.get(row.network)
        assert rng is not None, f"{row.network} ({row.name}) missing from RANGES"
        if rng.embedding is None:
            assert rng.allowed == row.reachable, f"{row.network}: table says {rng.reason}"


def test_table_has_no_duplicate_blocks() -> None:
    networks = [ipaddress.ip_network(r.network) for r in RANGES]
    assert len(networks) == len(set(networks))


@pytest.mark.parametrize("rng", RANGES, ids=lambda r: r.network)
def test_every_row_is_a_canonical_cidr_citing_an_rfc(rng: NamedRange) -> None:
    net = ipaddress.ip_network(rng.network, strict=True)
    assert rng.rfc.startswith("RFC ")
    assert rng.name
    assert isinstance(rng.reason, Reason)
    assert net.prefixlen <= net.max_prefixlen


def test_reserved_rows_cover_exactly_the_complement_of_global_unicast() -> None:
    """The three "outside 2000::/3" rows plus 2000::/3 tile the IPv6 space."""
    reserved = [ipaddress.ip_network(r.network) for r in RANGES
                if r.name.startswith("Reserved by IETF")]
    total = sum(n.num_addresses for n in reserved) + ipaddress.ip_network("2000::/3").num_addresses
    assert total == 2**128
    assert not any(n.overlaps(ipaddress.ip_network("2000::/3")) for n in reserved)


@pytest.mark.parametrize(
    ("network", "embedding"),
    [("::ffff:0:0/96", Embedding.MAPPED), ("::/96", Embedding.COMPATIBLE),
     ("64:ff9b::/96", Embedding.NAT64), ("2002::/16", Embedding.SIX_TO_FOUR)],
)
def test_the_four_ipv4_carriers_are_marked(network: str, embedding: Embedding) -> None:
    assert _BY_NETWORK[ipaddress.ip_network(network)].embedding is embedding


def test_every_reason_has_text_and_only_two_allow() -> None:
    assert all(r.text for r in Reason)
    assert {r for r in Reason if r.allows} == {Reason.PUBLIC, Reason.GLOBAL_SPECIAL}


def test_docs_table_lists_every_range_with_its_reason() -> None:
    """docs/policy.md documents what is blocked; it must not drift from the table."""

    text = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line for line in text.splitlines()
            if line.startswith("| `")}
    for rng in RANGES:
        assert rng.network in rows, f"{rng.network} missing from docs/policy.md"
        assert rng.reason.value in rows[rng.network] or rng.embedding is not None
        assert rng.rfc in rows[rng.network]
