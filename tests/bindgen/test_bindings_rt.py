"""The runtime helpers of generated bindings, without a guest: tagging, lowering, lifting.

Agreement with wasmtime-py's own tagging on real component types is tested in
test_roundtrip.py; these tables pin the rule's consequences one case at a time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wasmtime.component import Record, Variant

from astrid_host._wasm import _bindings_rt as rt


@dataclass(frozen=True)
class P:
    x: int


P_TY = rt.RecordTy(P, [("x", "x", rt.U8)])


class Color(enum.Enum):
    RED = "red"
    DARK_BLUE = "dark-blue"


class Perm(enum.Flag):
    READ = 1
    RUN_NOW = 2


@dataclass(frozen=True)
class CaseA:
    value: int


@dataclass(frozen=True)
class CaseB:
    pass


@dataclass(frozen=True)
class CaseC:
    value: str


@pytest.mark.parametrize(("ty", "tagged"), [
    (rt.OptionTy(rt.U32), False),
    (rt.OptionTy(rt.OptionTy(rt.U32), wrap=True), True),  # none vs inner none
    (rt.ResultTy(rt.U32, rt.STRING), False),
    (rt.ResultTy(rt.STRING, rt.STRING), True),
    (rt.ResultTy(None, rt.STRING), False),
    (rt.ResultTy(None, None), True),
    (rt.ResultTy(rt.CHAR, rt.EnumTy(Color)), True),  # both are str
    (rt.ResultTy(rt.BytesTy(), rt.ListTy(rt.U8)), False),  # bytes vs list
    (rt.ResultTy(rt.BOOL, rt.U8), False),  # bool and int are different classes
    (rt.ResultTy(P_TY, rt.TupleTy(rt.U8)), False),
    (rt.ResultTy(P_TY, P_TY), True),
    (rt.VariantTy("v", [("a", CaseA, rt.U8), ("b", CaseB, None), ("c", CaseC, rt.STRING)]),
     False),
    (rt.VariantTy("v", [("a", CaseB, None), ("b", CaseB, None)]), True),
])
def test_tagging_follows_overlap_of_python_classes(ty: Any, tagged: bool) -> None:
    assert rt.tagged(ty) is tagged
    assert (rt.classes(ty) == frozenset({Variant})) is tagged


def test_untagged_variant_lowers_bare_payloads_and_lifts_them_back() -> None:
    ty = rt.VariantTy("v", [("a", CaseA, rt.U8), ("b", CaseB, None), ("c", CaseC, rt.STRING)])
    assert rt.lower(ty, CaseA(3)) == 3
    assert rt.lower(ty, CaseB()) is None
    assert rt.lower(ty, CaseC("s")) == "s"
    assert rt.lift(ty, 3) == CaseA(3)
    assert rt.lift(ty, None) == CaseB()
    assert rt.lift(ty, "s") == CaseC("s")


def test_tagged_values_are_wasmtime_variants() -> None:
    ty = rt.ResultTy(rt.STRING, rt.STRING)
    lowered = rt.lower(ty, rt.Err("e"))
    assert isinstance(lowered, Variant) and (lowered.tag, lowered.payload) == ("err", "e")
    assert rt.lift(ty, Variant("ok", "x")) == rt.Ok("x")
    with pytest.raises(TypeError, match="unknown case 'maybe'"):
        rt.lift(ty, Variant("maybe", "x"))
    with pytest.raises(TypeError, match="not a Variant"):
        rt.lift(ty, "x")


def test_lifting_a_bare_bool_is_not_mistaken_for_an_int() -> None:
    ty = rt.ResultTy(rt.U8, rt.BOOL)
    assert rt.lift(ty, True) == rt.Err(True)
    assert rt.lift(ty, 1) == rt.Ok(1)


def test_option_of_option_uses_some_to_keep_the_levels_apart() -> None:
    ty = rt.OptionTy(rt.OptionTy(rt.U8), wrap=True)
    assert rt.lower(ty, None) == Variant("none")
    assert rt.lower(ty, rt.Some(None)) == Variant("some", None)
    assert rt.lift(ty, Variant("some", 5)) == rt.Some(5)
    with pytest.raises(TypeError, match="Some"):
        rt.lower(ty, 5)  # type: ignore[arg-type]


def test_records_lower_to_wasmtime_records_with_wit_names() -> None:
    @dataclass(frozen=True)
    class R:
        max_bytes: int
        from_: str

    ty = rt.RecordTy(R, [("max-bytes", "max_bytes", rt.U64), ("from", "from_", rt.STRING)])
    raw = rt.lower(ty, R(5, "x"))
    assert isinstance(raw, Record)
    assert getattr(raw, "max-bytes") == 5 and raw.__dict__["from"] == "x"
    assert rt.lift(ty, raw) == R(5, "x")
    with pytest.raises(TypeError):
        rt.lower(ty, P(1))  # type: ignore[arg-type]


def test_enums_and_flags_use_wit_names() -> None:
    assert rt.lower(rt.EnumTy(Color), Color.DARK_BLUE) == "dark-blue"
    assert rt.lift(rt.EnumTy(Color), "red") is Color.RED
    flags = rt.FlagsTy(Perm, [(Perm.READ, "read"), (Perm.RUN_NOW, "run-now")])
    assert rt.lower(flags, Perm.READ | Perm.RUN_NOW) == {"read", "run-now"}
    assert rt.lower(flags, Perm(0)) == set()
    assert rt.lift(flags, {"run-now"}) == Perm.RUN_NOW


@pytest.mark.parametrize(("ty", "value", "error"), [
    (rt.U8, 256, OverflowError),
    (rt.U8, -1, OverflowError),
    (rt.S8, -129, OverflowError),
    (rt.U64, 2**64, OverflowError),
    (rt.S64, -(2**63) - 1, OverflowError),
    (rt.U32, True, TypeError),
    (rt.U32, 1.0, TypeError),
    (rt.F64, "1", TypeError),
    (rt.F32, False, TypeError),
    (rt.BOOL, 1, TypeError),
    (rt.CHAR, "", TypeError),
    (rt.STRING, b"x", TypeError),
    (rt.BytesTy(), "x", TypeError),
    (rt.ListTy(rt.U8), "xy", TypeError),
    (rt.TupleTy(rt.U8, rt.U8), (1,), TypeError),
    (rt.ResultTy(rt.U8, None), 5, TypeError),
])
def test_invalid_values_are_refused_before_wasmtime_sees_them(
    ty: Any, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        rt.lower(ty, value)


@pytest.mark.parametrize(("bits", "signed"), [(8, False), (16, True), (32, False), (64, True)])
@given(data=st.data())
def test_every_in_range_integer_lowers_unchanged(bits: int, signed: bool,
                                                 data: st.DataObject) -> None:
    """For every integer in the WIT type's range: lower(v) == v (and one past either end
    raises OverflowError)."""
    ty = {(8, False): rt.U8, (16, True): rt.S16, (32, False): rt.U32, (64, True): rt.S64}[
        (bits, signed)]
    lo = -(1 << (bits - 1)) if signed else 0
    hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    v = data.draw(st.integers(lo, hi))
    assert rt.lower(ty, v) == v
    for outside in (lo - 1, hi + 1):
        with pytest.raises(OverflowError):
            rt.lower(ty, outside)


def test_floats_accept_ints_but_send_floats() -> None:
    assert rt.lower(rt.F64, 3) == 3.0 and type(rt.lower(rt.F64, 3)) is float


def test_unrepresentable_value_names_both_cases() -> None:
    ty = rt.ResultTy(rt.OptionTy(rt.U8), rt.STRING)
    assert rt.lower(ty, rt.Ok(None)) is None
    with pytest.raises(rt.UnrepresentableValue, match=r"'err'.*'ok'"):
        rt.lower(ty, rt.Err("x"))


def test_err_is_an_exception_and_a_value() -> None:
    err = rt.Err({"k": 1})
    assert err == rt.Err({"k": 1}) and err != rt.Err({"k": 2}) and err != rt.Ok({"k": 1})
    assert "err" in str(err)
    with pytest.raises(rt.Err) as info:
        rt.unwrap(err)
    assert info.value is err
    assert rt.unwrap(rt.Ok(4)) == 4


async def test_dropping_a_handle_needs_a_drop_capable_capsule() -> None:
    class NoDrop:
        async def call(self, name: str, *args: Any) -> Any:
            return None

    with pytest.raises(NotImplementedError, match="drop_resource"):
        await rt.drop_handle(NoDrop(), "h")
