"""Shared fixtures: the compile cache of the test run, built guests, a host with a fake backend.

Compiling the componentize-py guest takes 8-17 s; every test run shares one compile cache
under ``build/test-cache`` so that cost is paid once per machine, not once per test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from astrid_host._core._limits import Limits
from astrid_host._wasm._host import CapsuleContext, Host
from tests.fakes import FakeHttp

# The loopback HTTP(S) and nginx servers (see tests/servers/__init__.py).
pytest_plugins = ["tests.servers.fixtures"]

# Hypothesis' per-example deadline (200 ms) and its too_slow health check judge the machine's
# speed, not the code: off for every property test (an explicit @settings keeps the rest of
# this profile as its parent).
settings.register_profile("astrid", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("astrid")

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "build" / "guests"


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    """The compile cache shared by every test in this run (kept between runs)."""
    path = ROOT / "build" / "test-cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def built_guest(file_name: str) -> Path:
    """The path of a built guest, or skip (fail under ASTRID_REQUIRE_ALL=1) when missing."""
    path = GUESTS / file_name
    if not path.is_file():
        message = f"{path.relative_to(ROOT)} is missing: run ./dev guests (needs componentize-py)"
        if os.environ.get("ASTRID_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def python_example_wasm() -> Path:
    """build/guests/python-example.wasm (the example capsule of guests/python/example)."""
    return built_guest("python-example.wasm")


@pytest.fixture
def fake_http() -> FakeHttp:
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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under ASTRID_REQUIRE_ALL=1 (CI) a skipped test is a failure: nothing the issues require
    may be skipped there, whatever the reason (a missing toolchain, nginx, mypy, ...)."""
    outcome = yield
    report = outcome.get_result()
    if (os.environ.get("ASTRID_REQUIRE_ALL") == "1" and report.skipped
            and not hasattr(report, "wasxfail")):
        report.outcome = "failed"
        report.longrepr = f"skipped, which CI does not allow: {report.longrepr}"
