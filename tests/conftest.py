"""Shared fixtures: the compile cache of the test run, built guests, a host with a fake backend,
an HTTP client for the test servers (the servers' own are in :mod:`tests.support.fixtures`).
Tests are in folders by layer (tests/__init__.py); what they share is :mod:`tests.support`.

Compiling the componentize-py guest takes 8-17 s; every test run shares one compile cache
under ``build/test-cache`` so that cost is paid once per machine, not once per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from astrid_host._core._limits import Limits
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm import _malloc
from astrid_host._wasm._host import CapsuleContext, Host
from tests.support.fakes import FakeHttp
from tests.support.guard import make_client
from tests.support.paths import ROOT, built_guest, require_all

# The loopback HTTP(S) and nginx servers (see tests/support/__init__.py).
pytest_plugins = ["tests.support.fixtures"]

# Hypothesis' per-example deadline (200 ms) and its too_slow health check judge the machine's
# speed, not the code: off for every property test (an explicit @settings keeps the rest of
# this profile as its parent).
settings.register_profile("astrid", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("astrid")


#: The event loops every async test runs on: trio, the reference, first.
BACKENDS = ("trio", "asyncio")


@pytest.fixture(scope="module", params=BACKENDS)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """AnyIO's plugin runs each async test (and its async fixtures) once per backend."""
    backend: str = request.param
    return backend


@pytest.fixture(autouse=True)
def no_process_wide_malloc(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """glibc's ``mallopt`` as a recorder: the CLI (run in-process by its tests) sets the malloc
    thresholds by default, which would change the allocator of every later test in this
    process for good (``tests/wasm/test_malloc.py`` checks the real effect in child
    processes). Yields the ``(option, value)`` calls made."""
    calls: list[tuple[int, int]] = []

    def mallopt(option: int, value: int) -> int:
        calls.append((option, value))
        return 1

    monkeypatch.setattr(_malloc, "_mallopt", lambda: mallopt)
    return calls


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The compile cache shared by every test in this run (kept between runs)."""
    path = ROOT / "build" / "test-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def python_example_wasm() -> Path:
    """build/guests/python-example.wasm (the example capsule of guests/python/example)."""
    return built_guest("python-example.wasm")


@pytest.fixture
def fake_http() -> FakeHttp:
    """The fake HTTP backend that every capsule of the `host` fixture shares."""
    return FakeHttp()


@pytest.fixture
def contexts() -> list[CapsuleContext]:
    """Every CapsuleContext the `host` fixture's factory was called with."""
    return []


@pytest.fixture
async def host(cache_dir: Path, fake_http: FakeHttp,
               contexts: list[CapsuleContext]) -> AsyncIterator[Host]:
    """A running Host whose capsules all share `fake_http` as their HTTP backend."""
    def factory(ctx: CapsuleContext) -> FakeHttp:
        contexts.append(ctx)
        return fake_http

    async with Host(cache_dir=cache_dir, http_factory=factory, limits=Limits()) as h:
        yield h


@pytest.fixture
def client_limits() -> Limits | None:
    """The limits of the `client` fixture (None: the defaults); override it in a module."""
    return None


@pytest.fixture
async def client(client_limits: Limits | None) -> AsyncIterator[CapsuleHttp]:
    """A capsule's HTTP client reaching the test servers through the real guard
    (:func:`tests.support.guard.make_client`), closed afterwards."""
    c = make_client(limits=client_limits)
    try:
        yield c
    finally:
        await c.aclose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under ASTRID_REQUIRE_ALL=1 (CI) a skipped test is a failure: nothing the issues require
    may be skipped there, whatever the reason (a missing toolchain, nginx, mypy, ...)."""
    outcome = yield
    report = outcome.get_result()
    if (require_all() and report.skipped
            and not hasattr(report, "wasxfail")):
        report.outcome = "failed"
        report.longrepr = f"skipped, which CI does not allow: {report.longrepr}"
