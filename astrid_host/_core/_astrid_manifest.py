"""Upstream Astrid's ``Capsule.toml``: what astrid-host needs to host a capsule written for it.

Capsules built with upstream's SDK (``astrid-sdk`` 0.7.2) ship a manifest in upstream's format
(``astrid-capsule-types`` 2026.10.1), which differs from astrid-host's own ``Capsule.toml``
(:mod:`astrid_host._core._manifest`); :func:`is_upstream_manifest` tells them apart::

    [package]
    name = "weather"
    version = "0.1.0"                     # semver, required
    astrid-version = ">=0.7.0"            # kept, not evaluated

    [[component]]                         # the first one is the capsule
    id = "weather"
    file = "weather.wasm"                 # relative to the manifest ("entrypoint" also works)

    [capabilities]
    net = ["api.example.com"]             # host names; each covers its subdomains

    [publish]                             # topics the capsule may publish (the ACL)
    "tool.v1.execute.*.result" = { wit = "@unicity-astrid/wit/types/tool-call-result" }

    [subscribe]                           # topics it may subscribe to; handler = hook action
    "tool.v1.execute.forecast" = { wit = "...", handler = "tool_execute_forecast" }

    [env.units]                           # configuration read with astrid:sys get-config
    type = "text"
    default = "metric"

The semantics follow upstream's kernel (``astrid-capsule`` 2026.10.1), as the notes in
docs/dev/astrid-upstream.md record; each has its own module: ``net`` entries become egress
rules in :mod:`~astrid_host._core._astrid_egress`, the ``[publish]``/``[subscribe]`` ACLs and
hook handler matching are :mod:`~astrid_host._core._astrid_topics`, and ``[env]`` defaults and
the operator's values are :mod:`~astrid_host._core._astrid_config`.

Everything else in the manifest (``[imports]``, ``[[tool]]``, ``[[command]]``, ...) is parsed
by upstream but has no meaning for astrid-host and is ignored, as upstream ignores unknown keys.
Errors are :class:`~astrid_host._core._astrid_errors.AstridManifestError` (the manifest's fault)
and :class:`~astrid_host._core._astrid_errors.ConfigError` (the operator's configuration).
Pure: no I/O.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from astrid_host._core._astrid_config import (
    RESERVED_CONFIG_KEYS,
    EnvVar,
    resolve_config,
    toml_default_text,
)
from astrid_host._core._astrid_egress import NarrowedPolicy, net_rules
from astrid_host._core._astrid_errors import AstridManifestError
from astrid_host._core._astrid_topics import (
    MAX_TOPIC_BYTES,
    TopicAcl,
    _segments_ok,
    handler_matches,
)
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._policy_rules import parse_rule

__all__ = [
    "DEFAULT_PRIORITY",
    "MANIFEST_NAME",
    "AstridManifest",
    "Component",
    "Interceptor",
    "Package",
    "is_upstream_manifest",
    "parse_astrid_manifest",
]

#: The manifest's file name in a capsule directory.
MANIFEST_NAME = "Capsule.toml"
#: Hook handlers without a ``priority`` run at this one (lower runs first).
DEFAULT_PRIORITY = 100
#: Upstream capability fields other than ``net`` and ``kv`` (kv is per-capsule and unenforced
#: upstream): a manifest that holds one asks for something astrid-host does not provide.
OTHER_CAPABILITIES = ("uplink", "fs_read", "fs_write", "host_process", "allow_persistent",
                      "net_bind", "net_connect", "identity", "allow_prompt_injection")
_LIST_CAPABILITIES = frozenset({"net", "kv", "fs_read", "fs_write", "host_process", "net_bind",
                                "net_connect", "identity"})
_FLAG_CAPABILITIES = frozenset({"uplink", "allow_persistent", "allow_prompt_injection"})
_PINS = ("version", "tag", "rev", "branch", "path")
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_U32_MAX = 2**32 - 1


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """``[package]``: identity. ``astrid_version`` is upstream's runtime requirement, as written."""

    name: str
    version: str
    description: str | None = None
    astrid_version: str | None = None


@dataclass(frozen=True)
class Component:
    """One ``[[component]]``. ``file`` is relative to the manifest's directory."""

    id: str
    file: PurePosixPath
    kind: str = ""
    hash: str | None = None


@dataclass(frozen=True)
class Interceptor:
    """A ``[subscribe]`` entry with a ``handler``: messages on ``topic`` (a pattern) are given to
    ``astrid-hook-trigger(action, payload)``, lower ``priority`` first."""

    topic: str
    action: str
    priority: int = DEFAULT_PRIORITY



@dataclass(frozen=True)
class AstridManifest:
    """A parsed upstream ``Capsule.toml`` (see the module docstring)."""

    package: Package
    components: tuple[Component, ...]
    net: tuple[str, ...] = ()
    publish: TopicAcl = field(default_factory=TopicAcl)
    subscribe: TopicAcl = field(default_factory=TopicAcl)
    interceptors: tuple[Interceptor, ...] = ()
    env: tuple[EnvVar, ...] = ()
    other_capabilities: tuple[str, ...] = ()

    @property
    def component(self) -> Component:
        """The component upstream runs: the first ``[[component]]``."""
        return self.components[0]

    def egress_rules(self) -> tuple[str, ...]:
        """``net`` as EgressPolicy rules with the reach upstream gives it."""
        return tuple(rule for entry in self.net for rule in net_rules(entry))

    def egress_policy(self, local: tuple[str, ...] | list[str] = ()) -> EgressPolicy:
        """The capsule's policy: its ``net`` rules, any method (upstream filters none), and the
        operator's ``local`` allowance."""
        return EgressPolicy.parse(self.egress_rules(), methods=["*"], local=local)

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The ``[env]`` keys of ``type = "secret"``: the secret names the capsule declares
        (pass them as ``Host.load(declared_secrets=...)``; the values go in ``secrets=``)."""
        return tuple(var.key for var in self.env if var.secret)

    def policy_under(self, operator: EgressPolicy | None) -> EgressPolicy:
        """The capsule's policy under the operator's: the operator can only narrow it.

        ``operator``'s ``local`` entries are the operator's local allowance (a manifest cannot
        grant one); its rules and methods, when it has rules, must allow a request too
        (:class:`NarrowedPolicy`). ``None``: the manifest's ``net`` alone.
        """
        if operator is None:
            return self.egress_policy()
        base = EgressPolicy(tuple(parse_rule(r) for r in self.egress_rules()),
                            any_method=True, local=operator.local)
        if not operator.rules:
            return base
        return NarrowedPolicy(base.rules, base.methods, base.any_method, base.local,
                              narrow=operator)

    def handlers_for(self, topic: str) -> tuple[Interceptor, ...]:
        """The hook handlers a message on ``topic`` goes to, in dispatch order."""
        return tuple(i for i in self.interceptors if handler_matches(i.topic, topic))

    def resolve_config(self, supplied: Mapping[str, str]) -> dict[str, str]:
        """What ``get-config`` answers: the operator's ``supplied`` values, else the defaults
        (:func:`~astrid_host._core._astrid_config.resolve_config`)."""
        return resolve_config(self.env, supplied)


# --- parsing ----------------------------------------------------------------------------------


def is_upstream_manifest(text: str) -> bool:
    """True when ``text`` is a manifest in upstream's format (it has ``[[component]]``), not
    astrid-host's own (``[package] component = ...``). Invalid TOML is neither: False."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return isinstance(data.get("component"), list)


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise AstridManifestError(f"{where}: must be a table")
    return value


def _string(data: Mapping[str, Any], key: str, where: str, *, required: bool = False
            ) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise AstridManifestError(f"{where}: {key} is required")
        return None
    if not isinstance(value, str):
        raise AstridManifestError(f"{where}: {key} must be a string, got {type(value).__name__}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AstridManifestError(f"{where}: must be a list of strings")
    return tuple(value)


def _package(data: Mapping[str, Any]) -> Package:
    if "package" not in data:
        raise AstridManifestError("[package] is required (name, version)")
    package = _table(data, "package", "[package]")
    name = _string(package, "name", "[package]", required=True)
    version = _string(package, "version", "[package]", required=True)
    assert name is not None and version is not None
    if not name:
        raise AstridManifestError("[package]: name must not be empty")
    if not _SEMVER.fullmatch(version):
        raise AstridManifestError(f"[package]: version {version!r} is not semver "
                                  "(MAJOR.MINOR.PATCH)")
    return Package(name, version, _string(package, "description", "[package]"),
                   _string(package, "astrid-version", "[package]"))


def _capabilities(caps: Mapping[str, Any], where: str) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for key, value in caps.items():
        if key in _LIST_CAPABILITIES:
            checked[key] = _strings(value, f"{where} {key}")
        elif key in _FLAG_CAPABILITIES:
            if not isinstance(value, bool):
                raise AstridManifestError(f"{where} {key}: must be true or false")
            checked[key] = value
        elif key == "bind_workers":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise AstridManifestError(f"{where} {key}: must be a count")
    return checked


def _components(data: Mapping[str, Any]) -> tuple[tuple[Component, ...], list[dict[str, Any]]]:
    raw = data.get("component")
    if not isinstance(raw, list) or not raw:
        raise AstridManifestError("[[component]] is required: at least one, the first runs")
    components = []
    capability_tables = []
    for index, entry in enumerate(raw):
        where = f"[[component]] #{index + 1}"
        if not isinstance(entry, dict):
            raise AstridManifestError(f"{where}: must be a table")
        if "file" in entry and "entrypoint" in entry:
            raise AstridManifestError(f"{where}: give file or entrypoint, not both")
        file_text = _string(entry, "file" if "file" in entry else "entrypoint", where)
        if not file_text:
            raise AstridManifestError(f"{where}: file is required (the .wasm, relative to the "
                                      "manifest)")
        file = PurePosixPath(file_text)
        if file.is_absolute() or ".." in file.parts or "\\" in file_text:
            raise AstridManifestError(f"{where}: file {file_text!r} must be a relative path "
                                      "inside the capsule directory")
        components.append(Component(_string(entry, "id", where) or "", file,
                                    _string(entry, "type", where) or "",
                                    _string(entry, "hash", where)))
        if "capabilities" in entry:
            capability_tables.append(_capabilities(_table(entry, "capabilities", where),
                                                   f"{where} capabilities"))
    return tuple(components), capability_tables


def _topic_entry(topic: str, value: Any, where: str, *, subscribe: bool
                 ) -> Interceptor | None:
    if not _segments_ok(topic) or len(topic.encode()) > MAX_TOPIC_BYTES:
        raise AstridManifestError(f"{where}: topic {topic!r} has an empty segment or is longer "
                                  f"than {MAX_TOPIC_BYTES} bytes")
    if isinstance(value, str):
        return None
    if not isinstance(value, dict):
        raise AstridManifestError(f"{where} {topic!r}: must be a WIT reference string or a table")
    entry_where = f"{where} {topic!r}"
    _string(value, "wit", entry_where, required=True)
    pins = [p for p in _PINS if p in value]
    if len(pins) > 1:
        raise AstridManifestError(f"{entry_where}: at most one of version / tag / rev / branch "
                                  f"/ path may be set, got {', '.join(pins)}")
    if "fanout" in value and not isinstance(value["fanout"], bool):
        raise AstridManifestError(f"{entry_where}: fanout must be true or false")
    if not subscribe:
        return None
    handler = _string(value, "handler", entry_where)
    priority = value.get("priority")
    if priority is not None:
        if handler is None:
            raise AstridManifestError(f"{entry_where}: priority requires a handler")
        if isinstance(priority, bool) or not isinstance(priority, int) \
                or not 0 <= priority <= _U32_MAX:
            raise AstridManifestError(f"{entry_where}: priority must be a whole number "
                                      f"0-{_U32_MAX}")
    if handler is None:
        return None
    if not handler:
        raise AstridManifestError(f"{entry_where}: handler must not be empty")
    return Interceptor(topic, handler, DEFAULT_PRIORITY if priority is None else priority)


def _env(data: Mapping[str, Any]) -> tuple[EnvVar, ...]:
    variables = []
    for key, spec in sorted(_table(data, "env", "[env]").items()):
        where = f"[env.{key}]"
        if key in RESERVED_CONFIG_KEYS:
            raise AstridManifestError(f"{where}: {key} is reserved for upstream's kernel socket, "
                                      "which astrid-host does not have")
        if not isinstance(spec, dict):
            raise AstridManifestError(f"{where}: must be a table with at least type = \"...\"")
        kind = _string(spec, "type", where, required=True)
        assert kind is not None
        default = spec.get("default")
        enum_values = _strings(spec.get("enum_values", []), f"{where} enum_values")
        variables.append(EnvVar(
            key, kind,
            None if default is None else toml_default_text(default, f"{where} default"),
            enum_values, _string(spec, "description", where)))
    return tuple(variables)


def parse_astrid_manifest(text: str) -> AstridManifest:
    """Parse an upstream ``Capsule.toml``; raise :class:`AstridManifestError` if malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise AstridManifestError(f"not valid TOML: {e}") from None
    package = _package(data)
    components, component_caps = _components(data)

    capabilities = _capabilities(_table(data, "capabilities", "[capabilities]"),
                                 "[capabilities]")
    # Upstream folds each component's capabilities into the root ones (a union).
    for extra in component_caps:
        for key, value in extra.items():
            if key in _LIST_CAPABILITIES:
                capabilities[key] = capabilities.get(key, ()) + value
            else:
                capabilities[key] = capabilities.get(key, False) or value
    net: tuple[str, ...] = capabilities.get("net", ())
    for index, entry in enumerate(net):
        try:
            net_rules(entry)
        except ValueError as e:
            raise AstridManifestError(f"[capabilities] net[{index}] {entry!r}: {e}") from None
    other = tuple(name for name in OTHER_CAPABILITIES if capabilities.get(name))

    publish = _table(data, "publish", "[publish]")
    for topic, value in publish.items():
        _topic_entry(topic, value, "[publish]", subscribe=False)
    subscribe = _table(data, "subscribe", "[subscribe]")
    interceptors = [i for topic, value in subscribe.items()
                    if (i := _topic_entry(topic, value, "[subscribe]", subscribe=True))]
    interceptors.sort(key=lambda i: (i.priority, i.topic, i.action))

    return AstridManifest(
        package=package,
        components=components,
        net=net,
        publish=TopicAcl(tuple(sorted(publish))),
        subscribe=TopicAcl(tuple(sorted(subscribe))),
        interceptors=tuple(interceptors),
        env=_env(data),
        other_capabilities=other,
    )
