"""The composition root (astrid_host/_compose.py): the one place the wasm layer meets the
network layer. A Host given no http_factory builds each capsule's client with CapsuleHttp."""

from __future__ import annotations

import pytest

import astrid_host
from astrid_host._compose import capsule_http
from astrid_host._core._limits import Limits
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm import _host
from astrid_host._wasm._host import CapsuleContext, Host
from tests.support.guard import loopback_as_public, test_resolver


def test_importing_astrid_host_wires_capsule_http_in_as_the_default() -> None:
    assert astrid_host.Host is Host
    assert Host(use_cache=False)._factory is capsule_http


async def test_the_default_factory_builds_a_guarded_capsule_http() -> None:
    resolver, classifier = test_resolver(), loopback_as_public()
    ctx = CapsuleContext(name="c", policy=["https://public.test"], limits=Limits(),
                         resolver=resolver, classifier=classifier)
    http = capsule_http(ctx)
    try:
        assert isinstance(http, CapsuleHttp)
        assert http.policy == EgressPolicy.parse(["https://public.test"])
        assert http._check.keywords["classifier"] is classifier  # the policy check uses it
    finally:
        await http.aclose()


async def test_no_policy_means_a_client_that_allows_nothing() -> None:
    http = capsule_http(CapsuleContext(name="c", policy=None, limits=Limits()))
    try:
        assert isinstance(http, CapsuleHttp)
        assert http.policy == EgressPolicy()
    finally:
        await http.aclose()


def test_without_a_composition_root_a_host_needs_an_http_factory(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_host, "_default_factory", None)
    with pytest.raises(RuntimeError, match="no default http_factory"):
        Host(use_cache=False)
    assert Host(use_cache=False, http_factory=capsule_http)._factory is capsule_http
