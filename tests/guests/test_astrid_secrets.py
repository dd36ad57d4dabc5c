"""Secrets and the audit trail on the Astrid front (issue 13): the real SDK 0.7.2 fetch capsule
writes ``{{secret:api_key}}`` in a header, exactly as upstream capsules do, and the same engine
fills it in for the secret's origin only and puts every hop on the record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host import Host, MemorySink, Secret
from astrid_host._core._astrid_manifest import parse_astrid_manifest
from astrid_host._core._astrid_protocol import ToolCall, parse_tool_result
from astrid_host._core._astrid_state import AstridState
from tests.support.astrid import fetch_manifest
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, run_http_server
from tests.support.paths import built_guest

VALUE = "sk-astrid-3e8f1c2b"
MANIFEST = fetch_manifest("fetch-under-test", ["public.test", "other.test"],
                          extra_env='[env.api_key]\ntype = "secret"\ndefault = ""\n')


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


async def _fetch(url: str, origin: str, sink: MemorySink) -> Any:
    """The fetch tool on ``url`` with ``Authorization: Bearer {{secret:api_key}}``, the secret
    bound to ``origin``; the tool's result."""
    manifest = parse_astrid_manifest(MANIFEST)
    state = AstridState("fetch", config=manifest.resolve_config({}), publish=manifest.publish)
    call = ToolCall("call-1", "fetch", {
        "url": url, "headers": {"authorization": "Bearer {{secret:api_key}}"}})
    async with Host(resolver=test_resolver(), classifier=loopback_as_public(),
                    audit=sink) as host:
        capsule = await host.load(
            built_guest("rust-astrid-fetch.wasm"), policy=manifest.egress_policy(), astrid=state,
            name="fetch", secrets={"api_key": Secret(VALUE, origins=[origin])},
            declared_secrets=manifest.secret_names)
        await capsule.call("astrid-hook-trigger", call.action, call.payload())
    (result,) = [parse_tool_result(m.topic, m.payload, call) for m in state.take_messages()]
    return result


@pytest.mark.guest("rust-astrid-fetch")
async def test_an_sdk_capsule_placeholder_is_filled_in_for_its_origin_only(
        server: TestServer) -> None:
    sink = MemorySink()
    result = await _fetch(server.url("/status?code=200", host="public.test"),
                          f"http://public.test:{server.port}", sink)
    assert not result.is_error, result.content
    (arrived,) = server.requests
    assert arrived.header(b"authorization") == [f"Bearer {VALUE}".encode()]
    assert VALUE not in result.content
    decision = next(r for r in sink.records() if r["kind"] == "decision")
    assert (decision["capsule"], decision["secrets"]) == ("fetch", ["api_key"])
    assert all(VALUE.encode() not in line for line in sink.lines)


@pytest.mark.guest("rust-astrid-fetch")
async def test_an_sdk_capsule_placeholder_for_another_origin_is_refused_unsent(
        server: TestServer) -> None:
    sink = MemorySink()
    result = await _fetch(server.url("/status?code=200", host="other.test"),
                          f"http://public.test:{server.port}", sink)
    # Upstream's error-code has no text for a denial: the reason is in the trail and the log.
    assert result.is_error and "CapabilityDenied" in result.content, result.content
    assert server.connections == 0
    assert [(r["kind"], r.get("decision"), r.get("reason")) for r in sink.records()[1:]] == [
        ("decision", "deny", "secret-origin-not-allowed"), ("completion", None, None)]


def test_an_upstream_manifest_declares_its_secret_typed_env_keys() -> None:
    assert parse_astrid_manifest(MANIFEST).secret_names == ("api_key",)
