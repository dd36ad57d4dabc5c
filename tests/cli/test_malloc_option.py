"""`astrid-host run --malloc-threshold MIB`: the CLI hands its malloc setting to the Host.

The run happens in this process, so glibc's ``mallopt`` is the recorder of
``tests/conftest.py`` (``no_process_wide_malloc``); what the setting does to the allocator is
checked in child processes by ``tests/wasm/test_malloc.py``.
"""

from __future__ import annotations

import json

import pytest

from astrid_host._cli import main
from tests.cli._support import ROOT, example_capsule

MiB = 1 << 20
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASTRID_CACHE_DIR", str(ROOT / "build" / "cache"))


@pytest.mark.parametrize(("extra", "expected"), [
    ([], [(M_MMAP_THRESHOLD, 64 * MiB), (M_TRIM_THRESHOLD, 64 * MiB)]),
    (["--malloc-threshold", "256"], [(M_MMAP_THRESHOLD, 256 * MiB),
                                     (M_TRIM_THRESHOLD, 256 * MiB)]),
    (["--malloc-threshold", "0"], []),
])
def test_run_sets_the_malloc_thresholds_it_is_given(
        extra: list[str], expected: list[tuple[int, int]],
        no_process_wide_malloc: list[tuple[int, int]],
        capsys: pytest.CaptureFixture[str]) -> None:
    url = json.dumps({"url": "http://denied.test/"})  # no network: the policy refuses it
    main(["run", str(example_capsule()), "--input", url, *extra])
    assert no_process_wide_malloc == expected


def test_a_threshold_out_of_range_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(example_capsule()), "--input", "{}", "--malloc-threshold", "-5"])
    assert code != 0
    assert "--malloc-threshold -5" in capsys.readouterr().err
