"""Egress decisions as values, and their one canonical log line.

Every hop of every request a capsule makes ends in one :class:`EgressDecision` (allowed or
denied, with the reason, what was resolved and the address chosen, and the error that ended it,
if one did), and :func:`log_decision` writes it as one line on the ``astrid_host.egress`` logger.
A request whose response reached the capsule adds one *completion* line when its body ends
(the final hop's fields plus ``bytes`` and ``elapsed_ms``). The field names never change and
every field is always present (``-`` when empty), so the lines can be grepped and parsed without
knowing which path produced them. Allowed at INFO, denied at WARNING.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from astrid_host._core._classify import IPAddress
from astrid_host._core._model import AddressVerdict
from astrid_host._core._policy import AddressCheck, PolicyDecision

__all__ = ["EgressDecision", "LOGGER_NAME", "Resolution", "log_decision", "redact_url_text"]

#: The logger every decision line goes to.
LOGGER_NAME = "astrid_host.egress"
_logger = logging.getLogger(LOGGER_NAME)

#: The fields of a decision line, in order. Part of the log format: do not rename.
FIELDS = ("capsule", "method", "url", "decision", "reason", "rule", "addresses", "chosen",
          "status", "bytes", "elapsed_ms", "error")

#: Longest text of an unparseable URL kept in a line (a hostile Location can be kilobytes).
URL_TEXT_LIMIT = 200


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
    """One egress decision, and how the hop or request it belongs to ended.

    capsule: the capsule's name; method: the request method token.
    url: the redacted URL (no credentials, no query string).
    allowed/reason: the guard's verdict and its stable reason key (e.g. ``allowed-by-rule``,
      ``loopback``, ``too-many-redirects``).
    rule: the rule or local-allowance entry that allowed the endpoint, if any.
    addresses: every resolved (or literal) address with its check; chosen: the one connected to.
    status: the response status, once a response head arrived.
    bytes/elapsed_ms: body bytes delivered and time taken, on completion lines only.
    error: the WIT error-code case that ended the hop or request (``None``: it did not fail).
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
    error: str | None = None

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

    @classmethod
    def refused(
        cls, capsule: str, method: str, url: str, reason: str, error: str,
        policy: PolicyDecision | None = None,
    ) -> EgressDecision:
        """A request or hop refused before anything was resolved or sent.

        ``policy`` is given when the policy was the refusal: its rule and, for an IP literal,
        the address check go into the line.
        """
        if policy is None:
            return cls(capsule, method, url, False, reason, error=error)
        addresses = (policy.address,) if policy.address is not None else ()
        return cls(capsule, method, url, False, reason, policy.rule, addresses, error=error)

    def completed(self, body_bytes: int, elapsed_ms: int) -> EgressDecision:
        """This final hop's decision as its request's completion line (``bytes`` delivered,
        ``elapsed_ms`` since the request started)."""
        return dataclasses.replace(self, bytes=body_bytes, elapsed_ms=elapsed_ms)

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
            "error": self.error,
        }
        return {k: _text(values[k]) for k in FIELDS}

    def line(self) -> str:
        """The canonical ``key=value`` line (values with spaces or quotes are JSON-quoted)."""
        return "egress " + " ".join(f"{k}={v}" for k, v in self.fields().items())


def redact_url_text(text: str) -> str:
    """A URL that could not be parsed, as a line shows it: without query, fragment or
    userinfo, and cut to :data:`URL_TEXT_LIMIT` characters (marked with ``...``)."""
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    text = re.sub(r"^([^:/?#]*:[/\\]*)[^/\\]*@", r"\1", text)
    if len(text) > URL_TEXT_LIMIT:
        return text[:URL_TEXT_LIMIT] + "..."
    return text


def _text(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    if any(c in text for c in ' "=\\') or not text.isprintable():
        return json.dumps(text)
    return text


def log_decision(decision: EgressDecision, logger: logging.Logger | None = None, *,
                 scrub: Callable[[str], str] | None = None) -> None:
    """Write the decision's one line: INFO when allowed, WARNING when denied. ``scrub`` is
    applied to its URL first, only when the line is written."""
    level = logging.INFO if decision.allowed else logging.WARNING
    target = logger or _logger
    if target.isEnabledFor(level):  # formatting the line costs ~35 µs per request
        if scrub is not None:
            decision = dataclasses.replace(decision, url=scrub(decision.url))
        target.log(level, "%s", decision.line())
