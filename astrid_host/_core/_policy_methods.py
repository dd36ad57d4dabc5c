"""Which HTTP methods a policy may allow: :func:`parse_method` and :data:`DEFAULT_METHODS`.

A policy compares methods exactly, so a token that could only be a mistake (``get``, ``GTE``)
is refused when the policy is built rather than denying every request it was meant to allow.
"""

from __future__ import annotations

import re

from astrid_host._core._model import STANDARD_METHODS
from astrid_host._core._policy_rules import PolicyError

__all__ = ["DEFAULT_METHODS", "parse_method"]

#: Methods a policy allows when none are given: the WIT's standard methods.
DEFAULT_METHODS: frozenset[str] = frozenset(STANDARD_METHODS.values())

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Methods the host refuses to send whatever the policy says (see ``_headers``): a policy
#: naming one would promise something that never works.
_NEVER_SENT = frozenset({"CONNECT", "TRACE"})


def parse_method(token: str) -> str:
    """Check one method a policy allows; return it. Raises :class:`PolicyError`.

    Methods are case-sensitive (RFC 9110 section 9.1) and a policy compares them exactly, so a
    token that could only be a mistake would deny every request it was meant to allow. Accepted:
    the standard methods and any upper-case RFC 9110 token (an extension method such as
    ``PROPFIND``). Refused: tokens with lower-case letters (``get``), near-misses of a
    standard method (``GTE``, ``POTS``, ``DELET``: one edit or a reordering away), ``CONNECT``
    and ``TRACE`` (the host never sends them) and anything that is not a token.
    """
    if not isinstance(token, str):
        raise TypeError(f"a method must be a string, got {type(token).__name__}")
    if token == "*":
        raise PolicyError("'*' is not a method (in a policy's method list it means any method)")
    if not _TOKEN.fullmatch(token):
        raise PolicyError(f"method {token!r} is not a valid HTTP method token (RFC 9110: "
                          "letters, digits and !#$%&'*+-.^_`|~, at least one)")
    upper = token.upper()
    if upper in _NEVER_SENT:
        raise PolicyError(f"{token!r} cannot be allowed: the host refuses CONNECT and TRACE "
                          "requests whatever the policy says")
    if upper in DEFAULT_METHODS and token != upper:
        raise PolicyError(f"{token!r} is not a method: methods are upper-case tokens such as "
                          f"GET; did you mean {upper}?")
    near = _near_miss(upper)
    if near is not None:
        raise PolicyError(f"{token!r} is not a method: it looks like {near} misspelt; did you "
                          f"mean {near}? (to allow any method, use '*')")
    if token != upper:
        raise PolicyError(f"{token!r} is not a method: methods are upper-case tokens such as "
                          f"GET; did you mean {upper}?")
    return token


def _near_miss(upper: str) -> str | None:
    """The standard method ``upper`` misspells: one insertion, deletion, substitution or
    transposition away, or the same letters in another order. ``None`` for the standard
    methods themselves and for registered extension methods (none is that close)."""
    if upper in DEFAULT_METHODS:
        return None
    for method in sorted(DEFAULT_METHODS):
        if sorted(upper) == sorted(method) or _one_edit(upper, method):
            return method
    return None


def _one_edit(a: str, b: str) -> bool:
    """True if ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of two
    neighbouring characters (``a != b``)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y),
             len(short))
    return short[i:] == long[i + 1:]
