"""pytest fixtures for the test servers; load with ``pytest_plugins = ["tests.support.fixtures"]``.

See :mod:`tests.support` for the list. The AnyIO servers are function-scoped (each async test has
its own event loop, trio or asyncio); the CA and nginx are session-scoped.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.http import TestServer, run_http_server
from tests.support.nginx import Nginx, find_nginx, start_nginx
from tests.support.paths import require_all
from tests.support.tls import TestCA


@pytest.fixture(scope="session")
def tls_ca() -> TestCA:
    """A throwaway CA shared by the session's HTTPS servers."""
    return TestCA()


@pytest.fixture
async def http_server() -> AsyncIterator[TestServer]:
    """A plain HTTP test server on 127.0.0.1."""
    async with run_http_server() as server:
        yield server


@pytest.fixture
async def http_server_b() -> AsyncIterator[TestServer]:
    """A second plain HTTP server (another origin: different port)."""
    async with run_http_server() as server:
        yield server


@pytest.fixture
async def https_server(tls_ca: TestCA) -> AsyncIterator[TestServer]:
    """HTTPS with a valid certificate for public.test, other.test, localhost and 127.0.0.1."""
    async with run_http_server(ssl_context=tls_ca.server_context()) as server:
        yield server


@pytest.fixture
async def https_wrong_host_server(tls_ca: TestCA) -> AsyncIterator[TestServer]:
    """HTTPS whose certificate names only wrong.test."""
    async with run_http_server(ssl_context=tls_ca.server_context("wrong.test")) as server:
        yield server


@pytest.fixture
async def https_expired_server(tls_ca: TestCA) -> AsyncIterator[TestServer]:
    """HTTPS with an expired certificate for the default names."""
    ctx = tls_ca.server_context(expired=True)
    async with run_http_server(ssl_context=ctx) as server:
        yield server


@pytest.fixture(scope="session")
def nginx(tls_ca: TestCA) -> Iterator[Nginx]:
    """nginx serving static files on loopback over HTTP and HTTPS (session-wide)."""
    binary = find_nginx()
    if binary is None:
        if require_all():
            pytest.fail("nginx is required (ASTRID_REQUIRE_ALL=1): apt-get install nginx-light")
        pytest.skip("nginx not installed: apt-get install nginx-light")
    with start_nginx(binary, tls_ca) as server:
        yield server


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
