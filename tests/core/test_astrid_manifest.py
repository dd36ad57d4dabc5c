"""Upstream Astrid's Capsule.toml: parsing, net entries as egress rules, topic ACLs, [env]."""

from __future__ import annotations

import datetime
import json
import math
import re
import string
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrid_host._core._astrid_config import toml_default_text
from astrid_host._core._astrid_egress import net_rules
from astrid_host._core._astrid_errors import AstridManifestError, ConfigError
from astrid_host._core._astrid_manifest import (
    Interceptor,
    is_upstream_manifest,
    parse_astrid_manifest,
)
from astrid_host._core._astrid_topics import TopicAcl, TopicVerdict, acl_matches, handler_matches
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._url import parse_url

ROOT = Path(__file__).resolve().parent.parent.parent

BASE = """
[package]
name = "cap"
version = "1.2.3"

[[component]]
id = "cap"
file = "cap.wasm"
"""


def parse(extra: str = "", base: str = BASE) -> Any:
    return parse_astrid_manifest(base + extra)


# --- the repository's upstream capsules ---------------------------------------------------


def test_the_fetch_capsule_manifest() -> None:
    m = parse_astrid_manifest((ROOT / "guests/rust/astrid-fetch/Capsule.toml").read_text())
    assert (m.package.name, m.package.version, m.package.astrid_version) == (
        "astrid-fetch", "0.1.0", ">=0.7.0")
    assert m.component.file == PurePosixPath("astrid_fetch.wasm")
    assert m.egress_rules() == ("*://example.com:*", "*://*.example.com:*",
                                "*://example.net:*", "*://*.example.net:*")
    assert m.handlers_for("tool.v1.execute.fetch") == (
        Interceptor("tool.v1.execute.fetch", "tool_execute_fetch"),)
    assert m.publish.check_publish("tool.v1.execute.fetch.result") is TopicVerdict.ALLOWED
    assert m.resolve_config({}) == {"user_agent": "astrid-fetch/0.1", "timeout_ms": "30000",
                                    "max_response_bytes": "1048576",
                                    "follow_redirects": "true"}
    assert m.other_capabilities == ()


def test_the_http_all_capsule_manifest_binds_one_handler_per_action() -> None:
    m = parse_astrid_manifest((ROOT / "guests/rust/astrid-http-all/Capsule.toml").read_text())
    assert m.egress_rules() == ("*://*:*",)
    assert {i.action for i in m.interceptors} == {
        "http_request", "http_request_opts", "http_stream_start", "http_stream_start_opts",
        "stream_poll", "stream_body", "upload"}
    assert m.publish.patterns == ()  # it publishes nothing: reports come back as hook data


def test_upstream_and_own_manifests_are_told_apart() -> None:
    assert is_upstream_manifest(BASE)
    own = '[package]\nname = "x"\nversion = "0.1.0"\ncomponent = "x.wasm"\n'
    assert not is_upstream_manifest(own)
    assert not is_upstream_manifest("[[component]\n")  # not TOML


# --- net ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "rules"), [
    ("*", ("*://*:*",)),
    ("example.com", ("*://example.com:*", "*://*.example.com:*")),
    ("localhost", ("*://localhost:*", "*://*.localhost:*")),
    ("xn--bcher-kva.de", ("*://xn--bcher-kva.de:*", "*://*.xn--bcher-kva.de:*")),
    ("93.184.216.34", ("*://93.184.216.34:*",)),
    ("[2001:db8::1]", ("*://[2001:db8::1]:*",)),
])
def test_a_net_entry_becomes_rules_of_the_same_reach(entry: str,
                                                     rules: tuple[str, ...]) -> None:
    assert net_rules(entry) == rules
    EgressPolicy.parse(rules)  # valid rule syntax


@pytest.mark.parametrize(("entry", "problem"), [
    ("", "bare host"),
    ("*.example.com", "covers its subdomains"),
    ("https://example.com", "no scheme"),
    ("example.com:443", "no scheme, port"),
    ("example.com/api", "no scheme, port or path"),
    ("user@example.com", "no scheme"),
    ("Example.com", "write 'example.com'"),
    ("example.com.", "write 'example.com'"),
    ("bücher.de", "write 'xn--bcher-kva.de'"),
    ("0x7f.1", "write '127.0.0.1'"),
    ("2.3.4", "write '2.3.0.4'"),
    ("[2001:0db8::1]", "write '[2001:db8::1]'"),
    ("2001:db8::1", "no scheme, port"),
    ("[::1]:8080", "not a host name"),
    ("exa mple.com", "not a host name"),
])
def test_a_net_entry_upstream_could_never_match_is_refused(entry: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        net_rules(entry)


def upstream_allows(entries: list[str], host: str) -> bool:
    """Upstream's check, as astrid-capsule's manifest gate writes it."""
    return any(d == "*" or host == d or host.endswith("." + d) for d in entries)


_label = st.text(alphabet="abc", min_size=1, max_size=3)
_name = st.lists(_label, min_size=1, max_size=4).map(".".join)


@settings(deadline=None)
@given(entries=st.lists(_name, max_size=3), host=_name,
       scheme=st.sampled_from(["http", "https"]), port=st.integers(1, 65535))
def test_net_rules_allow_exactly_the_hosts_upstream_allows(entries: list[str], host: str,
                                                           scheme: str, port: int) -> None:
    """Invariant: for host names, on any scheme and port, the policy built from the entries
    allows a URL exactly when upstream's manifest gate would."""
    policy = EgressPolicy.parse([r for e in entries for r in net_rules(e)])
    decision = policy.check(parse_url(f"{scheme}://{host}:{port}/x"), "GET")
    assert decision.allowed == upstream_allows(entries, host)


def test_the_egress_policy_filters_no_method_and_keeps_the_operators_allowance() -> None:
    m = parse('[capabilities]\nnet = ["example.com"]\n')
    policy = m.egress_policy(local=["127.0.0.1:8080"])
    assert policy.check(parse_url("https://api.example.com/"), "PROPFIND").allowed
    assert policy.local_allows(parse_url("http://127.0.0.1:8080/").ip, 8080)  # type: ignore[arg-type]
    assert not policy.check(parse_url("https://example.org/"), "GET").allowed


def test_net_entries_of_a_component_are_added_to_the_capsules() -> None:
    m = parse('[capabilities]\nnet = ["a.example"]\n',
              base=BASE + '[component.capabilities]\nnet = ["b.example"]\nfs_read = ["/x"]\n')
    assert m.net == ("a.example", "b.example")
    assert m.other_capabilities == ("fs_read",)


def test_capabilities_astrid_host_does_not_provide_are_reported_not_refused() -> None:
    m = parse('[capabilities]\nhost_process = ["git"]\nuplink = true\nkv = ["k"]\n'
              'fs_write = []\nallow_prompt_injection = false\n')
    assert m.other_capabilities == ("uplink", "host_process")  # held ones; kv is per-capsule


# --- topics -------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("a.b.c", "a.b.c", True),
    ("a.b.c", "a.b.c.d", False),
    ("a.b.c", "a.b", False),
    ("a.b.*", "a.b.c", True),
    ("a.b.*", "a.b.c.d.e", True),          # a trailing * is the whole subtree
    ("a.b.*", "a.b", False),               # ... but not the prefix itself
    ("a.*.c", "a.b.c", True),              # elsewhere * is one segment
    ("a.*.c", "a.b.x.c", False),
    ("tool.v1.execute.*.result", "tool.v1.execute.fetch.result", True),
    ("tool.v1.execute.*.result", "tool.v1.execute.a.b.result", False),
    ("x.*.*", "x.a.b", True),              # enumerated patterns still match their depth
    ("x.*.*", "x.a.b.c", True),            # ... and deeper
    ("x.*.*", "x.a", False),
    ("*", "anything", True),
    ("*", "two.segments", False),
    ("a..b", "a.x.b", False),              # empty segments never match
    ("a.*.b", "a..b", False),
    ("", "", False),
])
def test_acl_matching_follows_upstreams_route_matcher(pattern: str, topic: str,
                                                      expected: bool) -> None:
    assert acl_matches(pattern, topic) is expected


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("tool.v1.execute.fetch", "tool.v1.execute.fetch", True),
    ("tool.execute.*.result", "tool.execute.search.result", True),
    ("tool.execute.*.result", "tool.execute.result", False),
    ("a.b.*", "a.b.c.d", False),           # no subtree for handlers: one segment
    ("*.b.*", "x.b.z", True),
    ("a.b", "a.b.", False),
])
def test_handlers_match_segment_by_segment(pattern: str, topic: str, expected: bool) -> None:
    assert handler_matches(pattern, topic) is expected


ACL = TopicAcl(("tool.v1.execute.*.result", "events.*"))


@pytest.mark.parametrize(("topic", "verdict"), [
    ("tool.v1.execute.fetch.result", TopicVerdict.ALLOWED),
    ("events.a.b", TopicVerdict.ALLOWED),
    ("tool.v1.execute.fetch", TopicVerdict.DENIED),
    ("other", TopicVerdict.DENIED),
    ("events..a", TopicVerdict.INVALID),
    (".events", TopicVerdict.INVALID),
    ("", TopicVerdict.INVALID),
    ("events." + ".".join("abcdefgh"), TopicVerdict.INVALID),  # 9 segments > 8
    ("events." + ".".join("abcdefg"), TopicVerdict.ALLOWED),   # 8
    ("events." + "x" * 250, TopicVerdict.INVALID),            # > 256 bytes
])
def test_publish_checks_the_topic_then_the_acl(topic: str, verdict: TopicVerdict) -> None:
    assert ACL.check_publish(topic) is verdict


@pytest.mark.parametrize(("pattern", "verdict"), [
    ("events.*", TopicVerdict.ALLOWED),
    ("events.a.*", TopicVerdict.ALLOWED),    # narrower than the ACL entry
    ("events.*.a", TopicVerdict.INVALID),    # '*' only last
    ("events", TopicVerdict.DENIED),
    ("*", TopicVerdict.DENIED),
])
def test_subscribe_checks_the_pattern_then_the_acl(pattern: str, verdict: TopicVerdict) -> None:
    assert ACL.check_subscribe(pattern) is verdict


def test_an_empty_acl_denies_everything() -> None:
    assert TopicAcl().check_publish("a.b") is TopicVerdict.DENIED


def test_handlers_run_by_priority_and_only_for_matching_topics() -> None:
    m = parse('[subscribe]\n'
              '"user.prompt" = { wit = "opaque", handler = "late" }\n'
              '"user.*" = { wit = "opaque", handler = "guard", priority = 10 }\n'
              '"user.prompt.extra" = { wit = "opaque", handler = "other" }\n'
              '"acl.only" = "opaque"\n')
    assert [i.action for i in m.handlers_for("user.prompt")] == ["guard", "late"]
    assert m.subscribe.patterns == ("acl.only", "user.*", "user.prompt", "user.prompt.extra")


# --- [env] --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    # Expected texts are what serde_json 1.0.154 (the formatter of upstream's 1.0.151) writes
    # for the same TOML values.
    ("metric", "metric"),
    ("", ""),
    (30000, "30000"),
    (-1, "-1"),
    (True, "true"),
    (1.5, "1.5"),
    (1000.0, "1000.0"),
    (1e15, "1000000000000000.0"),
    (1e16, "1e+16"),
    (1.2345678901234568e17, "1.2345678901234568e+17"),
    (12345.678, "12345.678"),
    (0.1, "0.1"),
    (1e-5, "0.00001"),
    (0.000123, "0.000123"),
    (1e-6, "1e-6"),
    (1.25e-7, "1.25e-7"),
    (-0.0, "-0.0"),
    ([1, "x", True], '[1,"x",true]'),
    ({"z": 1, "a": 2.5}, '{"a":2.5,"z":1}'),
    (["é", "a\nb"], '["é","a\\nb"]'),
])
def test_a_default_reaches_the_capsule_as_upstream_renders_it(value: Any, text: str) -> None:
    assert toml_default_text(value) == text


@pytest.mark.parametrize("value", [
    datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.UTC), datetime.date(1979, 5, 27),
    math.nan, math.inf, [math.inf]])
def test_a_default_json_cannot_hold_is_refused(value: Any) -> None:
    with pytest.raises(AstridManifestError, match="no JSON form"):
        toml_default_text(value)


ENV = """
[env.api_key]
type = "secret"

[env.model]
type = "select"
enum_values = ["small", "large"]
default = "small"

[env.region]
type = "select"
enum_values = ["eu"]
default = "eu"

[env.retries]
type = "text"
default = 3
"""


def test_config_takes_the_operators_values_then_the_defaults() -> None:
    m = parse(ENV)
    assert m.resolve_config({"api_key": "k", "model": "large"}) == {
        "api_key": "k", "model": "large", "region": "eu", "retries": "3"}
    assert m.resolve_config({"api_key": "k", "model": "small", "retries": "5"})["retries"] == "5"


def test_config_names_every_missing_unknown_and_invalid_key() -> None:
    m = parse(ENV)
    with pytest.raises(ConfigError) as info:
        m.resolve_config({"modle": "x", "region": "us"})
    assert info.value.missing == ("api_key", "model")  # model: several choices, default or not
    assert info.value.unknown == ("modle",)
    assert info.value.invalid == ("region",)
    assert "api_key, model" in str(info.value)


def test_env_kinds() -> None:
    (api_key, model, *_) = parse(ENV).env
    assert api_key.secret and api_key.needs_operator
    assert not model.secret and model.needs_operator


# --- malformed manifests ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ("[package\n", "not valid TOML"),
    ('[[component]]\nfile = "x.wasm"\n', r"\[package\] is required"),
    ('[package]\nname = "x"\n[[component]]\nfile = "x.wasm"\n', "version is required"),
    ('[package]\nname = "x"\nversion = "1.0"\n[[component]]\nfile = "x.wasm"\n', "not semver"),
    ('[package]\nname = ""\nversion = "1.0.0"\n[[component]]\nfile = "x.wasm"\n', "empty"),
    ('[package]\nname = 3\nversion = "1.0.0"\n[[component]]\nfile = "x.wasm"\n', "string"),
    ('[package]\nname = "x"\nversion = "1.0.0"\n', r"\[\[component\]\] is required"),
    ('[package]\nname = "x"\nversion = "1.0.0"\n[[component]]\nid = "x"\n', "file is required"),
    ('[package]\nname = "x"\nversion = "1.0.0"\n[[component]]\nfile = "/abs.wasm"\n',
     "relative path"),
    ('[package]\nname = "x"\nversion = "1.0.0"\n[[component]]\nfile = "../x.wasm"\n',
     "relative path"),
    ('[package]\nname = "x"\nversion = "1.0.0"\n[[component]]\nfile = "a.wasm"\n'
     'entrypoint = "b.wasm"\n', "not both"),
])
def test_a_malformed_package_or_component_is_refused(text: str, problem: str) -> None:
    with pytest.raises(AstridManifestError, match=problem):
        parse_astrid_manifest(text)


@pytest.mark.parametrize(("extra", "problem"), [
    ('[capabilities]\nnet = "example.com"\n', r"net: must be a list of strings"),
    ('[capabilities]\nnet = ["example.com", "https://x.org"]\n', r"net\[1\] 'https://x.org'"),
    ("[capabilities]\nuplink = 1\n", "true or false"),
    ("capabilities = 3\n", "must be a table"),
    ('[publish]\n"a..b" = "opaque"\n', "empty segment"),
    ('[publish]\n"a" = 3\n', "WIT reference string or a table"),
    ('[publish]\n"a" = { version = "1" }\n', "wit is required"),
    ('[publish]\n"a" = { wit = "w", tag = "t", rev = "r" }\n', "at most one of"),
    ('[publish]\n"a" = { wit = "w", fanout = "yes" }\n', "fanout"),
    ('[subscribe]\n"a" = { wit = "w", priority = 1 }\n', "priority requires a handler"),
    ('[subscribe]\n"a" = { wit = "w", handler = "h", priority = -1 }\n', "whole number"),
    ('[subscribe]\n"a" = { wit = "w", handler = "" }\n', "handler must not be empty"),
    ("[env.x]\ndefault = 1\n", "type is required"),
    ('[env]\nx = "text"\n', "must be a table"),
    ('[env.x]\ntype = "text"\ndefault = 1979-05-27\n', "no JSON form"),
    ('[env.x]\ntype = "text"\nenum_values = "a"\n', "list of strings"),
    ('[env.ASTRID_SOCKET_PATH]\ntype = "text"\n', "reserved"),
])
def test_a_malformed_table_is_refused_with_its_key(extra: str, problem: str) -> None:
    with pytest.raises(AstridManifestError, match=problem):
        parse(extra)


def test_entrypoint_is_an_alias_of_file_and_unknown_tables_are_ignored() -> None:
    m = parse_astrid_manifest('[package]\nname = "x"\nversion = "0.1.0-rc.1+b5"\n'
                              '[[component]]\nentrypoint = "bin/x.wasm"\n'
                              '[[component]]\nfile = "lib.wasm"\ntype = "library"\n'
                              '[imports.astrid]\nsession = "^1.0"\n[[tool]]\nname = "t"\n')
    assert m.component.file == PurePosixPath("bin/x.wasm")
    assert [c.kind for c in m.components] == ["", "library"]


_toml_text = st.text(alphabet=string.printable, max_size=200)


@settings(deadline=None)
@given(text=_toml_text)
def test_any_text_parses_or_raises_the_manifest_error(text: str) -> None:
    """Invariant: garbage input either parses or raises AstridManifestError, nothing else."""
    try:
        parse_astrid_manifest(text)
    except AstridManifestError:
        pass


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(
    st.sampled_from(["capabilities", "publish", "subscribe", "env"]),
    st.recursive(st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
    max_size=4))
def test_any_structure_parses_or_raises_the_manifest_error(data: dict[str, Any]) -> None:
    """Invariant: whatever shape the tables have, the result is a manifest or
    AstridManifestError (the parser never trips over a wrong type)."""
    try:
        parse_astrid_manifest(_to_toml(data) + BASE)  # top-level keys before any table
    except AstridManifestError:
        pass


def _to_toml(data: dict[str, Any]) -> str:
    """Top-level keys as inline values: enough to put any type anywhere."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | str):
            return json.dumps(v)  # JSON string escapes are TOML basic-string escapes
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"
    return "".join(f"{k} = {value(v)}\n" for k, v in data.items())
