"""The test process and its children: resources a leak would grow, and child runs whose exit
status (an abort is a signal) is checked from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from tests.support.paths import ROOT

__all__ = ["Snapshot", "describe", "open_fds", "rss_bytes", "run_child"]


def open_fds() -> int:
    """The number of file descriptors the process has open."""
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """The process's resident set size now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Snapshot:
    """Process resources that a leak would grow."""

    fds: int
    threads: int

    @classmethod
    def take(cls) -> Snapshot:
        return cls(open_fds(), threading.active_count())


def run_child(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` from the repository root; fail naming the signal on an abort."""
    env = {**os.environ, "ASTRID_HOSTILE_CHILD": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    """What became of a child (its exit status, or the signal that killed it) and the tails of
    its output: the message of a failed assertion on it."""
    if proc.returncode < 0:
        how = f"killed by {signal.Signals(-proc.returncode).name}"
    else:
        how = f"exit status {proc.returncode}"
    return f"child {how}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
