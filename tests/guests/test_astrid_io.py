"""`astrid:io` and the `astrid:http@1.1.0` functions built on it, through the SDK 0.7.2
capsule `rust-astrid-http-all` against loopback servers (reached as `public.test`, which only
the test classifier calls public): `subscribe-readable` with `ready` / `poll` / `block`,
`body-stream` read with and without blocking, uploads through `body-sink` with `check-write` /
`write` / `blocking-flush` and with `blocking-write-and-flush`, `finish` once only. A guest
blocked in a wait is bounded by the call's deadline and ended by cancellation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from astrid_host import CapsuleLoadError, CapsuleTrap, EgressPolicy, Host, Limits
from astrid_host._core._astrid_state import AstridState
from astrid_host._core._wit_astrid_sys import HOST as SYS_HOST
from tests.guests.test_conformance import fnv1a64
from tests.support.astrid import trigger_http_all
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, pattern, run_http_server
from tests.support.paths import built_guest
from tests.support.wit_wat import instance_type

pytestmark = pytest.mark.guest("rust-astrid-http-all")


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


def url(server: TestServer, path: str) -> dict[str, Any]:
    return {"request": {"url": server.url(path, host="public.test")}, "options": {}}


async def test_subscribe_readable_is_ready_only_when_a_chunk_or_the_end_is_known(
        server: TestServer) -> None:
    n = 600_000
    report = await trigger_http_all("stream_poll", url(server, f"/bytes?n={n}&chunk=100000"))
    assert report["body"]["len"] == n and report["body"]["fnv1a64"] == str(fnv1a64(pattern(n)))
    steps = report["steps"]
    # Before anything was read ahead, nothing is known: not ready; poll then waits for the
    # chunk and reports the pollable; block returns at once; read-chunk takes that chunk.
    assert steps[0]["ready"] is False
    for step in steps:
        assert step["poll"] == {"ok": True, "ready": [0]}
        assert step["block"] == {"ok": True}
        assert step["read"]["ok"]
    assert [s["read"]["len"] for s in steps][-1] == 0  # the end, after a ready pollable
    assert sum(s["read"]["len"] for s in steps) == n


@pytest.mark.parametrize("blocking", [False, True])
async def test_body_stream_reads_the_whole_body_then_closed(server: TestServer,
                                                            blocking: bool) -> None:
    n = 300_000
    report = await trigger_http_all("stream_body",
                       {**url(server, f"/bytes?n={n}"), "blocking": blocking, "max": 70_000})
    read = report["read"]
    assert report["status"] == 200
    assert read["body"]["len"] == n and read["body"]["fnv1a64"] == str(fnv1a64(pattern(n)))
    assert read["end"] == {"code": "closed"}
    assert max(read["reads"]) <= 70_000 and all(read["reads"])


@pytest.mark.parametrize("mode", ["write", "blocking"])
async def test_an_upload_through_body_sink_arrives_whole_and_finishes_once(
        server: TestServer, mode: str) -> None:
    pieces = ["first,", "x" * 100_000, "last"] if mode == "write" else ["a", "bc"]
    payload = url(server, "/drain")
    payload["request"]["method"] = "POST"
    report = await trigger_http_all("upload", {**payload, "mode": mode, "pieces": pieces})
    body = "".join(pieces).encode()
    response = report["response"]
    assert response["status"] == 200
    assert json.loads(response["body"]["text"]) == {
        "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert all(w["ok"] for w in report["writes"])
    if mode == "write":  # a piece over the permit takes several check-write / write rounds
        assert len(report["writes"][1]["permits"]) == 2
    assert report["finish_again"] == {"ok": False, "error": {"code": "closed"}}
    (request,) = server.requests
    assert request.method == b"POST" and request.body == body


async def test_a_guest_blocked_in_a_wait_is_bounded_by_the_call_deadline(
        server: TestServer) -> None:
    # One byte, then nothing for a minute: the guest waits in poll/block for the second.
    with anyio.fail_after(120):  # a hang would be the bug; the bound is generous on purpose
        try:
            report = await trigger_http_all("stream_poll", url(server, "/trickle?n=2&interval=60"),
                               limits=Limits(call_timeout_s=2))
        except CapsuleTrap as trap:
            assert trap.kind == "deadline", trap
        else:
            assert not all(s["poll"]["ok"] and s["read"]["ok"] for s in report["steps"])


async def test_cancelling_a_call_blocked_in_a_wait_leaves_the_capsule_usable(
        server: TestServer) -> None:
    async with Host(use_cache=False, resolver=test_resolver(),
                    classifier=loopback_as_public()) as host:
        capsule = await host.load(built_guest("rust-astrid-http-all.wasm"),
                                  policy=EgressPolicy.parse(["*://public.test:*"], methods=["*"]),
                                  astrid=AstridState("http-all"))
        with anyio.move_on_after(1) as scope:
            await capsule.trigger("stream_poll", url(server, "/trickle?n=2&interval=60"))
        assert scope.cancelled_caught
        answer = await capsule.trigger("stream_body", {**url(server, "/bytes?n=10"),
                                                       "blocking": True})
    assert answer.result.json()["read"]["body"]["len"] == 10


async def test_a_function_not_served_still_fails_the_load_naming_it() -> None:
    # astrid:sys with every function of the WIT: the ones astrid-host does not serve are named.
    wat = f"""(component
      (type $sys {instance_type(SYS_HOST)})
      (import "astrid:sys/host@1.0.0" (instance $s (type $sys))))"""
    async with Host(use_cache=False) as host:
        with pytest.raises(CapsuleLoadError) as info:
            await host.load(wat.encode())
    assert "astrid:sys/host@1.0.0" in str(info.value)
