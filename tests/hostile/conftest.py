"""Fixtures of the hostile suite: a Host whose capsules get the real HTTP engine (helpers are in
:mod:`tests.hostile._support`; the loopback test servers are the shared fixtures of
:mod:`tests.support.fixtures`).

Loopback is reached the honest way (tests/support/guard.py): the real classifier, except that
127.0.0.1 counts as public, and a static resolver for made-up ``*.test`` names. The guard itself
is never weakened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from astrid_host._core._limits import Limits
from astrid_host._wasm._host import Host
from tests.support.guard import loopback_as_public, test_resolver


@pytest.fixture
async def real_host(cache_dir: Path) -> AsyncIterator[Host]:
    """A Host whose capsules use the real CapsuleHttp, reaching 127.0.0.1 as ``*.test``."""
    async with Host(cache_dir=cache_dir, resolver=test_resolver(),
                    classifier=loopback_as_public(), limits=Limits()) as h:
        yield h
