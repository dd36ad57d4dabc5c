"""Linear memories owned by the host: the Engine's memory creator, for the body lane.

A component exports no memory and wasmtime-py 50's C API has no way to reach a component
instance's core memory, so a host function cannot copy a body straight into the guest. The
Engine's host memory creator (``wasmtime_config_host_memory_creator_set``, in
``wasmtime._bindings``) makes wasmtime ask the host for every linear memory it creates; the
host then knows each memory's base address and exact size, and a lane import such as
``read-into(ptr, cap)`` becomes a bounds check and one ``memmove``.

Each memory is a ``PROT_NONE`` reservation of the size wasmtime asks for (plus its guard), its
accessible prefix opened with ``mprotect`` as it grows, so the base never moves for the life of
the memory. wasmtime checks the Store's limiter (``Store.set_limits``) before it calls
``grow``; a growth past the reservation is refused here too. The finalizer unmaps it; a memory
already released refuses every access.

Which memory belongs to a Store: :func:`capture_memories` collects the memories created on this
thread while it runs (instantiation creates them on the instantiating thread). A Store with
exactly one memory has a lane; with none or several, :meth:`StoreMemories.lane` raises
:class:`LaneUnavailable` (which memory a pointer refers to would be a guess).

wasmtime 50 must not use copy-on-write memory images with a custom creator: a component with
data segments panics across the FFI boundary ("memory_image is Some only for mmap-based
memories") and the process aborts. :func:`install_memory_creator` turns them off with the creator.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from wasmtime import Config
from wasmtime import _bindings as B

from astrid_host._wasm._wasmtime_patches._slots import error_pointer

__all__ = ["LaneUnavailable", "LinearMemory", "OutOfBounds", "StoreMemories",
           "capture_memories", "install_memory_creator", "live_memories"]

_libc = ctypes.CDLL(None, use_errno=True)
_mmap = _libc.mmap
_mmap.restype = ctypes.c_void_p
_mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                  ctypes.c_long]
_mprotect = _libc.mprotect
_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_munmap = _libc.munmap
_munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

_PROT_NONE, _PROT_RW = 0, 3
_MAP_PRIVATE, _MAP_ANON, _MAP_NORESERVE = 0x02, 0x20, 0x4000
_MAP_FAILED = ctypes.c_void_p(-1).value
_PAGE = 4096
#: Reservation when wasmtime leaves the size to us: enough that a 32-bit memory never moves.
FALLBACK_RESERVE = 8 << 30


class OutOfBounds(Exception):
    """A lane range outside the guest's memory (or a memory already released)."""


class LaneUnavailable(Exception):
    """The Store has no single linear memory a lane pointer could refer to."""


class LinearMemory:
    """One guest linear memory, mapped and grown by the host. Thread-safe."""

    def __init__(self, minimum: int, maximum: int, reserved: int, guard: int) -> None:
        self.reserve = reserved or FALLBACK_RESERVE
        self.total = self.reserve + guard
        base = _mmap(None, self.total, _PROT_NONE, _MAP_PRIVATE | _MAP_ANON | _MAP_NORESERVE,
                     -1, 0)
        if base is None or base == _MAP_FAILED:
            raise OSError(ctypes.get_errno(), "mmap of a linear memory failed")
        self.base: int = base
        self.size = 0
        self.maximum = maximum
        self.released = False
        self._lock = threading.Lock()
        if not self.grow(minimum):
            self.release()
            raise OSError(ctypes.get_errno(), "mprotect of a linear memory failed")

    def grow(self, new_size: int) -> bool:
        """Open the memory up to ``new_size`` bytes; False when it cannot."""
        with self._lock:
            if self.released or new_size > self.reserve:
                return False
            end = -(-new_size // _PAGE) * _PAGE
            if end and _mprotect(self.base, end, _PROT_RW) != 0:
                return False
            self.size = new_size
            return True

    def release(self) -> None:
        """Unmap the memory; every later access is refused. Idempotent."""
        with self._lock:
            if not self.released:
                self.released = True
                self.size = 0
                _munmap(self.base, self.total)

    def _check(self, ptr: int, n: int) -> int:
        # Python integers: no wrap-around, whatever the guest passes.
        if self.released:
            raise OutOfBounds("the guest's memory is gone")
        if ptr < 0 or n < 0 or ptr + n > self.size:
            raise OutOfBounds(f"bytes {ptr}..{ptr + n} are outside the guest's memory "
                              f"of {self.size} bytes")
        return self.base + ptr

    def check(self, ptr: int, n: int) -> None:
        """Raise :class:`OutOfBounds` unless ``[ptr, ptr + n)`` lies inside the memory."""
        with self._lock:
            self._check(ptr, n)

    def write(self, ptr: int, data: bytes) -> None:
        """Copy ``data`` into the memory at ``ptr`` (bounds-checked)."""
        n = len(data)
        with self._lock:
            address = self._check(ptr, n)
            if n:
                ctypes.memmove(address, data, n)

    def read(self, ptr: int, n: int) -> bytes:
        """A copy of ``n`` bytes of the memory at ``ptr`` (bounds-checked)."""
        with self._lock:
            address = self._check(ptr, n)
            return ctypes.string_at(address, n) if n else b""


_MEMORIES: dict[int, LinearMemory] = {}
_ids = itertools.count(1)
_local = threading.local()


def live_memories() -> int:
    """How many linear memories are mapped now (tests: no leak)."""
    return len(_MEMORIES)


@B.wasmtime_memory_get_callback_t  # type: ignore[untyped-decorator]
def _get_memory(env: Any, size_ptr: Any, max_ptr: Any) -> int:
    mem = _MEMORIES[env or 0]
    size_ptr[0] = mem.size
    max_ptr[0] = mem.maximum
    return mem.base


@B.wasmtime_memory_grow_callback_t  # type: ignore[untyped-decorator]
def _grow_memory(env: Any, new_size: int) -> int:
    if _MEMORIES[env or 0].grow(new_size):
        return 0
    return error_pointer(f"the host could not grow a linear memory to {new_size} bytes")


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(env: Any) -> None:
    mem = _MEMORIES.pop(env or 0, None)
    if mem is not None:
        mem.release()


@B.wasmtime_new_memory_callback_t  # type: ignore[untyped-decorator]
def _new_memory(env: Any, ty: Any, minimum: int, maximum: int, reserved: int, guard: int,
                ret: Any) -> int:
    try:
        mem = LinearMemory(minimum, maximum, reserved, guard)
    except OSError as exc:
        return error_pointer(f"the host could not map a linear memory: {exc}")
    key = next(_ids)
    _MEMORIES[key] = mem
    created = getattr(_local, "created", None)
    if created is not None:
        created.append(mem)
    out = ret[0]
    out.env = key
    out.get_memory = _get_memory
    out.grow_memory = _grow_memory
    out.finalizer = _finalize
    return 0


# The creator itself lives as long as the process (no env, no finalizer).
_CREATOR: Any = B.wasmtime_memory_creator_t()
_CREATOR.new_memory = _new_memory


def install_memory_creator(cfg: Config) -> None:
    """Make every Engine built from ``cfg`` create its linear memories through the host.

    Also turns copy-on-write memory images off: with a custom creator, wasmtime 50 aborts the
    process instantiating a component with data segments otherwise.
    """
    B.wasmtime_config_host_memory_creator_set(cfg.ptr(), ctypes.byref(_CREATOR))
    B.wasmtime_config_memory_init_cow_set(cfg.ptr(), False)


class StoreMemories:
    """The linear memories created for one Store (by its instantiation)."""

    __slots__ = ("memories",)

    def __init__(self, memories: list[LinearMemory]) -> None:
        self.memories = tuple(memories)

    def lane(self) -> LinearMemory:
        """The Store's one memory; :class:`LaneUnavailable` when it has none or several."""
        if len(self.memories) != 1:
            raise LaneUnavailable(
                f"the capsule has {len(self.memories)} linear memories; the body lane needs "
                "exactly one (use the list<u8> functions)")
        return self.memories[0]


@contextmanager
def capture_memories() -> Iterator[list[LinearMemory]]:
    """Collect the memories created on this thread inside the block (instantiate here)."""
    outer = getattr(_local, "created", None)
    created: list[LinearMemory] = []
    _local.created = created
    try:
        yield created
    finally:
        _local.created = outer
