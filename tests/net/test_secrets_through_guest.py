"""Secrets through a real component (issue 13): the WAT guest writes ``{{secret:NAME}}`` in a
header, the loopback server checks what arrived. The value reaches only the secret's origins,
and never the capsule, a log line, an error, ``response-meta`` or the audit trail (each checked
by grepping the bytes of everything captured).

"Public" origins are the test names on loopback (tests/servers/guard.py): ``public.test`` and
``other.test`` are two origins on the same server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from astrid_host import AuditTrail, Host, Secret, SecretError, StaticResolver
from astrid_host._core._audit_records import sha256_hex
from astrid_host._wasm._capsule import Capsule
from tests.hostile._support import HOSTILE
from tests.net._guest import GUEST_NAMES, fetch
from tests.support.guard import loopback_as_public
from tests.support.http import Exchange, TestServer

VALUE = b"sk-live-7f3a9c0d51e2"
AUTH = ("authorization", b"Bearer {{secret:api_key}}")


def _secret(*origins: str) -> dict[str, Secret]:
    return {"api_key": Secret(VALUE, origins=list(origins))}


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.fixture
async def host(cache_dir: Path, trail: Path) -> AsyncIterator[Host]:
    async with Host(cache_dir=cache_dir, resolver=StaticResolver(GUEST_NAMES),
                    classifier=loopback_as_public(),
                    audit=AuditTrail(trail, durability="none")) as h:
        yield h


@pytest.fixture
def everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger, down to DEBUG (httpcore's traces included)."""
    caplog.set_level(logging.DEBUG)
    return caplog


async def _capsule(host: Host, **load: Any) -> Capsule:
    """The WAT guest, allowed every ``*.test`` name, with ``load``'s secrets."""
    return await host.load(HOSTILE, policy=["*://*.test:*"], name="guest", **load)


def _records(trail: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _bytes(trail).splitlines()]


def _bytes(trail: Path) -> bytes:
    """The trail as it is now (durability "none": every record is in the file on return)."""
    with open(trail, "rb") as f:
        return f.read()


def _leaks(*places: object) -> list[int]:
    """Indices of the places whose text or bytes contain the secret's value."""
    found = []
    for i, place in enumerate(places):
        data = place if isinstance(place, bytes) else repr(place).encode("utf-8", "replace")
        if VALUE in data or VALUE.decode() in data.decode("utf-8", "replace"):
            found.append(i)
    return found


async def test_a_secret_reaches_its_origin_and_nobody_else_sees_it(
        host: Host, http_server: TestServer, trail: Path,
        everything: pytest.LogCaptureFixture) -> None:
    capsule = await _capsule(host, secrets=_secret("http://public.test:*"))
    kind, resp = await fetch(capsule, http_server.url("/status?code=200", host="public.test"),
                             headers=[AUTH, ("x-plain", b"visible")])
    await capsule.aclose()
    assert kind == "ok" and resp.status == 200
    (arrived,) = http_server.requests
    assert arrived.header(b"authorization") == [b"Bearer " + VALUE]  # the server's side
    assert arrived.header(b"x-plain") == [b"visible"]
    decision = next(r for r in _records(trail) if r["kind"] == "decision")
    assert decision["secrets"] == ["api_key"] and decision["decision"] == "allow"
    # The record hashes what the capsule wrote, never the value.
    assert ["authorization", sha256_hex(b"Bearer {{secret:api_key}}")] in decision["headers"]
    assert _leaks(resp, everything.text, _bytes(trail),
                  [r.getMessage() for r in everything.records]) == []


@pytest.mark.parametrize(("header", "load", "case", "reason"), [
    (AUTH, {"secrets": _secret("http://other.test:*")}, "denied",
     "secret-origin-not-allowed: secret 'api_key' (header 'authorization') may not be sent to "
     "http://public.test"),
    (AUTH, {"secrets": _secret("http://public.test:*"), "declared_secrets": ["other"]},
     "denied", "secret-undeclared: secret 'api_key'"),
    (("x-key", b"{{secret:nope}}"), {"secrets": _secret("http://public.test:*")}, "denied",
     "secret-unknown: secret 'nope' (header 'x-key')"),
    (("x-key", b"{{secret:api_key"), {"secrets": _secret("http://public.test:*")},
     "invalid-request", "'{{secret:' is not closed"),
    (AUTH, {}, "denied", "secret-unknown: secret 'api_key'"),
], ids=["wrong-origin", "undeclared", "unknown", "malformed", "no-secrets-at-all"])
async def test_a_refused_placeholder_opens_no_connection(
        host: Host, http_server: TestServer, trail: Path, everything: pytest.LogCaptureFixture,
        header: tuple[str, bytes], load: dict[str, Any], case: str, reason: str) -> None:
    capsule = await _capsule(host, **load)
    url = http_server.url("/status?code=200", host="public.test")
    kind, payload = await fetch(capsule, url, headers=[header])
    await capsule.aclose()
    assert kind == case
    assert reason in (payload if isinstance(payload, str) else payload.detail)
    assert http_server.connections == 0 and http_server.requests == []
    decision, done = (r for r in _records(trail) if r["kind"] != "segment")
    key = reason.split(":")[0] if case == "denied" else "secret-placeholder-malformed"
    assert (decision["decision"], decision["reason"]) == ("deny", key)
    assert (done["kind"], done["request_id"], done["error"]) == (
        "completion", decision["request_id"], case)
    assert _leaks(payload, everything.text, _bytes(trail)) == []


async def test_a_cross_origin_redirect_drops_the_secret(
        host: Host, http_server: TestServer, trail: Path) -> None:
    capsule = await _capsule(host, secrets=_secret("http://public.test:*"))
    target = http_server.url("/status?code=200", host="other.test")
    kind, resp = await fetch(capsule, http_server.url(f"/redirect?to={target}",
                                                      host="public.test"), headers=[AUTH])
    await capsule.aclose()
    assert kind == "ok" and resp.status == 200
    first, second = http_server.requests
    assert first.header(b"authorization") == [b"Bearer " + VALUE]
    assert second.header(b"authorization") == []
    hops = [r for r in _records(trail) if r["kind"] == "decision"]
    assert [(h["hop"], h["host"], h["secrets"], h["dropped_headers"]) for h in hops] == [
        (0, "public.test", ["api_key"], []), (1, "other.test", [], ["authorization"])]


async def test_a_cross_origin_redirect_to_another_origin_of_the_secret_fills_it_in_again(
        host: Host, http_server: TestServer) -> None:
    capsule = await _capsule(host, secrets=_secret("http://public.test:*", "http://other.test:*"))
    target = http_server.url("/status?code=200", host="other.test")
    kind, _ = await fetch(capsule, http_server.url(f"/redirect?to={target}", host="public.test"),
                          headers=[AUTH, ("x-custom", b"capsule-only")])
    await capsule.aclose()
    assert kind == "ok"
    first, second = http_server.requests
    assert first.header(b"authorization") == second.header(b"authorization") == [
        b"Bearer " + VALUE]
    # The cross-origin safelist still drops the capsule's own custom header.
    assert first.header(b"x-custom") == [b"capsule-only"] and second.header(b"x-custom") == []


async def test_a_server_echoing_the_value_does_not_hand_it_to_the_capsule_or_the_log(
        host: Host, http_server: TestServer, everything: pytest.LogCaptureFixture) -> None:
    """An origin that received the secret can put it in a Location: the host's own texts built
    from it (the error, the decision line, final-url) are scrubbed."""
    async def reflect(ex: Exchange) -> None:
        value = ex.request.header(b"authorization")[0].removeprefix(b"Bearer ")
        where = ex.query["to"].encode() + value
        await ex.respond(302, b"", [(b"location", where)])

    http_server.add_route("/reflect", reflect)
    capsule = await _capsule(host, secrets=_secret("http://public.test:*"))
    refused = await fetch(capsule, http_server.url("/reflect?to=http://blocked.example/",
                                                   host="public.test"), headers=[AUTH])
    followed = await fetch(capsule, http_server.url(
        f"/reflect?to={http_server.url('/', host='other.test')}", host="public.test"),
        headers=[AUTH])
    await capsule.aclose()
    assert refused[0] == "redirect-blocked" and "[redacted]" in refused[1]
    assert followed[0] == "ok" and getattr(followed[1].meta, "final-url").endswith("/[redacted]")
    # The host's own lines (httpcore's DEBUG traces print response heads as they came).
    own = [r.getMessage() for r in everything.records if r.name.startswith("astrid_host")]
    assert any("[redacted]" in line for line in own)
    assert _leaks(refused, followed, own) == []


async def test_load_refuses_a_bad_secret_and_keeps_the_operators_copy_usable(
        host: Host) -> None:
    with pytest.raises(SecretError, match="must be a Secret"):
        await _capsule(host, secrets={"k": "raw value"})
    given = _secret("http://public.test:*")
    capsule = await _capsule(host, secrets=given)
    await capsule.aclose()  # the capsule's copy is wiped ...
    assert given["api_key"].reveal() == VALUE  # ... the operator's is not
