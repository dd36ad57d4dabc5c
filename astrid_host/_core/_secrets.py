"""Secrets a capsule can use but never see: :class:`Secret`, :class:`Secrets`.

The operator gives a capsule named secrets, each bound to the origins it may be sent to. The
capsule writes ``{{secret:NAME}}`` in a request header value (upstream Astrid's syntax, so SDK
capsules work unchanged) and the host puts the value in on the way out, only when the request's
origin is one of the secret's origins. Pure logic: the engine calls :meth:`Secrets.substitute`
once per request and :meth:`Secrets.for_redirect` once per redirect hop, and sends, logs and
audits what they return.

Decisions and their sources:

- The placeholder is ``{{secret:`` + NAME + ``}}``, NAME one or more of ``A-Z a-z 0-9 _ . -``
  (upstream ``astrid-capsule`` 2026.10, ``host/http/credentials.rs``). Several may appear in
  one value. Only header *values* are substituted; URLs and bodies are sent as written, as
  upstream does. Other spellings (``{{SECRET:X}}``, ``{{ secret:X }}``) are ordinary text.
- Anything that opens ``{{secret:`` but is not a whole placeholder (no ``}}``, an empty or
  invalid NAME) refuses the request with ``invalid-request``: placeholder text is never sent.
- An undeclared name (the manifest lists the names the capsule uses), a name the operator gave
  no value for, or an origin the secret is not bound to refuses the request with ``denied``;
  the reason names the secret and the header, never the value.
- Upstream omits a header whose secret is unset; here the request is refused instead, so a
  missing credential is a visible error, not a silent anonymous request.
- On a redirect the headers that carried a secret are re-substituted from the capsule's
  placeholder form only when the new origin is allowed for *every* secret in them; otherwise
  they are dropped (and stay dropped for later hops). This is the one exception to the
  redirect rules' cross-origin safelist (``_core/_redirects.py``), which lets such headers
  through to be judged here, ``Authorization`` and ``Cookie`` included: the operator bound the
  secret to the new origin, so sending it there is what the operator allowed. Every other
  header the safelist drops stays dropped.
- The audit trail and logs see headers in their placeholder form (what the capsule wrote) or
  with ``[redacted]`` values, never the substituted value.

A :class:`Secret` keeps its value in a ``bytearray`` that :meth:`Secret.wipe` zeroes; its
``repr`` never shows the value and it refuses to be pickled. Python cannot promise more: the
substituted header bytes handed to the HTTP library are ordinary ``bytes`` that live until the
request is sent and garbage-collected.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from astrid_host._core._headers import _FIELD_VALUE
from astrid_host._core._model import ErrorCode, HttpError, InvalidRequest, RequestPart
from astrid_host._core._policy import PolicyError, Rule, parse_rule
from astrid_host._core._url import ParsedUrl

__all__ = [
    "PLACEHOLDER_OPEN",
    "REDACTED",
    "Secret",
    "SecretDenial",
    "SecretError",
    "SecretRefusal",
    "Secrets",
    "Substitution",
    "WireHeaders",
    "redact_headers",
    "validate_secret_name",
]

#: What opens a placeholder in a header value.
PLACEHOLDER_OPEN = b"{{secret:"
_CLOSE = b"}}"
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_NAME_BYTES = re.compile(rb"[A-Za-z0-9_.\-]+")

#: What a redacted header value is printed as.
REDACTED = "[redacted]"

#: Headers as the network layer handles them: (name, value) bytes, order significant.
WireHeaders = tuple[tuple[bytes, bytes], ...]


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


class SecretRefusal(enum.Enum):
    """Why a request's placeholders were refused. Values are stable reason keys."""

    MALFORMED = "secret-placeholder-malformed"
    UNDECLARED = "secret-undeclared"
    UNKNOWN = "secret-unknown"
    WRONG_ORIGIN = "secret-origin-not-allowed"


@dataclass(frozen=True)
class SecretDenial:
    """A request refused because of a placeholder: nothing may be sent.

    refusal: the kind; name: the secret named (``None`` for a malformed placeholder);
    header: the header field it was in; detail: a sentence naming both, never the value.
    """

    refusal: SecretRefusal
    name: str | None
    header: str
    detail: str

    @property
    def reason(self) -> str:
        """The stable reason key (for the decision log and the audit record)."""
        return self.refusal.value

    def error(self) -> HttpError:
        """The error the capsule gets: ``invalid-request(header)`` for a malformed placeholder
        (the capsule's mistake), else ``denied`` with the reason key and detail.
        """
        if self.refusal is SecretRefusal.MALFORMED:
            return HttpError(ErrorCode.invalid_request(RequestPart.HEADER, self.detail))
        return HttpError(ErrorCode.denied(f"{self.reason}: {self.detail}"))


@dataclass(frozen=True)
class Substitution:
    """The headers of one hop, after placeholders were filled in.

    wire: what to send, values substituted. template: the same headers in the capsule's
    placeholder form (what logs and the audit trail see; the next redirect hop starts from it).
    carried: indices (into both) of the headers that carry a secret. names: the secrets used,
    in first-use order. dropped: header names removed on a redirect because the new origin is
    not allowed for a secret in them.
    """

    wire: WireHeaders
    template: WireHeaders
    carried: frozenset[int] = frozenset()
    names: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    def printable(self) -> tuple[tuple[str, str], ...]:
        """The wire headers for printing, values that carry a secret shown as ``[redacted]``."""
        return redact_headers(self.wire, self.carried)

    def __repr__(self) -> str:
        # The dataclass repr would print `wire`, which holds the secret values.
        return (f"Substitution(headers={list(self.printable())!r}, names={self.names!r}, "
                f"dropped={self.dropped!r})")


@dataclass(frozen=True)
class _Placeholder:
    name: str
    start: int
    end: int


class _Malformed(Exception):
    pass


def _scan(value: bytes) -> list[_Placeholder]:
    found: list[_Placeholder] = []
    at = value.find(PLACEHOLDER_OPEN)
    while at >= 0:
        name_start = at + len(PLACEHOLDER_OPEN)
        close = value.find(_CLOSE, name_start)
        if close < 0:
            raise _Malformed("'{{secret:' is not closed with '}}'")
        raw = value[name_start:close]
        if not _NAME_BYTES.fullmatch(raw):
            raise _Malformed("a placeholder's NAME must be one or more of A-Z a-z 0-9 _ . -")
        found.append(_Placeholder(raw.decode("ascii"), at, close + len(_CLOSE)))
        at = value.find(PLACEHOLDER_OPEN, close + len(_CLOSE))
    return found


@dataclass(frozen=True)
class Secrets:
    """One capsule's secrets: the operator's values, and the names its manifest declares.

    ``declared`` is ``None`` when the manifest says nothing (then every name the operator gave
    may be used); otherwise only the listed names may be used. Build with :meth:`build`.
    """

    values: Mapping[str, Secret] = field(default_factory=dict)
    declared: frozenset[str] | None = None

    @classmethod
    def build(
        cls, values: Mapping[str, Secret] | None = None, declared: Iterable[str] | None = None,
    ) -> Secrets:
        """Check names and types; raise :class:`SecretError` for the first bad one."""
        checked: dict[str, Secret] = {}
        for name, secret in (values or {}).items():
            validate_secret_name(name)
            if not isinstance(secret, Secret):
                raise SecretError(f"secret {name!r} must be a Secret(value, origins=[...]), "
                                  f"not {type(secret).__name__}")
            checked[name] = secret
        names = None
        if declared is not None:
            if isinstance(declared, str):
                raise SecretError("declared secret names must be a list, not one string")
            names = frozenset(validate_secret_name(n) for n in declared)
        return cls(checked, names)

    def missing(self) -> tuple[str, ...]:
        """Declared names the operator gave no value for (sorted): worth a warning at load."""
        if self.declared is None:
            return ()
        return tuple(sorted(self.declared - set(self.values)))

    def allows(self, name: str, url: ParsedUrl) -> bool:
        """True if the capsule may use secret ``name`` and ``url``'s origin is one of its own."""
        secret = self.values.get(name)
        if secret is None or (self.declared is not None and name not in self.declared):
            return False
        return secret.allows(url)

    def substitute(
        self, headers: Sequence[tuple[bytes, bytes]], url: ParsedUrl,
    ) -> Substitution | SecretDenial:
        """Fill in every placeholder of a request's first hop to ``url``, or refuse.

        ``headers`` are the capsule's validated headers. Refused (nothing may be sent) when a
        placeholder is malformed, names an undeclared or unknown secret, or a secret not bound
        to ``url``'s origin. Headers without placeholders pass through unchanged.
        """
        wire: list[tuple[bytes, bytes]] = []
        carried: set[int] = set()
        names: list[str] = []
        for index, (name, value) in enumerate(headers):
            if PLACEHOLDER_OPEN not in value:
                wire.append((name, value))
                continue
            header = name.decode("latin-1")
            try:
                spots = _scan(value)
            except _Malformed as exc:
                return SecretDenial(SecretRefusal.MALFORMED, None, header,
                                    f"header {header!r}: {exc}")
            for spot in spots:
                denial = self._check(spot.name, header, url)
                if denial is not None:
                    return denial
                if spot.name not in names:
                    names.append(spot.name)
            wire.append((name, self._fill(value, spots)))
            carried.add(index)
        return Substitution(tuple(wire), tuple(headers), frozenset(carried), tuple(names))

    def for_redirect(
        self, template: Sequence[tuple[bytes, bytes]], url: ParsedUrl,
    ) -> Substitution:
        """The headers of a redirect hop to ``url``, from the previous hop's placeholder form.

        ``template`` is the previous :attr:`Substitution.template` after the redirect rules
        (``next_request``) removed what they remove. A header whose secrets may all go to
        ``url`` is filled in again; any other header that carries a placeholder is dropped and
        named in :attr:`Substitution.dropped` (so is a malformed one, which the first hop
        would have refused). Never refuses: the first hop already checked every name.
        """
        wire: list[tuple[bytes, bytes]] = []
        kept: list[tuple[bytes, bytes]] = []
        carried: set[int] = set()
        names: list[str] = []
        dropped: list[str] = []
        for name, value in template:
            if PLACEHOLDER_OPEN not in value:
                wire.append((name, value))
                kept.append((name, value))
                continue
            try:
                spots = _scan(value)
            except _Malformed:
                spots = []
            if not spots or not all(self.allows(s.name, url) for s in spots):
                dropped.append(name.decode("latin-1"))
                continue
            carried.add(len(wire))
            wire.append((name, self._fill(value, spots)))
            kept.append((name, value))
            names.extend(s.name for s in spots if s.name not in names)
        return Substitution(tuple(wire), tuple(kept), frozenset(carried), tuple(names),
                            tuple(dropped))

    def _check(self, name: str, header: str, url: ParsedUrl) -> SecretDenial | None:
        if self.declared is not None and name not in self.declared:
            return SecretDenial(SecretRefusal.UNDECLARED, name, header,
                                f"secret {name!r} (header {header!r}) is not declared in the "
                                "capsule's manifest")
        secret = self.values.get(name)
        if secret is None:
            return SecretDenial(SecretRefusal.UNKNOWN, name, header,
                                f"secret {name!r} (header {header!r}) was not given to this "
                                "capsule")
        if not secret.allows(url):
            return SecretDenial(SecretRefusal.WRONG_ORIGIN, name, header,
                                f"secret {name!r} (header {header!r}) may not be sent to "
                                f"{url.origin}")
        return None

    def _fill(self, value: bytes, spots: list[_Placeholder]) -> bytes:
        out = bytearray()
        at = 0
        for spot in spots:
            out += value[at:spot.start]
            out += self.values[spot.name].reveal()
            at = spot.end
        out += value[at:]
        return bytes(out)

    def wipe(self) -> None:
        """Wipe every value (when the capsule is closed)."""
        for secret in self.values.values():
            secret.wipe()

    def copy(self) -> Secrets:
        """The same secrets holding their own copies of the values: what one capsule keeps and
        wipes when it closes, leaving the operator's :class:`Secret` objects usable."""
        return Secrets({name: s.copy() for name, s in self.values.items()}, self.declared)

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of a secret value replaced by ``[redacted]``.

        For text the host writes itself from what a server sent (an error's detail, a
        ``Location`` in a log line, ``final-url``): an origin that received a value can echo
        it back. Exact occurrences only (a value the server transformed is not recognised).
        """
        for secret in self.values.values():
            for needle in secret._texts():
                text = text.replace(needle, REDACTED)
        return text

    def scrub_error(self, code: ErrorCode) -> ErrorCode:
        """``code`` with :meth:`scrub` applied to its text (the same object when unchanged)."""
        payload = code.payload
        if isinstance(payload, str):
            clean = self.scrub(payload)
            return code if clean == payload else ErrorCode(code.case, clean)
        if isinstance(payload, InvalidRequest):
            detail = self.scrub(payload.detail)
            if detail != payload.detail:
                return ErrorCode.invalid_request(payload.part, detail)
        return code


def redact_headers(
    headers: Iterable[tuple[bytes, bytes]], carried: Collection[int | str],
) -> tuple[tuple[str, str], ...]:
    """Headers as printable text, values of the ``carried`` ones replaced by ``[redacted]``.

    ``carried`` holds header indices and/or header names (case-insensitive). Names are decoded
    as Latin-1; values with non-printable bytes are shown with Python escapes.
    """
    names = {c.lower() for c in carried if isinstance(c, str)}
    out: list[tuple[str, str]] = []
    for index, (name, value) in enumerate(headers):
        text = name.decode("latin-1")
        if index in carried or text.lower() in names:
            out.append((text, REDACTED))
            continue
        shown = value.decode("latin-1")
        out.append((text, shown if shown.isprintable() else repr(value)[2:-1]))
    return tuple(out)
