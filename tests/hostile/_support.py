"""Helpers of the hostile suite: loading the hostile WAT guest, and the runtime's and the
engine's resource counts (the process's own are in :mod:`tests.support.process`).

Loopback is reached the honest way (tests/support/guard.py): the real classifier, except that
127.0.0.1 counts as public, and a static resolver for made-up ``*.test`` names. The guard itself
is never weakened.
"""

from __future__ import annotations

from typing import Any

from astrid_host._core._limits import Limits
from astrid_host._wasm._capsule import Capsule
from astrid_host._wasm._host import Host
from tests.hostile._wat import HOSTILE_GUEST_WAT
from tests.support.guard import TEST_RULES

#: The hostile WAT guest, compiled once per test that loads it (a few ms).
HOSTILE = HOSTILE_GUEST_WAT.encode()


async def load_hostile(host: Host, limits: Limits | None = None, name: str = "hostile",
                       policy: Any = TEST_RULES) -> Capsule:
    """Load the hostile WAT guest with the test rules (every ``*.test`` name allowed)."""
    return await host.load(HOSTILE, policy=list(policy), limits=limits, name=name)


def session_of(capsule: Capsule) -> Any:
    """The runtime's per-Store session (its handle table) or None when no Store is alive."""
    live = capsule._live
    return None if live is None else live.session


def held_handles(capsule: Capsule) -> int:
    """Handles the runtime's own table holds for the capsule's current Store."""
    session = session_of(capsule)
    return 0 if session is None else len(session.resources)


def engine_open_streams(capsule: Capsule) -> int:
    """Open streams + uploads the capsule's HTTP engine counts."""
    return int(capsule._backend.open_streams)
