"""Time in tests: how long "promptly" may take, and waiting for what has no event.

No test may pass or fail by how busy the machine is (CI runs on 2 shared cores, often beside
other builds). Tests therefore never assert a speed or a ratio of two timings, and:

- Every "it ends promptly / on time" assertion uses :data:`PROMPT_S` as its bound. It is far
  above anything a loaded machine adds to an outcome that is prompt (tenths of a second at
  worst), and far below what the failure it guards against would take: the HTTP timeouts of
  ``Limits()`` (30 s connect and first byte, 120 s total), a call budget of 60 s, a server that
  waits 60 s, or forever. A test whose wrong outcome would come sooner than that must make it
  later (a longer server delay) or tell the outcomes apart by something other than time.
- A lower bound is exact where the timer is trio's (a timeout never fires early).
- A condition that has no event to wait on (a descriptor the kernel closes, an idle worker
  thread exiting, a task reaching a lock) is polled with :func:`eventually` /
  :func:`eventually_sync`, bounded by :data:`PROMPT_S`, never slept on for a fixed time.
- "Once the operation is in flight" is ``anyio.wait_all_tasks_blocked()``: every task,
  the operation's included, has gone as far as it can without the network or a timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio

__all__ = ["PROMPT_S", "eventually", "eventually_sync"]

#: Upper bound of "promptly": see the module docstring for why 10 s.
PROMPT_S = 10.0


async def eventually(condition: Callable[[], bool], *, within: float = PROMPT_S,
                     interval: float = 0.01) -> bool:
    """Whether ``condition()`` became true within ``within`` seconds, polling on trio's clock.

    Returns as soon as it holds; use it as ``assert await eventually(...)``.
    """
    deadline = anyio.current_time() + within
    while not condition():
        if anyio.current_time() >= deadline:
            return False
        await anyio.sleep(interval)
    return True


def eventually_sync(condition: Callable[[], bool], *, within: float = PROMPT_S,
                    interval: float = 0.001) -> bool:
    """:func:`eventually` for plain threads: polls with ``time.sleep``."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
