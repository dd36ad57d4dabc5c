"""A redirect to another origin carries only safelisted headers and never a body (issue 16,
item 5). Driven through the WAT guest against loopback servers; the servers record what
actually arrived.

Origins here: ``public.test:P`` and ``other.test:P`` (same server, another host) and
``public.test:Q`` (a second server, another port); both names resolve to 127.0.0.1, which the
test classifier calls public.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from astrid_host._wasm._host import Host
from tests.net._guest import egress_lines, fetch, host_fixture, load_guest, redirect_url
from tests.support.http import TestServer

#: What a capsule sends: credentials, custom and conditional headers, and the safelisted ones.
SENT = [
    ("Authorization", b"Bearer secret"), ("Cookie", b"session=1"), ("X-Api-Key", b"key-1"),
    ("X-Custom", b"c"), ("Referer", b"http://public.test/secret-page"),
    ("Origin", b"http://public.test"), ("If-None-Match", b'"etag-1"'),
    ("If-Modified-Since", b"Sat, 01 Jan 2000 00:00:00 GMT"), ("Content-Type", b"text/plain"),
    ("Accept", b"application/json"), ("Accept-Language", b"de"), ("User-Agent", b"capsule/1"),
    ("Cache-Control", b"no-cache"), ("Pragma", b"no-cache"), ("Range", b"bytes=0-9"),
]
SAFE = {b"accept", b"accept-language", b"user-agent", b"cache-control", b"pragma", b"range"}


@pytest.fixture
async def host(cache_dir: Path) -> AsyncIterator[Host]:
    async for h in host_fixture(cache_dir):
        yield h


async def _fetch(host: Host, url: str, method: str = "get", **kwargs: Any) -> tuple[str, Any]:
    capsule = await load_guest(host)
    try:
        return await fetch(capsule, url, method, **kwargs)
    finally:
        await capsule.aclose()


def _names(server: TestServer) -> set[bytes]:
    return {n.lower() for n, _ in server.requests[-1].headers}


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("other", ["host", "port"])
async def test_a_cross_origin_hop_carries_only_the_safelisted_headers(
        host: Host, http_server: TestServer, http_server_b: TestServer, code: int,
        other: str) -> None:
    final = http_server if other == "host" else http_server_b
    target = final.url("/echo", host="other.test" if other == "host" else "public.test")
    kind, resp = await _fetch(host, redirect_url(http_server, target, code), headers=SENT)
    assert kind == "ok" and resp.status == 200
    assert final.requests[-1].target == b"/echo"
    assert _names(final) == SAFE | {b"host"}
    assert {n: final.requests[-1].header(n) for n in SAFE} == {
        n.lower().encode(): [v] for n, v in SENT if n.lower().encode() in SAFE}


async def test_the_hosts_own_accept_encoding_is_sent_on_every_hop(
        host: Host, http_server: TestServer) -> None:
    target = http_server.url("/echo", host="other.test")
    kind, _ = await _fetch(host, redirect_url(http_server, target), headers=SENT,
                           decompress=True)
    assert kind == "ok"
    assert [r.header(b"accept-encoding") for r in http_server.requests] == [
        [b"gzip, deflate"], [b"gzip, deflate"]]


@pytest.mark.parametrize(("code", "method"), [(307, "post"), (308, "put"), (307, "patch")])
async def test_a_cross_origin_307_or_308_never_resends_the_body(
        host: Host, http_server: TestServer, http_server_b: TestServer,
        caplog: pytest.LogCaptureFixture, code: int, method: str) -> None:
    caplog.set_level(logging.INFO, logger="astrid_host.egress")
    target = http_server_b.url("/echo", host="public.test")
    kind, detail = await _fetch(host, redirect_url(http_server, target, code), method,
                                headers=SENT, body=b"capsule-secret")
    assert kind == "redirect-blocked"
    assert "redirect-policy manual" in detail
    assert http_server_b.requests == []
    refusal = egress_lines(caplog)[-1]
    assert (refusal["decision"], refusal["reason"], refusal["url"], refusal["error"]) == (
        "deny", "cross-origin-body", target, "redirect-blocked")
    assert refusal["method"] == method.upper()


async def test_a_cross_origin_307_without_a_body_is_followed(
        host: Host, http_server: TestServer) -> None:
    target = http_server.url("/echo", host="other.test")
    kind, _ = await _fetch(host, redirect_url(http_server, target, 307), "delete", headers=SENT)
    assert kind == "ok"
    final = http_server.requests[-1]
    assert (final.method, final.body_size) == (b"DELETE", 0)
    assert _names(http_server) == SAFE | {b"host"}


async def test_a_cross_origin_303_turns_a_post_into_a_get_without_body(
        host: Host, http_server: TestServer) -> None:
    target = http_server.url("/echo", host="other.test")
    kind, _ = await _fetch(host, redirect_url(http_server, target, 303), "post", headers=SENT,
                           body=b"capsule-secret")
    assert kind == "ok"
    final = http_server.requests[-1]
    assert (final.method, final.body_size) == (b"GET", 0)
    assert _names(http_server) == SAFE | {b"host"}


@pytest.mark.parametrize("spelling", ["/echo", "http://PUBLIC.test:{port}/echo",
                                      "//public.test.:{port}/echo"])
async def test_a_same_origin_307_keeps_every_header_and_the_body(
        host: Host, http_server: TestServer, spelling: str) -> None:
    target = spelling.format(port=http_server.port)
    kind, _ = await _fetch(host, redirect_url(http_server, target, 307), "post", headers=SENT,
                           body=b"capsule-body")
    assert kind == "ok"
    final = http_server.requests[-1]
    assert (final.method, final.target, final.body) == (b"POST", b"/echo", b"capsule-body")
    assert [(n.decode(), v) for n, v in final.headers
            if n.lower() not in (b"host", b"content-length")] == SENT


async def test_manual_lets_the_capsule_send_the_body_on_itself(
        host: Host, http_server: TestServer, http_server_b: TestServer) -> None:
    """The opt-in: with redirect-policy manual the capsule sees the 307 and decides."""
    target = http_server_b.url("/echo", host="public.test")
    capsule = await load_guest(host)
    try:
        kind, resp = await fetch(capsule, redirect_url(http_server, target, 307), "post",
                                 body=b"payload", redirect_policy="manual")
        assert kind == "ok" and resp.status == 307
        location = dict(resp.headers)["location"].decode()
        assert http_server_b.requests == []
        kind, resp = await fetch(capsule, location, "post", headers=SENT, body=b"payload")
        assert kind == "ok" and resp.status == 200
    finally:
        await capsule.aclose()
    assert http_server_b.requests[-1].body == b"payload"
    assert http_server_b.requests[-1].header(b"x-api-key") == [b"key-1"]
