"""Egress decisions as values, and their one canonical log line.

Every request a capsule makes produces one :class:`EgressDecision` (allowed or denied, with the
reason) and :func:`log_decision` writes it as one line on the ``astrid_host.egress`` logger. The
field names never change and every field is always present (``-`` when empty), so the lines can be
grepped and parsed without knowing which path produced them. Allowed at INFO, denied at WARNING.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from astrid_host._core._classify import IPAddress
from astrid_host._core._model import AddressVerdict
from astrid_host._core._policy import AddressCheck, PolicyDecision

__all__ = ["EgressDecision", "LOGGER_NAME", "Resolution", "log_decision"]

#: The logger every decision line goes to.
LOGGER_NAME = "astrid_host.egress"
_logger = logging.getLogger(LOGGER_NAME)

#: The fields of a decision line, in order. Part of the log format: do not rename.
FIELDS = ("capsule", "method", "url", "decision", "reason", "rule", "addresses", "chosen",
          "status", "bytes", "elapsed_ms")


@dataclass(frozen=True)
class Resolution:
    """What one connection resolved to: every answer with its check, and the one connected to.

    host: the name (or literal) that was resolved.
    addresses: every answer, in resolver order, each with its verdict and local-allowance flag.
    chosen: the address actually connected to (``None`` before connecting or if none was).
    via_local: the chosen address was reachable only through the operator's local allowance.
    """

    host: str
    addresses: tuple[AddressCheck, ...]
    chosen: IPAddress | None = None
    via_local: bool = False

    @property
    def allowed(self) -> tuple[AddressCheck, ...]:
        """The answers that may be connected to, in order."""
        return tuple(a for a in self.addresses if a.allowed)

    def refused(self) -> tuple[AddressVerdict, ...]:
        """The refused answers as WIT ``address-verdict`` values (address, reason key)."""
        return tuple(AddressVerdict(str(a.address), a.verdict.reason.value)
                     for a in self.addresses if not a.allowed)


@dataclass(frozen=True)
class EgressDecision:
    """One egress decision, and optionally how the request then ended.

    capsule: the capsule's name; method: the request method token.
    url: the redacted URL (no credentials, no query string).
    allowed/reason: the outcome and its stable reason key (e.g. ``allowed-by-rule``, ``loopback``).
    rule: the rule or local-allowance entry that allowed the endpoint, if any.
    addresses: every resolved (or literal) address with its check; chosen: the one connected to.
    status/bytes/elapsed_ms: filled in for completion lines, ``None`` otherwise.
    """

    capsule: str
    method: str
    url: str
    allowed: bool
    reason: str
    rule: str | None = None
    addresses: tuple[AddressCheck, ...] = ()
    chosen: IPAddress | None = None
    status: int | None = None
    bytes: int | None = None
    elapsed_ms: int | None = None

    @classmethod
    def from_policy(
        cls, capsule: str, method: str, url: str, decision: PolicyDecision,
        resolution: Resolution | None = None,
    ) -> EgressDecision:
        """Combine the policy's URL decision with what resolution found.

        Allowed only if the policy allowed the URL and (when a resolution is given) some address
        may be connected to; otherwise the reason names the first refused address's class.
        """
        addresses: tuple[AddressCheck, ...] = (
            (decision.address,) if decision.address is not None else ())
        chosen = None
        allowed, reason = decision.allowed, decision.reason_key
        if resolution is not None:
            addresses, chosen = resolution.addresses, resolution.chosen
            if allowed and not resolution.allowed:
                allowed = False
                reason = resolution.addresses[0].verdict.reason.value if addresses else "dns-error"
        return cls(capsule, method, url, allowed, reason, decision.rule, addresses, chosen)

    def fields(self) -> dict[str, str]:
        """The line's fields as text, in :data:`FIELDS` order (``-`` for empty)."""
        addresses = ",".join(
            f"{a.address}/{'local' if a.via_local else a.verdict.reason.value}"
            for a in self.addresses)
        values: dict[str, Any] = {
            "capsule": self.capsule, "method": self.method, "url": self.url,
            "decision": "allow" if self.allowed else "deny", "reason": self.reason,
            "rule": self.rule, "addresses": addresses, "chosen": self.chosen,
            "status": self.status, "bytes": self.bytes, "elapsed_ms": self.elapsed_ms,
        }
        return {k: _text(values[k]) for k in FIELDS}

    def line(self) -> str:
        """The canonical ``key=value`` line (values with spaces or quotes are JSON-quoted)."""
        return "egress " + " ".join(f"{k}={v}" for k, v in self.fields().items())


def _text(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    if any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text)
    return text


def log_decision(decision: EgressDecision, logger: logging.Logger | None = None) -> None:
    """Write the decision's one line: INFO when allowed, WARNING when denied."""
    level = logging.INFO if decision.allowed else logging.WARNING
    target = logger or _logger
    if target.isEnabledFor(level):  # formatting the line costs ~35 µs per request
        target.log(level, "%s", decision.line())
