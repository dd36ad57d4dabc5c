"""The HTTP engine's shape (astrid_host/_net/, issue 11 item 3), checked on the source with
`ast` so a change that undoes it fails here: modules of one concept and at most 450 lines,
handles and exchanges that meet only through each other's package interface, one place that
sets the exchange's meter, one place that writes decision lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

NET = Path(__file__).resolve().parent.parent.parent / "astrid_host" / "_net"
MODULES = sorted(NET.glob("*.py"))
#: Modules whose objects may use only the public (package) names of other objects.
NO_REACHING_IN = ("_client.py", "_exchange.py", "_handles.py")


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _private_reaches(tree: ast.AST) -> list[str]:
    """``x._name`` where ``x`` is not ``self``/``cls``: a reach into another object's privates
    (``self._ex._reader``, ``client._guard()``); ``self._ex.read()`` is fine."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def _calls(tree: ast.AST, name: str, receiver: str | None = None) -> list[str]:
    """The functions that call ``name(...)`` (or ``receiver.name(...)``)."""
    found = []
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                target = node.func
                if receiver is None and isinstance(target, ast.Name) and target.id == name:
                    found.append(func.name)
                elif (isinstance(target, ast.Attribute) and target.attr == name
                      and isinstance(target.value, ast.Name) and target.value.id == receiver):
                    found.append(func.name)
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_engine_module_is_over_450_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 450


@pytest.mark.parametrize("name", NO_REACHING_IN)
def test_the_client_the_exchange_and_the_handles_never_reach_into_another_object(
        name: str) -> None:
    assert _private_reaches(_tree(NET / name)) == []


def test_the_reach_check_sees_a_reach() -> None:
    """The checker itself must see one, or the test above proves nothing."""
    tree = ast.parse("def f(self, client):\n    self._ex.read()\n    client._guard()\n")
    assert _private_reaches(tree) == ["3: client._guard"]


def test_the_meter_is_set_in_one_place() -> None:
    setters = [(path.name, func) for path in MODULES
               for func in _calls(_tree(path), "set", receiver="_CURRENT")]
    assert setters == [("_metering.py", "applied")]


def test_decision_lines_are_written_in_one_place() -> None:
    writers = [(path.name, func) for path in MODULES
               for func in _calls(_tree(path), "log_decision")]
    assert writers == [("_audit.py", "_record")]


def test_audit_records_reach_the_sink_in_one_place() -> None:
    """Every record goes through ``Audit._append`` (fail closed, worker thread when blocking);
    records are built only in ``_audit.py``."""
    appenders = [(path.name, func) for path in MODULES
                 for func in _calls(_tree(path), "append", receiver="sink")]
    assert appenders == [("_audit.py", "_append")]
    builders = {path.name for path in MODULES for name in ("DecisionRecord", "CompletionRecord")
                if _calls(_tree(path), "build", receiver=name)}
    assert builders == {"_audit.py"}


def test_the_call_finder_sees_a_call() -> None:
    tree = ast.parse("def f():\n    _CURRENT.set(1)\n    log_decision(d)\n    other.set(2)\n")
    assert _calls(tree, "set", receiver="_CURRENT") == ["f"]
    assert _calls(tree, "log_decision") == ["f"]
