"""Capsule.toml parsing: the happy path, units, tightening, and errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._limits import Limits, MiB
from astrid_host._core._manifest import (
    ManifestError,
    load_manifest,
    parse_duration,
    parse_manifest,
    parse_size,
)

GOOD = """\
# A weather capsule.
[package]
name = "weather"
version = "0.1.0"
component = "weather.wasm"

[capabilities]
net = [
    "https://api.example.com",
    "http://*.example.org:8080",
]
methods = ["GET", "POST"]

[limits]
memory = "64MiB"
fuel = 2_000_000_000
call-timeout = "30s"
max-streams = 2
max-response-bytes = "1MiB"
max-output-bytes = "2MiB"
"""


def test_full_manifest_parses_into_values() -> None:
    m = parse_manifest(GOOD, "caps/weather/Capsule.toml")
    assert (m.name, m.version) == ("weather", "0.1.0")
    assert m.component == Path("caps/weather/weather.wasm")
    assert m.net == ("https://api.example.com", "http://*.example.org:8080")
    assert m.methods == ("GET", "POST")
    assert m.limits == {"memory_bytes": 64 * MiB, "fuel_per_call": 2_000_000_000,
                        "call_timeout_s": 30.0, "max_open_streams": 2,
                        "max_response_bytes": MiB, "max_output_bytes": 2 * MiB}


def test_minimal_manifest_asks_for_nothing() -> None:
    m = parse_manifest('[package]\nname = "x"\nversion = "1.0.0"\ncomponent = "x.wasm"\n')
    assert m.net == () and m.methods is None and m.limits == {}
    policy = m.policy()
    assert policy.rules == ()


def test_policy_from_manifest_uses_its_rules_and_methods() -> None:
    policy = parse_manifest(GOOD).policy(local=["127.0.0.1:8080"])
    assert len(policy.rules) == 2
    assert policy.methods == frozenset({"GET", "POST"})
    assert len(policy.local) == 1


def test_operator_ceiling_wins_over_a_greedy_manifest() -> None:
    m = parse_manifest(GOOD)
    operator = Limits(memory_bytes=32 * MiB, call_timeout_s=60.0, max_open_streams=1)
    effective = m.limits_under(operator)
    assert effective.memory_bytes == 32 * MiB  # manifest asked 64 MiB: clamped
    assert effective.call_timeout_s == 30.0  # manifest asked less: kept
    assert effective.max_open_streams == 1
    assert effective.max_response_bytes == MiB
    # Not mentioned by the manifest: the operator's value.
    assert effective.max_redirects == operator.max_redirects


limit_requests = st.fixed_dictionaries({}, optional={
    "memory_bytes": st.integers(1, 2**34),
    "fuel_per_call": st.integers(1, 2**40),
    "call_timeout_s": st.floats(0.001, 1e5),
    "max_open_streams": st.integers(1, 100),
    "max_response_bytes": st.integers(1, 2**34),
})
operators = st.builds(Limits, memory_bytes=st.integers(1, 2**34),
                      call_timeout_s=st.floats(0.001, 1e5),
                      max_open_streams=st.integers(1, 100))


@settings(max_examples=100)
@given(limit_requests, operators)
def test_manifest_can_only_tighten(requested: dict[str, float], operator: Limits) -> None:
    """For any request and operator config: every effective limit <= the operator's, and
    equals min(request, operator) where the manifest asked."""
    from astrid_host._core._manifest import Manifest

    m = Manifest("Capsule.toml", "x", "1.0.0", Path("x.wasm"), limits=requested)
    effective = m.limits_under(operator)
    for name in Limits.__dataclass_fields__:
        assert getattr(effective, name) <= getattr(operator, name)
        if name in requested:
            assert getattr(effective, name) == min(requested[name], getattr(operator, name))


@pytest.mark.parametrize(("text", "expected"), [
    (1024, 1024),
    ("64MiB", 64 * MiB),
    ("64 MiB", 64 * MiB),
    ("512kB", 512_000),
    ("1.5GiB", 3 * 512 * MiB),
    ("10", 10),
    ("7B", 7),
])
def test_size_units(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["64XB", "", "-1MiB", "0.5B", 0, -5, True, 1.5, "MiB", None])
def test_bad_sizes_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


@pytest.mark.parametrize(("text", "expected"), [
    (30, 30.0), (0.5, 0.5), ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0),
])
def test_duration_units(text: object, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["30", "30 sec", "0s", 0, -1, float("inf"), False, "s"])
def test_bad_durations_are_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def _error(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, "dir/Capsule.toml")
    return info.value


@pytest.mark.parametrize(("edit", "line", "fragment"), [
    # (replace this, with that) in GOOD → error line and message fragment
    (('version = "0.1.0"', 'version = "0.1.0"\nlicense = "MIT"'), 5, "unknown key 'license'"),
    (("[limits]", "[limits]\ncpu = 3"), 15, "unknown key 'cpu' in [limits]"),
    (("[limits]", "[network]\nx = 1\n[limits]"), 14, "unknown table [network]"),
    (('memory = "64MiB"', 'memory = "lots"'), 15, "[limits] memory"),
    (('call-timeout = "30s"', 'call-timeout = "30 fortnights"'), 17, "call-timeout"),
    (("max-streams = 2", "max-streams = 0"), 18, "max-streams"),
    (("fuel = 2_000_000_000", "fuel = true"), 16, "fuel"),
    (('"http://*.example.org:8080"', '"ftp://example.org"'), 10, "net rule 'ftp://example.org'"),
    (('methods = ["GET", "POST"]', 'methods = ["G E T"]'), 12, "methods"),
    (('methods = ["GET", "POST"]', 'methods = "GET"'), 12, "list of method names"),
    (('name = "weather"', 'name = "we ather"'), 3, "[package] name"),
    (('version = "0.1.0"', 'version = "latest"'), 4, "version must look like"),
    (('component = "weather.wasm"', "component = 5"), 5, "component must be a non-empty"),
    (('component = "weather.wasm"', "component = = 5"), 5, "not valid TOML"),
])
def test_bad_manifest_points_at_the_line(edit: tuple[str, str], line: int,
                                         fragment: str) -> None:
    old, new = edit
    assert old in GOOD
    err = _error(GOOD.replace(old, new, 1))
    assert err.line == line, str(err)
    assert fragment in err.message
    assert str(err).startswith(f"dir/Capsule.toml:{line}: ")


def test_missing_package_key_is_reported() -> None:
    err = _error('[package]\nname = "x"\nversion = "1.0.0"\n')
    assert "missing 'component'" in err.message
    assert err.line == 1


def test_missing_package_table_is_reported() -> None:
    assert "missing [package]" in _error("[limits]\nfuel = 5\n").message


def test_load_manifest_from_a_directory(tmp_path: Path) -> None:
    (tmp_path / "Capsule.toml").write_text(GOOD, encoding="utf-8")
    m = load_manifest(tmp_path)
    assert m.component == tmp_path / "weather.wasm"
    assert m.path == str(tmp_path / "Capsule.toml")


def test_unreadable_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(tmp_path / "bin.toml")


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_garbage_either_parses_or_raises_manifest_error(text: str) -> None:
    """For any text: parse_manifest returns a Manifest or raises ManifestError, never
    anything else."""
    try:
        parse_manifest(text)
    except ManifestError:
        pass
