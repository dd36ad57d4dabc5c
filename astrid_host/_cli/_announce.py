"""The library's "compiling ..." record as a line on stderr, for commands that load a capsule.

Compiling a large component takes tens of seconds the first time; a command must never be
silent meanwhile.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["announce_compiles"]


@contextmanager
def announce_compiles() -> Iterator[None]:
    """Print the library's "compiling ..." record (``astrid_host.cache``, INFO) as one line on
    stderr, so a first load that compiles for tens of seconds is never silent. On a terminal
    the compile cache prints its own progress lines instead."""
    if _is_tty(sys.stderr):
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("astrid-host: %(message)s"))
    logger = logging.getLogger("astrid_host.cache")
    old_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
