"""Through a real guest: an address entry never lets a name in, a name entry lets its name in.

The WAT client guest (tests/support/wat.py) runs in a real Host with the real CapsuleHttp and the
real classifier (loopback refused), against a loopback server. The resolver is injected:
every made-up name answers 127.0.0.1, so the only thing that decides is the allowance.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import StaticResolver
from astrid_host._wasm._capsule import Capsule
from astrid_host._wasm._host import Host
from tests.support.http import TestServer
from tests.support.wat import CLIENT_GUEST_WAT, ERROR_CASES

NAMES = {name: ["127.0.0.1"] for name in
         ("anything.example", "sidecar.internal", "evil.internal")}


@pytest.fixture
async def host(cache_dir: Path) -> AsyncIterator[Host]:
    """A Host with the real HTTP engine and classifier, resolving every name to loopback."""
    async with Host(cache_dir=cache_dir, resolver=StaticResolver(NAMES),
                    limits=Limits()) as h:
        yield h


async def _guest(host: Host, policy: EgressPolicy) -> Capsule:
    return await host.load(CLIENT_GUEST_WAT.encode(), policy=policy, name="client-guest")


async def _get(guest: Capsule, url: str) -> int | str:
    """The status, or the error-code case the guest got."""
    result = await guest.call("send-url", url)
    assert isinstance(result, int)
    return ERROR_CASES[result - 1000] if result >= 1000 else result


async def test_an_address_entry_reaches_the_ip_literal_but_no_name_resolving_to_it(
        host: Host, http_server: TestServer) -> None:
    """With ``127.0.0.1:PORT`` and a rule allowing every http URL, a name the capsule picked
    (and so its Host header) resolving to 127.0.0.1 is refused before anything is sent."""
    port = http_server.port
    policy = EgressPolicy.parse(["http://*:*"], local=[f"127.0.0.1:{port}"])
    guest = await _guest(host, policy)
    assert await _get(guest, f"http://anything.example:{port}/echo") == "destination-prohibited"
    assert http_server.requests == []
    assert await _get(guest, f"http://127.0.0.1:{port}/echo") == 200
    assert [r.header(b"host") for r in http_server.requests] == [[f"127.0.0.1:{port}".encode()]]


async def test_a_name_entry_reaches_its_name_only(host: Host, http_server: TestServer) -> None:
    """With ``sidecar.internal=127.0.0.1:PORT`` (and no rules), only that name gets through;
    another name resolving to the same address, and the address itself, are refused."""
    port = http_server.port
    policy = EgressPolicy.parse([], local=[f"sidecar.internal=127.0.0.1:{port}"])
    guest = await _guest(host, policy)
    assert await _get(guest, f"http://sidecar.internal:{port}/echo") == 200
    for refused in (f"http://evil.internal:{port}/echo", f"http://127.0.0.1:{port}/echo",
                    f"http://sidecar.internal:{port ^ 1}/echo"):
        assert await _get(guest, refused) == "denied"
    assert [r.header(b"host") for r in http_server.requests] == [
        [f"sidecar.internal:{port}".encode()]]


async def test_a_name_entry_does_not_open_other_local_answers(
        cache_dir: Path, http_server: TestServer) -> None:
    """The name entry lifts the check only for answers inside its network: when the resolver
    answers 127.0.0.2 instead, the request is refused."""
    port = http_server.port
    resolver = StaticResolver({"sidecar.internal": ["127.0.0.2"]})
    async with Host(cache_dir=cache_dir, resolver=resolver, limits=Limits()) as host:
        policy = EgressPolicy.parse([], local=[f"sidecar.internal=127.0.0.1:{port}"])
        guest = await _guest(host, policy)
        assert await _get(guest, f"http://sidecar.internal:{port}/echo") == (
            "destination-prohibited")
    assert http_server.requests == []


async def test_a_string_policy_is_a_type_error_and_the_host_stays_usable(host: Host) -> None:
    """``Host.load(policy="http://...")`` used to parse the string one character at a time."""
    with pytest.raises(TypeError, match=r"rules must be a list of rule strings, not one str"):
        await host.load(CLIENT_GUEST_WAT.encode(), policy="http://*:*")
    guest = await host.load(CLIENT_GUEST_WAT.encode(), policy=["https://a.example"])
    assert await _get(guest, "http://a.example/") == "denied"


def test_static_resolver_refuses_one_string_for_a_list_of_answers() -> None:
    with pytest.raises(TypeError, match=r"must be a list of addresses, not one str"):
        StaticResolver({"a.example": "127.0.0.1"})  # type: ignore[dict-item]
