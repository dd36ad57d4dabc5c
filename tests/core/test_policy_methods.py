"""A method a policy lists must be one a request can carry: no lower-case or misspelt methods.

Methods are compared exactly, so ``methods=["get"]`` used to be accepted and then deny every
request. Each wrong spelling now fails when the policy (or manifest) is parsed, saying what was
probably meant; upper-case extension methods (the WIT's ``other(...)``) stay allowed.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astrid_host._core._manifest import ManifestError, parse_manifest
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._policy_methods import DEFAULT_METHODS, parse_method
from astrid_host._core._policy_rules import PolicyError
from astrid_host._core._url import parse_url

STANDARD = sorted(DEFAULT_METHODS)
#: The IANA HTTP Method Registry, less the standard seven, CONNECT and TRACE: all accepted.
REGISTERED = ["ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "COPY", "LABEL", "LINK",
              "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF",
              "MKWORKSPACE", "MOVE", "ORDERPATCH", "PRI", "PROPFIND", "PROPPATCH", "QUERY",
              "REBIND", "REPORT", "SEARCH", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE",
              "UPDATEREDIRECTREF", "VERSION-CONTROL"]


@pytest.mark.parametrize("method", [*STANDARD, *REGISTERED, "PURGE", "M-SEARCH", "X_CUSTOM.1"])
def test_standard_and_upper_case_extension_methods_are_accepted(method: str) -> None:
    assert parse_method(method) == method
    policy = EgressPolicy.parse(["https://*"], methods=[method])
    assert policy.check(parse_url("https://a.example/"), method).allowed


@pytest.mark.parametrize(
    ("method", "message"),
    [("get", "'get' is not a method: methods are upper-case tokens such as GET; did you mean GET?"),
     ("Post", "did you mean POST?"),
     ("propfind", "did you mean PROPFIND?"),
     ("GTE", "'GTE' is not a method: it looks like GET misspelt; did you mean GET?"),
     ("gte", "did you mean GET?"),
     ("TEG", "did you mean GET?"),
     ("POTS", "did you mean POST?"),
     ("DELET", "did you mean DELETE?"),
     ("DELEET", "did you mean DELETE?"),
     ("OPTION", "did you mean OPTIONS?"),
     ("PATCHH", "did you mean PATCH?"),
     ("HAED", "did you mean HEAD?"),
     ("PUTT", "did you mean PUT?"),
     ("BATCH", "to allow any method, use '*'"),
     ("CONNECT", "the host refuses CONNECT and TRACE"),
     ("trace", "the host refuses CONNECT and TRACE"),
     ("G E T", "not a valid HTTP method token"),
     ("", "not a valid HTTP method token"),
     ("GET\r\n", "not a valid HTTP method token"),
     ("*", "'*' is not a method")],
)
def test_a_method_that_could_only_be_a_mistake_is_refused_saying_why(
        method: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_method(method)
    assert message in str(info.value)
    with pytest.raises(PolicyError):
        EgressPolicy.parse([], methods=["GET", method] if method != "*" else [method, "get"])


def test_star_still_means_any_method_in_a_policy() -> None:
    policy = EgressPolicy.parse(["https://*"], methods=["*"])
    assert policy.any_method and policy.check(parse_url("https://a.example/"), "BREW").allowed


def test_an_empty_method_list_is_refused() -> None:
    with pytest.raises(PolicyError, match="methods is empty, so every request would be denied"):
        EgressPolicy.parse(["https://*"], methods=[])


def test_a_method_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="must be a string"):
        EgressPolicy.parse([], methods=[b"GET"])  # type: ignore[list-item]


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@st.composite
def _one_typo(draw: st.DrawFn) -> str:
    """A standard method with one insertion, deletion, substitution or swap."""
    method = draw(st.sampled_from(STANDARD))
    i = draw(st.integers(0, len(method) - 1))
    letter = draw(st.sampled_from(_LETTERS))
    edit = draw(st.sampled_from(["insert", "delete", "substitute", "swap"]))
    if edit == "insert":
        typo = method[:i] + letter + method[i:]
    elif edit == "delete":
        typo = method[:i] + method[i + 1:]
    elif edit == "substitute":
        typo = method[:i] + letter + method[i + 1:]
    else:
        j = min(i + 1, len(method) - 1)
        typo = method[:i] + method[j] + method[i + 1:j] + method[i] + method[j + 1:]
    return typo


@settings(max_examples=2000, deadline=None)
@given(_one_typo(), st.booleans())
def test_every_single_typo_of_a_standard_method_is_refused(
        typo: str, lower: bool) -> None:
    """Invariant: a method one edit (or a case change) away from a standard method is either
    that method, spelled exactly, or refused with a suggestion naming a standard method."""
    text = typo.lower() if lower else typo
    if text in DEFAULT_METHODS:
        assert parse_method(text) == text
        return
    with pytest.raises(PolicyError, match=r"did you mean (GET|HEAD|POST|PUT|DELETE|OPTIONS"
                                          r"|PATCH)\?"):
        parse_method(text)


_TCHAR = "!#$%&'*+-.^_`|~0123456789" + _LETTERS + _LETTERS.lower()


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=_TCHAR + " \t\r\n:/é", max_size=12))
def test_an_accepted_method_is_an_upper_case_token_the_host_would_send(text: str) -> None:
    """Invariant: whatever the input, parse_method returns it unchanged or raises PolicyError;
    what it returns is an RFC 9110 token without lower-case letters, not CONNECT or TRACE."""
    try:
        method = parse_method(text)
    except PolicyError:
        return
    assert method == text and method == method.upper() and method != "*"
    assert method and all(c in _TCHAR for c in method)
    assert method not in ("CONNECT", "TRACE")


MANIFEST = '''\
[package]
name = "weather"
version = "0.1.0"
component = "weather.wasm"

[capabilities]
net = ["https://api.example.com"]
methods = [
    "GET",
    "{method}",
]
'''


@pytest.mark.parametrize(("method", "fragment"), [
    ("get", "did you mean GET?"), ("GTE", "did you mean GET?"), ("TRACE", "refuses CONNECT")])
def test_a_manifest_with_a_wrong_method_fails_at_its_line(method: str, fragment: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(MANIFEST.format(method=method), "caps/weather/Capsule.toml")
    assert info.value.line == 10
    assert "[capabilities] methods:" in info.value.message and fragment in info.value.message


def test_a_manifest_with_an_empty_method_list_fails() -> None:
    text = MANIFEST.replace('    "GET",\n    "{method}",\n', "")
    with pytest.raises(ManifestError, match="every request would be denied") as info:
        parse_manifest(text)
    assert info.value.line == 8
