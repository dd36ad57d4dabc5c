"""The public Python API for upstream Astrid capsules, through the real SDK 0.7.2 fetch capsule:
``Host.load`` of a capsule directory or its ``Capsule.toml`` (manifest → component, policy,
publish ACL, configuration), ``Capsule.call_tool``, ``Capsule.trigger`` and
``Capsule.describe_tools``."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from astrid_host import (
    CapsuleLoadError,
    EgressPolicy,
    Host,
    Published,
    ToolCallDenied,
    ToolResult,
)
from tests.support.astrid import fetch_manifest
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, run_http_server
from tests.support.paths import built_guest


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


def capsule_dir(tmp_path: Path, net: str = '["public.test"]') -> Path:
    """An upstream capsule directory: the manifest and the built fetch component."""
    shutil.copyfile(built_guest("rust-astrid-fetch.wasm"), tmp_path / "fetch.wasm")
    (tmp_path / "Capsule.toml").write_text(
        fetch_manifest("fetch-under-test", json.loads(net), describe=True))
    return tmp_path


def test_host() -> Host:
    return Host(use_cache=False, resolver=test_resolver(), classifier=loopback_as_public())


test_host.__test__ = False  # type: ignore[attr-defined]


@pytest.mark.guest("rust-astrid-fetch")
async def test_call_tool_on_a_capsule_directory_returns_the_tool_result(
        server: TestServer, tmp_path: Path) -> None:
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path))
        result = await capsule.call_tool(
            "fetch", {"url": server.url("/bytes?n=5", host="public.test")}, call_id="c-1")
    assert capsule.name == "fetch-under-test"  # the manifest's package name
    assert isinstance(result, ToolResult) and result.call_id == "c-1"
    assert not result.is_error, result.content
    assert result.value()["status"] == 200
    (request,) = server.requests
    assert request.header(b"user-agent") == [b"astrid-fetch/test"]  # the [env] default


@pytest.mark.guest("rust-astrid-fetch")
async def test_config_overrides_an_env_default(server: TestServer, tmp_path: Path) -> None:
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path) / "Capsule.toml",
                                  config={"user_agent": "operator/1"})
        result = await capsule.call_tool(
            "fetch", {"url": server.url("/bytes?n=1", host="public.test")})
    assert not result.is_error, result.content
    (request,) = server.requests
    assert request.header(b"user-agent") == [b"operator/1"]


@pytest.mark.guest("rust-astrid-fetch")
async def test_a_tool_error_is_a_result_with_is_error_not_an_exception(
        server: TestServer, tmp_path: Path) -> None:
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path, net='["*"]'))
        result = await capsule.call_tool("fetch", {"url": "http://private.test/"})
    assert result.is_error and "AirlockRejected" in result.content
    assert server.connections == 0


@pytest.mark.guest("rust-astrid-fetch")
async def test_the_operator_policy_narrows_the_manifest_never_widens_it(
        server: TestServer, tmp_path: Path) -> None:
    url = server.url("/bytes?n=1", host="public.test")
    async with test_host() as host:
        # The manifest allows public.test; an operator rule for other.test only leaves nothing.
        narrowed = await host.load(capsule_dir(tmp_path),
                                   policy=EgressPolicy.parse(["http://other.test:*"]))
        refused = await narrowed.call_tool("fetch", {"url": url})
        # The manifest does not allow other.test; an operator rule for it does not widen.
        other = await narrowed.call_tool(
            "fetch", {"url": server.url("/bytes?n=1", host="other.test")})
    assert refused.is_error and "CapabilityDenied" in refused.content, refused.content
    assert other.is_error and "CapabilityDenied" in other.content, other.content
    assert server.connections == 0


@pytest.mark.guest("rust-astrid-fetch")
async def test_the_operator_local_allowance_applies_to_an_upstream_capsule(
        server: TestServer, tmp_path: Path) -> None:
    # No loopback_as_public here: only the operator's local entry lets 127.0.0.1 through.
    url = f"http://127.0.0.1:{server.port}/bytes?n=2"
    async with Host(use_cache=False) as host:
        capsule = await host.load(
            capsule_dir(tmp_path, net='["127.0.0.1"]'),
            policy=EgressPolicy.parse([], local=[f"127.0.0.1:{server.port}"]))
        result = await capsule.call_tool("fetch", {"url": url})
        denied = await (await host.load(capsule_dir(tmp_path, net='["127.0.0.1"]'),
                                        name="no-local")).call_tool("fetch", {"url": url})
    assert not result.is_error, result.content
    assert denied.is_error and "AirlockRejected" in denied.content, denied.content
    assert server.connections == 1


@pytest.mark.guest("rust-astrid-fetch")
async def test_trigger_returns_the_capsule_result_and_the_published_messages(
        server: TestServer, tmp_path: Path) -> None:
    payload = {"type": "tool_execute_request", "call_id": "t-1", "tool_name": "fetch",
               "arguments": {"url": server.url("/bytes?n=3", host="public.test")}}
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path))
        answer = await capsule.trigger("tool_execute_fetch", payload)
    assert answer.result.action == "continue"
    (message,) = answer.messages
    assert isinstance(message, Published)
    assert message.topic == "tool.v1.execute.fetch.result"
    assert json.loads(message.payload)["call_id"] == "t-1"


@pytest.mark.guest("rust-astrid-fetch")
async def test_describe_tools_lists_the_fetch_tool(tmp_path: Path) -> None:
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path))
        description = await capsule.describe_tools()
    assert [t.name for t in description.tools] == ["fetch"]
    assert "url" in json.dumps(description.tool("fetch").input_schema)


@pytest.mark.guest("rust-astrid-fetch")
async def test_an_unknown_tool_is_denied_with_a_typed_error(tmp_path: Path) -> None:
    async with test_host() as host:
        capsule = await host.load(capsule_dir(tmp_path))
        with pytest.raises(ToolCallDenied) as info:
            await capsule.call_tool("no_such_tool", {})
    assert info.value.tool_name == "no_such_tool"


@pytest.mark.guest("rust-astrid-fetch")
async def test_undeclared_config_keys_and_bad_manifests_are_load_errors(tmp_path: Path) -> None:
    directory = capsule_dir(tmp_path)
    async with test_host() as host:
        with pytest.raises(CapsuleLoadError, match="nonsense"):
            await host.load(directory, config={"nonsense": "1"})
        (directory / "Capsule.toml").write_text("[package]\nname = 'x'\n[[component]]\n")
        with pytest.raises(CapsuleLoadError, match=r"Capsule\.toml"):
            await host.load(directory)
        (directory / "Capsule.toml").write_text("[package]\nname = 'x'\ncomponent = 'a.wasm'\n")
        with pytest.raises(CapsuleLoadError, match="load_manifest"):
            await host.load(directory)
        with pytest.raises(ValueError, match="config="):
            await host.load(directory / "fetch.wasm", config={"user_agent": "x"})
