"""The operator's local allowance: :class:`LocalEndpoint`, the only way to a non-global address.

The classifier refuses every non-global address (loopback, private, link-local, ...). Local
allowance entries, given in code by the operator (never read from the environment), both allow
the endpoint and lift the address check for it; endpoints reached that way never follow
redirects::

    127.0.0.1:8080                   the IP-literal URL http://127.0.0.1:8080/ only, never a name
    10.1.0.0/16:5432                 IP-literal URLs in 10.1.0.0/16 (IPv6 in brackets)
    sidecar.internal=127.0.0.1:8080  the name sidecar.internal, on 8080, when it resolves there

An entry is judged by every address it really reaches (the IPv4 addresses inside NAT64, 6to4,
Teredo and IPv4-mapped networks included, see :mod:`~astrid_host._core._reach`): too wide a
network, or one reaching link-local or a cloud metadata address, is refused when parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv6Address

from astrid_host._core._classify import IPAddress
from astrid_host._core._policy_rules import (
    IPNetwork,
    PolicyError,
    PortRange,
    _fail,
    _parse_name,
    _parse_network,
    _parse_ports,
)
from astrid_host._core._reach import allowance_problem
from astrid_host._core._url import ParsedUrl

__all__ = ["LocalEndpoint", "parse_local"]


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

def _unmapped(ip: IPAddress) -> IPAddress:
    # An IPv4-mapped IPv6 answer reaches the IPv4 host, so IPv4 entries must cover it too.
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip

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
