"""The pinned backend: only classified-and-allowed addresses are ever connected to.

No test lets a connection attempt leave the machine, even if the code under test is wrong:
real sockets only ever target loopback stand-ins (127.0.0.2 plays a refused address and has a
recording listener, 127.0.0.1 plays a public one through a test-only classifier or the local
allowance), and every non-loopback address goes to a recording fake connect.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable, Iterable

import anyio
import anyio.abc
import anyio.lowlevel
import httpcore
import pytest
import trio
import trio.testing
import trustme
from anyio.streams.stapled import StapledObjectStream
from anyio.streams.tls import TLSStream
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._classify import IPAddress, IpVerdict, Reason, classify_ip
from astrid_host._core._decision import Resolution
from astrid_host._core._model import HttpError, TimeoutPhase
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import PinnedBackend, Resolver, StaticResolver, SystemResolver
from tests.support.oracle import expect

ALLOW_ALL = EgressPolicy.parse(["*://*:*"])


def loopback_as_public(*names: str) -> Callable[[IPAddress], IpVerdict]:
    """A test-only classifier: the named loopback addresses count as public, nothing else
    changes. The real classifier is never weakened."""
    public = {ipaddress.ip_address(n) for n in names}

    def classify(ip: IPAddress) -> IpVerdict:
        return IpVerdict(True, Reason.PUBLIC) if ip in public else classify_ip(ip)

    return classify


def _autojump() -> pytest.MarkDecorator:
    """trio only: a MockClock that jumps ahead whenever every task waits, so a 3 s timeout
    takes no real time and is exact. asyncio has no such clock; the same deadlines are
    exercised on both backends on the real clock (tests/net/test_timeouts.py)."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    return pytest.mark.parametrize(
        "anyio_backend", [pytest.param(("trio", {"clock": clock}), id="trio-autojump")])


class RecordingConnect:
    """A fake connect: records every attempt; never opens a socket."""

    def __init__(self, refuse: Iterable[str] = (), fail: Iterable[str] = (),
                 hang: bool = False) -> None:
        self.attempts: list[str] = []
        self._refuse = set(refuse)
        self._fail = set(fail)
        self._hang = hang

    async def __call__(self, ip: IPAddress, port: int,
                       local: str | None) -> anyio.abc.ByteStream:
        self.attempts.append(str(ip))
        if self._hang:
            await anyio.sleep_forever()
        if str(ip) in self._refuse:
            raise ConnectionRefusedError(111, "Connection refused")
        if str(ip) in self._fail:
            raise OSError(113, "No route to host")
        send, receive = anyio.create_memory_object_stream[bytes](1)
        return StapledObjectStream(send, receive)  # type: ignore[return-value]


class CountingResolver(Resolver):
    def __init__(self, *answers: list[str]) -> None:
        self.calls = 0
        self._answers = answers

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.calls += 1
        await anyio.lowlevel.checkpoint()
        return [ipaddress.ip_address(a) for a in self._answers[min(self.calls, len(self._answers))
                                                               - 1]]


class Listener:
    """A loopback listener that counts accepted connections and answers one HTTP response.

    The refused stand-in listens on the *same port* as the allowed one, so a wrong dial would
    be accepted and counted, not merely refused and silently retried elsewhere."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.accepted = 0

    async def start(self, nursery: anyio.abc.TaskGroup, tls: ssl.SSLContext | None = None,
                    port: int = 0) -> int:
        multi = await anyio.create_tcp_listener(local_host=self.address, local_port=port,
                                                backlog=8)
        nursery.start_soon(self._serve, multi.listeners[0], tls)
        return int(multi.extra(anyio.abc.SocketAttribute.local_port))

    async def _serve(self, listener: anyio.abc.SocketListener,
                     tls: ssl.SSLContext | None) -> None:
        async with listener:
            while True:
                conn = await listener.accept()
                self.accepted += 1
                stream: anyio.abc.ByteStream = conn
                try:
                    if tls is not None:
                        stream = await TLSStream.wrap(conn, server_side=True, ssl_context=tls,
                                                      standard_compatible=False)
                    await stream.receive(65536)
                    await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                      b"Connection: close\r\n\r\nok")
                except (anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError):
                    pass
                finally:
                    await stream.aclose()


def _prohibited(exc: HttpError) -> list[tuple[str, str]]:
    assert exc.code.case == "destination-prohibited"
    payload = exc.code.payload
    return [(a.address, a.reason) for a in payload.addresses]  # type: ignore[union-attr]


async def test_only_the_allowed_answer_is_connected_to_over_real_loopback() -> None:
    denied, allowed = Listener("127.0.0.2"), Listener("127.0.0.1")
    async with anyio.create_task_group() as nursery:
        port = await allowed.start(nursery)
        await denied.start(nursery, port=port)
        backend = PinnedBackend(ALLOW_ALL,
                                StaticResolver({"public.test": ["127.0.0.2", "127.0.0.1"]}),
                                classifier=loopback_as_public("127.0.0.1"))
        async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
            response = await pool.request("GET", f"http://public.test:{port}/")
            assert (response.status, response.content) == (200, b"ok")
        nursery.cancel_scope.cancel()
    assert (denied.accepted, allowed.accepted) == (0, 1)


async def test_local_allowance_reaches_loopback_and_marks_the_resolution() -> None:
    denied, allowed = Listener("127.0.0.2"), Listener("127.0.0.1")
    async with anyio.create_task_group() as nursery:
        port = await allowed.start(nursery)
        await denied.start(nursery, port=port)
        policy = EgressPolicy.parse([], local=[f"svc.test=127.0.0.1:{port}"])
        backend = PinnedBackend(policy, StaticResolver({"svc.test": ["127.0.0.2", "127.0.0.1"]}))
        stream = await backend.connect_tcp("svc.test", port, timeout=5)
        resolution = stream.get_extra_info("astrid.resolution")
        await stream.aclose()
        nursery.cancel_scope.cancel()
    assert isinstance(resolution, Resolution)
    assert resolution.chosen == ipaddress.ip_address("127.0.0.1") and resolution.via_local
    assert [(str(a.address), a.allowed) for a in resolution.addresses] == [
        ("127.0.0.2", False), ("127.0.0.1", True)]
    assert denied.accepted == 0


async def test_tls_keeps_the_hostname_for_sni_and_certificate_while_pinned() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("public.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    server = Listener("127.0.0.1")
    async with anyio.create_task_group() as nursery:
        port = await server.start(nursery, tls=server_ctx)
        backend = PinnedBackend(ALLOW_ALL, StaticResolver({"public.test": ["127.0.0.1"]}),
                                classifier=loopback_as_public("127.0.0.1"))
        async with httpcore.AsyncConnectionPool(network_backend=backend,
                                                ssl_context=client_ctx) as pool:
            response = await pool.request("GET", f"https://public.test:{port}/")
            stream = response.extensions["network_stream"]
            resolution = stream.get_extra_info("astrid.resolution")
            assert stream.get_extra_info("ssl_object").server_hostname == "public.test"
            assert response.status == 200
        nursery.cancel_scope.cancel()
    assert resolution.chosen == ipaddress.ip_address("127.0.0.1")


async def test_every_answer_denied_raises_destination_prohibited_without_connecting() -> None:
    connect = RecordingConnect()
    backend = PinnedBackend(ALLOW_ALL, StaticResolver({"evil.test": ["10.0.0.1", "::1",
                                                                     "169.254.169.254"]}),
                            connect=connect)
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("evil.test", 80)
    assert _prohibited(info.value) == [("10.0.0.1", "private"), ("::1", "loopback"),
                                       ("169.254.169.254", "link-local")]
    assert connect.attempts == []


async def test_mixed_answers_connect_only_to_allowed_ones_in_order() -> None:
    connect = RecordingConnect(refuse=["93.184.216.34"])
    backend = PinnedBackend(
        ALLOW_ALL,
        StaticResolver({"mixed.test": ["10.0.0.1", "93.184.216.34", "192.168.0.1", "8.8.8.8"]}),
        connect=connect)
    stream = await backend.connect_tcp("mixed.test", 443, timeout=5)
    assert connect.attempts == ["93.184.216.34", "8.8.8.8"]
    assert stream.get_extra_info("astrid.resolution").chosen == ipaddress.ip_address("8.8.8.8")


async def test_ip_literal_hosts_skip_the_resolver() -> None:
    resolver, connect = CountingResolver(["8.8.8.8"]), RecordingConnect()
    backend = PinnedBackend(ALLOW_ALL, resolver, connect=connect)
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("::ffff:10.0.0.1", 80)
    assert _prohibited(info.value) == [("::ffff:a00:1", "embedded-ipv4:mapped")]
    await backend.connect_tcp("[2606:4700::1]", 80)
    assert (resolver.calls, connect.attempts) == (0, ["2606:4700::1"])


async def test_dns_rebinding_cannot_change_the_destination() -> None:
    """A resolver that answers public first and private afterwards is asked once per
    connection, and the address connected to is the one that was classified."""
    resolver = CountingResolver(["8.8.4.4"], ["127.0.0.1"])
    connect = RecordingConnect()
    backend = PinnedBackend(ALLOW_ALL, resolver, connect=connect)
    stream = await backend.connect_tcp("rebind.test", 80)
    assert (resolver.calls, connect.attempts) == (1, ["8.8.4.4"])
    assert stream.get_extra_info("astrid.resolution").chosen == ipaddress.ip_address("8.8.4.4")
    with pytest.raises(HttpError):
        await backend.connect_tcp("rebind.test", 80)  # the second lookup is judged afresh
    assert connect.attempts == ["8.8.4.4"]


@pytest.mark.parametrize(
    ("refuse", "fail", "case"),
    [(["8.8.8.8", "1.1.1.1"], [], "connection-refused"),
     (["8.8.8.8"], ["1.1.1.1"], "connection-failed")],
)
async def test_all_allowed_attempts_failing_reports_refused_or_failed(
        refuse: list[str], fail: list[str], case: str) -> None:
    connect = RecordingConnect(refuse=refuse, fail=fail)
    backend = PinnedBackend(ALLOW_ALL, StaticResolver({"down.test": ["8.8.8.8", "1.1.1.1"]}),
                            connect=connect)
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("down.test", 80)
    assert info.value.code.case == case
    assert "8.8.8.8" in str(info.value) and "1.1.1.1" in str(info.value)


@_autojump()
async def test_slow_dns_is_a_dns_timeout() -> None:
    class Hanging(Resolver):
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            await anyio.sleep_forever()
            raise AssertionError

    backend = PinnedBackend(ALLOW_ALL, Hanging(), dns_timeout=3, connect=RecordingConnect())
    start = anyio.current_time()
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("slow.test", 80)
    assert info.value.code.payload is TimeoutPhase.DNS
    assert anyio.current_time() - start == pytest.approx(3)


@_autojump()
async def test_slow_connect_is_a_connect_timeout() -> None:
    connect = RecordingConnect(hang=True)
    backend = PinnedBackend(ALLOW_ALL, StaticResolver({"slow.test": ["8.8.8.8"]}),
                            connect=connect)
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("slow.test", 80, timeout=2)
    assert info.value.code.payload is TimeoutPhase.CONNECT
    assert connect.attempts == ["8.8.8.8"]


@pytest.mark.parametrize("answers", [[], None])
async def test_resolver_failures_become_dns_errors(answers: list[str] | None) -> None:
    class Broken(Resolver):
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            await anyio.lowlevel.checkpoint()
            if answers is None:
                raise OSError("resolver exploded")
            return []

    backend = PinnedBackend(ALLOW_ALL, Broken(), connect=RecordingConnect())
    with pytest.raises(HttpError) as info:
        await backend.connect_tcp("x.test", 80)
    assert info.value.code.case == "dns-error"


async def test_static_resolver_is_case_insensitive_and_rejects_unknown_names() -> None:
    resolver = StaticResolver({"Api.Test.": ["8.8.8.8", "2606:4700::1"]})
    assert [str(a) for a in await resolver.resolve("api.test", 443)] == ["8.8.8.8",
                                                                         "2606:4700::1"]
    with pytest.raises(HttpError, match="dns-error"):
        await resolver.resolve("other.test", 443)


async def test_system_resolver_reads_localhost_from_the_hosts_file() -> None:
    answers = await SystemResolver().resolve("localhost", 80)
    assert ipaddress.ip_address("127.0.0.1") in answers or ipaddress.ip_address("::1") in answers


async def test_duplicate_answers_are_judged_once() -> None:
    backend = PinnedBackend(ALLOW_ALL, StaticResolver({"d.test": ["8.8.8.8", "8.8.8.8"]}),
                            connect=RecordingConnect())
    resolution = await backend.resolve("d.test", 80)
    assert len(resolution.addresses) == 1


async def test_unix_sockets_are_refused() -> None:
    backend = PinnedBackend(ALLOW_ALL, connect=RecordingConnect())
    with pytest.raises(HttpError, match="denied"):
        await backend.connect_unix_socket("/var/run/docker.sock")


_answer = st.one_of(
    st.sampled_from(["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "::ffff:10.0.0.1",
                     "64:ff9b::7f00:1", "fd00::1", "8.8.8.8", "2606:4700::1", "100.64.0.1",
                     "192.168.0.1"]),
    st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n))))


def _covered_by(local: list[str], ip: IPAddress) -> bool:
    """Independent reading of the local-allowance choices used below (name any.test, port 443):
    only entries naming any.test cover its answers."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if local == ["any.test=10.0.0.0/8:443"]:
        return ip in ipaddress.ip_network("10.0.0.0/8")
    if local == ["any.test=127.0.0.1:443"]:
        return ip == ipaddress.ip_address("127.0.0.1")
    return False


@settings(max_examples=300, deadline=None)
@given(answers=st.lists(_answer, min_size=1, max_size=5),
       refuse=st.lists(_answer, max_size=3),
       local=st.sampled_from([[], ["any.test=10.0.0.0/8:443"], ["any.test=127.0.0.1:443"],
                              ["10.0.0.0/8:443"], ["127.0.0.1:443"]]))
async def test_backend_only_ever_dials_allowed_answers(
        answers: list[str], refuse: list[str], local: list[str]) -> None:
    """Invariant: for any resolver answers (some refusing connections), every address the
    backend tries to connect to is globally reachable by the registry oracle or covered by the
    local allowance, attempts follow resolver order, and a returned stream is pinned to the
    last address tried."""
    connect = RecordingConnect(refuse=refuse)
    policy = EgressPolicy.parse(["*://*:*"], local=local)
    backend = PinnedBackend(policy, StaticResolver({"any.test": answers}), connect=connect)
    try:
        stream = await backend.connect_tcp("any.test", 443)
    except HttpError as exc:
        assert exc.code.case in ("destination-prohibited", "connection-refused")
        stream = None
    for attempt in connect.attempts:
        ip = ipaddress.ip_address(attempt)
        assert expect(ip).allowed or _covered_by(local, ip), attempt
    unique = list(dict.fromkeys(ipaddress.ip_address(a) for a in answers))
    assert [ipaddress.ip_address(a) for a in connect.attempts] == [
        a for a in unique if a in {ipaddress.ip_address(x) for x in connect.attempts}]
    if stream is not None:
        chosen = stream.get_extra_info("astrid.resolution").chosen
        assert str(chosen) == connect.attempts[-1]
