"""The Engine's host memory creator (`_wasmtime_patches/_memories.py`): the host owns every
linear memory, knows its base and size, copies into it only inside bounds, refuses growth past
the Store's limit, and unmaps each memory when wasmtime drops it (also after a trap)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest
from wasmtime import Config, Engine, Store, WasmtimeError
from wasmtime.component import Component, Linker

from astrid_host._wasm._wasmtime_patches import (
    LaneUnavailable,
    OutOfBounds,
    StoreMemories,
    capture_memories,
    install_memory_creator,
    live_memories,
)

PAGE = 65536

# One memory with a data segment ("astrid" at 16); exports to peek, poke, grow and trap.
ONE_MEMORY = r"""
(component
  (core module $m
    (memory (export "mem") 1)
    (data (i32.const 16) "astrid")
    (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0)))
    (func (export "poke") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "trap") unreachable))
  (core instance $i (instantiate $m))
  (func (export "peek") (param "a" u32) (result u8) (canon lift (core func $i "peek")))
  (func (export "poke") (param "a" u32) (param "v" u8) (canon lift (core func $i "poke")))
  (func (export "grow") (param "pages" u32) (result s32) (canon lift (core func $i "grow")))
  (func (export "trap") (canon lift (core func $i "trap"))))
"""

TWO_MEMORIES = r"""
(component
  (core module $a (memory (export "mem") 1))
  (core module $b (memory (export "mem") 1))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b)))
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    cfg = Config()
    install_memory_creator(cfg)
    return Engine(cfg)


def instantiate(engine: Engine, wat: str, *, limit: int | None = None) -> tuple[
        Store, object, StoreMemories]:
    store = Store(engine)
    if limit is not None:
        store.set_limits(memory_size=limit)
    with capture_memories() as created:
        instance = Linker(engine).instantiate(store, Component(engine, wat))
    return store, instance, StoreMemories(created)


def call(store: Store, instance: object, name: str, *args: int) -> object:
    func = instance.get_func(store, name)  # type: ignore[attr-defined]
    return func(store, *args)


def test_the_host_sees_and_writes_the_guests_memory(engine: Engine) -> None:
    store, inst, mems = instantiate(engine, ONE_MEMORY)
    mem = mems.lane()
    assert mem.size == PAGE
    assert mem.read(16, 6) == b"astrid"  # the data segment, copied (no CoW image)
    mem.write(100, b"\x2a\x07")
    assert call(store, inst, "peek", 100) == 0x2A
    assert call(store, inst, "peek", 101) == 7
    call(store, inst, "poke", PAGE - 1, 9)
    assert mem.read(PAGE - 1, 1) == b"\x09"


@pytest.mark.parametrize(("ptr", "n"), [
    (PAGE, 1),                 # one byte past the end
    (PAGE - 1, 2),             # straddles the end
    (0, PAGE + 1),
    (0xFFFFFFFF, 2),           # ptr + len overflows u32: no wrap-around to 1
    (0xFFFF0000, 0x10001),     # wraps to exactly 0x1_0000_0001
    (-1, 1),
    (0, -1),
])
def test_a_range_outside_the_memory_is_refused(engine: Engine, ptr: int, n: int) -> None:
    _store, _, mems = instantiate(engine, ONE_MEMORY)  # the Store keeps the memory mapped
    mem = mems.lane()
    with pytest.raises(OutOfBounds):
        mem.check(ptr, n)
    with pytest.raises(OutOfBounds):
        mem.read(ptr, n)
    if n >= 0:
        with pytest.raises(OutOfBounds):
            mem.write(ptr, b"x" * n)
    mem.check(PAGE, 0)  # an empty range at the very end is fine
    assert mem.read(PAGE - 2, 2) == b"\0\0"


def test_growth_is_seen_and_the_stores_limit_still_holds(engine: Engine) -> None:
    store, inst, mems = instantiate(engine, ONE_MEMORY, limit=3 * PAGE)
    mem = mems.lane()
    base = mem.base
    assert call(store, inst, "grow", 2) == 1
    assert mem.size == 3 * PAGE and mem.base == base  # grown in place: the base never moves
    mem.write(3 * PAGE - 1, b"z")
    assert call(store, inst, "grow", 1) == -1  # refused at the Store's limit
    assert mem.size == 3 * PAGE
    with pytest.raises(OutOfBounds):
        mem.check(3 * PAGE, 1)


def test_a_store_with_several_memories_has_no_lane(engine: Engine) -> None:
    _, _, mems = instantiate(engine, TWO_MEMORIES)
    assert len(mems.memories) == 2
    with pytest.raises(LaneUnavailable, match="2 linear memories"):
        mems.lane()
    with pytest.raises(LaneUnavailable, match="0 linear memories"):
        StoreMemories([]).lane()


def test_many_stores_leave_no_memory_mapped(engine: Engine) -> None:
    gc.collect()
    before = live_memories()
    kept = []
    for _ in range(200):
        store, inst, mems = instantiate(engine, ONE_MEMORY)
        call(store, inst, "grow", 1)
        kept.append(mems.lane())
        del store, inst
    gc.collect()
    assert live_memories() == before
    assert all(m.released for m in kept)
    with pytest.raises(OutOfBounds, match="gone"):
        kept[0].read(0, 1)


def test_a_trapped_stores_memory_is_released(engine: Engine) -> None:
    gc.collect()
    before = live_memories()
    store, inst, mems = instantiate(engine, ONE_MEMORY)
    assert live_memories() == before + 1
    with pytest.raises(WasmtimeError):
        call(store, inst, "trap")
    store.close()
    del store, inst
    gc.collect()
    assert live_memories() == before
    assert mems.lane().released


def _child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False)


_CHILD = """
    import ctypes
    from wasmtime import Config, Engine, Store, _bindings as B
    from wasmtime.component import Component, Linker
    from astrid_host._wasm._wasmtime_patches import _memories
    cfg = Config()
    _memories.install_memory_creator(cfg)
    if {cow}:
        B.wasmtime_config_memory_init_cow_set(cfg.ptr(), True)
    engine = Engine(cfg)
    Linker(engine).instantiate(Store(engine), Component(engine, {wat!r}))
    print("instantiated")
"""


def test_copy_on_write_images_stay_off_with_the_creator() -> None:
    """wasmtime 50 aborts the whole process when a custom creator meets a CoW memory image
    (a component with data segments): `install_memory_creator` must turn CoW off."""
    ok = _child(_CHILD.format(cow=False, wat=ONE_MEMORY))
    assert ok.returncode == 0, ok.stderr
    assert "instantiated" in ok.stdout
    # The abort it prevents, pinned: if a wasmtime release stops aborting, CoW could go back on.
    aborted = _child(_CHILD.format(cow=True, wat=ONE_MEMORY))
    assert aborted.returncode != 0
    assert "instantiated" not in aborted.stdout
    assert "memory_image is Some only for mmap-based memories" in aborted.stderr
