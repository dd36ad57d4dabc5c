"""Upstream Astrid's tool-call protocol, as capsules built with ``astrid-sdk`` 0.7.2 speak it.

A capsule exports ``astrid-hook-trigger(action, payload) -> capsule-result``. The SDK's
``#[capsule]`` macro routes on ``action`` (docs/dev/astrid-upstream.md has the details):

- A tool ``#[astrid::tool("X")]`` is the action ``tool_execute_X``. The payload is the JSON of
  the kernel's ``ToolExecuteRequest`` IPC message::

      {"type": "tool_execute_request", "call_id": "c1", "tool_name": "X", "arguments": {...}}

  The capsule does not return the result: it publishes, on ``tool.v1.execute.X.result``::

      {"type": "tool_execute_result", "call_id": "c1",
       "result": {"call_id": "c1", "content": "<text>", "is_error": false}}

  and returns ``{action: "continue", data: none}``. On success ``content`` is the JSON text of
  the tool's return value; with ``is_error`` it is the error message. A payload the SDK cannot
  read is answered with ``{action: "deny", data: "<why>"}`` and nothing is published.
- ``tool_describe`` (generated when a capsule has tools) returns, in ``data``, and publishes on
  ``tool.v1.response.describe.self``::

      {"tools": [{"name", "description", "input_schema"}], "description": "<capsule doc>"}

  ``input_schema`` is a JSON Schema; a tool marked ``mutable`` has ``"mutable": true`` in it.
- Any other action is an interceptor (``#[astrid::interceptor("name")]``): the payload is its
  JSON argument, the result comes back as ``data`` with ``continue``; errors as ``deny``.

This module builds requests and reads what capsules answer; it does no I/O. Errors say whose
fault it was: :class:`InvalidToolCall` (the caller's), :class:`CapsuleProtocolError` (the
capsule broke the protocol), :class:`ToolFailed` (the tool ran and reported a failure).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from astrid_host._core._astrid_state import Published

__all__ = [
    "DESCRIBE_ACTION",
    "DESCRIBE_REQUEST_TOPIC",
    "DESCRIBE_RESPONSE_TOPIC",
    "SHARED_RESULT_TOPIC",
    "TOOL_ACTION_PREFIX",
    "TOOL_TOPIC_PREFIX",
    "CapsuleDescription",
    "CapsuleProtocolError",
    "HookResult",
    "InvalidToolCall",
    "ToolCall",
    "ToolCallDenied",
    "ToolDescriptor",
    "ToolFailed",
    "ToolResult",
    "TriggerResult",
    "parse_tool_describe",
    "parse_tool_result",
    "tool_result_of",
    "trigger_payload",
]

TOOL_ACTION_PREFIX = "tool_execute_"
DESCRIBE_ACTION = "tool_describe"
TOOL_TOPIC_PREFIX = "tool.v1.execute."
RESULT_SUFFIX = ".result"
#: Upstream's kernel also accepts a result published on this one topic for any tool.
SHARED_RESULT_TOPIC = "tool.v1.execute.result"
DESCRIBE_REQUEST_TOPIC = "tool.v1.request.describe"
DESCRIBE_RESPONSE_TOPIC = "tool.v1.response.describe.self"
REQUEST_TYPE = "tool_execute_request"
RESULT_TYPE = "tool_execute_result"
_MAX_TOPIC_BYTES = 256
_MAX_NAME_BYTES = _MAX_TOPIC_BYTES - len(TOOL_TOPIC_PREFIX) - len(RESULT_SUFFIX)


class InvalidToolCall(ValueError):
    """A tool call that cannot be sent: the caller's mistake."""


class CapsuleProtocolError(ValueError):
    """What a capsule returned or published does not follow the protocol: the capsule's fault."""


class ToolFailed(Exception):
    """The tool ran and reported an error (``is_error``); ``message`` is its ``content``."""

    def __init__(self, call_id: str, message: str) -> None:
        self.call_id = call_id
        self.message = message
        super().__init__(f"tool call {call_id} failed: {message}")


class ToolCallDenied(Exception):
    """The capsule answered a tool call with ``deny`` and published no result (an unknown tool,
    arguments it cannot read); ``reason`` is its ``data``."""

    def __init__(self, tool_name: str, reason: str | None) -> None:
        self.tool_name = tool_name
        self.reason = reason
        super().__init__(f"the capsule denied the call of tool {tool_name!r}"
                         + (f": {reason}" if reason else ""))


def trigger_payload(payload: bytes | bytearray | str | Any) -> bytes:
    """The bytes ``astrid-hook-trigger`` gets: bytes as they are, text UTF-8 encoded, anything
    else as compact JSON (as a tool call's payload)."""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    return _dumps(payload).encode("utf-8")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _loads(data: str | bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CapsuleProtocolError(f"{what} is not JSON: {e}") from None


@dataclass(frozen=True)
class ToolCall:
    """One call of tool ``tool_name``. Validated on construction (:class:`InvalidToolCall`)."""

    call_id: str
    tool_name: str
    arguments: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.call_id, str) or not self.call_id:
            raise InvalidToolCall("call_id must be a non-empty string")
        name = self.tool_name
        if not isinstance(name, str) or not name:
            raise InvalidToolCall("tool_name must be a non-empty string")
        if "." in name or name == "result" or len(name.encode()) > _MAX_NAME_BYTES:
            raise InvalidToolCall(f"tool name {name!r} must be one topic segment (no '.', not "
                                  f"'result', at most {_MAX_NAME_BYTES} bytes)")
        if not isinstance(self.arguments, Mapping):
            raise InvalidToolCall("arguments must be a JSON object (a mapping)")
        try:
            _dumps(self.arguments)
        except (TypeError, ValueError) as e:
            raise InvalidToolCall(f"arguments are not JSON: {e}") from None

    @property
    def action(self) -> str:
        """The ``astrid-hook-trigger`` action: ``tool_execute_<name>``."""
        return TOOL_ACTION_PREFIX + self.tool_name

    @property
    def request_topic(self) -> str:
        """``tool.v1.execute.<name>``: where upstream's kernel publishes the call."""
        return TOOL_TOPIC_PREFIX + self.tool_name

    @property
    def result_topic(self) -> str:
        """``tool.v1.execute.<name>.result``: where the capsule publishes the result."""
        return self.request_topic + RESULT_SUFFIX

    def payload(self) -> bytes:
        """The ``astrid-hook-trigger`` payload: the request message as compact JSON."""
        return _dumps({"type": REQUEST_TYPE, "call_id": self.call_id,
                       "tool_name": self.tool_name, "arguments": self.arguments}).encode()


@dataclass(frozen=True)
class ToolResult:
    """A tool's published result. ``content`` is JSON text unless ``is_error``."""

    call_id: str
    content: str
    is_error: bool

    def value(self) -> Any:
        """The tool's return value (``content`` decoded).

        Raises :class:`ToolFailed` for an error result and :class:`CapsuleProtocolError` when a
        successful result's ``content`` is not JSON.
        """
        if self.is_error:
            raise ToolFailed(self.call_id, self.content)
        return _loads(self.content, "the result content")


def _field(obj: Mapping[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CapsuleProtocolError(f"{what}: {key} must be a {kind.__name__}, got "
                                   f"{type(value).__name__}")
    return value


def parse_tool_result(topic: str, payload: str | bytes, call: ToolCall | None = None
                      ) -> ToolResult:
    """Read a result a capsule published on ``topic``.

    With ``call``, the topic must be that call's result topic (or the shared one) and the call
    ids must match. Raises :class:`CapsuleProtocolError` for anything else.
    """
    if call is not None:
        if topic not in (call.result_topic, SHARED_RESULT_TOPIC):
            raise CapsuleProtocolError(f"result for {call.tool_name!r} published on {topic!r}, "
                                       f"not {call.result_topic!r}")
    elif topic != SHARED_RESULT_TOPIC:
        name = topic.removeprefix(TOOL_TOPIC_PREFIX).removesuffix(RESULT_SUFFIX)
        if not (topic.startswith(TOOL_TOPIC_PREFIX) and topic.endswith(RESULT_SUFFIX)
                and name and "." not in name):
            raise CapsuleProtocolError(f"{topic!r} is not a tool result topic")
    message = _loads(payload, "the tool result")
    if not isinstance(message, dict):
        raise CapsuleProtocolError("the tool result must be a JSON object")
    if message.get("type") != RESULT_TYPE:
        raise CapsuleProtocolError(f"the tool result's type must be {RESULT_TYPE!r}, got "
                                   f"{message.get('type')!r}")
    call_id = _field(message, "call_id", str, "the tool result")
    result = _field(message, "result", dict, "the tool result")
    inner_id = _field(result, "call_id", str, "result")
    if inner_id != call_id:
        raise CapsuleProtocolError(f"result.call_id {inner_id!r} differs from call_id "
                                   f"{call_id!r}")
    if call is not None and call_id != call.call_id:
        raise CapsuleProtocolError(f"result for call {call_id!r}, expected {call.call_id!r}")
    content = _field(result, "content", str, "result")
    is_error = result.get("is_error", False)  # upstream's serde default
    if not isinstance(is_error, bool):
        raise CapsuleProtocolError(f"result: is_error must be a bool, got "
                                   f"{type(is_error).__name__}")
    return ToolResult(call_id, content, is_error)


@dataclass(frozen=True)
class ToolDescriptor:
    """One tool as ``tool_describe`` reports it."""

    name: str
    description: str
    input_schema: Mapping[str, Any]

    @property
    def mutable(self) -> bool:
        """The tool is marked ``mutable`` (it may change things): ``input_schema.mutable``."""
        return self.input_schema.get("mutable") is True


@dataclass(frozen=True)
class CapsuleDescription:
    """What ``tool_describe`` returns: the capsule's description and its tools."""

    description: str
    tools: tuple[ToolDescriptor, ...]

    def tool(self, name: str) -> ToolDescriptor:
        """The tool called ``name``; KeyError if there is none."""
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)


def parse_tool_describe(data: str | bytes) -> CapsuleDescription:
    """Read the ``data`` of ``tool_describe`` (or the message it publishes).

    Raises :class:`CapsuleProtocolError` for a malformed descriptor or duplicate tool names.
    """
    message = _loads(data, "the tool description")
    if not isinstance(message, dict):
        raise CapsuleProtocolError("the tool description must be a JSON object")
    tools = _field(message, "tools", list, "the tool description")
    description = message.get("description", "")
    if not isinstance(description, str):
        raise CapsuleProtocolError("the tool description: description must be a str")
    parsed = []
    seen: set[str] = set()
    for index, entry in enumerate(tools):
        what = f"tools[{index}]"
        if not isinstance(entry, dict):
            raise CapsuleProtocolError(f"{what} must be a JSON object")
        name = _field(entry, "name", str, what)
        if not name:
            raise CapsuleProtocolError(f"{what}: name must not be empty")
        if name in seen:
            raise CapsuleProtocolError(f"{what}: tool {name!r} is described twice")
        seen.add(name)
        schema = _field(entry, "input_schema", dict, what)
        if "mutable" in schema and not isinstance(schema["mutable"], bool):
            raise CapsuleProtocolError(f"{what}: input_schema.mutable must be a bool")
        parsed.append(ToolDescriptor(name, _field(entry, "description", str, what), schema))
    return CapsuleDescription(description, tuple(parsed))


@dataclass(frozen=True)
class HookResult:
    """``astrid-hook-trigger``'s ``capsule-result``: an action directive and optional data."""

    action: str
    data: str | None = None

    @property
    def denied(self) -> bool:
        """The SDK's answer to an unknown action, an unreadable payload or a failed handler."""
        return self.action == "deny"

    def json(self) -> Any:
        """``data`` decoded (``None`` when absent). :class:`CapsuleProtocolError` if not JSON."""
        return None if self.data is None else _loads(self.data, "the hook result data")


@dataclass(frozen=True)
class TriggerResult:
    """What one ``astrid-hook-trigger`` call came to: the ``capsule-result`` and the messages
    the capsule published during it, in order."""

    result: HookResult
    messages: tuple[Published, ...] = ()


def tool_result_of(call: ToolCall, trigger: TriggerResult) -> ToolResult:
    """The result of ``call`` among what its trigger published.

    Raises :class:`ToolCallDenied` when the capsule denied the call without a result, and
    :class:`CapsuleProtocolError` when it published none, several, or a malformed one.
    """
    topics = (call.result_topic, SHARED_RESULT_TOPIC)
    found = [parse_tool_result(m.topic, m.payload, call)
             for m in trigger.messages if m.topic in topics]
    if not found and trigger.result.denied:
        raise ToolCallDenied(call.tool_name, trigger.result.data)
    if len(found) != 1:
        raise CapsuleProtocolError(
            f"the capsule published {len(found)} results for call {call.call_id!r} of "
            f"{call.tool_name!r} on {call.result_topic!r}, not one")
    return found[0]
