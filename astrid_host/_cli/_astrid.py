"""``astrid-host tool`` and ``astrid-host trigger``: run an upstream Astrid capsule.

Both take an upstream capsule (its directory or its ``Capsule.toml``, docs/astrid.md) and the
same egress flags as ``run``: ``--allow`` narrows the manifest's ``net`` (a request must pass
both), ``--local`` is the operator's local allowance, ``--resolve`` answers DNS; ``--config
KEY=VALUE`` overrides an ``[env]`` default. Egress decisions go to stderr, one line each.

Exit status: 0 the tool succeeded (``tool``) or the capsule answered anything but ``deny``
(``trigger``); 1 the tool reported an error, the capsule denied, trapped or broke the
protocol; 2 usage (arguments, JSON); 3 the capsule could not be loaded, or the host failed.
:func:`astrid_summary` is also what ``inspect`` shows for an upstream capsule.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrid_host._cli._announce import announce_compiles
from astrid_host._cli._capsule import _Decisions
from astrid_host._cli._resolve import OverrideResolver, parse_resolve
from astrid_host._cli._runopts import (
    RunOptions,
    add_reach_options,
    add_run_options,
    read_run_options,
)
from astrid_host._core._astrid_errors import AstridManifestError
from astrid_host._core._astrid_manifest import (
    MANIFEST_NAME,
    AstridManifest,
    is_upstream_manifest,
    parse_astrid_manifest,
)
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._policy_rules import PolicyError

__all__ = ["astrid_summary", "register", "upstream_manifest"]

EXIT_OK, EXIT_CAPSULE, EXIT_USAGE, EXIT_LOAD = 0, 1, 2, 3
_EPILOG = ("Exit status: 0 ok, 1 the tool reported an error or the capsule denied, trapped or "
           "broke the protocol, 2 usage, 3 the capsule could not be loaded (or host error).")


def register(subparsers: Any) -> None:
    """Add the ``tool`` and ``trigger`` commands."""
    tool = subparsers.add_parser(
        "tool", help="call a tool of an upstream Astrid capsule",
        description="Load an upstream Astrid capsule (astrid-sdk 0.7.2) and call one of its "
                    "tools; print the tool's result on stdout.", epilog=_EPILOG)
    _common(tool)
    tool.add_argument("name", metavar="NAME", help="the tool's name")
    tool.add_argument("--args", metavar="JSON", default="{}",
                      help="the tool's arguments, a JSON object (default {})")
    tool.set_defaults(handler=tool_command)

    trigger = subparsers.add_parser(
        "trigger", help="call a hook of an upstream Astrid capsule",
        description="Call astrid-hook-trigger(ACTION, PAYLOAD) of an upstream Astrid capsule; "
                    "print the capsule-result and every message it published, in order.",
        epilog=_EPILOG)
    _common(trigger)
    trigger.add_argument("action", metavar="ACTION", help="the hook action")
    trigger.add_argument("--payload", metavar="JSON", default="{}",
                         help="the payload, JSON text sent as is (default {})")
    trigger.set_defaults(handler=trigger_command)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("capsule", metavar="PATH",
                        help="an upstream capsule directory or its Capsule.toml")
    parser.add_argument("--allow", metavar="RULE", action="append", default=[],
                        help="narrow the manifest's net: a request must also match one of "
                             "these rules (repeatable)")
    add_reach_options(parser)
    parser.add_argument("--config", metavar="KEY=VALUE", action="append", default=[],
                        help="a value for the manifest's [env] KEY (repeatable)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_run_options(parser)


class _Usage(Exception):
    """Unusable arguments (exit 2)."""


def upstream_manifest(capsule: str) -> tuple[Path, AstridManifest] | None:
    """The manifest path and manifest when ``capsule`` is an upstream capsule directory or
    ``Capsule.toml``; ``None`` otherwise. Raises :class:`AstridManifestError`."""
    path = Path(capsule)
    toml = path / MANIFEST_NAME if path.is_dir() else path
    if toml.suffix != ".toml" or not toml.is_file():
        return None
    try:
        text = toml.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not is_upstream_manifest(text):
        return None
    return toml, parse_astrid_manifest(text)  # AstridManifestError for a malformed one


def _config(entries: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key:
            raise _Usage(f"--config {entry!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _json_arg(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _Usage(f"{flag} is not JSON: {exc}") from None


@dataclass
class _Setup:
    path: Path
    policy: EgressPolicy | None
    config: dict[str, str]
    table: dict[str, list[str]]
    options: RunOptions


def _setup(args: argparse.Namespace) -> _Setup:
    found = upstream_manifest(args.capsule)
    if found is None:
        raise _Usage(f"{args.capsule} is not an upstream Astrid capsule (a directory holding "
                     f"an upstream {MANIFEST_NAME}, or that file)")
    policy = None
    if args.allow or args.local:
        policy = EgressPolicy.parse(args.allow, methods=["*"], local=args.local)
    return _Setup(found[0], policy, _config(args.config), parse_resolve(args.resolve),
                  read_run_options(args))


@dataclass
class _Result:
    status: int
    kind: str = ""
    message: str = ""
    doc: dict[str, Any] = field(default_factory=dict)


def _run(args: argparse.Namespace, body: Any) -> int:
    """Parse the common flags, run ``body(capsule)`` in a Host, print, return the status."""
    try:
        setup = _setup(args)
        extra = body.prepare()
    except (AstridManifestError, PolicyError, ValueError, _Usage) as exc:
        return _print_failure(args, EXIT_USAGE, "invalid-input", str(exc))
    decisions = _Decisions(echo=not args.json)
    logger = logging.getLogger("astrid_host.egress")
    logger.addHandler(decisions)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with announce_compiles():
            import trio

            result = trio.run(_load_and_call, setup, body, extra)
    finally:
        logger.removeHandler(decisions)
        logger.setLevel(old_level)
    if result.kind:
        return _print_failure(args, result.status, result.kind, result.message,
                              decisions.lines)
    if args.json:
        print(json.dumps({**result.doc, "decisions": decisions.lines}, indent=2))
    else:
        body.print_text(result.doc)
    return result.status


async def _load_and_call(setup: _Setup, body: Any, extra: Any) -> _Result:
    from astrid_host._audit._sink import AuditError
    from astrid_host._core._astrid_protocol import (
        CapsuleProtocolError,
        InvalidToolCall,
        ToolCallDenied,
    )
    from astrid_host._wasm._errors import CapsuleLoadError, CapsuleTrap, ExportNotFound
    from astrid_host._wasm._host import Host

    resolver = OverrideResolver(setup.table) if setup.table else None
    try:
        async with Host(resolver=resolver, **setup.options.host_options()) as host:
            try:
                capsule = await host.load(setup.path, policy=setup.policy,
                                          config=setup.config, secrets=setup.options.secrets)
            except CapsuleLoadError as exc:
                return _Result(EXIT_LOAD, "load-error", str(exc))
            async with capsule:
                return await body.call(capsule, extra)  # type: ignore[no-any-return]
    except InvalidToolCall as exc:
        return _Result(EXIT_USAGE, "invalid-input", str(exc))
    except AuditError as exc:
        return _Result(EXIT_USAGE, "invalid-audit", str(exc))
    except ToolCallDenied as exc:
        return _Result(EXIT_CAPSULE, "denied", str(exc))
    except (CapsuleProtocolError, ExportNotFound) as exc:
        return _Result(EXIT_CAPSULE, "protocol-error", str(exc))
    except CapsuleTrap as exc:
        return _Result(EXIT_CAPSULE, "trap", str(exc))
    except Exception as exc:  # the host itself failed: say so, with the type for a report
        return _Result(EXIT_LOAD, "host-error", f"{type(exc).__name__}: {exc}")


def _print_failure(args: argparse.Namespace, status: int, kind: str, message: str,
                   decisions: list[str] | None = None) -> int:
    if args.json:
        print(json.dumps({"ok": False, "kind": kind, "error": message,
                          "decisions": decisions or []}, indent=2))
    else:
        print(f"astrid-host {args.command}: {kind}: {message}", file=sys.stderr)
    return status


class _Tool:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def prepare(self) -> Any:
        arguments = _json_arg("--args", self.args.args)
        if not isinstance(arguments, dict):
            raise _Usage("--args must be a JSON object")
        return arguments

    async def call(self, capsule: Any, arguments: dict[str, Any]) -> _Result:
        result = await capsule.call_tool(self.args.name, arguments)
        doc: dict[str, Any] = {"ok": not result.is_error, "tool": self.args.name,
                               "call_id": result.call_id, "is_error": result.is_error,
                               "content": result.content}
        return _Result(EXIT_CAPSULE if result.is_error else EXIT_OK, doc=doc)

    def print_text(self, doc: dict[str, Any]) -> None:
        print(doc["content"])
        if doc["is_error"]:
            print(f"astrid-host tool: {doc['tool']} reported an error", file=sys.stderr)


class _Trigger:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def prepare(self) -> Any:
        _json_arg("--payload", self.args.payload)
        return self.args.payload.encode("utf-8")

    async def call(self, capsule: Any, payload: bytes) -> _Result:
        answer = await capsule.trigger(self.args.action, payload)
        doc: dict[str, Any] = {
            "ok": not answer.result.denied, "action": answer.result.action,
            "data": answer.result.data,
            "messages": [{"topic": m.topic, "payload": m.payload} for m in answer.messages]}
        return _Result(EXIT_CAPSULE if answer.result.denied else EXIT_OK, doc=doc)

    def print_text(self, doc: dict[str, Any]) -> None:
        print(f"result: {doc['action']}" + ("" if doc["data"] is None else f" {doc['data']}"))
        for message in doc["messages"]:
            print(f"published {message['topic']}: {message['payload']}")


def tool_command(args: argparse.Namespace) -> int:
    """Handler of ``tool``."""
    return _run(args, _Tool(args))


def trigger_command(args: argparse.Namespace) -> int:
    """Handler of ``trigger``."""
    return _run(args, _Trigger(args))


# --- inspect ---------------------------------------------------------------------------------

def astrid_summary(toml: Path, manifest: AstridManifest) -> dict[str, Any]:
    """What ``inspect`` adds for an upstream capsule: the manifest's grants and hooks, and the
    tools its ``tool_describe`` reports (the capsule is loaded with no egress to ask it)."""
    import trio

    from astrid_host._wasm._host import Host

    async def describe() -> Any:
        async with Host() as host:
            capsule = await host.load(toml, config={})
            async with capsule:
                return await capsule.describe_tools()

    doc: dict[str, Any] = {
        "package": manifest.package.name, "version": manifest.package.version,
        "component": str(toml.parent / manifest.component.file),
        "net": list(manifest.net), "publish": list(manifest.publish.patterns),
        "hooks": [{"topic": i.topic, "action": i.action, "priority": i.priority}
                  for i in manifest.interceptors],
        "config": [{"key": v.key, "default": None if v.secret else v.default,
                    "needs_value": v.needs_operator} for v in manifest.env],
        "unsupported_capabilities": list(manifest.other_capabilities),
    }
    try:
        description = trio.run(describe)
    except Exception as exc:  # reported, not fatal: the rest of inspect still stands
        doc["tools_error"] = f"{type(exc).__name__}: {exc}"
        doc["tools"] = []
        return doc
    doc["description"] = description.description
    doc["tools"] = [{"name": t.name, "description": t.description, "mutable": t.mutable,
                     "input_schema": dict(t.input_schema)} for t in description.tools]
    return doc
