"""Redirects handled hop by hop by the host, each hop re-checked by the egress guard."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, RedirectPolicy, Request, RequestOptions
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import StaticResolver
from astrid_host._net._client import CapsuleHttp
from tests.support.guard import NAMES, make_client
from tests.support.http import TestServer, run_http_server

CREDS = (("Authorization", b"Bearer secret"), ("Cookie", b"session=1"), ("X-Other", b"custom"),
         ("Accept", b"text/plain"))


def _to(server: TestServer, target: str, code: int = 302, host: str = "public.test") -> str:
    q = urllib.parse.urlencode({"to": target, "code": code})
    return server.url(f"/redirect?{q}", host=host)


async def _code(client: CapsuleHttp, req: Request) -> Any:
    with pytest.raises(HttpError) as exc:
        await client.send(req)
    return exc.value.code


async def test_relative_chain_is_followed_and_counted(client: CapsuleHttp,
                                                      http_server: TestServer) -> None:
    resp = await client.send(Request("GET", http_server.url("/chain?hops=3", host="public.test")))
    assert resp.status == 200 and resp.body == b"done"
    assert resp.meta.redirect_count == 3
    assert resp.meta.final_url == http_server.url("/chain?hops=0", host="public.test")
    assert [r.target for r in http_server.requests] == [
        b"/chain?hops=3", b"/chain?hops=2", b"/chain?hops=1", b"/chain?hops=0"]


async def test_same_origin_hop_keeps_credentials(client: CapsuleHttp,
                                                 http_server: TestServer) -> None:
    await client.send(Request("GET", _to(http_server, "/echo"), headers=CREDS))
    final = http_server.requests[-1]
    assert final.header(b"authorization") == [b"Bearer secret"]
    assert final.header(b"cookie") == [b"session=1"]


async def test_cross_host_hop_drops_credentials(client: CapsuleHttp,
                                                http_server: TestServer) -> None:
    target = http_server.url("/echo", host="other.test")
    resp = await client.send(Request("GET", _to(http_server, target), headers=CREDS))
    final = http_server.requests[-1]
    assert final.header(b"host") == [f"other.test:{http_server.port}".encode()]
    assert final.header(b"authorization") == [] and final.header(b"cookie") == []
    assert final.header(b"x-other") == [] and final.header(b"accept") == [b"text/plain"]
    assert resp.meta.final_url == target


async def test_cross_port_hop_to_another_server_drops_credentials(
        client: CapsuleHttp, http_server: TestServer, http_server_b: TestServer) -> None:
    target = http_server_b.url("/echo", host="public.test")
    resp = await client.send(Request("GET", _to(http_server, target), headers=CREDS))
    assert resp.status == 200
    assert http_server_b.requests[-1].header(b"authorization") == []


@pytest.mark.parametrize("code", [301, 302, 303])
async def test_301_302_303_turn_into_get_without_body(client: CapsuleHttp,
                                                      http_server: TestServer,
                                                      code: int) -> None:
    await client.send(Request("POST", _to(http_server, "/echo", code), body=b"payload",
                              headers=(("Content-Type", b"text/plain"),)))
    final = http_server.requests[-1]
    assert final.method == b"GET" and final.body_size == 0
    assert final.header(b"content-type") == [] and final.header(b"content-length") == []


@pytest.mark.parametrize("code", [307, 308])
async def test_307_308_keep_method_and_body(client: CapsuleHttp, http_server: TestServer,
                                            code: int) -> None:
    await client.send(Request("PUT", _to(http_server, "/echo", code), body=b"payload"))
    final = http_server.requests[-1]
    assert final.method == b"PUT" and final.body == b"payload"


async def test_redirect_loop_ends_in_too_many_redirects(client: CapsuleHttp,
                                                        http_server: TestServer) -> None:
    code = await _code(client, Request("GET", http_server.url("/loop", host="public.test")))
    assert code.case == "too-many-redirects" and code.payload == 10
    assert len(http_server.requests) == 11


async def test_max_redirects_option_tightens_but_never_loosens(
        http_server: TestServer) -> None:
    client = make_client(limits=Limits(max_redirects=3))
    url = http_server.url("/chain?hops=3", host="public.test")
    assert (await client.send(Request("GET", url))).meta.redirect_count == 3
    tight = await _code(client, Request("GET", url, options=RequestOptions(max_redirects=2)))
    assert tight.case == "too-many-redirects" and tight.payload == 2
    loose = await _code(client, Request("GET", http_server.url("/loop", host="public.test"),
                                        options=RequestOptions(max_redirects=50)))
    assert loose.payload == 3
    await client.aclose()


async def test_policy_error_refuses_to_follow(client: CapsuleHttp,
                                              http_server: TestServer) -> None:
    code = await _code(client, Request("GET", _to(http_server, "/echo"), options=RequestOptions(
        redirect_policy=RedirectPolicy.ERROR)))
    assert code.case == "redirect-blocked" and "policy is error" in code.payload


async def test_policy_manual_returns_the_redirect(client: CapsuleHttp,
                                                  http_server: TestServer) -> None:
    resp = await client.send(Request("GET", _to(http_server, "/echo", 301),
                                     options=RequestOptions(
                                         redirect_policy=RedirectPolicy.MANUAL)))
    assert resp.status == 301 and ("location", b"/echo") in resp.headers
    assert resp.meta.redirect_count == 0 and len(http_server.requests) == 1


@pytest.mark.parametrize(("target", "detail"), [
    ("http://10.0.0.5:8080/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]:80/", "loopback"),
    ("http://127.0.0.1:9/", "no-matching-rule"),
    ("http://example.com/", "no-matching-rule"),
    ("http://private.test:8080/", "destination-prohibited"),
    ("gopher://public.test/", "not a usable URL"),
])
async def test_redirect_to_a_denied_target_is_blocked(http_server: TestServer, target: str,
                                                      detail: str) -> None:
    rules = ["*://*.test:*", "http://10.0.0.0/8:*", "http://169.254.0.0/16:*",
             "http://[::1]:*"]
    client = make_client(rules=rules)
    code = await _code(client, Request("GET", _to(http_server, target)))
    assert code.case == "redirect-blocked"
    assert detail in code.payload
    assert len(http_server.requests) == 1
    await client.aclose()


async def test_local_allowance_endpoints_never_follow_redirects(
        http_server: TestServer) -> None:
    policy = EgressPolicy.parse([], local=[f"127.0.0.1:{http_server.port}"])
    client = CapsuleHttp("local", policy, Limits())
    code = await _code(client, Request("GET", http_server.url("/redirect?to=/echo")))
    assert code.case == "redirect-blocked" and "local allowance" in code.payload
    manual = await client.send(Request("GET", http_server.url("/redirect?to=/echo"),
                                       options=RequestOptions(
                                           redirect_policy=RedirectPolicy.MANUAL)))
    assert manual.status == 302
    await client.aclose()


async def test_redirect_without_location_is_returned(client: CapsuleHttp,
                                                     http_server: TestServer) -> None:
    resp = await client.send(Request("GET", http_server.url("/no-location?code=302",
                                                            host="public.test")))
    assert resp.status == 302 and resp.body == b"moved somewhere"


async def test_every_hop_logs_its_own_decision(client: CapsuleHttp, http_server: TestServer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="astrid_host.egress")
    target = http_server.url("/echo", host="other.test")
    await client.send(Request("GET", _to(http_server, target)))
    lines = [r.getMessage() for r in caplog.records if r.name == "astrid_host.egress"]
    assert len(lines) == 3
    assert "public.test" in lines[0] and "decision=allow" in lines[0]
    assert "other.test" in lines[1] and "chosen=127.0.0.1" in lines[1]
    assert "other.test" in lines[2] and "status=200" in lines[2]


async def test_blocked_hop_logs_a_deny_line(client: CapsuleHttp, http_server: TestServer,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="astrid_host.egress")
    await _code(client, Request("GET", _to(http_server, "http://private.test/")))
    lines = [r.getMessage() for r in caplog.records if r.name == "astrid_host.egress"]
    assert "decision=deny" in lines[-1] and "reason=private" in lines[-1]
    # The deny line lists what DNS answered, each address with its own reason.
    assert "addresses=10.0.0.5/private" in lines[-1]


async def test_wire_bytes_count_every_hop(client: CapsuleHttp, http_server: TestServer) -> None:
    direct = await client.send(Request("GET", http_server.url("/chain?hops=0",
                                                              host="public.test")))
    chained = await client.send(Request("GET", http_server.url("/chain?hops=2",
                                                               host="public.test")))
    assert chained.body == direct.body == b"done"
    assert chained.meta.wire_bytes > direct.meta.wire_bytes + 2 * len(b"HTTP/1.1 302 ")


async def test_redirect_hop_is_judged_with_the_rewritten_method(
        http_server: TestServer) -> None:
    """POST -> 303 becomes GET: a policy that allows only POST refuses the GET hop."""
    client = make_client(methods=["POST"])
    code = await _code(client, Request("POST", _to(http_server, "/echo", 303), body=b"x"))
    assert code.case == "redirect-blocked" and "method" in code.payload
    kept = await client.send(Request("POST", _to(http_server, "/echo", 307), body=b"x"))
    assert kept.status == 200
    await client.aclose()


# --- a redirect may never lead into the operator's local allowance -----------------------------

@pytest.fixture
async def sidecar() -> AsyncIterator[TestServer]:
    """An operator's local service on 127.0.0.2: loopback, refused by the (test) classifier,
    reachable only through the local allowance."""
    async with run_http_server(host="127.0.0.2") as server:
        yield server


def _sidecar_client(sidecar: TestServer) -> CapsuleHttp:
    """The sidecar is allowed by address (IP-literal URLs) and by its name."""
    names = {**NAMES, "sidecar.test": ["127.0.0.2"]}
    local = [f"127.0.0.2:{sidecar.port}", f"sidecar.test=127.0.0.2:{sidecar.port}"]
    return make_client(rules=["http://*:*"], local=local, resolver=StaticResolver(names))


@pytest.mark.parametrize("target_host", ["127.0.0.2", "sidecar.test"])
@pytest.mark.parametrize("code", [302, 307])
async def test_redirect_into_the_local_allowance_is_blocked(
        http_server: TestServer, sidecar: TestServer, target_host: str, code: int) -> None:
    """A remote (public) server answers with a redirect to the operator's sidecar, by IP literal
    or by a name resolving there: the host refuses, and the sidecar never sees a request."""
    client = _sidecar_client(sidecar)
    try:
        target = f"http://{target_host}:{sidecar.port}/echo"
        req = Request("POST", _to(http_server, target, code=code), body=b"capsule-secret")
        code_ = await _code(client, req)
        assert code_.case == "redirect-blocked"
        assert sidecar.requests == []
        # The capsule may still call the sidecar directly: the allowance itself works.
        direct = await client.send(Request("GET", sidecar.url("/status?code=204",
                                                              host=target_host)))
        assert direct.status == 204
    finally:
        await client.aclose()


async def test_a_pooled_sidecar_connection_is_not_reused_by_a_redirect(
        http_server: TestServer, sidecar: TestServer) -> None:
    """A keep-alive connection opened through the allowance for a direct request is not a way
    in for a later redirect hop to the same origin."""
    client = _sidecar_client(sidecar)
    try:
        first = await client.send(Request("GET", sidecar.url("/status?code=200")))
        assert first.status == 200
        code = await _code(client, Request("GET", _to(http_server, sidecar.url("/echo"))))
        assert code.case == "redirect-blocked"
        assert [r.target for r in sidecar.requests] == [b"/status?code=200"]
    finally:
        await client.aclose()
