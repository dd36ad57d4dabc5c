"""The capsules built with upstream Astrid's SDK (guests/rust/astrid-*), through wasmtime.

There is no host adapter for upstream's WIT yet, so these tests link the few imports the fetch
capsule needs to a small fake kernel written here, call ``astrid-hook-trigger`` the way
upstream's kernel does, and read what the capsule publishes with the pure modules
(``_astrid_manifest``, ``_astrid_protocol``). They pin (1) exactly which upstream functions the
two capsules import, which is what the adapter must provide, and (2) that the protocol module
agrees byte for byte with what the real SDK does.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker, Record, Variant

from astrid_host._core._astrid_manifest import TopicVerdict, parse_astrid_manifest
from astrid_host._core._astrid_protocol import (
    DESCRIBE_ACTION,
    DESCRIBE_RESPONSE_TOPIC,
    HookResult,
    ToolCall,
    ToolFailed,
    parse_tool_describe,
    parse_tool_result,
)
from tests.conftest import built_guest

ROOT = Path(__file__).resolve().parent.parent.parent
FETCH_MANIFEST = parse_astrid_manifest(
    (ROOT / "guests/rust/astrid-fetch/Capsule.toml").read_text())


def imported_functions(component: Path) -> dict[str, set[str]]:
    """``{"astrid:http/host@1.1.0": {"http-request-opts", ...}, ...}`` from the component."""
    out = subprocess.run(["wasm-tools", "component", "wit", "--json", str(component)],
                         check=True, capture_output=True, text=True).stdout
    resolved = json.loads(out)
    (world,) = [w for w in resolved["worlds"] if w["name"] == "root"]
    imports = {}
    for item in world["imports"].values():
        if "interface" not in item:
            continue  # a type the world uses (capsule-result)
        iface = resolved["interfaces"][item["interface"]["id"]]
        package, _, version = resolved["packages"][iface["package"]]["name"].partition("@")
        imports[f"{package}/{iface['name']}@{version}"] = set(iface["functions"])
    return imports


@pytest.mark.guest("rust-astrid-fetch")
def test_the_fetch_capsule_imports_what_an_sdk_tool_capsule_imports() -> None:
    assert imported_functions(built_guest("rust-astrid-fetch.wasm")) == {
        "astrid:http/host@1.1.0": {"http-request-opts"},
        "astrid:ipc/host@1.0.0": {"publish"},
        "astrid:sys/host@1.0.0": {"log", "random-bytes", "get-config"},
        "astrid:guest/lifecycle@1.0.0": set(),  # types only (capsule-result)
    }


@pytest.mark.guest("rust-astrid-http-all")
def test_the_http_all_capsule_imports_every_http_function_and_method() -> None:
    stream = {"status", "headers", "read-chunk", "close", "subscribe-readable", "body-stream",
              "trailers"}
    upload = {"body-sink", "subscribe-writable", "finish"}
    assert imported_functions(built_guest("rust-astrid-http-all.wasm")) == {
        "astrid:http/host@1.1.0": {
            "http-request", "http-request-opts", "http-stream-start", "http-stream-start-opts",
            "http-upload-start",
            *(f"[method]http-stream.{m}" for m in stream),
            *(f"[method]http-upload.{m}" for m in upload)},
        "astrid:io/poll@1.0.0": {"poll", "[method]pollable.ready", "[method]pollable.block"},
        "astrid:io/streams@1.0.0": {
            "[method]input-stream.read", "[method]input-stream.blocking-read",
            "[method]input-stream.subscribe", "[method]output-stream.check-write",
            "[method]output-stream.write", "[method]output-stream.blocking-write-and-flush",
            "[method]output-stream.blocking-flush"},
        "astrid:io/error@1.0.0": {"[method]error.to-debug-string"},
        "astrid:sys/host@1.0.0": {"log", "random-bytes"},  # the SDK's panic hook, getrandom
        "astrid:guest/lifecycle@1.0.0": set(),
    }


# --- the fetch capsule against a fake kernel ----------------------------------------------


class Rec(Record):
    """A WIT record going into the guest: attributes named as in the WIT (dashes included)."""

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name.replace("_", "-"), value)


@dataclass
class FakeKernel:
    """Upstream's kernel, as far as the fetch capsule can tell: config, log, publish, HTTP."""

    config: dict[str, str]
    http_answer: Any = None  # a Rec(http-response-data) or a Variant(error-code)
    published: list[tuple[str, str]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[Any, Any]] = field(default_factory=list)

    def linker(self, engine: Engine) -> Linker:
        linker = Linker(engine)
        with linker.root() as root:
            with root.add_instance("astrid:ipc/host@1.0.0") as ipc:
                ipc.add_func("publish", self.publish)
            with root.add_instance("astrid:sys/host@1.0.0") as sys:
                sys.add_func("log", lambda _s, level, message: self.logs.append((level, message)))
                sys.add_func("random-bytes", lambda _s, n: bytes(n))
                sys.add_func("get-config", lambda _s, key: self.config.get(key))
            with root.add_instance("astrid:http/host@1.1.0") as http:
                http.add_func("http-request-opts", self.http_request_opts)
        return linker

    def publish(self, _store: Any, topic: str, payload: str) -> None:
        self.published.append((topic, payload))

    def http_request_opts(self, _store: Any, request: Any, options: Any) -> Any:
        self.requests.append((request, options))
        return self.http_answer


def ok_response(url: str, body: bytes, status: int = 200) -> Rec:
    return Rec(status=status, headers=[Rec(key="content-type", value="text/plain")], body=body,
               meta=Rec(final_url=url, redirect_count=0, elapsed_ms=1, wire_bytes=len(body)))


@dataclass
class Capsule:
    kernel: FakeKernel
    store: Store
    instance: Any

    @property
    def hook(self) -> Any:
        return self.instance.get_func(self.store, "astrid-hook-trigger")

    def trigger(self, action: str, payload: bytes) -> HookResult:
        hook = self.hook
        result = hook(self.store, action, payload)
        hook.post_return(self.store)
        return HookResult(result.action, result.data)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


@pytest.fixture(scope="module")
def fetch_component(engine: Engine) -> Component:
    return Component.from_file(engine, built_guest("rust-astrid-fetch.wasm"))


@pytest.fixture
def fetch(engine: Engine, fetch_component: Component) -> Iterator[Capsule]:
    kernel = FakeKernel(config=FETCH_MANIFEST.resolve_config({}))
    store = Store(engine)
    yield Capsule(kernel, store, kernel.linker(engine).instantiate(store, fetch_component))


FETCH = pytest.mark.guest("rust-astrid-fetch")


@FETCH
def test_a_tool_call_round_trips_through_the_sdk(fetch: Capsule) -> None:
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/a", "headers": {"x-a": "1"}})
    fetch.kernel.http_answer = ok_response("https://example.com/a", b"hello")

    assert fetch.trigger(call.action, call.payload()) == HookResult("continue", None)

    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.value() == {"status": 200, "body": "hello"}
    # The manifest routes the call to this action and lets the capsule publish the result.
    assert [h.action for h in FETCH_MANIFEST.handlers_for(call.request_topic)] == [call.action]
    assert FETCH_MANIFEST.publish.check_publish(topic) is TopicVerdict.ALLOWED


@FETCH
def test_manifest_defaults_reach_the_capsule_as_get_config_text(fetch: Capsule) -> None:
    """30000 and true in Capsule.toml arrive as "30000" and "true" and are understood."""
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/"})
    fetch.kernel.http_answer = ok_response("https://example.com/", b"")
    fetch.trigger(call.action, call.payload())
    ((request, options),) = fetch.kernel.requests
    assert (request.url, request.method.tag, request.body) == ("https://example.com/", "get", None)
    assert [(h.key, h.value) for h in request.headers] == [("user-agent", "astrid-fetch/0.1")]
    assert getattr(options.timeouts, "total-ms") == 30000
    assert getattr(options, "max-response-bytes") == 1048576
    assert options.redirect == "follow"


@FETCH
def test_operator_config_overrides_the_defaults(engine: Engine,
                                                fetch_component: Component) -> None:
    config = FETCH_MANIFEST.resolve_config({"follow_redirects": "false", "user_agent": "t/1"})
    kernel = FakeKernel(config=config, http_answer=ok_response("https://example.com/", b""))
    store = Store(engine)
    capsule = Capsule(kernel, store, kernel.linker(engine).instantiate(store, fetch_component))
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/", "method": "POST",
                                     "body": "x"})
    capsule.trigger(call.action, call.payload())
    ((request, options),) = kernel.requests
    assert (request.method.tag, request.body) == ("post", b"x")
    assert ("user-agent", "t/1") in [(h.key, h.value) for h in request.headers]
    assert options.redirect == "error"


@FETCH
def test_a_host_error_becomes_an_error_result(fetch: Capsule) -> None:
    call = ToolCall("c-2", "fetch", {"url": "https://example.com/"})
    fetch.kernel.http_answer = Variant("timeout")
    fetch.trigger(call.action, call.payload())
    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.is_error
    with pytest.raises(ToolFailed, match="Timeout"):
        result.value()
    assert fetch.kernel.logs[-1][0] == "warn"


@FETCH
def test_bad_arguments_are_an_error_result_not_a_denial(fetch: Capsule) -> None:
    call = ToolCall("c-3", "fetch", {"link": "https://example.com/"})
    assert fetch.trigger(call.action, call.payload()) == HookResult("continue", None)
    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.is_error and "failed to parse tool arguments" in result.content
    assert fetch.kernel.requests == []


@FETCH
def test_describe_returns_and_publishes_the_tool_schema(fetch: Capsule) -> None:
    answer = fetch.trigger(DESCRIBE_ACTION, b"{}")
    assert not answer.denied and answer.data is not None
    described = parse_tool_describe(answer.data)
    assert described.description == "Fetches URLs over HTTP for the agent."
    tool = described.tool("fetch")
    assert tool.mutable
    assert tool.input_schema["required"] == ["url"]
    assert set(tool.input_schema["properties"]) == {"url", "method", "headers", "body"}
    ((topic, payload),) = fetch.kernel.published
    assert topic == DESCRIBE_RESPONSE_TOPIC
    assert parse_tool_describe(payload) == described


@FETCH
@pytest.mark.parametrize(("action", "payload", "reason"), [
    ("tool_execute_nope", b"{}", "unknown hook action"),
    ("tool_execute_fetch", b"not json", "failed to parse tool execute payload"),
    ("tool_execute_fetch", b'{"type":"tool_execute_request"}', "missing field `call_id`"),
])
def test_an_unknown_action_or_unreadable_payload_is_denied_and_publishes_nothing(
        fetch: Capsule, action: str, payload: bytes, reason: str) -> None:
    answer = fetch.trigger(action, payload)
    assert answer.denied and answer.data is not None and reason in answer.data
    assert fetch.kernel.published == []


@FETCH
def test_the_unused_entry_points_are_stubs_that_return(fetch: Capsule) -> None:
    """The SDK exports all four entry points; a tool capsule's run/install/upgrade do nothing."""
    for name in ("run", "astrid-install", "astrid-upgrade"):
        func = fetch.instance.get_func(fetch.store, name)
        assert func is not None
        assert func(fetch.store) is None
        func.post_return(fetch.store)
    assert fetch.kernel.published == [] and fetch.kernel.requests == []
