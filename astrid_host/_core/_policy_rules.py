"""The operator's allow rules and the error every policy entry raises: :class:`Rule`.

A rule is ``scheme://host[:port]``::

    https://api.example.com          exact host, port 443 (the scheme's default)
    http://*.example.com:8080        any subdomain of example.com (not example.com itself)
    https://*:443                    any host, including IP literals, on port 443
    *://10.1.2.0/24:5432             IP-literal URLs in 10.1.2.0/24, either scheme, port 5432
    https://[2001:db8::/32]:*        IPv6 CIDR in brackets, any port
    http://example.com:8000-8100     a port range

A rule never lifts the address check: ``https://*`` still refuses ``https://127.0.0.1/`` and
names that resolve to private addresses (only the local allowance does, see
:mod:`~astrid_host._core._policy_local`). The port, network and name parsers here are shared
with the local allowance, so both spell hosts and ports the same way.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network

from astrid_host._core._url import DEFAULT_PORTS, InvalidUrl, ParsedUrl, _parse_host

__all__ = ["HostKind", "IPNetwork", "PolicyError", "PortRange", "Rule", "parse_rule"]

IPNetwork = IPv4Network | IPv6Network


class PolicyError(ValueError):
    """An operator's rule or allowance entry is malformed; the message points at the problem."""


def _fail(text: str, column: int, problem: str) -> PolicyError:
    return PolicyError(f"{problem}\n    {text}\n    {' ' * column}^")


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
