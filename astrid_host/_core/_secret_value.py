"""One secret a capsule can use but never see: :class:`Secret`, its value and its origins.

A :class:`Secret` keeps its value in a ``bytearray`` that :meth:`Secret.wipe` zeroes; its
``repr`` never shows the value and it refuses to be pickled. Python cannot promise more: the
substituted header bytes handed to the HTTP library are ordinary ``bytes`` that live until the
request is sent and garbage-collected. How secrets reach requests is
:mod:`~astrid_host._core._secrets`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NoReturn

from astrid_host._core._headers import _FIELD_VALUE
from astrid_host._core._policy_rules import PolicyError, Rule, parse_rule
from astrid_host._core._url import ParsedUrl

__all__ = ["Secret", "SecretError", "validate_secret_name"]

_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


class SecretError(ValueError):
    """The operator's secret configuration is unusable (bad name, value or origin).

    The message names the secret or origin, never the value.
    """


def validate_secret_name(name: object) -> str:
    """``name`` if it is a valid secret name (``[A-Za-z0-9_.-]+``), else :class:`SecretError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SecretError(f"secret name {name!r} must be one or more of A-Z a-z 0-9 _ . -")
    return name


class Secret:
    """One secret value and the origins it may be sent to.

    ``value`` is bytes (or text, encoded as UTF-8) that can stand in a header value: no control
    characters, no leading or trailing whitespace, not empty. ``origins`` are ``scheme://host
    [:port]`` rules with the egress policy's syntax and wildcards (``https://api.example.com``,
    ``https://*.example.com``, ``http://10.0.0.0/8:8080``); at least one is required.
    """

    __slots__ = ("_value", "origins")

    def __init__(self, value: bytes | bytearray | str, origins: Iterable[str]) -> None:
        if isinstance(origins, str):
            raise SecretError("origins must be a list of origin rules, not one string")
        rules: list[Rule] = []
        for text in origins:
            try:
                rules.append(parse_rule(text))
            except PolicyError as exc:
                raise SecretError(f"secret origin {text!r}: {exc}") from None
        if not rules:
            raise SecretError("a secret needs at least one origin it may be sent to")
        if isinstance(value, str):
            raw = bytearray(value.encode("utf-8"))
        elif isinstance(value, (bytes, bytearray)):
            raw = bytearray(value)
        else:
            raise SecretError(f"a secret value must be bytes or str, not {type(value).__name__}")
        # Checked here so a bad value fails when the operator configures it, not mid-request;
        # together with a valid template this keeps every substituted value a valid field value.
        if not raw or not _FIELD_VALUE.fullmatch(raw):
            raise SecretError("a secret value must be non-empty header-safe bytes: no control "
                              "characters (CR, LF, NUL, ...) and no leading or trailing "
                              "whitespace")
        self._value = raw
        #: The parsed origin rules, in the order given.
        self.origins: tuple[Rule, ...] = tuple(rules)

    def allows(self, url: ParsedUrl) -> bool:
        """True if this secret may be sent to ``url``'s origin (scheme, host and port)."""
        return any(rule.matches(url) for rule in self.origins)

    def reveal(self) -> bytes:
        """The value. Only the substitution calls this; never log or store what it returns."""
        if not any(self._value):
            raise SecretError("the secret was wiped")
        return bytes(self._value)

    def wipe(self) -> None:
        """Overwrite the value in place with zeros; the secret is unusable afterwards."""
        self._value[:] = bytes(len(self._value))

    def copy(self) -> Secret:
        """A secret with the same origins and its own copy of the value (wiping one leaves the
        other intact)."""
        twin = Secret.__new__(Secret)
        twin._value = bytearray(self._value)
        twin.origins = self.origins
        return twin

    def _texts(self) -> tuple[str, ...]:
        """The value as text, the ways host-written text can hold it (Latin-1 and UTF-8)."""
        raw = bytes(self._value)
        if not any(raw):
            return ()
        texts = {raw.decode("latin-1")}
        try:
            texts.add(raw.decode("utf-8"))
        except UnicodeDecodeError:
            pass
        return tuple(texts)

    def __repr__(self) -> str:
        return f"Secret(origins={[r.text for r in self.origins]!r}, value=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would write the value wherever the pickle goes (disk, another process).
        raise TypeError("a Secret cannot be pickled: its value never leaves the host process")
