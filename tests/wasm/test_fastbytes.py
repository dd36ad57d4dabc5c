"""The bulk `list<u8>` conversion: identical results to wasmtime-py's own, and gated."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wasmtime import Config, Engine, Store
from wasmtime.component import Component, Linker

from astrid_host._wasm._wasmtime_patches import _fastbytes
from tests.support.probes import BYTES_PROBE_WAT

_engine = Engine(Config())
_component = Component(_engine, BYTES_PROBE_WAT)


def _call(name: str, value: object) -> object:
    # A fresh Store per call: the bump allocator never frees.
    store = Store(_engine)
    instance = Linker(_engine).instantiate(store, _component)
    func = instance.get_func(store, name)
    assert func is not None
    return func(store, value)


@pytest.fixture
def stock() -> Iterator[None]:
    was = _fastbytes.installed()
    _fastbytes.uninstall()
    yield
    if was:
        _fastbytes.install()


@pytest.fixture
def fast() -> Iterator[None]:
    assert _fastbytes.install()
    yield


def test_pinned_wasmtime_version_is_supported() -> None:
    """If this fails, wasmtime-py changed: re-verify the value layout before widening the gate."""
    if importlib.metadata.version("wasmtime").startswith(_fastbytes.SUPPORTED_WASMTIME):
        assert _fastbytes.supported()
        assert _fastbytes.install()


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("size", [0, 1, 31, 32, 33, 4096, 65_537, 1 << 20])
def test_fast_path_round_trips_exact_bytes(size: int) -> None:
    data = bytes((i * 131 + 7) % 256 for i in range(size))
    assert _call("echo", data) == data


@pytest.mark.usefixtures("fast")
def test_fast_path_accepts_bytearray_and_memoryview() -> None:
    assert _call("echo", bytearray(b"abc")) == b"abc"
    assert _call("echo", memoryview(b"xyz")) == b"xyz"


@pytest.mark.usefixtures("fast")
def test_fast_path_rejects_a_list_of_ints_like_wasmtime_does() -> None:
    with pytest.raises(TypeError):
        _call("echo", [1, 2, 3])


@pytest.mark.usefixtures("fast")
def test_other_lists_keep_the_stock_conversion() -> None:
    assert _call("echo32", [0, 1, 2**32 - 1]) == [0, 1, 2**32 - 1]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=2048))
def test_fast_and_stock_agree(data: bytes) -> None:
    """Invariant: for any bytes, the bulk path and wasmtime-py's own path give the same value."""
    _fastbytes.install()
    fast_result = _call("echo", data)
    _fastbytes.uninstall()
    try:
        stock_result = _call("echo", data)
    finally:
        _fastbytes.install()
    assert fast_result == stock_result == data


@pytest.mark.usefixtures("stock")
def test_uninstall_restores_the_stock_path() -> None:
    assert not _fastbytes.installed()
    assert _call("echo", b"\x00\xff") == b"\x00\xff"


@pytest.mark.usefixtures("fast")
def test_each_direction_alone_carries_the_bytes() -> None:
    assert _call("sink", b"x" * 70_000) == 70_000
    made = _call("make", 3000)
    assert isinstance(made, bytes) and len(made) == 3000
