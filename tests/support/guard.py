"""Reaching the test servers through the real egress guard, without weakening it.

Loopback is refused by the real classifier. Tests reach it in one of two honest ways:

- :func:`loopback_as_public` wraps the real classifier and calls only the *named* loopback
  addresses public; every other address keeps the real verdict. :func:`test_resolver` maps
  made-up names (``public.test``, ``other.test``) to 127.0.0.1, and ``private.test`` to
  10.0.0.5 (refused by the real verdict, so it is never dialled).
- The operator's local allowance (``EgressPolicy.parse(local=["127.0.0.1:PORT"])``).

:func:`make_client` builds a :class:`CapsuleHttp` the first way.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterable
from ipaddress import ip_address

import anyio

from astrid_host._core._classify import IPAddress, IpVerdict, classify_ip
from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError
from astrid_host._core._policy import Classifier, EgressPolicy
from astrid_host._core._ranges import Reason
from astrid_host._net._backend import Resolver, StaticResolver
from astrid_host._net._client import CapsuleHttp

__all__ = ["NAMES", "aclose_during", "loopback_as_public", "make_client", "test_resolver"]

#: The made-up names tests use and what they resolve to.
NAMES = {
    "public.test": ["127.0.0.1"],
    "other.test": ["127.0.0.1"],
    "private.test": ["10.0.0.5"],
    "mixed.test": ["10.0.0.5", "127.0.0.1"],
}

#: Rules allowing every made-up name on any port, both schemes.
TEST_RULES = ("*://*.test:*",)


def loopback_as_public(addresses: Iterable[str] = ("127.0.0.1",)) -> Classifier:
    """The real classifier, except that the named loopback ``addresses`` count as public."""
    named = {ip_address(a) for a in addresses}
    for a in named:
        if not a.is_loopback:
            raise ValueError(f"{a} is not loopback: tests never unblock other addresses")

    def classify(addr: IPAddress) -> IpVerdict:
        if addr in named:
            return IpVerdict(True, Reason.PUBLIC)
        return classify_ip(addr)

    return classify


def test_resolver() -> StaticResolver:
    """A resolver for :data:`NAMES` (unknown names are a ``dns-error``)."""
    return StaticResolver(NAMES)


test_resolver.__test__ = False  # type: ignore[attr-defined]


def make_client(
    *,
    rules: Iterable[str] = TEST_RULES,
    local: Iterable[str] = (),
    methods: Iterable[str] | None = None,
    limits: Limits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    io_limiter: anyio.CapacityLimiter | None = None,
    name: str = "test-capsule",
    resolver: Resolver | None = None,
) -> CapsuleHttp:
    """A capsule client that reaches 127.0.0.1 under the names in :data:`NAMES`
    (or through ``resolver`` when given)."""
    policy = EgressPolicy.parse(list(rules), methods=methods, local=list(local))
    return CapsuleHttp(name, policy, limits or Limits(), resolver=resolver or test_resolver(),
                       classifier=loopback_as_public(), ssl_context=ssl_context,
                       io_limiter=io_limiter)


async def aclose_during(client: CapsuleHttp, operation: Callable[[], Awaitable[object]],
                        ) -> tuple[list[str], float]:
    """Start ``operation``, close ``client`` once it is in flight (every task has gone as far
    as it can without the network or a timer: not a guessed sleep, which a busy machine can
    outlast), and return the error-code cases the operation ended with and how long
    ``aclose`` took (trio clock)."""
    cases: list[str] = []

    async def run() -> None:
        try:
            await operation()
        except HttpError as e:
            cases.append(e.code.case)

    async with anyio.create_task_group() as nursery:
        nursery.start_soon(run)
        await anyio.wait_all_tasks_blocked()
        t0 = anyio.current_time()
        await client.aclose()
    return cases, anyio.current_time() - t0
