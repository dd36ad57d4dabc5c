"""Secrets (astrid_host/_core/_secrets.py): placeholders, origins, denials, redirects, redaction.

Tables for the rules, hypothesis for the one promise that matters: a value never goes where
its secret does not allow, and never shows up in anything printed or recorded.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrid_host._core._model import RequestPart
from astrid_host._core._redirects import NextRequest, next_request
from astrid_host._core._secrets import (
    REDACTED,
    Secret,
    SecretDenial,
    SecretError,
    SecretRefusal,
    Secrets,
    Substitution,
    redact_headers,
    validate_secret_name,
)
from astrid_host._core._url import parse_url

API = parse_url("https://api.example.com/v1/items?page=2")
VALUE = b"sk-live-0123456789"


def store(declared: list[str] | None = None) -> Secrets:
    return Secrets.build({
        "api_key": Secret(VALUE, origins=["https://api.example.com"]),
        "org.id-2": Secret("org-42", origins=["https://*.example.com", "http://10.0.0.0/8:8080"]),
    }, declared)


def substituted(headers: list[tuple[bytes, bytes]], url: str = "https://api.example.com/",
                secrets: Secrets | None = None) -> Substitution:
    result = (secrets or store()).substitute(headers, parse_url(url))
    assert isinstance(result, Substitution), result
    return result


def denied(headers: list[tuple[bytes, bytes]], url: str = "https://api.example.com/",
           secrets: Secrets | None = None) -> SecretDenial:
    result = (secrets or store()).substitute(headers, parse_url(url))
    assert isinstance(result, SecretDenial), result
    return result


# --- Secret --------------------------------------------------------------------------------


def test_secret_repr_and_str_never_show_the_value() -> None:
    secret = Secret(VALUE, origins=["https://api.example.com"])
    for text in (repr(secret), str(secret), f"{secret}", repr({"k": secret}),
                 repr(store()), repr(store().values)):
        assert VALUE.decode() not in text
    assert repr(secret) == "Secret(origins=['https://api.example.com'], value=<hidden>)"


def test_a_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE, origins=["https://a.example"]))


def test_a_text_value_is_held_as_utf8_bytes() -> None:
    assert Secret("clé", origins=["https://a.example"]).reveal() == "clé".encode()


@pytest.mark.parametrize("value", [
    b"", b"s3cr3t\r\nX-Evil: 1", b"s3cr3t\x00", b" s3cr3t", b"s3cr3t ", b"s3\x01", b"s3\x7f",
])
def test_a_value_that_cannot_stand_in_a_header_is_refused_without_echoing_it(
        value: bytes) -> None:
    with pytest.raises(SecretError, match="header-safe") as info:
        Secret(value, origins=["https://a.example"])
    if value.strip():
        assert value.decode("latin-1") not in str(info.value)


@pytest.mark.parametrize(("origins", "message"), [
    ([], "at least one origin"),
    ("https://a.example", "not one string"),
    (["https://a.example/path"], "origin only"),
    (["ftp://a.example"], "scheme must be"),
    (["https://*ex.com"], "'*' is only allowed"),
])
def test_bad_origins_are_refused(origins: list[str], message: str) -> None:
    with pytest.raises(SecretError, match=message):
        Secret(VALUE, origins=origins)


def test_a_value_must_be_bytes_or_text() -> None:
    with pytest.raises(SecretError, match="bytes or str"):
        Secret(12345, origins=["https://a.example"])  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://api.example.com/x", True),
    ("https://API.example.com./x", True),          # normalised like every URL
    ("https://api.example.com:443/", True),
    ("https://api.example.com:8443/", False),      # the rule means the default port
    ("http://api.example.com/", False),            # another scheme is another origin
    ("https://www.example.com/", False),
    ("https://api.example.com.evil.test/", False),
])
def test_origins_match_scheme_host_and_port_like_policy_rules(url: str, allowed: bool) -> None:
    assert Secret(VALUE, origins=["https://api.example.com"]).allows(parse_url(url)) is allowed


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://a.example.com/", True), ("https://b.a.example.com/", True),
    ("https://example.com/", False),               # '*.' means strictly below
    ("http://10.1.2.3:8080/", True), ("http://10.1.2.3/", False), ("http://11.0.0.1:8080/", False),
])
def test_wildcard_and_network_origins(url: str, allowed: bool) -> None:
    secret = Secret(VALUE, origins=["https://*.example.com", "http://10.0.0.0/8:8080"])
    assert secret.allows(parse_url(url)) is allowed


def test_a_wiped_secret_is_zeroed_and_unusable() -> None:
    secret = Secret(VALUE, origins=["https://api.example.com"])
    secrets = Secrets.build({"api_key": secret})
    secrets.wipe()
    assert secret._value == bytearray(len(VALUE))
    with pytest.raises(SecretError, match="wiped"):
        secret.reveal()


# --- Secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "bad name", "a/b", "ключ", "x}}", 7])
def test_bad_secret_names_are_refused(name: object) -> None:
    with pytest.raises(SecretError, match="secret name"):
        validate_secret_name(name)
    with pytest.raises(SecretError, match="secret name"):
        Secrets.build({name: Secret(VALUE, origins=["https://a.example"])})  # type: ignore[dict-item]
    with pytest.raises(SecretError, match="secret name"):
        Secrets.build({}, declared=[name])  # type: ignore[list-item]


def test_values_must_be_secret_objects_and_declared_a_list() -> None:
    with pytest.raises(SecretError, match=r"must be a Secret\(value"):
        Secrets.build({"k": b"raw"})  # type: ignore[dict-item]
    with pytest.raises(SecretError, match="not one string"):
        Secrets.build({}, declared="api_key")


def test_missing_lists_declared_names_without_a_value() -> None:
    assert store(["api_key", "zeta", "alpha"]).missing() == ("alpha", "zeta")
    assert store().missing() == ()


# --- substitution --------------------------------------------------------------------------


def test_headers_without_placeholders_pass_through_unchanged() -> None:
    headers = [(b"Accept", b"application/json"), (b"X-Note", b"{{not:a secret}} {secret:x}")]
    result = substituted(headers)
    assert result.wire == result.template == tuple(headers)
    assert result.carried == frozenset() and result.names == ()


def test_one_placeholder_is_filled_in_and_the_template_kept() -> None:
    headers = [(b"Accept", b"*/*"), (b"Authorization", b"Bearer {{secret:api_key}}")]
    result = substituted(headers)
    assert result.wire == ((b"Accept", b"*/*"), (b"Authorization", b"Bearer " + VALUE))
    assert result.template == tuple(headers)
    assert result.carried == frozenset({1})
    assert result.names == ("api_key",)


def test_several_placeholders_in_one_value_and_across_headers() -> None:
    headers = [(b"X-Pair", b"{{secret:org.id-2}}:{{secret:api_key}}:{{secret:org.id-2}}"),
               (b"X-Key", b"{{secret:api_key}}")]
    result = substituted(headers)
    assert result.wire == ((b"X-Pair", b"org-42:" + VALUE + b":org-42"), (b"X-Key", VALUE))
    assert result.names == ("org.id-2", "api_key")   # first use order, no repeats
    assert result.carried == frozenset({0, 1})


def test_other_spellings_are_ordinary_text() -> None:
    headers = [(b"X", b"{{SECRET:api_key}} {{ secret:api_key }} {secret:api_key}")]
    assert substituted(headers).wire == tuple(headers)


@pytest.mark.parametrize("value", [
    b"{{secret:", b"Bearer {{secret:api_key", b"{{secret:}}", b"{{secret:bad name}}",
    b"{{secret:api_key}", b"{{secret:api_key}} {{secret:", b"{{secret:{{secret:api_key}}}}",
    b"{{secret:api_key}} {{secret:x/y}}",
])
def test_a_malformed_placeholder_refuses_the_request_as_invalid(value: bytes) -> None:
    denial = denied([(b"Authorization", value)])
    assert denial.refusal is SecretRefusal.MALFORMED and denial.name is None
    assert denial.header == "Authorization"
    error = denial.error()
    assert error.code.case == "invalid-request"
    assert error.code.payload.part is RequestPart.HEADER  # type: ignore[union-attr]
    assert "Authorization" in str(error)


@pytest.mark.parametrize(("headers", "url", "refusal", "name"), [
    ([(b"X-Key", b"{{secret:nope}}")], "https://api.example.com/", SecretRefusal.UNKNOWN, "nope"),
    ([(b"X-Key", b"{{secret:api_key}}")], "https://evil.test/", SecretRefusal.WRONG_ORIGIN,
     "api_key"),
    ([(b"X-Key", b"{{secret:api_key}}")], "http://api.example.com/",
     SecretRefusal.WRONG_ORIGIN, "api_key"),
    # One disallowed secret refuses the whole request, even after an allowed one.
    ([(b"A", b"{{secret:org.id-2}}"), (b"B", b"{{secret:api_key}}")], "https://www.example.com/",
     SecretRefusal.WRONG_ORIGIN, "api_key"),
])
def test_unknown_and_wrong_origin_names_are_denied_naming_the_secret(
        headers: list[tuple[bytes, bytes]], url: str, refusal: SecretRefusal, name: str) -> None:
    denial = denied(headers, url)
    assert (denial.refusal, denial.name) == (refusal, name)
    error = denial.error()
    assert error.code.case == "denied"
    assert str(error.code.payload).startswith(refusal.value + ": ")
    assert repr(name) in str(error) and VALUE.decode() not in str(error)


def test_an_undeclared_name_is_denied_even_with_a_value() -> None:
    secrets = store(declared=["org.id-2"])
    denial = denied([(b"X-Key", b"{{secret:api_key}}")], secrets=secrets)
    assert (denial.refusal, denial.reason) == (SecretRefusal.UNDECLARED, "secret-undeclared")
    assert "not declared in the capsule's manifest" in denial.detail
    assert substituted([(b"X", b"{{secret:org.id-2}}")], secrets=secrets).names == ("org.id-2",)


def test_with_no_secrets_at_all_a_placeholder_is_still_never_sent() -> None:
    denial = Secrets().substitute([(b"X", b"{{secret:api_key}}")], API)
    assert isinstance(denial, SecretDenial) and denial.refusal is SecretRefusal.UNKNOWN


def test_the_substitution_repr_shows_no_value() -> None:
    result = substituted([(b"Authorization", b"Bearer {{secret:api_key}}")])
    assert VALUE.decode() not in repr(result)
    assert result.printable() == (("Authorization", REDACTED),)


# --- redirects -----------------------------------------------------------------------------


def hop(previous: Substitution, target: str, *, status: int = 307,
        current: str = "https://api.example.com") -> Substitution:
    """The next hop as the engine computes it: the redirect rules on the placeholder form,
    then the secrets for the new origin."""
    url = parse_url(target)
    nxt = next_request(status=status, sent=NextRequest(b"GET", previous.template, None),
                       cross_origin=parse_url(current).origin != url.origin)
    assert nxt is not None
    return store().for_redirect(nxt.headers, url)


def test_a_same_origin_redirect_fills_the_secrets_in_again() -> None:
    first = substituted([(b"X-Key", b"{{secret:api_key}}"), (b"Accept", b"*/*")])
    second = hop(first, "https://api.example.com/next")
    assert second.wire == first.wire and second.dropped == ()
    assert second.names == ("api_key",) and second.carried == frozenset({0})


def test_a_cross_origin_redirect_drops_headers_whose_secret_may_not_go_there() -> None:
    first = substituted([(b"X-Key", b"{{secret:api_key}}"), (b"X-Org", b"{{secret:org.id-2}}"),
                         (b"Accept", b"*/*")])
    # The secrets' own rule, before the redirect rules' cross-origin safelist (which would
    # drop these custom headers anyway): org.id-2 may go to *.example.com: kept and filled
    # in; api_key may not: dropped.
    second = store().for_redirect(first.template, parse_url("https://www.example.com/"))
    assert second.wire == ((b"X-Org", b"org-42"), (b"Accept", b"*/*"))
    assert second.dropped == ("X-Key",) and second.names == ("org.id-2",)
    assert second.carried == frozenset({0})
    # Dropped for good: coming back to the secret's origin does not bring it back.
    third = store().for_redirect(second.template, API)
    assert all(name != b"X-Key" for name, _ in third.wire)


def test_a_header_with_one_disallowed_secret_is_dropped_whole() -> None:
    first = substituted([(b"X-Pair", b"{{secret:org.id-2}}:{{secret:api_key}}")])
    assert hop(first, "https://www.example.com/").wire == ()


def test_a_credential_header_follows_cross_origin_only_where_its_secret_is_bound() -> None:
    """The cross-origin safelist lets a header holding a placeholder through to be judged by
    its secrets (issue 13: re-substituted when the new origin is allowed for that secret),
    Authorization included; the capsule's own credentials still never cross."""
    first = substituted([(b"Authorization", b"Bearer {{secret:org.id-2}}"),
                         (b"X-Session", b"abc"), (b"Cookie", b"{{secret:api_key}}")])
    second = hop(first, "https://b.example.com/")
    assert second.wire == ((b"Authorization", b"Bearer org-42"),)
    assert second.dropped == ("Cookie",) and second.names == ("org.id-2",)
    outside = hop(first, "https://example.org/")
    assert outside.wire == () and outside.dropped == ("Authorization", "Cookie")


def test_a_malformed_template_on_a_redirect_is_dropped_not_sent() -> None:
    result = store().for_redirect(((b"X", b"{{secret:"),), API)
    assert result.wire == () and result.dropped == ("X",)


# --- redaction -----------------------------------------------------------------------------


def test_redact_headers_by_index_and_by_name() -> None:
    headers = [(b"Authorization", b"Bearer " + VALUE), (b"X-Key", VALUE), (b"Accept", b"*/*"),
               (b"X-Raw", b"caf\xc3\xa9\x01")]
    assert redact_headers(headers, {0, "x-KEY"}) == (
        ("Authorization", REDACTED), ("X-Key", REDACTED), ("Accept", "*/*"),
        ("X-Raw", "caf\\xc3\\xa9\\x01"))


# --- properties ----------------------------------------------------------------------------

NAMES = ["k1", "k2", "k3", "ghost"]                # ghost: declared, never given
ORIGINS = ["https://a.example", "https://*.b.example", "http://c.example:8080"]
URLS = ["https://a.example/p", "https://x.b.example/", "http://c.example:8080/",
        "http://a.example/", "https://d.example/", "https://b.example/"]
# Secret values always carry a byte above 0x7f, which the ASCII header text below never has:
# the capsule cannot write a value it does not know, so any occurrence would be a leak. Each
# secret has its own such byte, so no value ever occurs inside another.
ascii_text = st.binary(max_size=6).map(lambda b: bytes(0x21 + c % 94 for c in b))


def values(mark: int) -> st.SearchStrategy[bytes]:
    return st.builds(lambda head, tail: head + bytes([mark]) + tail, ascii_text, ascii_text)


placeholders = st.sampled_from(NAMES[:3]).map(lambda n: b"{{secret:" + n.encode() + b"}}")
pieces = st.one_of(
    st.text(alphabet="abcXYZ019-_ :{}", min_size=1, max_size=8).map(str.encode),
    placeholders, placeholders,   # weighted: most values hold placeholders of given secrets
    st.sampled_from([b"{{secret:ghost}}", b"{{secret:", b"{{secret:}}", b"{{secret:k1", b"}}"]),
)
header_lists = st.lists(
    st.tuples(st.sampled_from([b"Authorization", b"X-Key", b"Accept"]),
              st.lists(pieces, min_size=1, max_size=4).map(b"".join)),
    max_size=4)


@st.composite
def stores(draw: st.DrawFn) -> tuple[Secrets, dict[str, bytes]]:
    given_values = {}
    secrets = {}
    for index, name in enumerate(NAMES[:3]):
        value = draw(values(0x80 + index))
        given_values[name] = value
        secrets[name] = Secret(value, origins=draw(st.lists(st.sampled_from(ORIGINS),
                                                            min_size=1, max_size=2)))
    declared = draw(st.one_of(st.none(), st.just(NAMES)))
    return Secrets.build(secrets, declared), given_values


@given(stores(), header_lists, st.sampled_from(URLS))
def test_a_value_only_ever_goes_to_its_origins_and_never_into_printed_forms(
        drawn: tuple[Secrets, dict[str, bytes]], headers: list[tuple[bytes, bytes]],
        url_text: str) -> None:
    """For any headers, secret values and origin: a disallowed secret's value is in no output;
    no output ever keeps placeholder text; nothing printable or recorded holds any value."""
    secrets, given_values = drawn
    url = parse_url(url_text)
    result = secrets.substitute(headers, url)
    forbidden = [v for n, v in given_values.items() if not secrets.allows(n, url)]
    if isinstance(result, SecretDenial):
        text = f"{result} {result.error()} {result.error().code}"
        assert not any(v.decode("latin-1") in text for v in given_values.values())
        return
    wire = b"\n".join(name + b": " + value for name, value in result.wire)
    assert not any(v in wire for v in forbidden)
    assert b"{{secret:" not in wire
    printed = f"{result!r} {result.printable()} {result.template}".encode("latin-1")
    assert not any(v in printed for v in given_values.values())


@given(stores(), header_lists, st.sampled_from(URLS))
def test_a_redirect_hop_never_carries_a_value_to_an_origin_it_may_not_reach(
        drawn: tuple[Secrets, dict[str, bytes]], template: list[tuple[bytes, bytes]],
        url_text: str) -> None:
    """For any placeholder-form headers and any target: the hop's headers hold no value of a
    secret the target may not receive, and no placeholder text; printed forms hold no value."""
    secrets, given_values = drawn
    target = parse_url(url_text)
    result = secrets.for_redirect(template, target)
    wire = b"\n".join(name + b": " + value for name, value in result.wire)
    assert not any(v in wire for n, v in given_values.items() if not secrets.allows(n, target))
    assert b"{{secret:" not in wire
    printed = f"{result!r} {result.printable()} {result.template}".encode("latin-1")
    assert not any(v in printed for v in given_values.values())
