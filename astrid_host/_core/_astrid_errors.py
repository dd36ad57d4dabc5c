"""What goes wrong with an upstream capsule: its manifest (:class:`AstridManifestError`) or the
operator's configuration for it (:class:`ConfigError`)."""

from __future__ import annotations

__all__ = ["AstridManifestError", "ConfigError"]


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
