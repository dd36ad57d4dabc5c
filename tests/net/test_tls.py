"""HTTPS through the pinned backend: verification, SNI = hostname, TLS failures = tls-error."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from astrid_host._core._model import HttpError, Request, RequestOptions
from astrid_host._net._client import CapsuleHttp
from tests.support.guard import make_client
from tests.support.http import TestServer, pattern
from tests.support.tls import TestCA


def _client(ca: TestCA) -> CapsuleHttp:
    return make_client(ssl_context=ca.client_context())


async def _code(client: CapsuleHttp, req: Request) -> Any:
    with pytest.raises(HttpError) as exc:
        await client.send(req)
    await client.aclose()
    return exc.value.code


async def test_https_get_verifies_and_sends_the_hostname_as_sni(
        tls_ca: TestCA, https_server: TestServer) -> None:
    client = _client(tls_ca)
    resp = await client.send(Request("GET", https_server.url("/bytes?n=1000",
                                                             host="public.test")))
    assert resp.body == pattern(1000)
    assert https_server.sni == ["public.test"]
    assert https_server.requests[-1].header(b"host") == [
        f"public.test:{https_server.port}".encode()]
    await client.aclose()


async def test_certificate_for_another_name_is_tls_error(
        tls_ca: TestCA, https_wrong_host_server: TestServer) -> None:
    code = await _code(_client(tls_ca), Request(
        "GET", https_wrong_host_server.url("/", host="public.test")))
    assert code.case == "tls-error" and "Hostname mismatch" in code.payload


async def test_expired_certificate_is_tls_error(tls_ca: TestCA,
                                                https_expired_server: TestServer) -> None:
    code = await _code(_client(tls_ca), Request(
        "GET", https_expired_server.url("/", host="public.test")))
    assert code.case == "tls-error" and "expired" in code.payload


async def test_default_context_does_not_trust_a_private_ca(https_server: TestServer) -> None:
    code = await _code(make_client(), Request("GET", https_server.url("/", host="public.test")))
    assert code.case == "tls-error" and "certificate" in code.payload


async def test_plain_http_server_on_an_https_url_is_tls_error(
        tls_ca: TestCA, http_server: TestServer) -> None:
    url = http_server.url("/", host="public.test").replace("http:", "https:")
    code = await _code(_client(tls_ca), Request("GET", url))
    assert code.case == "tls-error"


def _redirect(server: TestServer, target: str) -> str:
    return server.url("/redirect?" + urllib.parse.urlencode({"to": target}), host="public.test")


async def test_https_to_http_redirect_is_refused_when_https_only(
        tls_ca: TestCA, https_server: TestServer, http_server: TestServer) -> None:
    target = http_server.url("/echo", host="public.test")
    code = await _code(_client(tls_ca), Request(
        "GET", _redirect(https_server, target), options=RequestOptions(https_only=True)))
    assert code.case == "redirect-blocked" and "https-only" in code.payload
    assert http_server.requests == []


async def test_https_to_http_redirect_is_followed_when_allowed(
        tls_ca: TestCA, https_server: TestServer, http_server: TestServer) -> None:
    client = _client(tls_ca)
    target = http_server.url("/echo", host="public.test")
    resp = await client.send(Request("GET", _redirect(https_server, target),
                                     headers=(("Authorization", b"secret"),)))
    assert resp.status == 200 and resp.meta.final_url == target
    assert http_server.requests[-1].header(b"authorization") == []  # scheme changed: new origin
    await client.aclose()


async def test_tls_connections_are_kept_alive(tls_ca: TestCA,
                                              https_server: TestServer) -> None:
    client = _client(tls_ca)
    for _ in range(3):
        await client.send(Request("GET", https_server.url("/bytes?n=10", host="public.test")))
    assert https_server.connections == 1
    await client.aclose()


async def test_tls_failure_still_logs_the_decision_and_the_failure(
        tls_ca: TestCA, https_expired_server: TestServer,
        caplog: pytest.LogCaptureFixture) -> None:
    import logging
    caplog.set_level(logging.INFO)
    await _code(_client(tls_ca), Request("GET", https_expired_server.url("/",
                                                                          host="public.test")))
    egress = [r.getMessage() for r in caplog.records if r.name == "astrid_host.egress"]
    failed = [r.getMessage() for r in caplog.records if r.name == "astrid_host.http"]
    assert len(egress) == 1 and "decision=allow" in egress[0]
    assert len(failed) == 1 and "error=tls-error" in failed[0]
