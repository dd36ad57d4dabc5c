"""Per-capsule limits: what the operator allows one capsule to use.

Every field has a finite default. Per-request options (WIT `request-options`) can only tighten
these values, never loosen them: see :meth:`Limits.tighten_ms` and :meth:`Limits.tighten_bytes`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

__all__ = ["Limits", "MiB"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits for one capsule. All sizes are bytes, all times seconds.

    Wasm side:
      memory_bytes: largest linear memory (and table growth) the capsule's Store may reach.
      fuel_per_call: wasm fuel given to each export call (roughly one unit per instruction).
      call_timeout_s: wall-clock budget of one export call, enforced by epoch interruption.
    HTTP side:
      max_open_streams: streamed responses and uploads open at once.
      connect/first_byte/between_bytes/total timeouts: per-phase time limits of one request.
      max_response_bytes / max_request_bytes: buffered bodies (`send`, `finish`).
      max_stream_bytes / max_upload_bytes: streamed bodies (`start`, `upload`).
      max_decoded_stream_bytes: a streamed body the host decodes (`decompress`) stops here,
        even under a larger `max_stream_bytes` (the capsule can stream the coded body and
        decode it on its own fuel instead).
      max_decompression_ratio: a streamed body the host decodes may grow to at most this many
        times the coded bytes received so far (past its first MiB, see `_bodies`).
      max_redirects: redirects followed before `too-many-redirects`.
      max_url_bytes, max_request_headers, max_request_header_bytes: request shape.
      max_response_header_bytes: total size of a response head (h11's own cap).
      max_connections: pooled keep-alive connections kept for the capsule.
    Output:
      max_output_bytes: the body a capsule hands its caller beside an export's result
        (`astrid:http/output`, :meth:`Capsule.call_with_output`); a write past it is
        `body-too-large(limit)`.
    """

    memory_bytes: int = 256 * MiB
    fuel_per_call: int = 20_000_000_000
    call_timeout_s: float = 60.0
    max_open_streams: int = 4
    connect_timeout_s: float = 30.0
    first_byte_timeout_s: float = 30.0
    between_bytes_timeout_s: float = 120.0
    total_timeout_s: float = 120.0
    max_response_bytes: int = 10 * MiB
    # One guest->host call cannot carry much more than 2 MiB (wasmtime traps the guest past
    # ~3 MiB); larger bodies go through `upload`.
    max_request_bytes: int = 2 * MiB
    max_stream_bytes: int = 1024 * MiB
    max_decoded_stream_bytes: int = 256 * MiB
    max_decompression_ratio: int = 100
    max_upload_bytes: int = 1024 * MiB
    max_redirects: int = 10
    max_url_bytes: int = 8192
    max_request_headers: int = 100
    max_request_header_bytes: int = 64 * 1024
    max_response_header_bytes: int = 64 * 1024
    max_connections: int = 8
    max_output_bytes: int = 10 * MiB

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Limits.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"Limits.{f.name} must be finite, got {value!r}")
            if value <= 0 and f.name != "max_redirects":
                raise ValueError(f"Limits.{f.name} must be positive, got {value!r}")
            if value < 0:
                raise ValueError(f"Limits.{f.name} must not be negative, got {value!r}")

    def replace(self, **changes: float | int) -> Limits:
        """A copy with some fields changed (validated like the constructor)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def tightened_by(self, ceiling: Limits) -> Limits:
        """Each field the smaller of this value and ``ceiling``'s: an operator's ceiling wins."""
        return Limits(**{f.name: min(getattr(self, f.name), getattr(ceiling, f.name))
                         for f in dataclasses.fields(self)})

    @staticmethod
    def tighten_ms(configured_s: float, requested_ms: int | None) -> float:
        """The per-request time limit in seconds: ``requested_ms`` only if it is tighter."""
        if requested_ms is None:
            return configured_s
        return min(configured_s, requested_ms / 1000.0)

    @staticmethod
    def tighten_bytes(configured: int, requested: int | None) -> int:
        """The per-request byte limit: ``requested`` only if it is tighter."""
        if requested is None:
            return configured
        return min(configured, requested)
