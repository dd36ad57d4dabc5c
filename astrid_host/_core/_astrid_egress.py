"""An upstream capsule's egress: its ``[capabilities] net`` entries as :class:`EgressPolicy` rules.

Upstream's kernel (``astrid-capsule`` 2026.10.1) allows a URL whose host equals a ``net`` entry
or ends with ``"." + entry``, on any scheme and port; ``"*"`` allows every host.
:func:`net_rules` turns each entry into rules with the same reach (the address classifier
still applies); an entry upstream could never match (``*.example.com``, ``https://x``,
``x:443``, upper case, a non-canonical IP) is refused. :class:`NarrowedPolicy` is that policy
under the operator's, which can only narrow it. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from astrid_host._core._classify import classify_ip
from astrid_host._core._policy import Classifier, EgressPolicy, PolicyDecision, PolicyReason
from astrid_host._core._policy_rules import PolicyError, parse_rule
from astrid_host._core._url import InvalidUrl, ParsedUrl, _parse_host

__all__ = ["NarrowedPolicy", "net_rules"]


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
