"""The HTTP method as the host model carries it: the wire token, not the WIT variant.

The WIT `method` variant has a case per everyday method and ``other(string)`` for the rest;
the network layer wants the token it sends (``"GET"``, or the ``other`` text as given). The
generated host model converts through :data:`METHOD_TOKEN` (see ``HOST_MODELS`` in
``astrid_host/_bindgen/_hostgen.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["METHOD_TOKEN", "MethodToken"]

#: The case that carries any other token.
_OTHER = "other"


class MethodToken:
    """WIT `method` ⇄ wire token: ``get`` ⇄ ``"GET"``, ``other(x)`` ⇄ ``x`` unchanged."""

    def to_host(self, case: str, payload: Any) -> str:
        """The token of ``case(payload)``; an ``other`` token is passed on as given
        (validating it is the HTTP engine's job)."""
        if case == _OTHER:
            if not isinstance(payload, str):
                raise TypeError("method other(...) payload must be a string")
            return payload
        return case.upper()

    def to_wit(self, value: Any, cases: Sequence[str]) -> tuple[str, Any]:
        """The case of a token: its own case when it has one (``"GET"``), else ``other``."""
        if not isinstance(value, str):
            raise TypeError(f"a method is a token string, not {value!r}")
        case = value.lower()
        if case != _OTHER and case in cases and value == case.upper():
            return case, None
        return _OTHER, value


#: The codec of the host model's `method`.
METHOD_TOKEN = MethodToken()
