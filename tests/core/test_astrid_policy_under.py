"""An upstream manifest's `net` under the operator's policy: the operator narrows, never widens;
its local entries are the local allowance (a manifest cannot grant one)."""

from __future__ import annotations

from astrid_host._core._astrid_manifest import parse_astrid_manifest
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._url import parse_url

MANIFEST = parse_astrid_manifest("""
[package]
name = "p"
version = "0.1.0"
[[component]]
id = "p"
file = "p.wasm"
[capabilities]
net = ["example.com", "127.0.0.1"]
""")


def allowed(policy: EgressPolicy, url: str, method: str = "GET") -> bool:
    return policy.check(parse_url(url), method).allowed


def test_without_an_operator_policy_the_manifest_decides() -> None:
    policy = MANIFEST.policy_under(None)
    assert allowed(policy, "https://api.example.com/", "PROPFIND")  # any method, subdomains
    assert not allowed(policy, "https://example.org/")
    assert not allowed(policy, "http://127.0.0.1:8080/")  # loopback needs a local entry


def test_operator_rules_narrow_and_never_widen() -> None:
    policy = MANIFEST.policy_under(EgressPolicy.parse(["https://api.example.com",
                                                       "https://example.org"]))
    assert allowed(policy, "https://api.example.com/")
    assert not allowed(policy, "https://www.example.com/")   # narrowed away
    assert not allowed(policy, "https://example.org/")       # not widened
    assert not allowed(policy, "https://api.example.com/", "PROPFIND")  # operator's methods


def test_operator_local_entries_are_the_local_allowance_only() -> None:
    local_only = MANIFEST.policy_under(EgressPolicy.parse([], local=["127.0.0.1:8080"]))
    assert allowed(local_only, "http://127.0.0.1:8080/")
    assert allowed(local_only, "https://example.com/")  # no operator rules: no narrowing
    # A local entry for a name outside the operator's rules does not get past them.
    narrowed = MANIFEST.policy_under(EgressPolicy.parse(
        ["https://example.net"], local=["example.com=127.0.0.1:8080"]))
    assert not allowed(narrowed, "http://example.com:8080/")
