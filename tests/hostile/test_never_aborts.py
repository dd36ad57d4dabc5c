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
import subprocess
import sys
from pathlib import Path

import pytest

from tests.timing import PROMPT_S

ROOT = Path(__file__).resolve().parents[2]


def run_child(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` from the repository root; fail naming the signal on an abort."""
    env = {**os.environ, "ASTRID_HOSTILE_CHILD": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    if proc.returncode < 0:
        how = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        how = f"exit status {proc.returncode}"
    return f"child {how}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"


def test_an_abort_in_the_child_is_seen_as_sigabrt() -> None:
    """The check below can fail: a child that aborts reports -6, not a pass."""
    proc = run_child(["-c", "import os; os.abort()"], timeout=30)
    assert proc.returncode == -signal.SIGABRT
    assert "SIGABRT" in describe(proc)


def test_the_hostile_driver_exits_0_in_a_child_process() -> None:
    proc = run_child(["-m", "tests.hostile._driver"], timeout=180)
    assert proc.returncode == 0, describe(proc)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["driver"] == "ok"
    assert report["aclose_while_spinning_s"] < PROMPT_S
    assert report["host_exit_with_leaks_s"] < PROMPT_S


@pytest.mark.skipif(os.environ.get("ASTRID_HOSTILE_CHILD") == "1", reason="already the child")
def test_the_hostile_guest_and_fuzz_tests_pass_in_a_child_process() -> None:
    proc = run_child(["-m", "pytest", "-q", "-p", "no:cacheprovider",
                      "tests/hostile/test_guests.py", "tests/hostile/test_fuzz_imports.py"],
                     timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert " passed" in proc.stdout
