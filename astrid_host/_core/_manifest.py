"""``Capsule.toml``: what a capsule is and what it asks for.

A manifest sits next to a component and says what the capsule needs::

    [package]
    name = "weather"
    version = "0.1.0"
    component = "weather.wasm"        # relative to the manifest

    [capabilities]
    net = ["https://api.example.com"]  # egress rules, the EgressPolicy syntax
    methods = ["GET"]                  # optional; the policy's default methods otherwise
    secrets = ["api_key"]              # optional; the only secret names it may use

    [limits]                           # all optional
    memory = "64MiB"
    fuel = 2_000_000_000
    call-timeout = "30s"
    max-streams = 2
    max-response-bytes = "1MiB"

A manifest only *asks*: :meth:`Manifest.limits_under` gives each limit the smaller of the
request and the operator's configuration, and it cannot grant the local allowance (loopback,
private networks), which only the operator's code can. It may declare the names of the secrets
the capsule writes as ``{{secret:NAME}}`` (then only those may be used), never their values:
the operator gives values and binds them to origins (see ``docs/secrets.md``). Unknown keys
and bad values raise :class:`ManifestError` with ``file:line``. Parsing is pure;
:func:`load_manifest` only reads the file.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrid_host._core._limits import Limits
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._policy_methods import parse_method
from astrid_host._core._policy_rules import PolicyError
from astrid_host._core._secret_value import SecretError, validate_secret_name

__all__ = [
    "LIMIT_KEYS",
    "Manifest",
    "ManifestError",
    "load_manifest",
    "parse_duration",
    "parse_manifest",
    "parse_size",
]


class ManifestError(ValueError):
    """A ``Capsule.toml`` is malformed: the capsule author's mistake, with file:line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


_SIZE_UNITS = {
    "": 1, "b": 1,
    "kb": 1000, "mb": 1000**2, "gb": 1000**3,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3,
}
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
_TIME_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*")


def parse_size(value: Any) -> int:
    """Bytes from an integer or a string such as ``"64MiB"``, ``"512 kB"``, ``"1.5GiB"``.

    Raises :class:`ValueError` (with the accepted units) for anything else.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"a size must be positive, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE_RE.fullmatch(value)
        if m and m.group(2).lower() in _SIZE_UNITS:
            amount = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
            if amount >= 1 and amount == int(amount):
                return int(amount)
            raise ValueError(f"{value!r} is not a whole, positive number of bytes")
    raise ValueError(f"expected a size like 1048576, \"64MiB\" or \"512kB\" "
                     f"(units B, kB, MB, GB, KiB, MiB, GiB), got {value!r}")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``"30s"``, ``"500ms"``, ``"2m"``, ``"1h"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (m := _TIME_RE.fullmatch(value)) and \
            m.group(2) in _TIME_UNITS:
        seconds = float(m.group(1)) * _TIME_UNITS[m.group(2)]
    else:
        raise ValueError(f"expected a duration like 30, \"30s\", \"500ms\", \"2m\" or \"1h\", "
                         f"got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a duration must be positive and finite, got {value!r}")
    return seconds


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number >= 0, got {value!r}")
    return value


def _positive_count(value: Any) -> int:
    if _count(value) == 0:
        raise ValueError("expected a whole number > 0, got 0")
    return int(value)


#: ``[limits]`` key → (:class:`Limits` field, value parser).
LIMIT_KEYS: dict[str, tuple[str, Callable[[Any], float | int]]] = {
    "memory": ("memory_bytes", parse_size),
    "fuel": ("fuel_per_call", _positive_count),
    "call-timeout": ("call_timeout_s", parse_duration),
    "max-streams": ("max_open_streams", _positive_count),
    "max-response-bytes": ("max_response_bytes", parse_size),
    "max-request-bytes": ("max_request_bytes", parse_size),
    "max-output-bytes": ("max_output_bytes", parse_size),
    "max-redirects": ("max_redirects", _count),
    "connect-timeout": ("connect_timeout_s", parse_duration),
    "total-timeout": ("total_timeout_s", parse_duration),
}

_PACKAGE_KEYS = ("name", "version", "component")
_CAPABILITY_KEYS = ("net", "methods", "secrets")
_TABLES = {"package": _PACKAGE_KEYS, "capabilities": _CAPABILITY_KEYS,
           "limits": tuple(LIMIT_KEYS)}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION_RE = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?")


@dataclass(frozen=True)
class Manifest:
    """A parsed ``Capsule.toml``.

    ``component`` is resolved against the manifest's directory. ``limits`` holds only what
    the manifest asked for, as :class:`Limits` field → value; see :meth:`limits_under`.
    ``secrets``: the secret names the capsule declares (``None``: it declares none, and may
    use every secret the operator gives it).
    """

    path: str
    name: str
    version: str
    component: Path
    net: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None
    limits: dict[str, float | int] = field(default_factory=dict)
    secrets: tuple[str, ...] | None = None

    def policy(self, local: tuple[str, ...] | list[str] = ()) -> EgressPolicy:
        """The capsule's egress policy; ``local`` is the operator's local allowance."""
        return EgressPolicy.parse(self.net, methods=self.methods, local=local)

    def limits_under(self, operator: Limits) -> Limits:
        """The limits to run with: what the manifest asks for, never above ``operator``.

        A limit the manifest does not mention is the operator's value.
        """
        return operator.replace(**self.limits).tightened_by(operator)


class _Lines:
    """Finds the line of a key (or of a value inside it) in TOML text: tomllib gives none."""

    _TABLE = re.compile(r"\s*\[\s*([A-Za-z0-9_.\"-]+)\s*\]")
    _KEY = re.compile(r"\s*(?:\"([^\"]+)\"|([A-Za-z0-9_-]+))\s*=")

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, str], int] = {}
        self.tables: dict[str, int] = {}
        self.text_lines = text.splitlines()
        table = ""
        for number, line in enumerate(self.text_lines, start=1):
            if m := self._TABLE.match(line):
                table = m.group(1).strip('"')
                self.tables.setdefault(table, number)
            elif m := self._KEY.match(line):
                self.keys.setdefault((table, m.group(1) or m.group(2)), number)

    def key(self, table: str, key: str) -> int | None:
        return self.keys.get((table, key), self.tables.get(table))

    def value(self, table: str, key: str, needle: str) -> int | None:
        """The line at or after ``table.key`` that contains the string ``needle``."""
        start = self.key(table, key)
        if start is None:
            return None
        for number in range(start, len(self.text_lines) + 1):
            if needle in self.text_lines[number - 1]:
                return number
        return start


def parse_manifest(text: str, path: str = "Capsule.toml") -> Manifest:
    """Parse manifest ``text``; ``path`` is used for error messages and relative paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"at line (\d+)", str(exc))
        raise ManifestError(path, int(m.group(1)) if m else None,
                            f"not valid TOML: {exc}") from None
    lines = _Lines(text)

    def fail(table: str, key: str | None, message: str) -> ManifestError:
        line = lines.key(table, key) if key else lines.tables.get(table)
        return ManifestError(path, line, message)

    for table, body in data.items():
        if table not in _TABLES:
            raise ManifestError(path, lines.tables.get(table) or lines.key("", table),
                                f"unknown table [{table}] (expected one of: "
                                f"{', '.join(_TABLES)})")
        if not isinstance(body, dict):
            raise ManifestError(path, lines.key("", table), f"{table} must be a table")
        for key in body:
            if key not in _TABLES[table]:
                raise fail(table, key, f"unknown key {key!r} in [{table}] "
                                       f"(expected one of: {', '.join(_TABLES[table])})")

    package = data.get("package")
    if package is None:
        raise ManifestError(path, None, "missing [package] table (name, version, component)")
    for key in _PACKAGE_KEYS:
        if key not in package:
            raise fail("package", None, f"[package] is missing {key!r}")
        if not isinstance(package[key], str) or not package[key].strip():
            raise fail("package", key, f"[package] {key} must be a non-empty string")
    if not _NAME_RE.fullmatch(package["name"]):
        raise fail("package", "name", "[package] name may use letters, digits, '.', '_' and "
                                      f"'-' (at most 64), got {package['name']!r}")
    if not _VERSION_RE.fullmatch(package["version"]):
        raise fail("package", "version",
                   f"[package] version must look like 1.2.3, got {package['version']!r}")
    component = Path(path).parent / package["component"]

    caps = data.get("capabilities", {})
    net = caps.get("net", [])
    if not isinstance(net, list) or not all(isinstance(r, str) for r in net):
        raise fail("capabilities", "net", "[capabilities] net must be a list of rule strings")
    methods = caps.get("methods")
    if methods is not None and (not isinstance(methods, list)
                                or not all(isinstance(m, str) for m in methods)):
        raise fail("capabilities", "methods",
                   "[capabilities] methods must be a list of method names")
    for rule in net:
        try:
            EgressPolicy.parse([rule])
        except PolicyError as exc:
            raise ManifestError(path, lines.value("capabilities", "net", rule),
                                f"[capabilities] net rule {rule!r}: {exc}") from None
    for method in methods or ():
        try:
            parse_method(method)
        except PolicyError as exc:
            raise ManifestError(path, lines.value("capabilities", "methods", f'"{method}"'),
                                f"[capabilities] methods: {exc}") from None
    try:
        EgressPolicy.parse([], methods=methods)
    except PolicyError as exc:
        raise fail("capabilities", "methods", f"[capabilities] methods: {exc}") from None
    secrets = caps.get("secrets")
    if secrets is not None and (not isinstance(secrets, list)
                                or not all(isinstance(n, str) for n in secrets)):
        raise fail("capabilities", "secrets",
                   "[capabilities] secrets must be a list of secret names (never values)")
    for secret in secrets or ():
        try:
            validate_secret_name(secret)
        except SecretError as exc:
            raise ManifestError(path, lines.value("capabilities", "secrets", f'"{secret}"'),
                                f"[capabilities] secrets: {exc}") from None

    limits: dict[str, float | int] = {}
    for key, value in data.get("limits", {}).items():
        field_name, parse = LIMIT_KEYS[key]
        try:
            limits[field_name] = parse(value)
        except ValueError as exc:
            raise fail("limits", key, f"[limits] {key}: {exc}") from None
    try:
        Limits().replace(**limits)
    except (TypeError, ValueError) as exc:  # pragma: no cover - parsers already validate
        raise fail("limits", None, f"[limits]: {exc}") from None

    return Manifest(path=path, name=package["name"], version=package["version"],
                    component=component, net=tuple(net),
                    methods=None if methods is None else tuple(methods), limits=limits,
                    secrets=None if secrets is None else tuple(dict.fromkeys(secrets)))


def load_manifest(path: str | Path) -> Manifest:
    """Read and parse a ``Capsule.toml`` (or the one inside directory ``path``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "Capsule.toml"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(str(p), None, f"cannot read the manifest: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ManifestError(str(p), None, "the manifest is not UTF-8 text") from None
    return parse_manifest(text, str(p))
