"""Generated bindings against a real guest: host → guest → host through the `echo` world.

The Python echo guest (guests/python/echo, world `echo` in wit/testing.wit) returns every
argument unchanged, so a round trip through the generated `EchoWorld` must be the identity
for every WIT type. The guest is driven directly with a wasmtime Store (the runtime's
`Capsule` is not needed to test value conversion); its compiled form is cached under build/.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._bindgen import BindgenError
from tests.support.bindings import CACHE, echo_bindings
from tests.support.paths import GUESTS, ROOT

GUEST = GUESTS / "python-echo.wasm"

pytestmark = pytest.mark.guest("python-echo")


try:
    B = echo_bindings()
except BindgenError as exc:  # wasm-tools missing: nothing here can run
    pytest.skip(f"cannot generate the echo bindings: {exc}", allow_module_level=True)


def _guest_bytes() -> bytes:
    if not GUEST.exists():
        exe = shutil.which("componentize-py")
        if exe is None:
            pytest.skip("build/guests/python-echo.wasm missing and componentize-py not installed")
        GUEST.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([exe, "-d", str(ROOT / "wit"), "-w", "echo", "componentize", "app",
                        "-p", str(ROOT / "guests/python/echo"), "-o", str(GUEST)],
                       check=True, capture_output=True, timeout=300)
    return GUEST.read_bytes()


class DirectCapsule:
    """The `CallTarget` the bindings need, straight over a wasmtime Store; counts calls."""

    def __init__(self) -> None:
        from wasmtime import Engine, Store, WasiConfig
        from wasmtime.component import Component, Linker

        data = _guest_bytes()
        self.engine = Engine()
        cached = CACHE / f"echo-{hashlib.sha256(data).hexdigest()[:24]}.cwasm"
        if cached.exists():
            self.component = Component.deserialize_file(self.engine, str(cached))
        else:
            self.component = Component(self.engine, data)
            tmp = cached.with_suffix(".tmp")
            tmp.write_bytes(self.component.serialize())
            tmp.replace(cached)
        linker = Linker(self.engine)
        linker.add_wasip2()
        self.store = Store(self.engine)
        self.store.set_wasi(WasiConfig())  # add_wasip2 without it aborts the process
        self.instance = linker.instantiate(self.store, self.component)
        self.calls: list[str] = []

    def func(self, name: str) -> Any:
        # "iface#func" reaches into an exported interface, as the runtime's Capsule does.
        index = None
        for part in name.split("#"):
            index = self.instance.get_export_index(self.store, part, index)
            assert index is not None, f"guest has no export {name}"
        func = self.instance.get_func(self.store, index)
        assert func is not None, f"guest export {name} is not a function"
        return func

    async def drop_resource(self, handle: Any) -> None:
        handle.drop(self.store)

    async def call(self, name: str, *args: Any) -> Any:
        self.calls.append(name)
        func = self.func(name)
        result = func(self.store, *args)
        func.post_return(self.store)
        return result


@functools.cache
def _capsule() -> DirectCapsule:
    return DirectCapsule()


@pytest.fixture(scope="module")
def capsule() -> DirectCapsule:
    return _capsule()


@pytest.fixture(scope="module")
def world(capsule: DirectCapsule) -> Any:
    return B.EchoWorld(capsule)


# --- strategies for every type of the echo world ---------------------------------------------

def ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    if signed:
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


# Lone surrogates cannot be UTF-8 encoded, so no WIT string or char can hold them.
chars = st.characters(blacklist_categories=("Cs",))
text = st.text(chars, max_size=12)
f32 = st.floats(width=32, allow_nan=False)
f64 = st.floats(allow_nan=False)
point = st.builds(B.Point, ints(32, True), ints(32, True))
kind = st.sampled_from(list(B.ShapeKind))
perms = st.sets(st.sampled_from(list(B.Permissions))).map(
    lambda s: functools.reduce(lambda a, b: a | b, s, B.Permissions(0)))
shape_info = st.builds(B.ShapeInfo, text, point, st.lists(point, max_size=3),
                       st.none() | text, kind, perms, st.binary(max_size=16))
shape = st.one_of(st.builds(B.ShapeCircle, f64), st.builds(B.ShapeRect, point),
                  st.just(B.ShapeNothing()), st.builds(B.ShapeNamed, text))
token = st.one_of(st.builds(B.TokenWord, text), st.builds(B.TokenName, text),
                  st.builds(B.TokenCount, ints(32, False)), st.just(B.TokenEnd()))
signal = st.sampled_from([B.SignalGo(), B.SignalStop(), B.SignalWait()])
nested = st.one_of(st.builds(B.NestedInner, token),
                   st.builds(B.NestedShapes, st.lists(shape, max_size=3)),
                   st.builds(B.NestedPair, st.tuples(ints(8, False), text)),
                   st.builds(B.NestedPerms, perms))


def result(ok: st.SearchStrategy[Any], err: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(B.Ok, ok) | st.builds(B.Err, err)


# export method → strategy for its single argument.
PLAIN: dict[str, st.SearchStrategy[Any]] = {
    "echo_bool": st.booleans(),
    "echo_s8": ints(8, True),
    "echo_u8": ints(8, False),
    "echo_s16": ints(16, True),
    "echo_u16": ints(16, False),
    "echo_s32": ints(32, True),
    "echo_u32": ints(32, False),
    "echo_s64": ints(64, True),
    "echo_u64": ints(64, False),
    "echo_f32": f32,
    "echo_f64": f64,
    "echo_char": chars,
    "echo_string": text,
    "echo_bytes": st.binary(max_size=64),
    "echo_strings": st.lists(text, max_size=4),
    "echo_matrix": st.lists(st.lists(ints(16, True), max_size=3), max_size=3),
    "echo_tuple": st.tuples(ints(8, False), text, st.binary(max_size=8), st.booleans()),
    "echo_point": point,
    "echo_shape_info": shape_info,
    "echo_kind": kind,
    "echo_permissions": perms,
    "echo_shape": shape,
    "echo_token": token,
    "echo_signal": signal,
    "echo_nested": nested,
    "echo_option": st.none() | ints(32, False),
    "echo_option_point": st.none() | point,
    "echo_option_option": st.none() | st.builds(B.Some, st.none() | text),
    "echo_options": st.lists(st.none() | st.booleans(), max_size=5),
    "echo_results": st.lists(result(ints(8, False), signal), max_size=4),
    "echo_awkward": st.builds(B.AwkwardNumber, ints(32, False)),
}
# export method → strategy for a `result` argument; the export returns ok or raises Err.
RESULTS: dict[str, st.SearchStrategy[Any]] = {
    "echo_result": result(ints(32, False), text),
    "echo_result_same": result(text, text),
    "echo_result_no_ok": result(st.none(), text),
    "echo_result_no_err": result(point, st.none()),
    "echo_result_empty": result(st.none(), st.none()),
    "echo_result_rich": result(shape_info, token),
    "echo_result_option": st.builds(B.Ok, st.none() | ints(8, False)),
}


@pytest.mark.parametrize("method", sorted(PLAIN))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
async def test_value_round_trip_is_identity(world: Any, method: str, data: st.DataObject) -> None:
    """For every value v of the export's type: await world.<echo>(v) == v."""
    value = data.draw(PLAIN[method])
    assert await getattr(world, method)(value) == value


@pytest.mark.parametrize("method", sorted(RESULTS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
async def test_result_round_trip_returns_ok_or_raises_err(
    world: Any, method: str, data: st.DataObject
) -> None:
    """Ok(x) in → x returned; Err(e) in → Err(e) raised, with the same payload."""
    value = data.draw(RESULTS[method])
    try:
        got = B.Ok(await getattr(world, method)(value))
    except B.Err as err:
        got = err
    assert got == value
    assert type(got) is type(value)


async def test_many_parameters_come_back_as_one_tuple(world: Any) -> None:
    pts = [B.Point(1, -2), B.Point(3, 4)]
    assert await world.echo_many(7, "x", pts) == (7, "x", pts)
    assert await world.echo_many(0, None, []) == (0, None, [])


async def test_function_without_params_or_result_returns_none(world: Any) -> None:
    assert await world.ping() is None


async def test_guest_err_is_raised_as_typed_err(world: Any) -> None:
    with pytest.raises(B.Err) as info:
        await world.fail_with("boom")
    assert info.value.value == "boom"
    assert await world.fail_with("") is None


async def test_nan_survives_the_trip(world: Any) -> None:
    assert math.isnan(await world.echo_f64(math.nan))
    assert math.isnan(await world.echo_f32(math.nan))


async def test_flag_after_int_case_is_refused_before_calling(
    world: Any, capsule: DirectCapsule
) -> None:
    """wasmtime-py 50 would send flag(True) as number(1): the binding refuses instead."""
    before = len(capsule.calls)
    with pytest.raises(B.rt.UnrepresentableValue, match=r"'flag'.*'number'"):
        await world.echo_awkward(B.AwkwardFlag(True))
    assert len(capsule.calls) == before


async def test_err_after_option_ok_is_refused_before_calling(
    world: Any, capsule: DirectCapsule
) -> None:
    before = len(capsule.calls)
    with pytest.raises(B.rt.UnrepresentableValue, match=r"'err'.*'ok'"):
        await world.echo_result_option(B.Err("x"))
    assert len(capsule.calls) == before


@pytest.mark.parametrize(("method", "value", "error"), [
    ("echo_u8", 256, OverflowError),
    ("echo_s64", 2**63, OverflowError),
    ("echo_u64", -1, OverflowError),
    ("echo_u32", True, TypeError),
    ("echo_char", "ab", TypeError),
    ("echo_bytes", [1, 2], TypeError),
    ("echo_point", (1, 2), TypeError),
    ("echo_option_option", "x", TypeError),
    ("echo_shape", B.TokenEnd(), TypeError),
])
async def test_bad_argument_is_rejected_on_the_host_side(
    world: Any, capsule: DirectCapsule, method: str, value: Any, error: type[Exception]
) -> None:
    before = len(capsule.calls)
    with pytest.raises(error):
        await getattr(world, method)(value)
    assert len(capsule.calls) == before


# --- exported resources ------------------------------------------------------------------------

async def test_exported_resource_lives_in_the_guest_until_closed(
    world: Any, capsule: DirectCapsule
) -> None:
    counter = await B.Counter.create(capsule, 5)
    assert await counter.add(2) == 7
    other = await B.Counter.parse(capsule, "10")
    # Borrowed handles in a list: the guest reads both, the host keeps them.
    assert await world.echo_resources.total([counter, other]) == 17
    assert await counter.add(1) == 8
    await counter.close()
    with pytest.raises(B.rt.ClosedHandle):
        await counter.add(1)
    async with other:
        assert await other.add(0) == 10
    assert other.handle is None


async def test_closing_a_resource_drops_the_guest_handle() -> None:
    """After close() the component itself no longer knows the handle."""
    from wasmtime import WasmtimeError

    fresh = DirectCapsule()  # a bad handle traps and poisons the Store: use a private one
    counter = await B.Counter.create(fresh, 1)
    raw = counter.handle
    await counter.close()
    with pytest.raises(WasmtimeError, match="unknown handle index"):
        await fresh.call("astrid:http/echo-resources@0.1.0#[method]counter.add", raw, 1)


async def test_static_resource_function_raises_err(capsule: DirectCapsule) -> None:
    with pytest.raises(B.Err) as info:
        await B.Counter.parse(capsule, "ten")
    assert info.value.value == "not a number: 'ten'"


# --- the tagging rule mirrors wasmtime-py's own ----------------------------------------------

def _our_descriptor(export: str) -> Any:
    source = (CACHE / "echo_bindings.py").read_text(encoding="utf-8")
    m = re.search(rf'call\(\s*"{export}",\s*rt\.lower\(([\w.]+),', source)
    assert m is not None, export
    owner, _, name = m.group(1).rpartition(".")
    return getattr(B.rt if owner == "rt" else B, name)


def _compare(ours: Any, theirs: Any, where: str) -> None:
    from wasmtime.component import _types as wt

    found: set[type] = set()
    theirs.add_classes(found)
    assert B.rt.classes(ours) == frozenset(found), where
    if isinstance(theirs, wt.VariantLikeType):
        assert B.rt.tagged(ours) == theirs._tagged(), where
        their_cases = theirs._cases()
        our_cases = ours.variant_cases
        assert [n for n, _ in our_cases] == [n for n, _ in their_cases], where
        for (name, o), (_, t) in zip(our_cases, their_cases, strict=True):
            assert (o is None) == (t is None), f"{where}.{name}"
            if o is not None:
                _compare(o, t, f"{where}.{name}")
    elif isinstance(theirs, wt.ListType) and hasattr(ours, "element"):
        _compare(ours.element, theirs.element, f"{where}[]")
    elif isinstance(theirs, wt.RecordType):
        for (wit_name, _, o), (t_name, t) in zip(ours.fields, theirs.fields, strict=True):
            assert wit_name == t_name
            _compare(o, t, f"{where}.{wit_name}")
    elif isinstance(theirs, wt.TupleType):
        for i, (o, t) in enumerate(zip(ours.items, theirs.elements, strict=True)):
            _compare(o, t, f"{where}.{i}")


def test_descriptor_classes_and_tagging_match_wasmtime_for_every_export(
    capsule: DirectCapsule,
) -> None:
    """For every echo export's parameter type, at every depth: our classes() equals
    wasmtime-py's add_classes() and our tagged() equals its _tagged()."""
    exports = [m for m in dir(B.EchoWorld) if m.startswith("echo_") and m != "echo_many"]
    assert len(exports) >= 35
    for method in exports:
        export = method.replace("_", "-")
        ftype = capsule.func(export).type(capsule.store)
        (_, their_param), = ftype.params
        _compare(_our_descriptor(export), their_param, export)


# --- through the real runtime ----------------------------------------------------------------

class _NoHttp:
    """The echo world imports no client: the HTTP object is never used, only closed."""

    async def aclose(self) -> None:
        pass


async def test_bindings_over_the_real_capsule_runtime() -> None:
    """The generated class works on `Host.load(...)`'s Capsule, not only on a bare Store."""
    host_module = pytest.importorskip("astrid_host._wasm._host")
    _guest_bytes()
    async with host_module.Host(cache_dir=ROOT / "build" / "cache",
                                http_factory=lambda ctx: _NoHttp()) as host:
        capsule = await host.load(GUEST)
        async with capsule:
            world = B.EchoWorld(capsule)
            info = B.ShapeInfo("n", B.Point(1, 2), [B.Point(3, 4)], "l", B.ShapeKind.SQUARE,
                               B.Permissions.READ | B.Permissions.WRITE, b"\x00\x01")
            assert await world.echo_shape_info(info) == info
            assert await world.echo_nested(B.NestedInner(B.TokenName("x"))) == \
                B.NestedInner(B.TokenName("x"))
            with pytest.raises(B.Err) as err:
                await world.fail_with("no")
            assert err.value.value == "no"
