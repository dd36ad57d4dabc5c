"""``Host(malloc_threshold_bytes=...)`` and the CLI's ``--malloc-threshold``.

The setting is process-wide and cannot be undone, so what it does to the allocator is checked
in child processes: glibc's ``mallinfo2`` counts the blocks served by ``mmap`` (``hblks``), and
a 40 MiB block is one of them under glibc's defaults (its dynamic threshold never rises above
32 MiB) and is not once the host has raised the threshold above it.
"""

from __future__ import annotations

import argparse
import ctypes.util
import logging
import textwrap

import pytest

from astrid_host._cli._runopts import add_run_options, read_run_options
from astrid_host._wasm import _malloc
from astrid_host._wasm._host import Host
from tests.support.process import describe, run_child

MiB = 1 << 20


def _glibc() -> bool:
    name = ctypes.util.find_library("c")
    return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")


needs_glibc = pytest.mark.skipif(not _glibc(), reason="glibc (mallopt, mallinfo2) only")

# Prints how many mmap'd blocks one 40 MiB malloc adds, before and after a Host with
# `threshold` (None: the option not given) started, then what `_malloc.applied()` says.
_CHILD = """
import ctypes, ctypes.util, sys
import trio
from astrid_host._wasm import _malloc
from astrid_host._wasm._host import Host

libc = ctypes.CDLL(ctypes.util.find_library("c"))
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def mapped_by_one_block():
    before = libc.mallinfo2().hblks
    block = libc.malloc(40 << 20)
    added = libc.mallinfo2().hblks - before
    libc.free(block)
    return added

async def main(threshold):
    first = mapped_by_one_block()
    async with Host(use_cache=False, malloc_threshold_bytes=threshold):
        pass
    print(first, mapped_by_one_block(), _malloc.applied())

threshold = None if sys.argv[1] == "none" else int(sys.argv[1])
trio.run(main, threshold)
"""


def _run(threshold: int | None) -> list[str]:
    proc = run_child(["-c", textwrap.dedent(_CHILD), "none" if threshold is None
                      else str(threshold)], timeout=120)
    assert proc.returncode == 0, describe(proc)
    return proc.stdout.split()


@needs_glibc
def test_the_host_raises_the_threshold_when_asked() -> None:
    assert _run(64 * MiB) == ["1", "0", str(64 * MiB)]


@needs_glibc
def test_without_the_option_the_allocator_is_left_alone() -> None:
    assert _run(None) == ["1", "1", "None"]


@pytest.mark.parametrize("value", [0, -1, _malloc.MIN_THRESHOLD - 1, _malloc.MAX_THRESHOLD + 1])
def test_a_threshold_out_of_range_is_refused_when_the_host_is_made(value: int) -> None:
    with pytest.raises(ValueError, match="malloc_threshold_bytes must be between 131072"):
        Host(use_cache=False, malloc_threshold_bytes=value)


@pytest.mark.parametrize("value", [True, 1.5, "64"])
def test_a_threshold_that_is_not_an_int_is_refused(value: object) -> None:
    with pytest.raises(TypeError, match="malloc_threshold_bytes must be an int or None"):
        Host(use_cache=False, malloc_threshold_bytes=value)  # type: ignore[arg-type]


def test_without_mallopt_the_setting_is_ignored_with_one_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_malloc, "_mallopt", lambda: None)
    monkeypatch.setattr(_malloc, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="astrid_host.host"):
        assert _malloc.apply(64 * MiB) is False
        assert _malloc.apply(64 * MiB) is False
    warnings = [r for r in caplog.records if "malloc_threshold_bytes is ignored" in r.message]
    assert len(warnings) == 1


def test_a_refused_mallopt_is_reported_and_not_recorded(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(_malloc, "_mallopt", lambda: lambda option, value: 0)
    monkeypatch.setattr(_malloc, "_applied", None)
    with caplog.at_level(logging.WARNING, logger="astrid_host.host"):
        assert _malloc.apply(64 * MiB) is False
    assert _malloc.applied() is None
    assert "glibc refused mallopt(M_MMAP_THRESHOLD" in caplog.text


def test_a_refused_trim_threshold_still_records_the_mmap_threshold(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def mallopt(option: int, value: int) -> int:
        calls.append(option)
        return 1 if option == -3 else 0

    monkeypatch.setattr(_malloc, "_mallopt", lambda: mallopt)
    monkeypatch.setattr(_malloc, "_applied", None)
    with caplog.at_level(logging.WARNING, logger="astrid_host.host"):
        assert _malloc.apply(64 * MiB) is True
    assert calls == [-3, -1]
    assert _malloc.applied() == 64 * MiB
    assert "the mmap threshold is set, the trim threshold is glibc's" in caplog.text


def _cli(*argv: str) -> int | None:
    parser = argparse.ArgumentParser()
    add_run_options(parser)
    return read_run_options(parser.parse_args(list(argv))).malloc_threshold


def test_the_cli_sets_the_recommended_threshold_unless_told_otherwise() -> None:
    assert _cli() == _malloc.RECOMMENDED_THRESHOLD == 64 * MiB
    assert _cli("--malloc-threshold", "0") is None
    assert _cli("--malloc-threshold", "512") == 512 * MiB


@pytest.mark.parametrize("mib", ["-1", "2048"])
def test_the_cli_refuses_a_threshold_out_of_range(mib: str) -> None:
    with pytest.raises(ValueError, match="--malloc-threshold"):
        _cli("--malloc-threshold", mib)

