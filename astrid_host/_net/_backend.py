"""The network seam of the egress guard: resolve once, classify every answer, dial a pinned IP.

:class:`PinnedBackend` is an :class:`httpcore.AsyncNetworkBackend`, so the HTTP engine's
connection pool uses it for every new connection. For each ``connect_tcp(host, port)`` it

1. resolves ``host`` exactly once through an injected :class:`Resolver` (IP literals skip it),
2. classifies *every* answer (allowed: the classifier says global, or the policy's local
   allowance covers it: for an IP literal an address entry, for a name only an entry that
   names it), refusing with ``destination-prohibited`` if none is allowed,
3. connects to the allowed answers in order, never to a refused one, and
4. returns a stream wrapping httpcore's own AnyIO stream, so TLS still runs with the *hostname*
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

import contextlib
import contextvars
import errno
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import anyio
import anyio.abc
import httpcore
from httpcore._backends.anyio import AnyIOStream

from astrid_host._core._classify import IPAddress, classify_ip
from astrid_host._core._decision import Resolution
from astrid_host._core._model import ErrorCode, HttpError, TimeoutPhase
from astrid_host._core._policy import AddressCheck, Classifier, EgressPolicy
from astrid_host._net._resolvers import Resolver, StaticResolver, SystemResolver, normalise_name

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
Connector = Callable[[IPAddress, int, str | None], Awaitable[anyio.abc.ByteStream]]


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


async def _socket_connect(ip: IPAddress, port: int,
                          local_address: str | None) -> SocketStream:
    """Dial exactly ``ip`` (no lookup, no other address: ``anyio.connect_tcp`` would resolve a
    name and fold the errors of all its attempts into one, losing ``ECONNREFUSED``)."""
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the mapped form only ever reaches the IPv4 host; dial it directly
    family = socket.AF_INET if isinstance(ip, IPv4Address) else socket.AF_INET6
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        if local_address is not None:
            sock.bind((local_address, 0))
        err = sock.connect_ex((str(ip), port))
        if err in (errno.EINPROGRESS, errno.EAGAIN):
            await anyio.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))  # ECONNREFUSED: ConnectionRefusedError
        return SocketStream(sock)
    except BaseException:
        sock.close()
        raise


class SocketStream(anyio.abc.ByteStream):
    """A connected non-blocking socket, read only when asked, on trio and asyncio alike.

    Not AnyIO's asyncio socket stream: an asyncio transport reads whatever arrives into memory
    at once, so bytes a server sends to an idle pooled connection would be invisible in the
    socket, and the connection reused with them (the engine relies on "what is not read
    stays in the socket", see ``MeteredStream.holds_unread``). Here they stay in the kernel.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._closed = False

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self._sock
        return {
            anyio.abc.SocketAttribute.raw_socket: lambda: sock,
            anyio.abc.SocketAttribute.family: lambda: sock.family,
            anyio.abc.SocketAttribute.local_address: sock.getsockname,
            anyio.abc.SocketAttribute.remote_address: sock.getpeername,
        }

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint_if_cancelled()
        while True:
            self._check_open()
            try:
                data = self._sock.recv(max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            if not data:
                raise anyio.EndOfStream
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return data

    async def send(self, item: bytes) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        view = memoryview(item)
        while view:
            self._check_open()
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                await anyio.wait_writable(self._sock)
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            view = view[sent:]
        await anyio.lowlevel.cancel_shielded_checkpoint()

    async def send_eof(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            anyio.notify_closing(self._sock)  # a task waiting on it gets ClosedResourceError
            self._sock.close()
        await anyio.lowlevel.checkpoint()

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError


class ProhibitedDestination(HttpError):
    """Every answer was refused (`destination-prohibited`); keeps the whole resolution so the
    decision line can list each address with its reason."""

    def __init__(self, resolution: Resolution) -> None:
        super().__init__(ErrorCode.destination_prohibited(resolution.host, resolution.refused()))
        self.resolution = resolution


async def _cancelled_first() -> None:
    """Raise the caller's cancellation if one is pending.

    ``aclose`` cancels a capsule's operations, then closes their connections, before the
    cancelled tasks run again; AnyIO then reports a receive or send on a socket closed
    meanwhile as ``ClosedResourceError`` (httpcore's ``ReadError``/``WriteError``) instead of
    the cancellation, which would reach the capsule as ``connection-failed``.
    """
    await anyio.lowlevel.checkpoint_if_cancelled()


class PinnedStream(AnyIOStream):
    """httpcore's AnyIO stream plus the resolution it was pinned to (kept across TLS)."""

    def __init__(self, stream: anyio.abc.ByteStream, resolution: Resolution) -> None:
        super().__init__(stream)
        self.resolution = resolution

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface, not ours
    ) -> httpcore.AsyncNetworkStream:
        """TLS over the pinned connection; SNI and certificate name are ``server_hostname``."""
        tls = await super().start_tls(ssl_context, server_hostname, timeout)
        assert isinstance(tls, AnyIOStream)
        return PinnedStream(tls._stream, self.resolution)

    async def read(self, max_bytes: int,
                   timeout: float | None = None) -> bytes:  # noqa: ASYNC109 -- httpcore's
        """Receive up to ``max_bytes``; a read cancelled while its stream was being closed
        raises the cancellation, not the close (see :func:`_cancelled_first`)."""
        try:
            if timeout is None:  # the engine's: its deadlines bound reads (no scope per read)
                return await self._stream.receive(max_bytes)
            with anyio.fail_after(timeout):
                return await self._stream.receive(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await _cancelled_first()
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes,
                    timeout: float | None = None) -> None:  # noqa: ASYNC109 -- httpcore's
        """Send ``buffer``; tells the hop in flight which connection carries it (and waits
        until the hop is on the record, the first time)."""
        await _reach(self.resolution)
        if not buffer:
            return
        try:
            if timeout is None:
                await self._stream.send(buffer)
            else:
                with anyio.fail_after(timeout):
                    await self._stream.send(buffer)
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await _cancelled_first()
            raise httpcore.WriteError(exc) from exc

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
        host = normalise_name(host.strip("[]"))
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
            with anyio.fail_after(self._dns_timeout):
                answers = await self._resolver.resolve(host, port)
        except TimeoutError:
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
        connected: tuple[anyio.abc.ByteStream, Resolution] | None = None
        try:
            with anyio.fail_after(timeout):
                for check in candidates:
                    try:
                        stream = await self._connect(check.address, port, local_address)
                    except OSError as exc:
                        failures.append((check, exc))
                        continue
                    for option in socket_options or ():
                        stream.extra(anyio.abc.SocketAttribute.raw_socket).setsockopt(*option)
                    connected = stream, Resolution(resolution.host, resolution.addresses,
                                                   check.address, check.via_local)
                    break
        except TimeoutError:
            raise HttpError(ErrorCode.timeout(TimeoutPhase.CONNECT)) from None
        if connected is not None:
            stream, pinned = connected
            try:
                # Before the TLS handshake: the hop is on the record before anything of it
                # (its SNI included) leaves.
                await _reach(pinned)
            except BaseException:
                await anyio.aclose_forcefully(stream)
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
        await anyio.sleep(seconds)
