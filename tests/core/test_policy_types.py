"""Lists of rules, entries and methods must be lists of strings.

``Host.load(policy="https://x")`` used to hand the string to ``EgressPolicy.parse``, which read
it one character at a time and complained about a rule ``'h'``. A lone string or bytes where a
list belongs, and a list item that is not a string, are now a ``TypeError`` that says so.
"""

from __future__ import annotations

import pytest

from astrid_host._core._policy import EgressPolicy


@pytest.mark.parametrize("rules", ["https://a.example", b"https://a.example"])
def test_one_string_instead_of_a_list_is_a_type_error(rules: str | bytes) -> None:
    with pytest.raises(TypeError, match=r"rules must be a list of rule strings, not one"):
        EgressPolicy.parse(rules)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"local must be a list of entries, not one"):
        EgressPolicy.parse([], local=rules)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"methods must be a list of method tokens, not one"):
        EgressPolicy.parse([], methods=rules)  # type: ignore[arg-type]


@pytest.mark.parametrize("item", [b"https://a.example", 443, None])
def test_a_rule_or_entry_that_is_not_a_string_is_a_type_error(item: object) -> None:
    with pytest.raises(TypeError, match="must be a string"):
        EgressPolicy.parse([item])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="must be a string"):
        EgressPolicy.parse([], local=[item])  # type: ignore[list-item]
