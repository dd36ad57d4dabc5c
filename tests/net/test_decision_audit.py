"""Every path that ends a request or a hop writes exactly one decision line, with its reason,
what was resolved and the address chosen (issue 16, item 3). Driven through the WAT guest
against loopback servers; the lines are read with caplog.

A line is summarised as (decision, reason, addresses, chosen, status, error); the successful
exchange adds one completion line (``bytes`` and ``elapsed_ms`` set).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request, RequestOptions
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import StaticResolver
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm._host import Host
from tests.hostile.servers import silent_tls_port
from tests.net._guest import (
    GUEST_NAMES,
    egress_lines,
    fetch,
    host_fixture,
    load_guest,
    redirect_to,
    redirect_url,
)
from tests.support.guard import TEST_RULES, aclose_during, make_client
from tests.support.http import Exchange, TestServer, run_http_server
from tests.support.tls import TestCA

LOOPBACK = "127.0.0.1/public"
Line = tuple[str, str, str, str, str, str]


@pytest.fixture
async def host(cache_dir: Path) -> AsyncIterator[Host]:
    async for h in host_fixture(cache_dir):
        yield h


@pytest.fixture
async def tls_host(cache_dir: Path, tls_ca: TestCA) -> AsyncIterator[Host]:
    async for h in host_fixture(cache_dir, tls_ca.client_context()):
        yield h


@pytest.fixture
def audit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="astrid_host.egress")
    return caplog


def _summary(caplog: pytest.LogCaptureFixture) -> list[Line]:
    return [(f["decision"], f["reason"], f["addresses"], f["chosen"], f["status"], f["error"])
            for f in egress_lines(caplog)]


def _hop(status: int, reason: str = "allowed-by-rule", addresses: str = LOOPBACK) -> Line:
    return ("allow", reason, addresses, "127.0.0.1", str(status), "-")


async def _run(host: Host, url: str, policy: EgressPolicy | None = None,
               **kwargs: Any) -> tuple[str, Any]:
    capsule = await load_guest(host, policy)
    try:
        return await fetch(capsule, url, **kwargs)
    finally:
        await capsule.aclose()


# --- the request itself ---------------------------------------------------------------------

async def test_an_allowed_exchange_writes_its_hop_and_its_completion(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    kind, resp = await _run(host, http_server.url("/bytes?n=7&token=s", host="public.test"))
    assert kind == "ok" and resp.status == 200
    hop, done = egress_lines(audit)
    assert _summary(audit)[0] == _hop(200)
    assert (hop["bytes"], hop["elapsed_ms"]) == ("-", "-")
    assert (done["status"], done["bytes"], done["error"]) == ("200", "7", "-")
    assert done["elapsed_ms"] != "-" and "token" not in hop["url"] + done["url"]


@pytest.mark.parametrize(("url", "options", "policy", "case", "line"), [
    ("http://example.com/", {}, None, "denied",
     ("deny", "no-matching-rule", "-", "-", "-", "denied")),
    ("http://10.0.0.5:8080/", {}, ["http://10.0.0.0/8:*"], "destination-prohibited",
     ("deny", "private", "10.0.0.5/private", "-", "-", "destination-prohibited")),
    ("http://public.test/", {"https_only": True}, None, "denied",
     ("deny", "https-only", "-", "-", "-", "denied")),
    ("file:///etc/passwd", {}, None, "invalid-request",
     ("deny", "invalid-url", "-", "-", "-", "invalid-request")),
], ids=["no-rule", "private-literal", "https-only", "not-http"])
async def test_a_refused_request_writes_one_deny_line(
        host: Host, audit: pytest.LogCaptureFixture, url: str, options: dict[str, Any],
        policy: list[str] | None, case: str, line: Line) -> None:
    parsed = None if policy is None else EgressPolicy.parse(policy)
    kind, _ = await _run(host, url, parsed, **options)
    assert kind == case
    assert _summary(audit) == [line]
    assert egress_lines(audit)[0]["level"] == "WARNING"


async def test_every_refused_answer_after_dns_is_listed(
        host: Host, audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(host, "http://private.test:8080/")
    assert kind == "destination-prohibited"
    assert _summary(audit) == [("deny", "private", "10.0.0.5/private", "-", "-",
                                "destination-prohibited")]


async def test_a_dns_failure_writes_the_allowed_url_with_nothing_resolved(
        host: Host, audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(host, "http://nxdomain.test/")
    assert kind == "dns-error"
    assert _summary(audit) == [("allow", "allowed-by-rule", "-", "-", "-", "dns-error")]


async def test_a_refused_connection_shows_what_was_resolved(
        host: Host, closed_port: int, audit: pytest.LogCaptureFixture) -> None:
    """The regression: the line said ``addresses=-`` although DNS had answered."""
    kind, _ = await _run(host, f"http://refused.test:{closed_port}/")
    assert kind == "connection-refused"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "-", "-",
                                "connection-refused")]


async def test_a_connect_timeout_shows_the_address_connected_to(
        tls_host: Host, audit: pytest.LogCaptureFixture) -> None:
    async with silent_tls_port() as port:  # TCP accepted, TLS handshake never answered
        kind, _ = await _run(tls_host, f"https://public.test:{port}/", connect_timeout_ms=200)
    assert kind == "timeout"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "timeout")]


async def test_a_tls_failure_shows_the_address_connected_to(
        tls_host: Host, https_expired_server: TestServer,
        audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(tls_host, https_expired_server.url("/", host="public.test"))
    assert kind == "tls-error"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "tls-error")]


async def test_a_server_that_never_answers_shows_the_address_connected_to(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(host, http_server.url("/never-headers", host="public.test"),
                         first_byte_timeout_ms=200)
    assert kind == "timeout"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "timeout")]


# --- redirect hops --------------------------------------------------------------------------

LONG = b"http://public.test/" + b"a" * 9000


@pytest.mark.parametrize(("location", "case", "reason", "shown"), [
    (b"file:///etc/passwd", "redirect-blocked", "invalid-url", "file:///etc/passwd"),
    (b"data:text/html,<script>x</script>", "redirect-blocked", "invalid-url",
     "data:text/html,<script>x</script>"),
    (b"http://[fe80::1%25eth0]/", "redirect-blocked", "invalid-url",
     "http://[fe80::1%25eth0]/"),
    (LONG, "redirect-blocked", "invalid-url", LONG[:200].decode() + "..."),
    (b"http://[::1/x", "redirect-blocked", "invalid-url", "http://[::1/x"),
    (b"/a\x01b", "protocol-error", "unusable-location", "/a\x01b"),
], ids=["file", "data", "zone-id", "8-KiB", "unparseable", "control-character"])
async def test_a_redirect_to_an_unusable_location_writes_one_deny_line(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture,
        location: bytes, case: str, reason: str, shown: str) -> None:
    http_server.add_route("/moved", redirect_to(location))
    kind, _ = await _run(host, http_server.url("/moved", host="public.test"))
    assert kind == case
    assert _summary(audit) == [_hop(302), ("deny", reason, "-", "-", "-", case)]
    assert egress_lines(audit)[1]["url"] == shown
    assert len(http_server.requests) == 1


@pytest.mark.parametrize(("target", "options", "reason"), [
    ("/echo", {"redirect_policy": "error"}, "redirect-policy-error"),
    ("http://example.com/", {}, "no-matching-rule"),
    ("http://169.254.169.254/latest/meta-data/", {}, "no-matching-rule"),
], ids=["policy-error", "no-rule", "metadata"])
async def test_a_refused_redirect_writes_one_deny_line(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture,
        target: str, options: dict[str, Any], reason: str) -> None:
    kind, _ = await _run(host, redirect_url(http_server, target), **options)
    assert kind == "redirect-blocked"
    assert _summary(audit) == [_hop(302), ("deny", reason, "-", "-", "-", "redirect-blocked")]


async def test_too_many_redirects_writes_every_hop_and_one_deny_line(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    kind, limit = await _run(host, http_server.url("/loop", host="public.test"),
                             max_redirects=2)
    assert (kind, limit) == ("too-many-redirects", 2)
    assert _summary(audit) == [_hop(302)] * 3 + [
        ("deny", "too-many-redirects", "-", "-", "-", "too-many-redirects")]


async def test_an_https_downgrade_writes_one_deny_line(
        tls_host: Host, https_server: TestServer, http_server: TestServer,
        audit: pytest.LogCaptureFixture) -> None:
    target = http_server.url("/echo", host="public.test")
    kind, _ = await _run(tls_host, redirect_url(https_server, target), https_only=True)
    assert kind == "redirect-blocked"
    assert _summary(audit) == [_hop(302), ("deny", "https-only", "-", "-", "-",
                                           "redirect-blocked")]
    assert egress_lines(audit)[1]["url"] == target
    assert http_server.requests == []


async def test_a_hop_to_a_name_on_a_private_address_lists_the_answers(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(host, redirect_url(http_server, "http://private.test:8080/"))
    assert kind == "redirect-blocked"
    assert _summary(audit) == [_hop(302), ("deny", "private", "10.0.0.5/private", "-", "-",
                                           "redirect-blocked")]


async def test_a_hop_whose_connection_is_refused_shows_what_was_resolved(
        host: Host, http_server: TestServer, closed_port: int,
        audit: pytest.LogCaptureFixture) -> None:
    kind, _ = await _run(host, redirect_url(http_server, f"http://refused.test:{closed_port}/"))
    assert kind == "connection-refused"
    assert _summary(audit) == [_hop(302), ("allow", "allowed-by-rule", LOOPBACK, "-", "-",
                                           "connection-refused")]


async def test_redirects_from_and_into_the_local_allowance_write_one_deny_line(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    async with run_http_server(host="127.0.0.2") as sidecar:
        policy = EgressPolicy.parse(list(TEST_RULES), local=[
            f"127.0.0.2:{sidecar.port}", f"127.0.0.1:{http_server.port}"])
        # from: the capsule calls its local service, which redirects
        kind, _ = await _run(host, http_server.url("/redirect?to=/echo"), policy)
        assert kind == "redirect-blocked"
        assert _summary(audit) == [
            _hop(302, "allowed-by-local-allowance"),
            ("deny", "redirect-from-local-allowance", "-", "-", "-", "redirect-blocked")]
        # into: a public server redirects to the local service, by address or by name (the
        # policy refuses the first; the redirect hops' backend, which knows no allowance,
        # refuses the address the name resolves to)
        for target, line in [
            (sidecar.url("/echo"), ("deny", "redirect-into-local-allowance", "127.0.0.2/local",
                                    "-", "-", "redirect-blocked")),
            (sidecar.url("/echo", host="sidecar.test"),
             ("deny", "loopback", "127.0.0.2/loopback", "-", "-", "redirect-blocked")),
        ]:
            audit.clear()
            kind, _ = await _run(host, redirect_url(http_server, target), policy)
            assert kind == "redirect-blocked"
            assert _summary(audit) == [_hop(302), line]
        assert sidecar.requests == []


async def test_a_redirect_body_that_breaks_while_drained_does_not_end_the_request(
        host: Host, http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    async def moved_then_reset(ex: Exchange) -> None:
        await ex.send_head(302, [(b"location", b"/bytes?n=3"), (b"content-length", b"10000")])
        await ex.send_data(b"x" * 1000)
        await ex.reset()

    http_server.add_route("/moved", moved_then_reset)
    kind, resp = await _run(host, http_server.url("/moved", host="public.test"))
    assert kind == "ok" and resp.status == 200
    assert _summary(audit)[:2] == [_hop(302), _hop(200)]


# --- the engine's other ways to end a hop (no guest needed to reach them) -------------------

def _engine(limits: Limits | None = None) -> CapsuleHttp:
    return make_client(resolver=StaticResolver(GUEST_NAMES), limits=limits)


async def test_a_hop_cut_short_by_aclose_is_recorded_as_cancelled(
        http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    client = _engine()
    url = http_server.url("/never-headers", host="public.test")
    cases, _ = await aclose_during(client, lambda: client.send(Request("GET", url)))
    assert cases == ["cancelled"]
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "cancelled")]


async def test_a_hop_cut_short_by_the_total_deadline_is_recorded_as_a_timeout(
        http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    client = _engine()
    with pytest.raises(HttpError) as exc:
        await client.send(Request("GET", http_server.url("/never-headers", host="public.test"),
                                  options=RequestOptions(total_timeout_ms=200)))
    await client.aclose()
    assert exc.value.code.case == "timeout"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "timeout")]


async def test_an_upload_whose_connection_is_refused_writes_one_line(
        closed_port: int, audit: pytest.LogCaptureFixture) -> None:
    client = _engine()
    upload = await client.upload(Request("POST", f"http://refused.test:{closed_port}/"))
    with pytest.raises(HttpError) as exc:
        await upload.finish()
    await client.aclose()
    assert exc.value.code.case == "connection-refused"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "-", "-",
                                "connection-refused")]


async def test_a_response_head_over_the_limit_is_recorded_with_its_error(
        http_server: TestServer, audit: pytest.LogCaptureFixture) -> None:
    client = _engine(Limits(max_response_header_bytes=1024))
    with pytest.raises(HttpError) as exc:
        await client.send(Request("GET", http_server.url("/many-headers?n=100",
                                                         host="public.test")))
    await client.aclose()
    assert exc.value.code.case == "protocol-error"
    assert _summary(audit) == [("allow", "allowed-by-rule", LOOPBACK, "127.0.0.1", "-",
                                "protocol-error")]
