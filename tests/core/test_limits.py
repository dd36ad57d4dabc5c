"""Limits: finite defaults, validation, and tightening that never loosens."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._limits import Limits, MiB


def test_defaults_are_finite_and_documented_values() -> None:
    limits = Limits()
    assert limits.max_open_streams == 4
    assert limits.max_response_bytes == 10 * MiB
    assert (limits.connect_timeout_s, limits.first_byte_timeout_s) == (30.0, 30.0)
    assert (limits.between_bytes_timeout_s, limits.total_timeout_s) == (120.0, 120.0)
    assert limits.max_redirects == 10
    assert limits.max_output_bytes == 10 * MiB  # issue 15: 10 MiB back to the caller
    for field in dataclasses.fields(limits):
        assert 0 < getattr(limits, field.name) < float("inf")


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan"), float("inf")])
def test_bad_values_are_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        Limits(max_open_streams=bad)  # type: ignore[arg-type]
    with pytest.raises((TypeError, ValueError)):
        Limits(max_output_bytes=bad)  # type: ignore[arg-type]


def test_zero_redirects_is_allowed() -> None:
    assert Limits(max_redirects=0).max_redirects == 0


@given(st.integers(1, 10**12), st.one_of(st.none(), st.integers(0, 10**12)))
def test_tighten_bytes_never_loosens(configured: int, requested: int | None) -> None:
    """Invariant: the effective limit is never above the configured one, and equals the
    request's value whenever that is tighter."""
    effective = Limits.tighten_bytes(configured, requested)
    assert effective <= configured
    if requested is not None and requested < configured:
        assert effective == requested


@given(st.floats(0.001, 1e6), st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_tighten_ms_never_loosens(configured_s: float, requested_ms: int | None) -> None:
    """Invariant: a per-request timeout can only shorten the configured one."""
    assert Limits.tighten_ms(configured_s, requested_ms) <= configured_s


def test_operator_ceiling_wins_field_by_field() -> None:
    asked = Limits(memory_bytes=512 * MiB, max_open_streams=2)
    ceiling = Limits(memory_bytes=64 * MiB, max_open_streams=8)
    merged = asked.tightened_by(ceiling)
    assert merged.memory_bytes == 64 * MiB and merged.max_open_streams == 2
