"""The Markdown WIT reference: type spellings and the sections it renders."""

from __future__ import annotations

import shutil

import pytest

from astrid_host._bindgen import Resolve, generate, load
from astrid_host._bindgen._markdown import wit_type
from astrid_host._bindgen._model import Handle, ListOf, OptionOf, Prim, Ref, ResultOf, TupleOf
from tests.support.paths import ROOT

pytestmark = pytest.mark.skipif(shutil.which("wasm-tools") is None,
                                reason="wasm-tools not on PATH")


@pytest.fixture(scope="module")
def resolve() -> Resolve:
    return load(ROOT / "wit")


def _named(resolve: Resolve, name: str) -> int:
    return next(t.index for t in resolve.types if t.name == name and t.owner
                and t.owner[0] == "interface")


def test_type_spellings_match_wit_source(resolve: Resolve) -> None:
    point = Ref(_named(resolve, "point"))
    counter = _named(resolve, "counter")
    cases = [
        (Prim("u8"), "u8"),
        (ListOf(Prim("u8")), "list<u8>"),
        (OptionOf(OptionOf(Prim("string"))), "option<option<string>>"),
        (ResultOf(None, None), "result"),
        (ResultOf(point, None), "result<point>"),
        (ResultOf(None, Prim("string")), "result<_, string>"),
        (TupleOf((Prim("u8"), point)), "tuple<u8, point>"),
        (Handle("borrow", counter), "borrow<counter>"),
        (Handle("own", counter), "counter"),
    ]
    for ty, text in cases:
        assert wit_type(resolve, ty) == text


def test_reference_documents_worlds_interfaces_and_docs(resolve: Resolve) -> None:
    text = generate(resolve, fmt="markdown")
    assert text.startswith("# WIT reference\n")
    for heading in ("### world `capsule`", "### interface `astrid:http/types@0.1.0`",
                    "#### record `request`", "#### enum `redirect-policy`",
                    "#### variant `error-code`", "#### resource `incoming-response`",
                    "#### type `headers`"):
        assert heading in text
    # Field docs land in the table; resource methods are listed under their resource.
    assert "| `url` | `string` | An absolute `http:` or `https:` URL. |" in text
    assert "- `read: func(max: u32) -> result<option<list<u8>>, error-code>`" in text
    assert "- `static parse: func(text: string) -> result<counter, string>`" in text
    assert "- `constructor(start: u32)`" in text
