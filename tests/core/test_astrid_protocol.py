"""Upstream Astrid's tool-call protocol: requests built, results and descriptions read."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._astrid_protocol import (
    DESCRIBE_ACTION,
    SHARED_RESULT_TOPIC,
    CapsuleProtocolError,
    HookResult,
    InvalidToolCall,
    ToolCall,
    ToolFailed,
    ToolResult,
    parse_tool_describe,
    parse_tool_result,
)

CALL = ToolCall("c-1", "fetch", {"url": "https://example.com/", "headers": {"a": "b"}})


def result_message(call_id: str = "c-1", content: str = '{"status":200,"body":"hi"}',
                   is_error: Any = False, **outer: Any) -> str:
    """A result as the SDK's #[capsule] macro publishes it (serde_json, compact)."""
    message = {"type": "tool_execute_result", "call_id": call_id,
               "result": {"call_id": call_id, "content": content, "is_error": is_error}}
    message.update(outer)
    return json.dumps(message, separators=(",", ":"))


# --- requests -----------------------------------------------------------------------------


def test_a_tool_call_is_the_hook_action_the_sdk_generates_with_the_request_message() -> None:
    assert CALL.action == "tool_execute_fetch"
    assert CALL.request_topic == "tool.v1.execute.fetch"
    assert CALL.result_topic == "tool.v1.execute.fetch.result"
    assert CALL.payload() == (
        b'{"type":"tool_execute_request","call_id":"c-1","tool_name":"fetch",'
        b'"arguments":{"url":"https://example.com/","headers":{"a":"b"}}}')
    assert DESCRIBE_ACTION == "tool_describe"


def test_arguments_keep_unicode_as_utf8() -> None:
    assert ToolCall("c", "t", {"q": "é"}).payload().endswith('"arguments":{"q":"é"}}'.encode())


@pytest.mark.parametrize(("call_id", "name", "arguments", "problem"), [
    ("", "fetch", {}, "call_id"),
    (1, "fetch", {}, "call_id"),
    ("c", "", {}, "tool_name"),
    ("c", "a.b", {}, "one topic segment"),
    ("c", "result", {}, "one topic segment"),
    ("c", "x" * 300, {}, "one topic segment"),
    ("c", "fetch", ["url"], "JSON object"),
    ("c", "fetch", {"x": math.nan}, "not JSON"),
    ("c", "fetch", {"x": {1, 2}}, "not JSON"),
])
def test_a_call_that_cannot_be_sent_is_the_callers_error(call_id: Any, name: str,
                                                         arguments: Any, problem: str) -> None:
    with pytest.raises(InvalidToolCall, match=problem):
        ToolCall(call_id, name, arguments)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10)


@settings(deadline=None)
@given(call_id=st.text(min_size=1, max_size=10),
       name=st.text(min_size=1, max_size=10).filter(lambda n: "." not in n and n != "result"),
       arguments=st.dictionaries(st.text(max_size=5), _json_values, max_size=4))
def test_the_payload_decodes_to_the_call(call_id: str, name: str,
                                         arguments: dict[str, Any]) -> None:
    """Invariant: the payload is JSON carrying exactly the call's fields."""
    decoded = json.loads(ToolCall(call_id, name, arguments).payload())
    assert decoded == {"type": "tool_execute_request", "call_id": call_id, "tool_name": name,
                       "arguments": arguments}


# --- results ------------------------------------------------------------------------------


def test_a_published_result_is_read_and_its_content_decoded() -> None:
    result = parse_tool_result(CALL.result_topic, result_message(), CALL)
    assert result == ToolResult("c-1", '{"status":200,"body":"hi"}', False)
    assert result.value() == {"status": 200, "body": "hi"}


def test_a_string_return_value_arrives_as_its_json_text() -> None:
    result = parse_tool_result(CALL.result_topic, result_message(content='"Hello, a!"'), CALL)
    assert result.value() == "Hello, a!"


def test_an_error_result_raises_tool_failed_with_its_message() -> None:
    message = result_message(content="Host function call failed: Timeout", is_error=True)
    result = parse_tool_result(CALL.result_topic, message.encode(), CALL)
    with pytest.raises(ToolFailed, match="Timeout") as info:
        result.value()
    assert (info.value.call_id, info.value.message) == (
        "c-1", "Host function call failed: Timeout")


def test_is_error_defaults_to_false_and_the_shared_topic_is_accepted() -> None:
    message = json.dumps({"type": "tool_execute_result", "call_id": "c-1",
                          "result": {"call_id": "c-1", "content": "1"}})
    assert not parse_tool_result(SHARED_RESULT_TOPIC, message, CALL).is_error
    assert parse_tool_result("tool.v1.execute.other.result", message).value() == 1


@pytest.mark.parametrize(("topic", "payload", "problem"), [
    ("tool.v1.execute.other.result", result_message(), "not 'tool.v1.execute.fetch.result'"),
    (CALL.result_topic, "not json", "not JSON"),
    (CALL.result_topic, b"\xff\xfe", "not JSON"),
    (CALL.result_topic, "[]", "JSON object"),
    (CALL.result_topic, result_message(type="tool_execute_request"), "type must be"),
    (CALL.result_topic, result_message(call_id="c-2"), "expected 'c-1'"),
    (CALL.result_topic, result_message(content=5), "content must be a str"),
    (CALL.result_topic, result_message(is_error="no"), "is_error must be a bool"),
    (CALL.result_topic, json.dumps({"type": "tool_execute_result", "call_id": "c-1",
                                    "result": {"call_id": "c-9", "content": ""}}), "differs"),
    (CALL.result_topic, json.dumps({"type": "tool_execute_result", "call_id": "c-1"}),
     "result must be a dict"),
    (CALL.result_topic, json.dumps({"type": "tool_execute_result", "result": {}}),
     "call_id must be a str"),
])
def test_a_result_that_breaks_the_protocol_is_the_capsules_error(topic: str, payload: Any,
                                                                 problem: str) -> None:
    with pytest.raises(CapsuleProtocolError, match=problem):
        parse_tool_result(topic, payload, CALL)


@pytest.mark.parametrize("topic", [
    "tool.v1.execute.result.x", "tool.v1.execute..result", "tool.v1.execute.a.b.result",
    "other.topic", "tool.v1.execute.fetch"])
def test_without_a_call_the_topic_must_still_be_a_result_topic(topic: str) -> None:
    with pytest.raises(CapsuleProtocolError, match="not a tool result topic"):
        parse_tool_result(topic, result_message())


def test_a_success_whose_content_is_not_json_is_the_capsules_error() -> None:
    result = parse_tool_result(CALL.result_topic, result_message(content="plain"), CALL)
    with pytest.raises(CapsuleProtocolError, match="not JSON"):
        result.value()


@settings(deadline=None)
@given(payload=st.text(max_size=120) | _json_values.map(json.dumps))
def test_any_payload_is_a_result_or_the_capsules_error(payload: str) -> None:
    """Invariant: whatever a capsule publishes, reading it returns a ToolResult or raises
    CapsuleProtocolError, nothing else."""
    try:
        parse_tool_result(CALL.result_topic, payload, CALL)
    except CapsuleProtocolError:
        pass


# --- describe -----------------------------------------------------------------------------

# What the SDK's tool_describe returns for a capsule with one tool taking arguments (the
# schemars schema with the "mutable" extension) and one without.
DESCRIBE = {
    "tools": [
        {"name": "fetch", "description": "Request a URL.",
         "input_schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                          "title": "FetchArgs", "type": "object", "required": ["url"],
                          "properties": {"url": {"type": "string"}}, "mutable": True}},
        {"name": "ping", "description": "",
         "input_schema": {"type": "object", "properties": {}}},
    ],
    "description": "Fetches URLs.",
}


def test_a_description_lists_the_tools_with_schemas_and_mutability() -> None:
    described = parse_tool_describe(json.dumps(DESCRIBE))
    assert described.description == "Fetches URLs."
    assert [t.name for t in described.tools] == ["fetch", "ping"]
    assert described.tool("fetch").mutable
    assert described.tool("fetch").input_schema["required"] == ["url"]
    assert not described.tool("ping").mutable
    with pytest.raises(KeyError):
        described.tool("nope")


def _with_tool(**tool: Any) -> str:
    entry = {"name": "t", "description": "", "input_schema": {}} | tool
    return json.dumps({"tools": [entry], "description": ""})


@pytest.mark.parametrize(("data", "problem"), [
    ("", "not JSON"),
    ("[]", "JSON object"),
    ("{}", "tools must be a list"),
    (json.dumps({"tools": [], "description": 3}), "description must be a str"),
    (json.dumps({"tools": ["fetch"]}), r"tools\[0\] must be a JSON object"),
    (_with_tool(name=""), "must not be empty"),
    (_with_tool(name=None), "name must be a str"),
    (_with_tool(description=None), "description must be a str"),
    (_with_tool(input_schema="object"), "input_schema must be a dict"),
    (_with_tool(input_schema={"mutable": "yes"}), "mutable must be a bool"),
    (json.dumps({"tools": [DESCRIBE["tools"][1], DESCRIBE["tools"][1]]}), "described twice"),
])
def test_a_malformed_description_is_the_capsules_error(data: str, problem: str) -> None:
    with pytest.raises(CapsuleProtocolError, match=problem):
        parse_tool_describe(data)


@settings(deadline=None)
@given(data=st.text(max_size=120) | _json_values.map(json.dumps))
def test_any_description_parses_or_is_the_capsules_error(data: str) -> None:
    """Invariant: a description parses or raises CapsuleProtocolError, nothing else."""
    try:
        parse_tool_describe(data)
    except CapsuleProtocolError:
        pass


# --- hook results -------------------------------------------------------------------------


def test_hook_results() -> None:
    assert HookResult("deny", "unknown hook action: x").denied
    assert not HookResult("continue").denied
    assert HookResult("continue").json() is None
    assert HookResult("continue", '{"ok":true}').json() == {"ok": True}
    with pytest.raises(CapsuleProtocolError, match="not JSON"):
        HookResult("continue", "{").json()
