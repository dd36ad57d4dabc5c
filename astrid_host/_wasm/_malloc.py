"""The C allocator setting for large `list<u8>` values (``Host(malloc_threshold_bytes=...)``).

wasmtime-py 50 moves a `list<u8>` as one 32-byte C value per byte, and wasmtime turns those into
48-byte Rust values: a 1 MiB list is a 32 MiB and a 48 MiB short-lived allocation. glibc serves
allocations above its mmap threshold (dynamic, at most 32 MiB) with fresh pages and unmaps them
when freed, so every such list maps and faults in all of that memory again. Raising the
threshold keeps those blocks in the heap, reused from one call to the next: a 1 MiB ``fetch``
response into a guest and back out of its export takes about half the time
(``docs/performance.md``, ``malloc_fetch_1m``). The price: freed heap up to the trim threshold
(set to the same value) stays in the process instead of going back to the system.

Where it stops: the conversions run on guest worker threads, whose allocations come from
glibc's per-thread arenas, and an arena's heap is at most 64 MiB; a block larger than that is
mapped whatever the threshold. So lists up to about 1.3 MiB (48 bytes an element) gain, larger
ones do not, and each arena a worker thread used may keep up to its heap of freed memory.

The setting is glibc's ``mallopt``: **process-wide and permanent** (there is no way back to the
dynamic threshold). A Host applies it when it starts; the last one to start wins. Elsewhere
than glibc it does nothing and says so once, in a warning. The body lane needs none of it: it
copies bodies without any value conversion.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from typing import Any

__all__ = ["MAX_THRESHOLD", "MIN_THRESHOLD", "RECOMMENDED_THRESHOLD", "apply", "applied",
           "check_threshold"]

_log = logging.getLogger("astrid_host.host")

#: What the CLI sets: a thread arena's whole heap (64 MiB on 64-bit glibc), above the 48 MiB
#: of Rust values a 1 MiB `list<u8>` becomes; more buys nothing on a guest's thread.
RECOMMENDED_THRESHOLD = 64 * 1024 * 1024
#: glibc's own smallest dynamic threshold: this setting is for raising it.
MIN_THRESHOLD = 128 * 1024
#: glibc's ``mallopt`` takes a C ``int``.
MAX_THRESHOLD = 2**31 - 1
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_applied: int | None = None
_warned = False


def check_threshold(value: int | None) -> int | None:
    """``value`` if it is a valid threshold (``None``: leave the allocator alone), else raise
    ``TypeError`` / ``ValueError`` naming the range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"malloc_threshold_bytes must be an int or None, not "
                        f"{type(value).__name__}")
    if not MIN_THRESHOLD <= value <= MAX_THRESHOLD:
        raise ValueError(f"malloc_threshold_bytes must be between {MIN_THRESHOLD} (glibc's "
                         f"default) and {MAX_THRESHOLD} (mallopt takes a C int), not {value}")
    return value


def apply(threshold: int) -> bool:
    """Set glibc's mmap and trim thresholds to ``threshold`` bytes; whether it took effect
    (False, with one warning, where there is no glibc ``mallopt``)."""
    global _applied, _warned
    check_threshold(threshold)
    with _lock:
        mallopt = _mallopt()
        if mallopt is None:
            if not _warned:
                _warned = True
                _log.warning("malloc_threshold_bytes is ignored: this C library has no glibc "
                             "mallopt (the setting only exists on glibc Linux)")
            return False
        if mallopt(_M_MMAP_THRESHOLD, threshold) != 1:
            _log.warning("glibc refused mallopt(M_MMAP_THRESHOLD, %d): the allocator keeps its "
                         "defaults", threshold)
            return False
        if mallopt(_M_TRIM_THRESHOLD, threshold) != 1:
            _log.warning("glibc refused mallopt(M_TRIM_THRESHOLD, %d): the mmap threshold is "
                         "set, the trim threshold is glibc's", threshold)
        _applied = threshold
        return True


def applied() -> int | None:
    """The threshold set by :func:`apply` in this process (``None``: never set)."""
    return _applied


@functools.cache
def _mallopt() -> Any:
    """glibc's ``mallopt`` from the process's own symbols (no library search), or ``None``."""
    try:
        fn = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn
