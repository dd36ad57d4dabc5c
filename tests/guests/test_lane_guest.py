"""The body lane through the Rust and Go conformance guests (`conformance-lane` world; the
helpers `guests/rust/example/src/lane.rs` and
`guests/go/conformance/export_astrid_http_lane_tests/lane.go`): 10 MiB into the guest, out of
it, and through it both ways over a real loopback server, without a trap, byte for byte."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._policy import EgressPolicy
from astrid_host._wasm._host import Host
from tests.support import paths
from tests.support.http import TestServer, pattern, run_http_server
from tests.support.values import fnv1a64, wit_request

MiB = 1024 * 1024
LANE = "astrid:http/lane-tests@0.1.0"

pytestmark = [pytest.mark.guest("conformance")]


@pytest.fixture(params=["rust", "go"])
async def lane_guest(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, TestServer]]:
    path = paths.built_guest(f"{request.param}-conformance.wasm")
    async with run_http_server() as server:
        policy = EgressPolicy.parse([], methods=["*"], local=[f"127.0.0.1:{server.port}"])
        async with Host(cache_dir=paths.ROOT / "build" / "cache" / "conformance",
                        limits=Limits(call_timeout_s=300)) as host:
            capsule = await host.load(path, policy=policy, name=path.stem)
            if not any(e.startswith(LANE) for e in capsule.exports):
                message = f"{path} predates the lane: python3 scripts/build_guests.py --force"
                if paths.require_all():
                    pytest.fail(message)
                pytest.skip(message)
            yield capsule, server


async def test_ten_mib_read_into_the_guest(lane_guest: tuple[Any, TestServer]) -> None:
    capsule, server = lane_guest
    n = 10 * MiB
    report = await capsule.call(f"{LANE}#stream-all-lane",
                                wit_request(server.url(f"/bytes?n={n}")), MiB)
    assert getattr(report, "total-bytes") == n
    assert report.fnv1a64 == fnv1a64(pattern(n))
    assert report.chunks >= n // MiB


async def test_ten_mib_built_in_the_guest_and_uploaded(
        lane_guest: tuple[Any, TestServer]) -> None:
    capsule, server = lane_guest
    n = 10 * MiB
    resp = await capsule.call(f"{LANE}#upload-pattern-lane",
                              wit_request(server.url("/drain"), "post"), n)
    expected = (bytes(range(251)) * (n // 251 + 1))[:n]
    assert json.loads(resp.body) == {"size": n, "sha256": hashlib.sha256(expected).hexdigest()}


async def test_ten_mib_through_the_guest_both_ways(lane_guest: tuple[Any, TestServer]) -> None:
    """In and out of the guest: as list<u8> a guest cannot hand the host > 2.67 MiB at once."""
    capsule, server = lane_guest
    n = 10 * MiB
    resp = await capsule.call(f"{LANE}#relay-lane", wit_request(server.url(f"/bytes?n={n}")),
                              wit_request(server.url("/drain"), "post"))
    assert json.loads(resp.body) == {"size": n, "sha256": hashlib.sha256(pattern(n)).hexdigest()}
    assert capsule.instantiations == 1
