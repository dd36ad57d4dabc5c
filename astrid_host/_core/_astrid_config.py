"""An upstream capsule's configuration: its ``[env]`` entries and what ``get-config`` answers.

A default is turned into the string ``get-config`` returns: strings as they are, anything else
as compact JSON (serde_json's form, :func:`toml_default_text`). :func:`resolve_config` merges
the operator's values; a key with no value and no default, or with several ``enum_values``,
needs one from the operator. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from astrid_host._core._astrid_errors import AstridManifestError, ConfigError

__all__ = ["RESERVED_CONFIG_KEYS", "EnvVar", "resolve_config", "toml_default_text"]

#: The config key upstream's kernel fills with its own socket path.
RESERVED_CONFIG_KEYS = frozenset({"ASTRID_SOCKET_PATH"})


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


def resolve_config(env: tuple[EnvVar, ...], supplied: Mapping[str, str]) -> dict[str, str]:
    """What ``get-config`` answers: the operator's ``supplied`` values, else the defaults.

    Raises :class:`ConfigError` naming every key that needs a value, every supplied key the
    manifest does not declare, and every value outside a key's ``enum_values``.
    """
    declared = {var.key: var for var in env}
    unknown = tuple(sorted(k for k in supplied if k not in declared))
    resolved: dict[str, str] = {}
    missing: list[str] = []
    invalid: list[str] = []
    for var in env:
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
