"""The host process never aborts: hostile runs in a child process must exit with status 0.

wasmtime-py aborts the whole process (SIGABRT: exit status 134 from a shell, -6 from
``subprocess``) on some misuse instead of raising (../shared/WASMTIME-PY.md). An abort inside
the test process itself would kill pytest without a report, so the dangerous parts run in a
child whose exit status is checked here:

- ``tests/hostile/_driver.py``: closing and cancelling while guests spin or wait in I/O, call
  floods on one Store, every trap kind in many capsules at once, host exit with leaks;
- the hostile-guest and fuzz modules of this suite, under their own pytest.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.support.process import describe, run_child
from tests.support.timing import PROMPT_S


def test_an_abort_in_the_child_is_seen_as_sigabrt() -> None:
    """The check below can fail: a child that aborts reports -6, not a pass."""
    proc = run_child(["-c", "import os; os.abort()"], timeout=30)
    assert proc.returncode == -signal.SIGABRT
    assert "SIGABRT" in describe(proc)


def test_the_hostile_driver_exits_0_in_a_child_process(anyio_backend: str) -> None:
    proc = run_child(["-m", "tests.hostile._driver", anyio_backend], timeout=180)
    assert proc.returncode == 0, describe(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["driver"] == "ok"
    assert report["aclose_while_spinning_s"] < PROMPT_S
    assert report["host_exit_with_leaks_s"] < PROMPT_S


@pytest.mark.skipif(os.environ.get("ASTRID_HOSTILE_CHILD") == "1", reason="already the child")
def test_the_hostile_guest_and_fuzz_tests_pass_in_a_child_process() -> None:
    # trio only: this run is about the process surviving (wasmtime aborts instead of raising),
    # which does not depend on the event loop; the same tests run on both backends in-process,
    # where an abort would end the whole test run.
    proc = run_child(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not asyncio",
                      "tests/hostile/test_guests.py", "tests/hostile/test_fuzz_imports.py"],
                     timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert " passed" in proc.stdout
