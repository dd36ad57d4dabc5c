"""The typed model of wasm-tools' WIT JSON: shapes, alias resolution, names, bad input."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._bindgen._model import (
    BindgenError,
    Case,
    EnumDef,
    FlagsDef,
    Handle,
    ListOf,
    OptionOf,
    Prim,
    RecordDef,
    Ref,
    ResultOf,
    TupleOf,
    TypeDef,
    VariantDef,
)
from astrid_host._bindgen._witjson import load_resolve, read_wit_json
from tests.support.paths import ROOT


def _doc(types: list[dict[str, Any]], functions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "types": types,
        "interfaces": [{"name": "things", "types": {}, "functions": functions or {},
                        "package": 0}],
        "worlds": [{"name": "w", "imports": {}, "exports": {}, "package": 0}],
        "packages": [{"name": "ns:pkg@1.0.0"}],
    }


@pytest.mark.parametrize(("kind", "expected"), [
    ({"list": "u8"}, ListOf(Prim("u8"))),
    ({"option": 0}, OptionOf(Ref(0))),
    ({"result": {"ok": "u32", "err": None}}, ResultOf(Prim("u32"), None)),
    ({"result": {}}, ResultOf(None, None)),
    ({"tuple": {"types": ["s8", 0]}}, TupleOf((Prim("s8"), Ref(0)))),
    ({"type": 0}, Ref(0)),
    ({"handle": {"borrow": 0}}, Handle("borrow", 0)),
    ({"enum": {"cases": [{"name": "a"}]}}, EnumDef(cases=(Case("a", None, None),))),
])
def test_type_kinds_map_to_model_values(kind: dict[str, Any], expected: Any) -> None:
    resolve = load_resolve(_doc([{"name": "r", "kind": "resource", "owner": None},
                                 {"name": None, "kind": kind, "owner": None}]))
    assert resolve.types[1].kind == expected


def test_flags_and_variants_keep_case_docs_and_payloads() -> None:
    resolve = load_resolve(_doc([
        {"name": "f", "kind": {"flags": {"flags": [{"name": "x", "docs": {"contents": "X."}}]}},
         "owner": {"interface": 0}},
        {"name": "v", "kind": {"variant": {"cases": [{"name": "a", "type": "string"},
                                                     {"name": "b", "type": None}]}},
         "owner": {"interface": 0}, "docs": {"contents": "A variant."}},
    ]))
    f, v = resolve.types
    assert isinstance(f.kind, FlagsDef) and f.kind.cases[0].docs == "X."
    assert isinstance(v.kind, VariantDef) and v.docs == "A variant."
    assert [(c.name, c.type) for c in v.kind.cases] == [("a", Prim("string")), ("b", None)]
    assert v.owner == ("interface", 0)


def test_resolve_follows_use_aliases_to_the_definition() -> None:
    resolve = load_resolve(_doc([
        {"name": "point", "kind": {"record": {"fields": [{"name": "x", "type": "s32"}]}},
         "owner": {"interface": 0}},
        {"name": "point", "kind": {"type": 0}, "owner": {"world": 0}},
        {"name": "again", "kind": {"type": 1}, "owner": {"world": 0}},
        {"name": "blob", "kind": {"list": "u8"}, "owner": {"interface": 0}},
    ]))
    target = resolve.resolve(Ref(2))
    assert isinstance(target, TypeDef) and isinstance(target.kind, RecordDef)
    assert target.index == 0
    assert resolve.resolve(Ref(3)) == ListOf(Prim("u8"))
    assert resolve.resolve(Prim("u8")) == Prim("u8")


def test_interface_ids_carry_package_and_version() -> None:
    resolve = load_resolve(_doc([]))
    assert resolve.interface_id(0) == "ns:pkg/things@1.0.0"


@pytest.mark.parametrize(("types", "fragment"), [
    ([{"name": None, "kind": {"stream": "u8"}, "owner": None}], "stream"),
    ([{"name": None, "kind": {"future": None}, "owner": None}], "future"),
    ([{"name": None, "kind": {"list": "u128"}, "owner": None}], "u128"),
    ([{"name": None, "kind": {"mystery": 1}, "owner": None}], "mystery"),
    ([{"name": "x"}], "unexpected WIT JSON shape"),
    ([None], "unexpected WIT JSON shape"),
])
def test_unsupported_or_malformed_json_is_a_bindgen_error(types: list[dict[str, Any]],
                                                          fragment: str) -> None:
    with pytest.raises(BindgenError, match=fragment):
        load_resolve(_doc(types))


def test_async_functions_are_refused() -> None:
    fn = {"f": {"name": "f", "kind": "async-freestanding", "params": [], "result": None}}
    with pytest.raises(BindgenError, match="async"):
        load_resolve(_doc([], fn))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=10,
)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["types", "interfaces", "worlds", "packages"]),
                       json_values))
def test_arbitrary_json_parses_or_raises_bindgen_error(data: dict[str, Any]) -> None:
    """For any JSON-shaped input: load_resolve returns a model or raises BindgenError."""
    try:
        load_resolve(data)
    except BindgenError:
        pass


@pytest.mark.skipif(shutil.which("wasm-tools") is None, reason="wasm-tools not on PATH")
def test_our_wit_package_loads_with_every_world() -> None:
    resolve = load_resolve(read_wit_json(ROOT / "wit"))
    assert {w.name for w in resolve.worlds} >= {"capsule", "conformance", "echo"}
    run = next(i.function for i in resolve.world("capsule").exports if i.function)
    assert run is not None and run.name == "run"
    assert resolve.resolve(run.result) == ResultOf(Prim("string"), Prim("string"))
