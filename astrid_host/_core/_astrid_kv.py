"""Upstream Astrid's `astrid:kv/host@1.0.0`, the pure part: key rules, limits, and the store
interface the wasm layer's SQLite store implements (``_wasm/_astrid_kv.py``).

Keys follow upstream: UTF-8 in NFC, no NUL or other control character, 1 to 256 bytes
(a prefix may be empty). Every capsule has its own namespace (its own store); the store is
bounded by :class:`KvLimits`. Errors are upstream's arms (:class:`KvRefused`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Protocol

__all__ = ["KvLimits", "KvRefused", "KvStore", "key_ok", "prefix_ok"]


@dataclass(frozen=True)
class KvLimits:
    """Bounds of one capsule's store. ``max_value_bytes`` and ``max_list_keys`` are upstream's
    (1 MiB; a `kv-list-keys` of more keys is `too-large`); the counts and totals are ours."""

    max_key_bytes: int = 256
    max_value_bytes: int = 1024 * 1024
    max_keys: int = 10_000
    #: Keys plus values, in bytes, across the store.
    max_total_bytes: int = 64 * 1024 * 1024
    max_list_keys: int = 1024


class KvRefused(Exception):
    """An operation refused; ``arm`` is the `error-code` case (``invalid-key``, ``too-large``,
    ``quota``, ``cas-mismatch``)."""

    def __init__(self, arm: str, detail: str) -> None:
        super().__init__(detail)
        self.arm = arm


def prefix_ok(prefix: str, limits: KvLimits = KvLimits()) -> bool:
    """A prefix follows the key rules but may be empty."""
    if len(prefix.encode("utf-8", "surrogatepass")) > limits.max_key_bytes:
        return False
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000
           for c in prefix):
        return False
    return unicodedata.is_normalized("NFC", prefix)


def key_ok(key: str, limits: KvLimits = KvLimits()) -> bool:
    """A key: 1 to ``max_key_bytes`` bytes of UTF-8 in NFC, no control characters."""
    return bool(key) and prefix_ok(key, limits)


class KvStore(Protocol):
    """One capsule's key/value store. Every method raises :class:`KvRefused` for a refusal."""

    def get(self, key: str) -> bytes | None: ...
    def set(self, key: str, value: bytes) -> None: ...
    def delete(self, key: str) -> None: ...
    def list_keys(self, prefix: str) -> tuple[str, ...]: ...
    def list_page(self, prefix: str, cursor: str | None, limit: int
                  ) -> tuple[tuple[str, ...], str | None]: ...
    def clear_prefix(self, prefix: str) -> int: ...
    def cas(self, key: str, expected: bytes | None, new: bytes) -> None: ...
