"""Exported interface `echo-resources`. componentize-py looks for resource classes in a module
named after the interface and for the interface class in `app` (which re-exports it)."""

from typing import Any

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import echo_resources


class Counter(echo_resources.Counter):
    """The `counter` resource: a running total (wraps at 2**32 like a u32)."""

    def __init__(self, start: int) -> None:
        self.total = start

    def add(self, n: int) -> int:
        self.total = (self.total + n) & 0xFFFFFFFF
        return self.total

    @classmethod
    def parse(cls, text: str) -> Any:
        if not text.isdigit():
            raise Err(f"not a number: {text!r}")
        return cls(int(text))


class EchoResources(exports.EchoResources):
    """The interface's free functions."""

    def total(self, counters: Any) -> int:
        return sum(c.total for c in counters) & 0xFFFFFFFF
