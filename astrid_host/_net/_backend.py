"""The network seam of the egress guard: resolve once, classify every answer, dial a pinned IP.

:class:`PinnedBackend` is an :class:`httpcore.AsyncNetworkBackend`, so the HTTP engine's
connection pool uses it for every new connection. For each ``connect_tcp(host, port)`` it

1. resolves ``host`` exactly once through an injected :class:`Resolver` (IP literals skip it),
2. classifies *every* answer (allowed: the classifier says global, or the policy's local
   allowance covers it: for an IP literal an address entry, for a name only an entry that
   names it), refusing with ``destination-prohibited`` if none is allowed,
3. connects to the allowed answers in order, never to a refused one, and
4. returns a stream wrapping httpcore's own trio stream, so TLS still runs with the *hostname*
   as SNI and for certificate checks (httpcore calls ``start_tls(server_hostname=host)``).

Because the address connected to is the address that was classified, a second DNS answer cannot
change the destination (DNS rebinding). The stream answers
``get_extra_info("astrid.resolution")`` with the :class:`Resolution`.

What a hop resolved and connected to also reaches the engine when the hop fails (DNS answered
but every connect was refused, the TLS handshake failed, the server never answered): the engine
puts a fresh :class:`HopTrace` in :data:`TRACE` before each hop, and the backend reports into it
(see :class:`HopTrace`). The trace also lets the engine put the hop on the record before its
first byte: the backend awaits :meth:`HopTrace.reached` once a connection is made (before a TLS
handshake) and before every write, and a failure there (the audit trail cannot be written)
closes the connection unused.
"""

from __future__ import annotations

import abc
import contextvars
import errno
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import httpcore
import trio
from httpcore._backends.trio import TrioStream

from astrid_host._core._classify import IPAddress, classify_ip
from astrid_host._core._decision import Resolution
from astrid_host._core._model import ErrorCode, HttpError, TimeoutPhase
from astrid_host._core._policy import AddressCheck, Classifier, EgressPolicy

__all__ = [
    "Connector",
    "DEFAULT_DNS_TIMEOUT",
    "TRACE",
    "HopTrace",
    "PinnedBackend",
    "ProhibitedDestination",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
]

#: Seconds a lookup may take when the backend is not told otherwise.
DEFAULT_DNS_TIMEOUT = 10.0

#: Opens a TCP stream to one already-classified address: ``(ip, port, local_address)``.
#: Injected by tests to record connection attempts without sending anything.
Connector = Callable[[IPAddress, int, str | None], Awaitable[trio.abc.Stream]]


class HopTrace:
    """Where one hop went, as far as it got: the last :class:`Resolution` reported for it.

    httpcore calls the backend and the stream, never the engine, so the engine learns this
    through the context variable :data:`TRACE` (set per hop, in the task that sends the hop).
    The backend reports the resolution once every answer is judged, again with the chosen
    address once connected, and a stream reports its own whenever it carries a request (that
    covers a pooled connection, for which nothing is resolved). After a failure the trace still
    holds what was resolved and, if a connection was made, the address chosen.

    on_reach: awaited once, with the connection's resolution, the first time the hop reaches a
    connection it is about to send on (:meth:`reached`); it may raise ``HttpError`` to stop the
    hop before anything of it is sent.
    """

    __slots__ = ("_on_reach", "resolution")

    def __init__(self, on_reach: Callable[[Resolution], Awaitable[None]] | None = None) -> None:
        self.resolution: Resolution | None = None
        self._on_reach = on_reach

    async def reached(self, resolution: Resolution) -> None:
        """The hop is about to send on a connection pinned to ``resolution.chosen``."""
        self.resolution = resolution
        hook, self._on_reach = self._on_reach, None
        if hook is not None:
            await hook(resolution)


#: The trace of the hop in flight in the current task (``None``: nobody is listening).
TRACE: contextvars.ContextVar[HopTrace | None] = contextvars.ContextVar("astrid_hop_trace",
                                                                       default=None)


def _report(resolution: Resolution) -> None:
    trace = TRACE.get()
    if trace is not None:
        trace.resolution = resolution


async def _reach(resolution: Resolution) -> None:
    trace = TRACE.get()
    if trace is not None:
        await trace.reached(resolution)


class Resolver(abc.ABC):
    """Turns a host name into addresses. Implementations raise ``HttpError(dns-error)``."""

    @abc.abstractmethod
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses for ``host`` in preference order (may contain duplicates)."""


class SystemResolver(Resolver):
    """The system resolver via :func:`trio.socket.getaddrinfo` (in a worker thread).

    No timeout of its own: :class:`PinnedBackend` wraps every lookup in ``dns_timeout``.
    """

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Look ``host`` up for TCP; a lookup failure becomes ``dns-error``."""
        try:
            infos = await trio.socket.getaddrinfo(
                host, port, type=trio.socket.SOCK_STREAM, proto=trio.socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            detail = getattr(exc, "strerror", None) or str(exc)
            raise HttpError(ErrorCode.dns_error(f"{host}: {detail}")) from None
        # getaddrinfo may append "%scope" to link-local answers; the scope does not change
        # the verdict (link-local is refused) but ip_address() would reject the text.
        return [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


class StaticResolver(Resolver):
    """A fixed name → addresses table (tests, and the CLI's ``--resolve``). Names are
    compared case-insensitively without a trailing dot; unknown names are a ``dns-error``."""

    def __init__(self, mapping: Mapping[str, Iterable[str | IPAddress]]) -> None:
        for name, answers in mapping.items():
            if isinstance(answers, (str, bytes)):
                # One string would be read a character at a time.
                raise TypeError(f"the answers for {name!r} must be a list of addresses, not one "
                                f"{type(answers).__name__}: write [{answers!r}]")
        self._table: dict[str, tuple[IPAddress, ...]] = {
            _normalise(name): tuple(ip_address(a) for a in answers)
            for name, answers in mapping.items()
        }

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The table's answers for ``host``."""
        await trio.lowlevel.checkpoint()
        answers = self._table.get(_normalise(host))
        if not answers:
            raise HttpError(ErrorCode.dns_error(f"{host}: no such name in the static table"))
        return list(answers)


def _normalise(name: str) -> str:
    return name.lower().rstrip(".")


async def _socket_connect(ip: IPAddress, port: int, local_address: str | None) -> trio.abc.Stream:
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the mapped form only ever reaches the IPv4 host; dial it directly
    family = trio.socket.AF_INET if isinstance(ip, IPv4Address) else trio.socket.AF_INET6
    sock = trio.socket.socket(family, trio.socket.SOCK_STREAM, trio.socket.IPPROTO_TCP)
    try:
        if local_address is not None:
            await sock.bind((local_address, 0))
        await sock.connect((str(ip), port))
    except BaseException:
        sock.close()
        raise
    return trio.SocketStream(sock)


class ProhibitedDestination(HttpError):
    """Every answer was refused (`destination-prohibited`); keeps the whole resolution so the
    decision line can list each address with its reason."""

    def __init__(self, resolution: Resolution) -> None:
        super().__init__(ErrorCode.destination_prohibited(resolution.host, resolution.refused()))
        self.resolution = resolution


class PinnedStream(TrioStream):
    """httpcore's trio stream plus the resolution it was pinned to (kept across TLS)."""

    def __init__(self, stream: trio.abc.Stream, resolution: Resolution) -> None:
        super().__init__(stream)
        self.resolution = resolution

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface, not ours
    ) -> httpcore.AsyncNetworkStream:
        """TLS over the pinned connection; SNI and certificate name are ``server_hostname``."""
        tls = await super().start_tls(ssl_context, server_hostname, timeout)
        assert isinstance(tls, TrioStream)
        return PinnedStream(tls._stream, self.resolution)

    async def write(self, buffer: bytes,
                    timeout: float | None = None) -> None:  # noqa: ASYNC109 -- httpcore's
        """Send ``buffer``; tells the hop in flight which connection carries it (and waits
        until the hop is on the record, the first time)."""
        await _reach(self.resolution)
        await super().write(buffer, timeout)

    def get_extra_info(self, info: str) -> Any:
        """httpcore's infos, plus ``"astrid.resolution"``."""
        if info == "astrid.resolution":
            return self.resolution
        return super().get_extra_info(info)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that only ever connects to addresses the guard allowed.

    policy: supplies the local allowance (the only way to reach non-global addresses).
    resolver: looked up once per connection (default :class:`SystemResolver`).
    classifier: :func:`classify_ip` in production; tests may inject one that treats named
      loopback addresses as public (never by weakening the real classifier).
    dns_timeout: seconds one lookup may take before ``timeout(dns)``.
    connect: opens the TCP stream to one chosen address (tests inject a recording fake).
    """

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver | None = None,
        *,
        classifier: Classifier = classify_ip,
        dns_timeout: float = DEFAULT_DNS_TIMEOUT,
        connect: Connector | None = None,
    ) -> None:
        self._policy = policy
        self._resolver = resolver if resolver is not None else SystemResolver()
        self._classifier = classifier
        self._dns_timeout = dns_timeout
        self._connect = connect if connect is not None else _socket_connect

    async def resolve(self, host: str, port: int) -> Resolution:
        """Resolve and classify, without connecting (also used by ``check-url``).

        IP literals are classified directly; names are looked up once.
        """
        host = _normalise(host.strip("[]"))
        name: str | None
        try:
            answers: list[IPAddress] = [ip_address(host)]
            name = None  # an IP literal: only address entries of the allowance cover it
        except ValueError:
            answers = await self._lookup(host, port)
            name = host  # a name: only entries naming it cover its answers
        unique = list(dict.fromkeys(answers))
        checks = tuple(self._policy.check_address(ip, port, name, self._classifier)
                       for ip in unique)
        return Resolution(host, checks)

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            with trio.fail_after(self._dns_timeout):
                answers = await self._resolver.resolve(host, port)
        except trio.TooSlowError:
            raise HttpError(ErrorCode.timeout(TimeoutPhase.DNS)) from None
        except HttpError:
            raise
        except (OSError, ValueError) as exc:
            raise HttpError(ErrorCode.dns_error(f"{host}: {exc}")) from None
        if not answers:
            raise HttpError(ErrorCode.dns_error(f"{host}: no addresses"))
        return answers

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface, not ours
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve once, classify every answer, connect to the first allowed one that works.

        ``timeout`` bounds the whole connect phase (all attempts together).
        """
        resolution = await self.resolve(host, port)
        _report(resolution)
        candidates = resolution.allowed
        if not candidates:
            raise ProhibitedDestination(resolution)
        failures: list[tuple[AddressCheck, OSError]] = []
        connected: tuple[trio.abc.Stream, Resolution] | None = None
        try:
            with trio.fail_after(float("inf") if timeout is None else timeout):
                for check in candidates:
                    try:
                        stream = await self._connect(check.address, port, local_address)
                    except OSError as exc:
                        failures.append((check, exc))
                        continue
                    for option in socket_options or ():
                        stream.setsockopt(*option)  # type: ignore[attr-defined]
                    connected = stream, Resolution(resolution.host, resolution.addresses,
                                                   check.address, check.via_local)
                    break
        except trio.TooSlowError:
            raise HttpError(ErrorCode.timeout(TimeoutPhase.CONNECT)) from None
        if connected is not None:
            stream, pinned = connected
            try:
                # Before the TLS handshake: the hop is on the record before anything of it
                # (its SNI included) leaves.
                await _reach(pinned)
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            return PinnedStream(stream, pinned)
        detail = "; ".join(f"{c.address}: {e.strerror or e}" for c, e in failures)
        detail = f"{resolution.host}:{port}: {detail}"
        if all(e.errno == errno.ECONNREFUSED for _, e in failures):
            raise HttpError(ErrorCode.connection_refused(detail))
        raise HttpError(ErrorCode.connection_failed(detail))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refused: a capsule's traffic only goes to classified TCP endpoints."""
        raise HttpError(ErrorCode.denied("unix sockets are not available to capsules"))

    async def sleep(self, seconds: float) -> None:
        """httpcore's retry back-off."""
        await trio.sleep(seconds)
