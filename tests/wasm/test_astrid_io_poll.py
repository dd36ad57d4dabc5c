"""`poll` over several pollables (the SDK guests only ever poll one): the arguments' limits,
ready ones answered without waiting, and a wait that ends with each pollable ready."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import anyio
import anyio.lowlevel

from astrid_host._core._witschema import Err, Ok
from astrid_host._wasm._astrid_io import MAX_POLLABLES, Pollable, _poll


class Target:
    def __init__(self, ready: bool = False) -> None:
        self.is_ready = ready
        self.fills = 0

    def ready(self) -> bool:
        return self.is_ready

    async def fill(self) -> None:
        if not self.is_ready:
            self.fills += 1
            await anyio.lowlevel.checkpoint()
            self.is_ready = True


def call(backend: str) -> Any:
    """A session whose host I/O runs in a fresh event loop of ``backend``."""
    def run_io(afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return anyio.run(afn, *args, backend=backend)
    return SimpleNamespace(session=SimpleNamespace(run_io=run_io))


def test_no_pollable_or_too_many_are_refused(anyio_backend: str) -> None:
    answer = _poll(call(anyio_backend), ())
    assert isinstance(answer, Err) and answer.value.case == "invalid-input"
    many = tuple(Pollable(Target(True)) for _ in range(MAX_POLLABLES + 1))
    answer = _poll(call(anyio_backend), many)
    assert isinstance(answer, Err) and answer.value.case == "too-large"


def test_ready_pollables_are_answered_without_waiting_for_the_others(anyio_backend: str) -> None:
    waiting, ready = Target(), Target(True)
    answer = _poll(call(anyio_backend), (Pollable(waiting), Pollable(ready), Pollable(ready)))
    assert answer == Ok((1, 2)) and waiting.fills == 0


def test_when_none_is_ready_the_wait_ends_with_each_ready(anyio_backend: str) -> None:
    a, b = Target(), Target()
    answer = _poll(call(anyio_backend), (Pollable(a), Pollable(b), Pollable(a)))
    assert answer == Ok((0, 1, 2)) and (a.fills, b.fills) == (1, 1)
