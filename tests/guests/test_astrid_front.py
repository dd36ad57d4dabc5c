"""The Astrid front through real SDK 0.7.2 capsules: the fetch tool capsule runs on the real
Host, engine and egress guard (astrid:http@1.1.0, astrid:sys, astrid:ipc served by
astrid-host), against loopback servers that the guard treats as public destinations."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host import Host
from astrid_host._core._astrid_manifest import parse_astrid_manifest
from astrid_host._core._astrid_protocol import HookResult, ToolCall, parse_tool_result
from astrid_host._core._astrid_state import AstridState
from tests.support.astrid import fetch_manifest
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, run_http_server
from tests.support.paths import built_guest


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


async def fetch(server: TestServer, url: str, *, net: str = '["public.test"]',
                publish: bool = True) -> tuple[Any, list[Any]]:
    """Run the real fetch capsule's `fetch` tool on ``url``; the result and the hook answer."""
    text = fetch_manifest("fetch-under-test", json.loads(net))
    if not publish:
        text = text.replace('"tool.v1.execute.*.result" = "x"', "")
    manifest = parse_astrid_manifest(text)
    state = AstridState("fetch", config=manifest.resolve_config({}), publish=manifest.publish)
    call = ToolCall("call-1", "fetch", {"url": url})
    async with Host(use_cache=False, resolver=test_resolver(),
                    classifier=loopback_as_public()) as host:
        capsule = await host.load(built_guest("rust-astrid-fetch.wasm"),
                                  policy=manifest.egress_policy(), astrid=state, name="fetch")
        answer = await capsule.call("astrid-hook-trigger", call.action, call.payload())
    hook = HookResult(answer.action, answer.data)
    messages = state.take_messages()
    results = [parse_tool_result(m.topic, m.payload, call) for m in messages]
    return hook, results


@pytest.mark.guest("rust-astrid-fetch")
async def test_an_allowed_fetch_returns_the_body_through_the_tool_protocol(
        server: TestServer) -> None:
    hook, results = await fetch(server, server.url("/bytes?n=5", host="public.test"))
    assert hook.action == "continue"
    (result,) = results
    assert not result.is_error, result.content
    value = result.value()
    assert value["status"] == 200 and len(value["body"]) == 5
    # The capsule's configured User-Agent (an [env] default through get-config) was sent.
    (request,) = server.requests
    assert request.header(b"user-agent") == [b"astrid-fetch/test"]


@pytest.mark.guest("rust-astrid-fetch")
@pytest.mark.parametrize(("url", "arm"), [
    ("http://169.254.169.254/latest/meta-data/", "AirlockRejected"),
    ("http://private.test/", "AirlockRejected"),
    ("http://10.1.2.3:{port}/", "AirlockRejected"),
])
async def test_metadata_and_private_destinations_are_refused_before_any_connection(
        server: TestServer, url: str, arm: str) -> None:
    hook, results = await fetch(server, url.format(port=server.port), net='["*"]')
    (result,) = results
    assert hook.action == "continue"
    assert result.is_error and arm in result.content, result.content
    assert server.connections == 0


@pytest.mark.guest("rust-astrid-fetch")
async def test_a_redirect_to_a_private_address_is_refused_before_connecting_there(
        server: TestServer) -> None:
    target = server.url("/redirect?to=http://private.test:1/", host="public.test")
    hook, results = await fetch(server, target, net='["*"]')
    (result,) = results
    assert hook.action == "continue"
    # Upstream 1.1.0's arm for a blocked hop (our redirect-blocked) is redirect-blocked.
    assert result.is_error and "RedirectBlocked" in result.content, result.content
    assert [r.target for r in server.requests] == [b"/redirect?to=http://private.test:1/"]


@pytest.mark.guest("rust-astrid-fetch")
async def test_a_host_outside_net_is_capability_denied(server: TestServer) -> None:
    hook, results = await fetch(server, server.url("/bytes?n=1", host="other.test"))
    (result,) = results
    assert hook.action == "continue"
    assert result.is_error and "CapabilityDenied" in result.content, result.content
    assert server.connections == 0


@pytest.mark.guest("rust-astrid-fetch")
async def test_a_non_http_scheme_is_scheme_denied(server: TestServer) -> None:
    hook, results = await fetch(server, "ftp://public.test/file")
    (result,) = results
    assert hook.action == "continue"
    assert result.is_error and "SchemeDenied" in result.content, result.content


@pytest.mark.guest("rust-astrid-fetch")
async def test_publishing_outside_the_acl_is_refused_so_no_result_arrives(
        server: TestServer) -> None:
    hook, results = await fetch(server, server.url("/bytes?n=1", host="public.test"),
                                publish=False)
    assert hook.action == "continue" and results == []


@pytest.mark.guest("rust-astrid-fetch")
async def test_capsule_log_lines_reach_python_logging_under_the_capsule_name(
        server: TestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="astrid_host.capsule")
    await fetch(server, server.url("/bytes?n=1", host="public.test"))
    names = {r.name for r in caplog.records if r.name.startswith("astrid_host.capsule")}
    assert names == {"astrid_host.capsule.fetch"}
