"""Ending the host while capsules misbehave: the exit is prompt and clean whoever calls it."""

from __future__ import annotations

from pathlib import Path

import anyio

from astrid_host._core._limits import Limits
from astrid_host._wasm._errors import CapsuleClosed
from astrid_host._wasm._host import Host
from tests.hostile._support import load_hostile
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.process import describe, run_child
from tests.support.timing import PROMPT_S


async def test_leaving_the_host_block_stops_a_spinning_guest_promptly(cache_dir: Path) -> None:
    outcome: list[str] = []
    async with anyio.create_task_group() as background:
        async with Host(cache_dir=cache_dir, resolver=test_resolver(),
                        classifier=loopback_as_public()) as host:
            capsule = await load_hostile(host, Limits(call_timeout_s=60, fuel_per_call=10**15))

            async def spin() -> None:
                try:
                    await capsule.call("spin")
                except CapsuleClosed:
                    outcome.append("closed")

            background.start_soon(spin)
            await anyio.sleep(0.1)
            start = anyio.current_time()
        assert anyio.current_time() - start < PROMPT_S  # not the call's 60 s budget
    assert outcome == ["closed"] and capsule.closed


_ACLOSE_FROM_NESTED_TASK = """
import sys

import anyio
from astrid_host._wasm._host import Host
from tests.hostile._support import load_hostile

async def main():
    async with Host(use_cache=False) as host:
        capsule = await load_hostile(host)
        async with anyio.create_task_group() as nursery:
            nursery.start_soon(host.aclose)
        assert capsule.closed
    print("closed cleanly")

anyio.run(main, backend=sys.argv[1])
"""


def test_host_aclose_from_a_task_inside_the_host_block_closes_cleanly(anyio_backend: str) -> None:
    """Host.aclose() used to exit the ticker nursery itself: called from a task inside the
    host block (a shutdown handler) trio reported "Nursery misnesting detected!" and ended in
    TrioInternalError. Now it only cancels the ticker; __aexit__ exits the nursery."""
    # In a child process: the misnested nursery's __del__ raises again at garbage collection,
    # which would fail whichever test happened to be running then.
    proc = run_child(["-c", _ACLOSE_FROM_NESTED_TASK, anyio_backend], timeout=60)
    assert proc.returncode == 0, describe(proc)
    assert "closed cleanly" in proc.stdout and "misnesting" not in proc.stderr
