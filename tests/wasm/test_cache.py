"""The compile cache: keys, hits, damaged and stale entries, atomic files, progress."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wasmtime import Config, Engine, wat2wasm
from wasmtime.component import Component

from astrid_host._wasm._cache import CompileCache, cache_key, default_cache_dir
from tests.support.timing import eventually_sync
from tests.support.wat import PLAIN_GUEST_WAT

WASM = bytes(wat2wasm(PLAIN_GUEST_WAT))


def _engine() -> Engine:
    cfg = Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    return Engine(cfg)


def _cache(directory: Path | None, fingerprint: str = "fp", **kw: object) -> CompileCache:
    return CompileCache(directory, wasmtime_version="50.0.1", engine_fingerprint=fingerprint,
                        **kw)  # type: ignore[arg-type]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _compiler_until(announced: Callable[[], bool]) -> Callable[[Engine, bytes], Component]:
    """A compiler that takes as long as it takes the cache to announce it (``announced()``
    turns true), at most PROMPT_S: as slow as the test needs, however busy the machine."""
    def compile_(engine: Engine, wasm: bytes) -> Component:
        eventually_sync(announced)
        return Component(engine, wasm)

    return compile_


@pytest.mark.parametrize("changed", [0, 1, 2])
def test_cache_key_changes_with_each_input(changed: int) -> None:
    base = ["a" * 64, "50.0.1", "consume_fuel=1;epoch_interruption=1"]
    other = list(base)
    other[changed] += "x"
    assert cache_key(*base) != cache_key(*other)
    assert cache_key(*base) == cache_key(*base)


@given(st.tuples(st.text(), st.text(), st.text()), st.tuples(st.text(), st.text(), st.text()))
def test_cache_key_is_a_file_name_and_separates_distinct_inputs(
        a: tuple[str, str, str], b: tuple[str, str, str]) -> None:
    """Invariant: a key is 64 lowercase hex digits; different inputs never share one."""
    key = cache_key(*a)
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    if a != b:
        assert key != cache_key(*b)


def test_second_load_hits_the_cache(tmp_path: Path) -> None:
    engine = _engine()
    cache = _cache(tmp_path)
    first = cache.load(engine, WASM)
    second = cache.load(engine, WASM)
    assert (first.hit, second.hit) == (False, True)
    assert second.path == first.path and first.path is not None and first.path.is_file()
    assert first.path.with_suffix(".sha256").is_file()
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_damaged_artifact_is_rebuilt_not_fatal(tmp_path: Path) -> None:
    engine = _engine()
    cache = _cache(tmp_path)
    path = cache.load(engine, WASM).path
    assert path is not None
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    again = cache.load(engine, WASM)
    assert again.hit is False
    assert cache.load(engine, WASM).hit is True


def test_entry_wasmtime_rejects_is_rebuilt(tmp_path: Path) -> None:
    """Garbage whose digest matches (e.g. written by a foreign tool) is rejected, then rebuilt."""
    import hashlib

    engine = _engine()
    cache = _cache(tmp_path)
    path = cache.path_for(WASM)
    assert path is not None
    tmp_path.mkdir(exist_ok=True)
    garbage = b"\x7fELF not really a compiled component"
    path.write_bytes(garbage)
    path.with_suffix(".sha256").write_text(hashlib.sha256(garbage).hexdigest())
    assert cache.load(engine, WASM).hit is False
    assert cache.load(engine, WASM).hit is True


def test_entry_of_another_engine_config_is_not_used(tmp_path: Path) -> None:
    engine = _engine()
    _cache(tmp_path, "config-A").load(engine, WASM)
    other = _cache(tmp_path, "config-B")
    assert other.load(engine, WASM).hit is False
    assert len(list(tmp_path.glob("*.cwasm"))) == 2


def test_artifact_without_digest_is_treated_as_absent(tmp_path: Path) -> None:
    engine = _engine()
    cache = _cache(tmp_path)
    path = cache.load(engine, WASM).path
    assert path is not None
    path.with_suffix(".sha256").unlink()
    assert cache.load(engine, WASM).hit is False


def test_unwritable_cache_dir_only_costs_the_speed_up(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = _cache(blocker / "cache")
    engine = _engine()
    assert cache.load(engine, WASM).hit is False
    assert cache.load(engine, WASM).hit is False


def test_disabled_cache_writes_nothing(tmp_path: Path) -> None:
    cache = _cache(None)
    assert cache.path_for(WASM) is None
    assert cache.load(_engine(), WASM).hit is False


def test_slow_compile_on_a_terminal_shows_progress(tmp_path: Path) -> None:
    tty = _Tty()
    compiler = _compiler_until(lambda: "compiling demo" in tty.getvalue())
    cache = _cache(tmp_path, progress=tty, progress_after_s=0.05, compiler=compiler)
    cache.load(_engine(), WASM, name="demo")
    text = tty.getvalue()
    assert "compiling demo" in text and "compiled demo in" in text


def test_slow_compile_off_a_terminal_stays_quiet(tmp_path: Path) -> None:
    """Off a terminal no progress timer is even started (a timer that printed later than the
    compile took would otherwise go unseen on a busy machine)."""
    pipe = io.StringIO()
    timers: list[threading.Thread] = []

    def compiler(engine: Engine, wasm: bytes) -> Component:
        timers.extend(t for t in threading.enumerate() if isinstance(t, threading.Timer))
        return Component(engine, wasm)

    cache = _cache(tmp_path, progress=pipe, progress_after_s=0.0, compiler=compiler)
    cache.load(_engine(), WASM)
    assert timers == [] and pipe.getvalue() == ""


def test_default_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("ASTRID_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "astrid-host"
