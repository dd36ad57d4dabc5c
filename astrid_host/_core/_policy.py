"""Which URLs one capsule may reach: :class:`EgressPolicy`.

Deny by default. A policy is a list of allow rules, the methods the capsule may use, and the
operator's *local allowance*: the only way to reach an address the classifier calls
non-global (loopback, private, link-local, ...). Rules (``scheme://host[:port]``)::

    https://api.example.com          exact host, port 443 (the scheme's default)
    http://*.example.com:8080        any subdomain of example.com (not example.com itself)
    https://*:443                    any host, including IP literals, on port 443
    *://10.1.2.0/24:5432             IP-literal URLs in 10.1.2.0/24, either scheme, port 5432
    https://[2001:db8::/32]:*        IPv6 CIDR in brackets, any port
    http://example.com:8000-8100     a port range

A rule never lifts the address check: ``https://*`` still refuses ``https://127.0.0.1/`` and
names that resolve to private addresses. Local allowance entries, given in code by the operator
(never read from the environment), both allow the endpoint and lift the address check for it;
endpoints reached that way never follow redirects::

    127.0.0.1:8080                   the IP-literal URL http://127.0.0.1:8080/ only, never a name
    10.1.0.0/16:5432                 IP-literal URLs in 10.1.0.0/16 (IPv6 in brackets)
    sidecar.internal=127.0.0.1:8080  the name sidecar.internal, on 8080, when it resolves there

An entry is judged by every address it really reaches (the IPv4 addresses inside NAT64, 6to4,
Teredo and IPv4-mapped networks included, see :mod:`~astrid_host._core._reach`): too wide a
network, or one reaching link-local or a cloud metadata address, is refused when parsed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import NamedTuple

from astrid_host._core._classify import IPAddress, IpVerdict, classify_ip
from astrid_host._core._model import STANDARD_METHODS
from astrid_host._core._reach import allowance_problem
from astrid_host._core._url import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_PORTS,
    InvalidUrl,
    ParsedUrl,
    _parse_host,
    parse_url,
)

__all__ = [
    "ADDRESS_RULES_ONLY_RULE",
    "AddressCheck",
    "Classifier",
    "DEFAULT_METHODS",
    "EgressPolicy",
    "HostKind",
    "LocalEndpoint",
    "PolicyDecision",
    "PolicyError",
    "PolicyReason",
    "PortRange",
    "Rule",
    "check_url",
    "parse_local",
    "parse_method",
    "parse_rule",
]

#: A function with :func:`classify_ip`'s signature (tests inject their own).
Classifier = Callable[[IPAddress], IpVerdict]

#: Methods a policy allows when none are given: the WIT's standard methods.
DEFAULT_METHODS: frozenset[str] = frozenset(STANDARD_METHODS.values())

IPNetwork = IPv4Network | IPv6Network


class PolicyError(ValueError):
    """An operator's rule or allowance entry is malformed; the message points at the problem."""


def _fail(text: str, column: int, problem: str) -> PolicyError:
    return PolicyError(f"{problem}\n    {text}\n    {' ' * column}^")


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


@dataclass(frozen=True)
class PortRange:
    """An inclusive port range; ``None`` as a rule's port means "the URL scheme's default"."""

    low: int
    high: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.low <= port <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}-{self.high}"


_ANY_PORT = PortRange(1, 65535)


class HostKind(enum.Enum):
    """How a rule's host matches."""

    ANY = "any"  # '*': every host, names and IP literals
    EXACT = "exact"  # one name
    SUFFIX = "suffix"  # '*.example.com': names strictly below example.com
    NETWORK = "network"  # IP or CIDR: IP-literal URLs only


@dataclass(frozen=True)
class Rule:
    """One parsed allow rule. ``text`` is the rule as the operator wrote it."""

    text: str
    schemes: frozenset[str]
    kind: HostKind
    host: str = ""
    network: IPNetwork | None = None
    ports: PortRange | None = None

    def matches(self, url: ParsedUrl) -> bool:
        """True if ``url``'s scheme, host and port fall under this rule."""
        if url.scheme not in self.schemes:
            return False
        if not self._port_ok(url):
            return False
        if self.kind is HostKind.ANY:
            return True
        if self.kind is HostKind.NETWORK:
            return url.ip is not None and self.network is not None and url.ip in self.network
        if url.ip is not None:
            return False
        if self.kind is HostKind.EXACT:
            return url.host == self.host
        return url.host.endswith("." + self.host)

    def _port_ok(self, url: ParsedUrl) -> bool:
        if self.ports is None:
            return url.port == DEFAULT_PORTS[url.scheme]
        return url.port in self.ports


@dataclass(frozen=True)
class LocalEndpoint:
    """One local-allowance entry: the network it opens, the ports, and for a name entry
    (``NAME=ADDRESS:PORT``) the one host name that may lead there.

    Without ``host`` the entry covers IP-literal URLs only: a name resolving into ``network``
    is not covered, or a capsule could reach the service under a name (and ``Host`` header) of
    its own choosing, through any resolver answer it can arrange.
    """

    text: str
    ports: PortRange
    network: IPNetwork
    host: str = ""

    def __post_init__(self) -> None:
        # Checked here, not only in parse_local, so that no entry, however it was built, reaches
        # more than an allowance may.
        problem = allowance_problem(self.network)
        if problem is not None:
            raise PolicyError(problem)

    def matches(self, url: ParsedUrl) -> bool:
        """True if ``url`` names this entry's endpoint: its name, or an address in it."""
        if url.port not in self.ports:
            return False
        if self.host:
            return url.ip is None and url.host == self.host
        return url.ip is not None and _unmapped(url.ip) in self.network

    def covers(self, ip: IPAddress, port: int, host: str | None = None) -> bool:
        """True if this entry lifts the address check for ``ip`` on ``port``.

        ``host`` is the name that resolved to ``ip``, or ``None`` for an IP-literal URL.
        """
        if port not in self.ports or _unmapped(ip) not in self.network:
            return False
        return host == self.host if self.host else host is None


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


def _unmapped(ip: IPAddress) -> IPAddress:
    # An IPv4-mapped IPv6 answer reaches the IPv4 host, so IPv4 entries must cover it too.
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Methods the host refuses to send whatever the policy says (see ``_headers``): a policy
#: naming one would promise something that never works.
_NEVER_SENT = frozenset({"CONNECT", "TRACE"})


def _strings(value: Iterable[str], what: str, items: str, example: str) -> Iterable[str]:
    """``value`` as the iterable it must be; a lone str/bytes would be read per character."""
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{what} must be a list of {items}, not one {type(value).__name__}: "
                        f"write [{value!r}] (e.g. [{example!r}])")
    if not isinstance(value, Iterable):
        raise TypeError(f"{what} must be a list of {items}, got {type(value).__name__}")
    return value


def parse_method(token: str) -> str:
    """Check one method a policy allows; return it. Raises :class:`PolicyError`.

    Methods are case-sensitive (RFC 9110 section 9.1) and a policy compares them exactly, so a
    token that could only be a mistake would deny every request it was meant to allow. Accepted:
    the standard methods and any upper-case RFC 9110 token (an extension method such as
    ``PROPFIND``). Refused: tokens with lower-case letters (``get``), near-misses of a
    standard method (``GTE``, ``POTS``, ``DELET``: one edit or a reordering away), ``CONNECT``
    and ``TRACE`` (the host never sends them) and anything that is not a token.
    """
    if not isinstance(token, str):
        raise TypeError(f"a method must be a string, got {type(token).__name__}")
    if token == "*":
        raise PolicyError("'*' is not a method (in a policy's method list it means any method)")
    if not _TOKEN.fullmatch(token):
        raise PolicyError(f"method {token!r} is not a valid HTTP method token (RFC 9110: "
                          "letters, digits and !#$%&'*+-.^_`|~, at least one)")
    upper = token.upper()
    if upper in _NEVER_SENT:
        raise PolicyError(f"{token!r} cannot be allowed: the host refuses CONNECT and TRACE "
                          "requests whatever the policy says")
    if upper in DEFAULT_METHODS and token != upper:
        raise PolicyError(f"{token!r} is not a method: methods are upper-case tokens such as "
                          f"GET; did you mean {upper}?")
    near = _near_miss(upper)
    if near is not None:
        raise PolicyError(f"{token!r} is not a method: it looks like {near} misspelt; did you "
                          f"mean {near}? (to allow any method, use '*')")
    if token != upper:
        raise PolicyError(f"{token!r} is not a method: methods are upper-case tokens such as "
                          f"GET; did you mean {upper}?")
    return token


def _near_miss(upper: str) -> str | None:
    """The standard method ``upper`` misspells: one insertion, deletion, substitution or
    transposition away, or the same letters in another order. ``None`` for the standard
    methods themselves and for registered extension methods (none is that close)."""
    if upper in DEFAULT_METHODS:
        return None
    for method in sorted(DEFAULT_METHODS):
        if sorted(upper) == sorted(method) or _one_edit(upper, method):
            return method
    return None


def _one_edit(a: str, b: str) -> bool:
    """True if ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of two
    neighbouring characters (``a != b``)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y),
             len(short))
    return short[i:] == long[i + 1:]


_RULE = re.compile(
    r"(?P<scheme>[^:/]*)://"
    r"(?P<host>\[[^\]]*\]|[^:/\[\]@]*(?:/[0-9]+)?)"
    r"(?::(?P<port>[^/]*))?"
    r"(?P<rest>.*)"
)


def parse_rule(text: str) -> Rule:
    """Parse one allow rule (see the module docstring); raise :class:`PolicyError`."""
    if not isinstance(text, str):
        raise TypeError(f"a rule must be a string, got {type(text).__name__}")
    m = _RULE.fullmatch(text)
    if m is None:
        raise _fail(text, 0, "rule must look like scheme://host[:port] (scheme required)")
    scheme = m.group("scheme").lower()
    if scheme == "*":
        schemes = frozenset(DEFAULT_PORTS)
    elif scheme in DEFAULT_PORTS:
        schemes = frozenset({scheme})
    else:
        raise _fail(text, 0, f"scheme must be http, https or *, not {m.group('scheme')!r}")
    if m.group("rest").startswith("["):
        raise _fail(text, m.start("rest"), "IPv6 address needs a closing ']'")
    if m.group("rest") not in ("", "/"):
        raise _fail(text, m.start("rest"), "rules name an origin only: no path, query or userinfo")
    ports = _parse_ports(text, m.group("port"), m.start("port"), allow_any=True)
    host_text = m.group("host")
    column = m.start("host")
    if host_text == "*":
        return Rule(text, schemes, HostKind.ANY, ports=ports)
    if host_text.startswith("*."):
        name = _parse_name(text, host_text[2:], column + 2)
        return Rule(text, schemes, HostKind.SUFFIX, host=name, ports=ports)
    network = _parse_network(text, host_text, column)
    if network is not None:
        return Rule(text, schemes, HostKind.NETWORK, network=network, ports=ports)
    return Rule(text, schemes, HostKind.EXACT, host=_parse_name(text, host_text, column),
                ports=ports)


_LOCAL = re.compile(r"(?P<host>\[[^\]]*\]|[^:\[\]=]*):(?P<port>[^:]*)")


def parse_local(text: str) -> LocalEndpoint:
    """Parse one local-allowance entry: ``ADDRESS:PORT``, ``NETWORK:PORT`` (IPv6 in brackets)
    or ``NAME=ADDRESS:PORT`` / ``NAME=NETWORK:PORT``.

    An entry without a name covers IP-literal URLs only; a name entry covers that name only, and
    only its answers inside the network. The port is required (one port or a range): ``*`` is
    refused on purpose, the allowance names services. The network is judged by everything it
    reaches (:func:`~astrid_host._core._reach.allowance_problem`).
    """
    if not isinstance(text, str):
        raise TypeError(f"a local entry must be a string, got {type(text).__name__}")
    if "://" in text:
        raise _fail(text, 0, "a local entry is ADDRESS:PORT or NAME=ADDRESS:PORT, not a URL "
                             "(e.g. 127.0.0.1:8080)")
    name, eq, rest = text.partition("=")
    offset = len(name) + 1
    if not eq:
        name, rest, offset = "", text, 0
    m = _LOCAL.fullmatch(rest)
    if m is None:
        raise _local_shape(text, rest, offset)
    ports = _parse_ports(text, m.group("port"), offset + m.start("port"), allow_any=False)
    assert ports is not None
    host, column = m.group("host"), offset + m.start("host")
    if "*" in host or "*" in name:
        raise _fail(text, text.index("*"), "a local entry names one host: no '*' wildcards")
    network = _parse_network(text, host, column)
    if network is None:
        raise _name_without_address(text, name, host, column, m.group("port"))
    if eq and not name:
        raise _fail(text, 0, "the name before '=' is missing: write NAME=ADDRESS:PORT")
    named = _parse_name(text, name, 0) if eq else ""
    try:
        return LocalEndpoint(text, ports, network, host=named)
    except PolicyError as exc:  # the network reaches too much: point at it
        raise _fail(text, column, str(exc)) from None


def _local_shape(text: str, rest: str, offset: int) -> PolicyError:
    """The most helpful message for an entry that is not ``[NAME=]HOST:PORT``."""
    if ":" not in rest:
        return _fail(text, len(text), f"a local entry needs a port: write {text}:PORT")
    if not rest.startswith("[") and rest.count(":") > 1:
        host, _, port = rest.rpartition(":")
        return _fail(text, offset, f"IPv6 addresses go in brackets: write [{host}]:{port}")
    if "=" in rest:
        return _fail(text, offset + rest.index("="), "only one '=' (between the name and the "
                                                     "address) is allowed")
    return _fail(text, offset, "a local entry is ADDRESS:PORT, NETWORK:PORT or "
                               "NAME=ADDRESS:PORT")


def _name_without_address(text: str, name: str, host: str, column: int,
                          port: str) -> PolicyError:
    """The error for ``NAME:PORT`` (no address) and for an entry written the wrong way round."""
    if name:
        try:
            reversed_network = _parse_network(name, name, 0)
        except PolicyError:
            reversed_network = None
        if reversed_network is not None and host:
            return _fail(text, 0, f"the name comes first: write {host}={name}:{port}")
        if not host:
            return _fail(text, column, f"the address after '=' is missing: write "
                                       f"{name}=ADDRESS:{port}")
        _parse_name(text, host, column)  # an address in disguise ("0x7f.1") says so
        return _fail(text, column, f"after '=' comes the address or network {name!r} may "
                                   f"resolve to, not the name {host!r}")
    shown = _parse_name(text, host, column)
    return _fail(text, column + len(host), (
        f"a name needs the address it may reach: write {shown}=ADDRESS:{port} (e.g. "
        f"{shown}=127.0.0.1:{port}); an entry written as an address covers only URLs "
        "written with that address, never a name that resolves to it"))


def _parse_ports(text: str, port: str | None, column: int, *, allow_any: bool) -> PortRange | None:
    if port is None:
        return None
    if port == "*":
        if not allow_any:
            raise _fail(text, column, "a local entry needs an explicit port, not '*'")
        return _ANY_PORT
    pieces = port.split("-") if "-" in port else [port]
    if len(pieces) > 2:
        raise _fail(text, column, f"port {port!r} must be N, N-M or *")
    bounds = []
    col = column
    for piece in pieces:
        if not (piece.isascii() and piece.isdigit()) or not 1 <= int(piece) <= 65535:
            raise _fail(text, col, f"port {piece!r} must be a number in 1-65535")
        bounds.append(int(piece))
        col += len(piece) + 1
    if bounds[0] > bounds[-1]:
        raise _fail(text, column, f"port range {port!r} is reversed")
    return PortRange(bounds[0], bounds[-1])


def _parse_network(text: str, host: str, column: int) -> IPNetwork | None:
    """An IP or CIDR (IPv6 in brackets), or ``None`` if ``host`` is a name."""
    if host.startswith("["):
        inner = host[1:-1]
        if not host.endswith("]"):
            raise _fail(text, column, "IPv6 address needs a closing ']'")
        try:
            net = ip_network(inner, strict=True)
        except ValueError as exc:
            raise _fail(text, column + 1, f"invalid IPv6 address or network: {exc}") from None
        if not isinstance(net, IPv6Network):
            raise _fail(text, column + 1, "brackets are for IPv6; write IPv4 without them")
        return net
    address, slash, _ = host.partition("/")
    if not slash:
        if address and (address.replace(".", "").isdigit()) and address.count(".") == 3:
            try:
                return IPv4Network(address)
            except ValueError as exc:
                raise _fail(text, column, f"invalid IPv4 address: {exc}") from None
        return None
    try:
        return IPv4Network(host, strict=True)
    except ValueError as exc:
        raise _fail(text, column, f"invalid IPv4 network {host!r}: {exc}") from None


def _parse_name(text: str, name: str, column: int) -> str:
    if "*" in name:
        raise _fail(text, column + name.index("*"),
                    "'*' is only allowed alone or as a leading '*.' label")
    try:
        ip, host = _parse_host(name)
    except InvalidUrl as exc:
        raise _fail(text, column, f"invalid host: {exc}") from None
    if ip is not None:
        # A name that parses as an IP (e.g. "0x7f.1") must be written as an address, so a
        # reader of the policy sees what it really allows.
        raise _fail(text, column, f"{name!r} is the IP address {ip}; write it as an address")
    return host

