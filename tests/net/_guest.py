"""Driving the HTTP engine through a real component: the hand-written WAT guest's ``fetch``
export forwards a whole WIT ``request`` to ``astrid:http/client.send`` and hands back the
``result<response, error-code>`` (see tests/hostile/_wat.py). Plus a parser for the egress
decision lines, so tests can compare fields instead of substrings.

"Public" destinations are simulated the honest way (tests/support/guard.py): the real
classifier except that 127.0.0.1 counts as public, and a static resolver for made-up names.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host._core._policy import EgressPolicy
from astrid_host._net._backend import StaticResolver
from astrid_host._wasm._capsule import Capsule
from astrid_host._wasm._host import Host
from tests.hostile._support import HOSTILE
from tests.support.guard import NAMES, TEST_RULES, loopback_as_public
from tests.support.http import Exchange, TestServer
from tests.support.values import outcome_of, wit_request

__all__ = ["GUEST_NAMES", "egress_lines", "fetch", "host_fixture", "load_guest", "open_host",
           "redirect_to", "redirect_url"]

#: The test names plus one more that resolves to loopback (for a port nobody listens on).
GUEST_NAMES = {**NAMES, "refused.test": ["127.0.0.1"], "sidecar.test": ["127.0.0.2"]}

_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def open_host(cache_dir: Any, *, ssl_context: Any = None) -> Host:
    """A Host whose capsules use the real engine, reaching 127.0.0.1 under the test names."""
    return Host(cache_dir=cache_dir, resolver=StaticResolver(GUEST_NAMES),
                classifier=loopback_as_public(), ssl_context=ssl_context)


async def load_guest(host: Host, policy: EgressPolicy | None = None,
                     name: str = "guest") -> Capsule:
    """The WAT guest, allowed every ``*.test`` name (or ``policy``)."""
    return await host.load(HOSTILE, policy=policy or list(TEST_RULES), name=name)


async def fetch(capsule: Capsule, url: str, method: str = "get", *,
                headers: list[tuple[str, bytes]] | None = None, body: bytes | None = None,
                **options: Any) -> tuple[str, Any]:
    """``send`` through the guest: ("ok", response record) or (error case, payload)."""
    req = wit_request(url, method, headers=headers, body=body, options=options or None)
    return outcome_of(await capsule.call("fetch", req))


def egress_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    """Every decision line on ``astrid_host.egress`` as a field dict (JSON-quoted values
    unquoted), plus ``level``."""
    out = []
    for record in caplog.records:
        if record.name != "astrid_host.egress":
            continue
        fields = {k: (json.loads(v) if v.startswith('"') else v)
                  for k, v in _FIELD.findall(record.getMessage())}
        fields["level"] = logging.getLevelName(record.levelno)
        out.append(fields)
    return out


def redirect_to(location: bytes, code: int = 302) -> Any:
    """A route answering ``code`` with exactly ``location`` (no query-string encoding)."""
    async def handler(ex: Exchange) -> None:
        await ex.respond(code, b"", [(b"location", location)])
    return handler


def redirect_url(server: TestServer, target: str, code: int = 302,
                 host: str = "public.test") -> str:
    """The shared ``/redirect`` route of ``server`` pointing at ``target``."""
    q = urllib.parse.urlencode({"to": target, "code": code})
    return server.url(f"/redirect?{q}", host=host)


async def host_fixture(cache_dir: Any, ssl_context: Any = None) -> AsyncIterator[Host]:
    """Body of the ``host`` fixtures of the test modules."""
    async with open_host(cache_dir, ssl_context=ssl_context) as host:
        yield host
