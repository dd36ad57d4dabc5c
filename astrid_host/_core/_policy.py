"""Which URLs one capsule may reach: :class:`EgressPolicy`.

Deny by default. A policy is a list of allow rules (:mod:`~astrid_host._core._policy_rules`),
the methods the capsule may use (:mod:`~astrid_host._core._policy_methods`), and the operator's
*local allowance* (:mod:`~astrid_host._core._policy_local`): the only way to reach an address
the classifier calls non-global (loopback, private, link-local, ...). A rule never lifts the
address check; a local allowance entry does, for its endpoint only, and endpoints reached that
way never follow redirects.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from astrid_host._core._classify import IPAddress, IpVerdict, classify_ip
from astrid_host._core._policy_local import LocalEndpoint, parse_local
from astrid_host._core._policy_methods import DEFAULT_METHODS, parse_method
from astrid_host._core._policy_rules import PolicyError, Rule, parse_rule
from astrid_host._core._url import DEFAULT_MAX_LENGTH, ParsedUrl, parse_url

__all__ = [
    "ADDRESS_RULES_ONLY_RULE",
    "AddressCheck",
    "Classifier",
    "EgressPolicy",
    "PolicyDecision",
    "PolicyReason",
    "check_url",
]

#: A function with :func:`classify_ip`'s signature (tests inject their own).
Classifier = Callable[[IPAddress], IpVerdict]


class PolicyReason(enum.Enum):
    """Why the policy allowed or denied a URL. Values are stable keys."""

    RULE = "allowed-by-rule"
    LOCAL = "allowed-by-local-allowance"
    NO_RULE = "no-matching-rule"
    METHOD = "method-not-allowed"
    ADDRESS = "address-not-allowed"
    #: A redirect hop whose target is covered by the local allowance: refused, so a remote
    #: server can never steer a capsule into the operator's local services.
    LOCAL_REDIRECT = "redirect-into-local-allowance"

    @property
    def allows(self) -> bool:
        """True for the two allowing reasons."""
        return self in (PolicyReason.RULE, PolicyReason.LOCAL)


class AddressCheck(NamedTuple):
    """One address judged for one endpoint: the classifier's verdict and the local allowance."""

    address: IPAddress
    verdict: IpVerdict
    via_local: bool

    @property
    def allowed(self) -> bool:
        """May be connected to: globally reachable, or covered by the local allowance."""
        return self.verdict.allowed or self.via_local


@dataclass(frozen=True)
class PolicyDecision:
    """The policy's answer for one URL and method, before any name is resolved.

    allowed/reason: the outcome; ``rule`` the rule (or local entry) text that allowed it.
    via_local: the endpoint is covered by the local allowance (so: never follow redirects).
    address: for IP-literal URLs, the address check that took part in the decision.
    """

    allowed: bool
    reason: PolicyReason
    detail: str
    rule: str | None = None
    via_local: bool = False
    address: AddressCheck | None = None

    @property
    def reason_key(self) -> str:
        """The most specific stable key: the classifier's key when an address was refused."""
        if self.reason is PolicyReason.ADDRESS and self.address is not None:
            return self.address.verdict.reason.value
        return self.reason.value

    @property
    def follow_redirects(self) -> bool:
        """Whether redirects may be followed from this endpoint (never for local ones)."""
        return self.allowed and not self.via_local


@dataclass(frozen=True)
class EgressPolicy:
    """A capsule's egress policy. Build it with :meth:`parse`; the default allows nothing."""

    rules: tuple[Rule, ...] = ()
    methods: frozenset[str] = DEFAULT_METHODS
    any_method: bool = False
    local: tuple[LocalEndpoint, ...] = field(default=())

    @classmethod
    def parse(
        cls,
        rules: Iterable[str] = (),
        *,
        methods: Iterable[str] | None = None,
        local: Iterable[str] = (),
    ) -> EgressPolicy:
        """Parse rule strings, allowed method tokens (``"*"`` for any) and local entries.

        Raises :class:`PolicyError` pointing at the first malformed item, and ``TypeError``
        when a list is not a list of strings (one string would be read a character at a time).
        """
        parsed_rules = tuple(parse_rule(r) for r in _strings(rules, "rules", "rule strings",
                                                              "https://api.example.com"))
        parsed_local = tuple(parse_local(e) for e in _strings(local, "local", "entries",
                                                              "127.0.0.1:8080"))
        if methods is None:
            return cls(parsed_rules, DEFAULT_METHODS, False, parsed_local)
        tokens = list(_strings(methods, "methods", "method tokens", "GET"))
        if not tokens:
            raise PolicyError("methods is empty, so every request would be denied: leave it "
                              "out for the default (GET HEAD POST PUT DELETE OPTIONS PATCH), "
                              "or list the methods the capsule may use")
        allowed = frozenset(parse_method(t) for t in tokens if t != "*")
        return cls(parsed_rules, allowed, "*" in tokens, parsed_local)

    def local_allows(self, ip: IPAddress, port: int, host: str | None = None) -> bool:
        """True if the operator's local allowance covers ``ip`` on ``port``; ``host`` is the
        name that resolved to it, or ``None`` for an IP-literal URL."""
        return any(e.covers(ip, port, host) for e in self.local)

    def check_address(
        self, ip: IPAddress, port: int, host: str | None = None,
        classifier: Classifier = classify_ip,
    ) -> AddressCheck:
        """Classify one address for an endpoint on ``port``: an IP literal (``host`` is
        ``None``) or an answer for the name ``host``."""
        verdict = classifier(ip)
        via_local = not verdict.allowed and self.local_allows(ip, port, host)
        return AddressCheck(ip, verdict, via_local)

    def check(
        self, url: ParsedUrl, method: str, *, classifier: Classifier = classify_ip,
    ) -> PolicyDecision:
        """Decide ``method url``. For IP-literal URLs the address is classified here; for names
        the caller must still judge every resolved address with :meth:`check_address`.
        """
        if not self.any_method and method not in self.methods:
            return PolicyDecision(False, PolicyReason.METHOD,
                                  f"method {method!r} is not in the capsule's allowed methods")
        rule = next((r for r in self.rules if r.matches(url)), None)
        local = next((e for e in self.local if e.matches(url)), None)
        if rule is None and local is None:
            return PolicyDecision(False, PolicyReason.NO_RULE,
                                  f"no rule allows {url.scheme}://{url.authority}")
        # A rule wins over a local entry for the name of the reason, but any covering local
        # entry marks the endpoint as local: no redirects are followed from it.
        if rule is not None:
            reason, by = PolicyReason.RULE, rule.text
        else:
            assert local is not None
            reason, by = PolicyReason.LOCAL, local.text
        via_local = local is not None
        if url.ip is None:
            return PolicyDecision(True, reason, f"allowed by {by!r}", by, via_local)
        address = self.check_address(url.ip, url.port, None, classifier)
        if not address.allowed:
            return PolicyDecision(False, PolicyReason.ADDRESS,
                                  f"{url.host}: {address.verdict.reason.text}", by,
                                  via_local, address)
        if address.via_local:
            assert local is not None  # check_address found a covering entry, so did `local`
            reason, by = PolicyReason.LOCAL, local.text
        return PolicyDecision(True, reason, f"allowed by {by!r}", by, via_local, address)


#: The policy ``check_url`` applies when none is given: every URL passes the rule stage, so only
#: the address rules (for IP literals) decide.
ADDRESS_RULES_ONLY_RULE = "*://*:*"


def check_url(
    url: str,
    policy: EgressPolicy | None = None,
    method: str = "GET",
    *,
    classifier: Classifier = classify_ip,
    max_length: int = DEFAULT_MAX_LENGTH,
) -> tuple[ParsedUrl, PolicyDecision]:
    """Normalise ``url`` and decide it: :func:`parse_url` then :meth:`EgressPolicy.check`.

    Without a policy only the address rules apply (any method). IP-literal hosts are classified
    here; a name still needs its resolved addresses judged (the pinned backend does that).
    Raises :class:`InvalidUrl` for an unusable URL.
    """
    parsed = parse_url(url, max_length=max_length)
    if policy is None:
        policy = EgressPolicy.parse([ADDRESS_RULES_ONLY_RULE], methods=["*"])
    return parsed, policy.check(parsed, method, classifier=classifier)

def _strings(value: Iterable[str], what: str, items: str, example: str) -> Iterable[str]:
    """``value`` as the iterable it must be; a lone str/bytes would be read per character."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{what} must be a list of {items}, not one {type(value).__name__}: "
                        f"write [{value!r}] (e.g. [{example!r}])")
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list of {items}, got {type(value).__name__}")
    return value
