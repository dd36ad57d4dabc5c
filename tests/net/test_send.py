"""Buffered ``send`` against a real HTTP/1.1 server on loopback (astrid_host/_net/_client.py)."""

from __future__ import annotations

import base64
import json
import logging
import socket
from typing import Any

import anyio
import anyio.abc
import pytest

from astrid_host._core._classify import IPAddress
from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    HttpError,
    Request,
    RequestOptions,
    RequestPart,
    TimeoutPhase,
)
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import Resolver
from astrid_host._net._client import CapsuleHttp
from tests.support.guard import aclose_during, make_client
from tests.support.http import TestServer, run_http_server
from tests.support.timing import PROMPT_S


def _echo(body: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(body)
    doc["body"] = base64.b64decode(doc["body_b64"])
    return doc


async def _code(client: CapsuleHttp, req: Request) -> Any:
    with pytest.raises(HttpError) as exc:
        await client.send(req)
    return exc.value.code


async def test_get_returns_status_headers_body_and_meta(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    url = http_server.url("/echo?x=1", host="public.test")
    resp = await client.send(Request("GET", url))
    assert resp.status == 200
    assert ("content-type", b"application/json") in resp.headers
    doc = _echo(resp.body)
    assert doc["method"] == "GET" and doc["target"] == "/echo?x=1"
    assert doc["headers"][0] == ["Host", f"public.test:{http_server.port}"]
    assert resp.meta.final_url == url
    assert resp.meta.redirect_count == 0
    assert resp.meta.wire_bytes > len(resp.body)
    assert resp.meta.elapsed_ms >= 0


async def test_duplicate_and_binary_request_headers_arrive_in_order(
        client: CapsuleHttp, http_server: TestServer) -> None:
    headers = (("X-Dup", b"1"), ("x-bin", b"\xff\x80raw"), ("x-dup", b"2"))
    await client.send(Request("GET", http_server.url("/echo", host="public.test"),
                              headers=headers))
    got = http_server.requests[-1].headers
    assert [(n, v) for n, v in got if n.lower() in (b"x-dup", b"x-bin")] == [
        (b"X-Dup", b"1"), (b"x-bin", b"\xff\x80raw"), (b"x-dup", b"2")]


async def test_duplicate_and_binary_response_headers_are_kept(client: CapsuleHttp,
                                                              http_server: TestServer) -> None:
    resp = await client.send(Request("GET", http_server.url("/dup-headers", host="public.test")))
    assert [h for h in resp.headers if h[0] in ("set-cookie", "x-bin")] == [
        ("set-cookie", b"a=1"), ("set-cookie", b"b=2"), ("x-bin", b"\xff\xfe raw")]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "purge"])
async def test_methods_including_other_carry_a_binary_body(
        method: str, http_server: TestServer) -> None:
    client = make_client(methods=["*"])
    body = bytes(range(256)) * 4
    resp = await client.send(Request(method, http_server.url("/echo", host="public.test"),
                                     body=body))
    doc = _echo(resp.body)
    assert doc["method"] == method and doc["body"] == body
    assert http_server.requests[-1].header(b"content-length") == [b"1024"]
    await client.aclose()


async def test_head_and_options_work(client: CapsuleHttp, http_server: TestServer) -> None:
    head = await client.send(Request("HEAD", http_server.url("/bytes?n=500", host="public.test")))
    assert head.status == 200 and head.body == b""
    assert ("content-length", b"500") in head.headers
    opts = await client.send(Request("OPTIONS", http_server.url("/echo", host="public.test")))
    assert _echo(opts.body)["method"] == "OPTIONS"


async def test_post_without_body_sends_content_length_zero(client: CapsuleHttp,
                                                           http_server: TestServer) -> None:
    await client.send(Request("POST", http_server.url("/echo", host="public.test")))
    assert http_server.requests[-1].header(b"content-length") == [b"0"]


async def test_keep_alive_reuses_one_connection(client: CapsuleHttp,
                                                http_server: TestServer) -> None:
    for _ in range(5):
        await client.send(Request("GET", http_server.url("/bytes?n=100", host="public.test")))
    assert http_server.connections == 1
    assert {r.connection_id for r in http_server.requests} == {1}


async def test_two_capsules_never_share_a_connection(http_server: TestServer) -> None:
    a, b = make_client(name="a"), make_client(name="b")
    for c in (a, b, a, b):
        await c.send(Request("GET", http_server.url("/bytes?n=10", host="public.test")))
    assert http_server.connections == 2
    await a.aclose()
    await b.aclose()


async def test_url_outside_the_policy_is_denied(client: CapsuleHttp) -> None:
    code = await _code(client, Request("GET", "http://example.com/"))
    assert code.case == "denied" and "no-matching-rule" in code.payload


async def test_method_outside_the_policy_is_denied(client: CapsuleHttp,
                                                   http_server: TestServer) -> None:
    code = await _code(client, Request("PROPFIND", http_server.url("/", host="public.test")))
    assert code.case == "denied" and "method" in code.payload


async def test_private_ip_literal_is_destination_prohibited_without_connecting() -> None:
    client = make_client(rules=["http://*:*"])
    code = await _code(client, Request("GET", "http://10.0.0.5:8080/"))
    assert code.case == "destination-prohibited"
    assert [(a.address, a.reason) for a in code.payload.addresses] == [("10.0.0.5", "private")]
    await client.aclose()


async def test_name_resolving_to_private_address_is_destination_prohibited(
        client: CapsuleHttp) -> None:
    code = await _code(client, Request("GET", "http://private.test:8080/"))
    assert code.case == "destination-prohibited"
    assert code.payload.host == "private.test"
    assert [(a.address, a.reason) for a in code.payload.addresses] == [("10.0.0.5", "private")]


async def test_unknown_name_is_dns_error(client: CapsuleHttp) -> None:
    code = await _code(client, Request("GET", "http://nowhere.test/"))
    assert code.case == "dns-error"


async def test_closed_port_is_connection_refused(client: CapsuleHttp) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = await _code(client, Request("GET", f"http://public.test:{port}/"))
    assert code.case == "connection-refused"


@pytest.mark.parametrize(("req", "part"), [
    (Request("GET", "ftp://public.test/"), RequestPart.URL),
    (Request("GET", "http://user:pw@public.test/"), RequestPart.URL),
    (Request("GET", "http://public.test/", headers=(("Host", b"evil.test"),)),
     RequestPart.HEADER),
    (Request("GET", "http://public.test/", headers=(("x", b"a\r\nb: c"),)), RequestPart.HEADER),
    (Request("TRACE", "http://public.test/"), RequestPart.METHOD),
])
async def test_malformed_requests_are_invalid_request(client: CapsuleHttp, req: Request,
                                                      part: RequestPart) -> None:
    code = await _code(client, req)
    assert code.case == "invalid-request" and code.payload.part is part


async def test_local_allowance_reaches_loopback_with_the_real_classifier(
        http_server: TestServer) -> None:
    policy = EgressPolicy.parse([], local=[f"127.0.0.1:{http_server.port}"])
    client = CapsuleHttp("local", policy, Limits())
    resp = await client.send(Request("GET", http_server.url("/bytes?n=3")))
    assert resp.status == 200 and len(resp.body) == 3
    other = await _code(client, Request("GET", f"http://127.0.0.1:{http_server.port + 1}/"))
    assert other.case == "denied"
    await client.aclose()


async def test_every_request_logs_a_decision_and_a_completion_line(
        client: CapsuleHttp, http_server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="astrid_host.egress")
    await client.send(Request("GET", http_server.url("/bytes?n=7&secret=1", host="public.test")))
    await _code(client, Request("GET", "http://example.com/"))
    lines = [r.getMessage() for r in caplog.records if r.name == "astrid_host.egress"]
    assert len(lines) == 3
    assert "decision=allow" in lines[0] and "status=200 bytes=-" in lines[0]
    assert "chosen=127.0.0.1" in lines[0] and "secret" not in lines[0]
    assert "status=200" in lines[1] and "bytes=7" in lines[1]
    assert "decision=deny" in lines[2] and "reason=no-matching-rule" in lines[2]


async def test_calls_after_aclose_fail_with_closed(http_server: TestServer) -> None:
    client = make_client()
    await client.aclose()
    code = await _code(client, Request("GET", http_server.url("/", host="public.test")))
    assert code.case == "closed"


async def test_aclose_cancels_an_in_flight_send(http_server: TestServer) -> None:
    client = make_client()
    url = http_server.url("/never-headers", host="public.test")
    result, took = await aclose_during(client, lambda: client.send(Request("GET", url)))
    assert result == ["cancelled"]
    assert took < PROMPT_S  # the server would keep it waiting until the 30 s first-byte timeout


async def test_io_limiter_bounds_concurrent_host_io(http_server: TestServer) -> None:
    """The host-wide limiter is taken per network operation: while something else holds every
    token, no capsule's request makes progress; once one is free, it completes."""
    limiter = anyio.CapacityLimiter(1)
    client = make_client(io_limiter=limiter)
    url = http_server.url("/status?code=204", host="public.test")
    release = anyio.Event()

    async def busy_elsewhere(task_status: anyio.abc.TaskStatus[None]) -> None:
        async with limiter:
            task_status.started()
            await release.wait()

    statuses: list[int] = []

    async def send() -> None:
        statuses.append((await client.send(Request("GET", url))).status)

    async with anyio.create_task_group() as nursery:
        await nursery.start(busy_elsewhere)
        nursery.start_soon(send)
        await anyio.wait_all_tasks_blocked()
        assert limiter.statistics().tasks_waiting == 1  # the send waits for the token...
        assert http_server.requests == [] and statuses == []  # ...not even connected
        release.set()
    assert statuses == [204]
    assert (await client.send(Request("GET", url))).status == 204
    await client.aclose()


async def test_a_capsule_takes_at_most_its_share_of_the_hosts_io_tokens(
        http_server: TestServer) -> None:
    """Each capsule holds at most max_open_streams + 1 host tokens at once, so one capsule
    cannot take every token of a small host."""
    from astrid_host._core._limits import Limits

    limiter = anyio.CapacityLimiter(4)
    greedy = make_client(io_limiter=limiter, limits=Limits(max_open_streams=1))  # share: 2
    quiet = make_client(io_limiter=limiter)
    never = Request("GET", http_server.url("/never-headers", host="public.test"))
    async with anyio.create_task_group() as nursery:
        nursery.start_soon(greedy.start, never)
        for _ in range(3):
            nursery.start_soon(greedy.send, never)
        await anyio.wait_all_tasks_blocked()  # each took what it could, then waits
        assert limiter.borrowed_tokens == 2
        ok = await quiet.send(Request("GET", http_server.url("/status?code=204",
                                                             host="public.test")))
        assert ok.status == 204
        nursery.cancel_scope.cancel()
    await greedy.aclose()
    await quiet.aclose()


async def test_https_only_refuses_an_http_url(client: CapsuleHttp,
                                              http_server: TestServer) -> None:
    code = await _code(client, Request("GET", http_server.url("/", host="public.test"),
                                       options=RequestOptions(https_only=True)))
    assert code.case == "denied" and "https-only" in code.payload


class _SilentResolver(Resolver):
    """A resolver that never answers (a DNS server gone quiet)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


async def test_resolver_that_never_answers_ends_in_dns_timeout() -> None:
    client = make_client(resolver=_SilentResolver(), limits=Limits(connect_timeout_s=0.2))
    t0 = anyio.current_time()
    code = await _code(client, Request("GET", "http://public.test/"))
    assert code.case == "timeout" and code.payload is TimeoutPhase.DNS
    assert 0.19 <= anyio.current_time() - t0 < PROMPT_S  # trio's timer; the resolver: forever
    await client.aclose()


async def test_ipv6_loopback_through_the_local_allowance() -> None:
    try:
        async with run_http_server(host="::1") as server:
            policy = EgressPolicy.parse([], local=[f"[::1]:{server.port}"])
            client = CapsuleHttp("v6", policy, Limits())
            resp = await client.send(Request("GET", f"http://[::1]:{server.port}/echo"))
            assert _echo(resp.body)["headers"][0] == ["Host", f"[::1]:{server.port}"]
            assert resp.meta.final_url == f"http://[::1]:{server.port}/echo"
            await client.aclose()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
