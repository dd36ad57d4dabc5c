"""Smoke test of the benchmark suite: every module runs in its tiny mode and returns sane rows.

Nothing here asserts a speed (timed unit tests only measure the machine they ran on); the
numbers come from ``python -m benchmarks``. A module that needs a guest which is not built is
skipped with the build command (``ASTRID_REQUIRE_ALL=1``: a failure instead).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil

import pytest

import benchmarks
from benchmarks._harness import Result

REQUIRE_ALL = os.environ.get("ASTRID_REQUIRE_ALL") == "1"
MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                 if m.name.startswith("bench_"))


def test_every_issue_benchmark_has_a_module() -> None:
    """The suite covers every row of issue 7's table, and the peer rows of issue 15."""
    assert {"bench_bytes", "bench_classify", "bench_hostcall", "bench_http", "bench_stream",
            "bench_cold_start", "bench_concurrency", "bench_peer"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_runs_tiny_and_reports_sane_rows(name: str) -> None:
    """Each row names a candidate and a baseline with positive values, a unit and a ratio
    consistent with the two (NaN only for a baseline the mode skips), and serialises to
    strict JSON the way build/bench.json is written."""
    module = importlib.import_module(f"benchmarks.{name}")
    try:
        rows = module.run(True, tiny=True)
    except FileNotFoundError as exc:  # a guest is not built
        if REQUIRE_ALL:
            raise
        pytest.skip(str(exc))
    assert rows, f"{name} returned no rows"
    for row in rows:
        assert isinstance(row, Result)
        assert row.name and row.unit and row.what
        assert math.isfinite(row.value) and row.value > 0, row
        if math.isnan(row.baseline):
            assert math.isnan(row.ratio), row
        else:
            assert row.baseline > 0 and math.isfinite(row.ratio) and row.ratio > 0, row
        json.dumps(row.as_json(), allow_nan=False)


# --- the fast paths the benchmarks demand -------------------------------------------------------
# (Here because this file is the benchmark owner's; they belong in tests/test_imports.py.)


def _send_request_type() -> object:
    from wasmtime import Config, Engine
    from wasmtime.component import Component
    from wasmtime.component import _types as t

    from tests.fakes import CLIENT_GUEST_WAT

    engine = Engine(Config())
    imports = Component(engine, CLIENT_GUEST_WAT).type.imports(engine)
    client = imports["astrid:http/client@0.1.0"].ty
    assert isinstance(client, t.ComponentInstanceType)
    send = client.exports(engine)["send"].ty
    assert isinstance(send, t.FuncType)
    return send


def test_a_frozen_type_has_the_same_structure_and_converts_the_same_values() -> None:
    """Invariant of freeze_type: the frozen type renders identically (same structure, so the
    load-time signature check is unaffected), and a value lowered and lifted through it comes
    back equal to the one lifted through wasmtime-py's own, unfrozen type."""
    import ctypes

    from wasmtime import _ffi as ffi
    from wasmtime.component import Record, Variant

    from astrid_host._wasm._typeinfo import freeze_type, render_func, render_type

    plain, frozen = _send_request_type(), _send_request_type()
    before = render_func(frozen, {})
    params = [freeze_type(ty) for _, ty in frozen.params]  # type: ignore[attr-defined]
    result = freeze_type(frozen.result)  # type: ignore[attr-defined]
    assert type(params[0]).__name__.startswith("Frozen")
    assert render_type(params[0], {}) == render_type(plain.params[0][1], {})  # type: ignore[attr-defined]
    assert render_func(frozen, {}) == before
    assert type(result).__name__ == "FrozenResultType"

    def request() -> Record:
        r = Record()
        r.__dict__.update({"method": Variant("other", "PURGE"), "url": "http://x.test/",
                           "headers": [("a", b"\x00\xff")], "body": b"body",
                           "options": None})
        return r

    lifted = []
    for ty in (plain.params[0][1], params[0]):  # type: ignore[attr-defined]
        raw = ffi.wasmtime_component_val_t()
        ty.convert_to_c(None, request(), ctypes.pointer(raw))
        lifted.append(ty.convert_from_c(raw))
    assert lifted[0] == lifted[1]
    assert lifted[1].method == Variant("other", "PURGE") and lifted[1].body == b"body"
