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
docs/dev/astrid-upstream.md record:

- ``net``: upstream allows a URL whose host equals an entry or ends with ``"." + entry``, on any
  scheme and port; ``"*"`` allows every host. :meth:`AstridManifest.egress_rules` turns each
  entry into :class:`~astrid_host._core._policy.EgressPolicy` rules with the same reach (the
  address classifier still applies). An entry upstream could never match (``*.example.com``,
  ``https://x``, ``x:443``, upper case, a non-canonical IP) is refused here.
- Topic ACLs: a trailing ``.*`` covers one or more further segments, a ``*`` elsewhere exactly
  one segment, otherwise the segment counts must agree (:func:`acl_matches`). Hook handlers
  bound in ``[subscribe]`` match published topics segment by segment only
  (:func:`handler_matches`).
- ``[env]``: a default is turned into the string ``get-config`` returns: strings as they are,
  anything else as compact JSON (serde_json's form). :meth:`AstridManifest.resolve_config`
  merges the operator's values; a key with no value and no default, or with several
  ``enum_values``, needs one from the operator.

Everything else in the manifest (``[imports]``, ``[[tool]]``, ``[[command]]``, ...) is parsed
by upstream but has no meaning for astrid-host and is ignored, as upstream ignores unknown keys.
Errors are :class:`AstridManifestError` (the manifest's fault) and :class:`ConfigError` (the
operator's configuration). Pure: no I/O.
"""

from __future__ import annotations

import enum
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from pathlib import PurePosixPath
from typing import Any

from astrid_host._core._classify import classify_ip
from astrid_host._core._policy import (
    Classifier,
    EgressPolicy,
    PolicyDecision,
    PolicyError,
    PolicyReason,
    parse_rule,
)
from astrid_host._core._url import InvalidUrl, ParsedUrl, _parse_host

__all__ = [
    "DEFAULT_PRIORITY",
    "MANIFEST_NAME",
    "AstridManifest",
    "AstridManifestError",
    "Component",
    "ConfigError",
    "EnvVar",
    "Interceptor",
    "NarrowedPolicy",
    "Package",
    "TopicAcl",
    "TopicVerdict",
    "acl_matches",
    "handler_matches",
    "is_upstream_manifest",
    "net_rules",
    "parse_astrid_manifest",
    "toml_default_text",
]

#: The manifest's file name in a capsule directory.
MANIFEST_NAME = "Capsule.toml"
#: Hook handlers without a ``priority`` run at this one (lower runs first).
DEFAULT_PRIORITY = 100
#: Upstream's limits on a topic (``astrid:ipc``): bytes and dot-separated segments.
MAX_TOPIC_BYTES = 256
MAX_TOPIC_SEGMENTS = 8
#: The config key upstream's kernel fills with its own socket path.
RESERVED_CONFIG_KEYS = frozenset({"ASTRID_SOCKET_PATH"})
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


class AstridManifestError(ValueError):
    """An upstream ``Capsule.toml`` is malformed; the message names the table and key."""


class ConfigError(ValueError):
    """The operator's configuration for a capsule's ``[env]`` is incomplete or wrong.

    ``missing``: keys that need a value; ``unknown``: given keys the manifest does not declare;
    ``invalid``: given values outside the key's ``enum_values``.
    """

    def __init__(self, missing: tuple[str, ...], unknown: tuple[str, ...],
                 invalid: tuple[str, ...]) -> None:
        self.missing = missing
        self.unknown = unknown
        self.invalid = invalid
        parts = []
        if missing:
            parts.append(f"needs a value for {', '.join(missing)}")
        if unknown:
            parts.append(f"has no [env] entry for {', '.join(unknown)}")
        if invalid:
            parts.append(f"got a value outside enum_values for {', '.join(invalid)}")
        super().__init__("capsule configuration " + "; ".join(parts))


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


class TopicVerdict(enum.Enum):
    """The answer to a publish or subscribe request; values are upstream's ``astrid:ipc`` error
    case names (``allowed`` aside)."""

    ALLOWED = "allowed"
    INVALID = "invalid-input"
    DENIED = "capability-denied"


@dataclass(frozen=True)
class TopicAcl:
    """The keys of ``[publish]`` or ``[subscribe]``: the topics a capsule may use."""

    patterns: tuple[str, ...] = ()

    def check_publish(self, topic: str) -> TopicVerdict:
        """Upstream's order: a malformed topic is ``invalid-input`` before the ACL is asked."""
        if not _topic_shape_ok(topic):
            return TopicVerdict.INVALID
        return self._acl(topic)

    def check_subscribe(self, pattern: str) -> TopicVerdict:
        """As :meth:`check_publish`; a subscription pattern may also end in ``*``, nowhere else."""
        if not _topic_shape_ok(pattern) or "*" in pattern.split(".")[:-1]:
            return TopicVerdict.INVALID
        return self._acl(pattern)

    def _acl(self, topic: str) -> TopicVerdict:
        if any(acl_matches(p, topic) for p in self.patterns):
            return TopicVerdict.ALLOWED
        return TopicVerdict.DENIED


@dataclass(frozen=True)
class EnvVar:
    """One ``[env.<key>]``. ``default`` is already the text ``get-config`` returns."""

    key: str
    kind: str
    default: str | None = None
    enum_values: tuple[str, ...] = ()
    description: str | None = None

    @property
    def secret(self) -> bool:
        """``type = "secret"``: never log the value."""
        return self.kind.lower() == "secret"

    @property
    def needs_operator(self) -> bool:
        """No usable default: upstream asks the operator (several choices always do)."""
        return self.default is None or len(self.enum_values) > 1


@dataclass(frozen=True)
class AstridManifest:
    """A parsed upstream ``Capsule.toml`` (see the module docstring)."""

    package: Package
    components: tuple[Component, ...]
    net: tuple[str, ...] = ()
    publish: TopicAcl = TopicAcl()
    subscribe: TopicAcl = TopicAcl()
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
        """What ``get-config`` answers: the operator's ``supplied`` values, else the defaults.

        Raises :class:`ConfigError` naming every key that needs a value, every supplied key the
        manifest does not declare, and every value outside a key's ``enum_values``.
        """
        declared = {var.key: var for var in self.env}
        unknown = tuple(sorted(k for k in supplied if k not in declared))
        resolved: dict[str, str] = {}
        missing: list[str] = []
        invalid: list[str] = []
        for var in self.env:
            if var.key in supplied:
                value = supplied[var.key]
                choices = var.enum_values
                if choices and var.kind.lower() not in ("secret", "array") \
                        and value not in choices:
                    invalid.append(var.key)
                resolved[var.key] = value
            elif var.needs_operator:
                missing.append(var.key)
            else:
                assert var.default is not None
                resolved[var.key] = var.default
        if missing or unknown or invalid:
            raise ConfigError(tuple(missing), unknown, tuple(invalid))
        return resolved


@dataclass(frozen=True)
class NarrowedPolicy(EgressPolicy):
    """An upstream capsule's policy narrowed by the operator's: a request must pass both
    the capsule's ``net`` rules (with the operator's local allowance) and one of the operator's
    rules and methods."""

    narrow: EgressPolicy = field(default_factory=EgressPolicy)

    def check(self, url: ParsedUrl, method: str, *,
              classifier: Classifier = classify_ip) -> PolicyDecision:
        decision = super().check(url, method, classifier=classifier)
        if not decision.allowed:
            return decision
        # Only the operator's rules and methods narrow; its local entries (already part of
        # this policy) say where a name may be reached, not that it may be.
        narrow = self.narrow
        if not narrow.any_method and method not in narrow.methods:
            return PolicyDecision(False, PolicyReason.METHOD,
                                  f"method {method!r} is not in the operator's allowed methods")
        if not any(rule.matches(url) for rule in narrow.rules):
            return PolicyDecision(False, PolicyReason.NO_RULE,
                                  f"no operator rule allows {url.scheme}://{url.authority}")
        return decision


# --- topics -----------------------------------------------------------------------------------


def _segments_ok(topic: str) -> bool:
    return bool(topic) and all(topic.split("."))


def _topic_shape_ok(topic: str) -> bool:
    return (len(topic.encode()) <= MAX_TOPIC_BYTES and _segments_ok(topic)
            and topic.count(".") < MAX_TOPIC_SEGMENTS)


def acl_matches(pattern: str, topic: str) -> bool:
    """Upstream's ACL matcher: may ``pattern`` (a ``[publish]``/``[subscribe]`` key) cover
    ``topic`` (a published topic, or a pattern a capsule subscribes with)?

    A trailing ``.*`` covers one or more further segments at any depth; ``*`` elsewhere covers
    exactly one segment; otherwise both have the same number of segments.
    """
    if not _segments_ok(pattern) or not _segments_ok(topic):
        return False
    want = pattern.split(".")
    have = topic.split(".")
    if want[-1] == "*" and len(want) > 1:
        return len(have) >= len(want) and _same_segments(want[:-1], have[:len(want) - 1])
    return _same_segments(want, have)


def handler_matches(pattern: str, topic: str) -> bool:
    """Upstream's handler matcher: same number of segments, ``*`` is exactly one segment."""
    if not _segments_ok(pattern) or not _segments_ok(topic):
        return False
    return _same_segments(pattern.split("."), topic.split("."))


def _same_segments(want: list[str], have: list[str]) -> bool:
    """Equally many segments, each equal or ``*`` in ``want``."""
    return len(want) == len(have) and all(p in ("*", t) for p, t in zip(want, have, strict=True))


# --- net --------------------------------------------------------------------------------------


def net_rules(entry: str) -> tuple[str, ...]:
    """EgressPolicy rules that reach what upstream's ``net`` entry reaches.

    ``"*"`` is every host; a name is itself and every name below it; an IP address (IPv6 in
    brackets) is that address. Any scheme, any port. Raises :class:`ValueError` for an entry
    upstream could never match.
    """
    if entry == "*":
        return ("*://*:*",)
    if not entry or (any(c in entry for c in "/:@?#") and not entry.startswith("[")):
        raise ValueError("an entry is a bare host name or address: no scheme, port or path")
    if "*" in entry:
        raise ValueError("'*' only stands alone; a name already covers its subdomains "
                         "(write 'example.com' for '*.example.com')")
    try:
        ip, host = _parse_host(entry)
    except InvalidUrl as e:
        raise ValueError(f"not a host name or address: {e}") from None
    written = f"[{host}]" if isinstance(ip, IPv6Address) else host
    if written != entry:
        raise ValueError(f"upstream compares the host as a URL spells it, so this entry never "
                         f"matches; write {written!r}")
    if isinstance(ip, IPv4Address | IPv6Address):
        rules: tuple[str, ...] = (f"*://{written}:*",)
    else:
        rules = (f"*://{host}:*", f"*://*.{host}:*")
    for rule in rules:
        try:
            parse_rule(rule)
        except PolicyError as e:  # pragma: no cover - _parse_host accepted it
            raise ValueError(str(e)) from None
    return rules


# --- [env] defaults ---------------------------------------------------------------------------


def _json_float(x: float) -> str:
    """``x`` as serde_json writes an f64: shortest digits, decimal form for exponents -5 < e
    <= 16 (``1000.0``, ``0.00001``), otherwise ``1e+16`` / ``1e-6``."""
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    parsed = Decimal(repr(abs(x))).normalize().as_tuple()
    digits = "".join(map(str, parsed.digits))
    k = int(parsed.exponent)
    point = len(digits) + k  # digits[:point] are the integer part
    if 0 <= k and point <= 16:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < point <= 16:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -5 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
    exponent = point - 1
    return f"{sign}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def _json(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AstridManifestError(f"{where}: {value} has no JSON form; use a string")
        return _json_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_json(v, where) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_json(v, where)}"
                              for k, v in sorted(value.items())) + "}"
    raise AstridManifestError(f"{where}: a TOML date or time has no JSON form; use a string")


def toml_default_text(value: Any, where: str = "default") -> str:
    """The text ``get-config`` returns for a TOML ``default``: a string as it is, anything
    else as compact JSON with sorted keys (what upstream's serde_json writes).

    Raises :class:`AstridManifestError` for values JSON cannot hold (dates, nan, inf).
    """
    return value if isinstance(value, str) else _json(value, where)


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
