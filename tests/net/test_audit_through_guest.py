"""The audit trail through a real component (issue 13): every hop, allowed or denied, has a
decision record written before any byte of it is sent, and a completion record; a trail that
cannot be written refuses the request. Driven through the WAT guest against loopback servers.

A record is summarised as ``("decision", hop, decision, reason, chosen)`` or
``("completion", hop, status, error)``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from astrid_host import (
    AuditError,
    AuditTrail,
    CapsuleHttp,
    EgressPolicy,
    FileSink,
    Host,
    MemorySink,
    Request,
    StaticResolver,
)
from astrid_host._audit._read import verify_files
from astrid_host._core._audit_records import AuditRecord, DecisionRecord
from tests.hostile._support import HOSTILE
from tests.net._guest import GUEST_NAMES, fetch, redirect_to, redirect_url
from tests.support.guard import TEST_RULES, loopback_as_public
from tests.support.http import Exchange, TestServer
from tests.support.tls import TestCA
from tests.support.values import wit_request

Summary = tuple[Any, ...]
ALLOW0 = ("decision", 0, "allow", "allowed-by-rule", "127.0.0.1")


def _host(cache_dir: Path, audit: Any) -> Host:
    return Host(cache_dir=cache_dir, resolver=StaticResolver(GUEST_NAMES),
                classifier=loopback_as_public(), audit=audit)


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
async def host(cache_dir: Path, sink: MemorySink) -> AsyncIterator[Host]:
    async with _host(cache_dir, sink) as h:
        yield h


async def _run(host: Host, url: str, policy: Any = None, **kwargs: Any) -> tuple[str, Any]:
    capsule = await host.load(HOSTILE, policy=policy or list(TEST_RULES), name="guest")
    try:
        return await fetch(capsule, url, **kwargs)
    finally:
        await capsule.aclose()


def _requests(sink: MemorySink) -> list[dict[str, Any]]:
    return [r for r in sink.records() if r["kind"] in ("decision", "completion")]


def _summary(sink: MemorySink) -> list[Summary]:
    out: list[Summary] = []
    for r in _requests(sink):
        if r["kind"] == "decision":
            out.append(("decision", r["hop"], r["decision"], r["reason"], r["chosen"]))
        else:
            out.append(("completion", r["hop"], r["status"], r["error"]))
    return out


def _paired(sink: MemorySink) -> None:
    """Every decision has exactly one completion of the same request and hop, after it."""
    open_hops: set[tuple[str, int]] = set()
    done: set[tuple[str, int]] = set()
    for r in _requests(sink):
        key = (r["request_id"], r["hop"])
        if r["kind"] == "decision":
            assert key not in open_hops and key not in done, r
            open_hops.add(key)
        else:
            assert key in open_hops, r
            open_hops.remove(key)
            done.add(key)
    assert not open_hops, open_hops


def _hop(n: int, status: int) -> list[Summary]:
    return [("decision", n, "allow", "allowed-by-rule", "127.0.0.1"),
            ("completion", n, status, None)]


def _denied(n: int, reason: str, error: str) -> list[Summary]:
    return [("decision", n, "deny", reason, None), ("completion", n, None, error)]


Case = Callable[[TestServer, int], str]

CASES: list[tuple[str, Case, dict[str, Any], list[str] | None, str, list[Summary]]] = [
    ("allowed", lambda s, p: s.url("/bytes?n=7", host="public.test"), {}, None, "ok",
     _hop(0, 200)),
    ("no-rule", lambda s, p: "http://example.com/", {}, None, "denied",
     _denied(0, "no-matching-rule", "denied")),
    ("private-literal", lambda s, p: "http://10.0.0.5:8080/", {}, ["http://10.0.0.0/8:*"],
     "destination-prohibited", _denied(0, "private", "destination-prohibited")),
    ("https-only", lambda s, p: "http://public.test/", {"https_only": True}, None, "denied",
     _denied(0, "https-only", "denied")),
    ("not-http", lambda s, p: "file:///etc/passwd", {}, None, "invalid-request",
     _denied(0, "invalid-url", "invalid-request")),
    ("private-after-dns", lambda s, p: "http://private.test:8080/", {}, None,
     "destination-prohibited", _denied(0, "private", "destination-prohibited")),
    ("dns-error", lambda s, p: "http://nxdomain.test/", {}, None, "dns-error",
     [("decision", 0, "allow", "allowed-by-rule", None), ("completion", 0, None, "dns-error")]),
    ("connection-refused", lambda s, p: f"http://refused.test:{p}/", {}, None,
     "connection-refused", [("decision", 0, "allow", "allowed-by-rule", None),
                            ("completion", 0, None, "connection-refused")]),
    ("never-answers", lambda s, p: s.url("/never-headers", host="public.test"),
     {"first_byte_timeout_ms": 200}, None, "timeout",
     [ALLOW0, ("completion", 0, None, "timeout")]),
    ("redirect-followed", lambda s, p: s.url("/chain?hops=1", host="public.test"), {}, None,
     "ok", _hop(0, 302) + _hop(1, 200)),
    ("redirect-unusable-location", lambda s, p: s.url("/moved", host="public.test"), {}, None,
     "protocol-error", _hop(0, 302) + _denied(1, "unusable-location", "protocol-error")),
    ("redirect-no-rule", lambda s, p: redirect_url(s, "http://example.com/"), {}, None,
     "redirect-blocked", _hop(0, 302) + _denied(1, "no-matching-rule", "redirect-blocked")),
    ("redirect-private-after-dns", lambda s, p: redirect_url(s, "http://private.test:8080/"),
     {}, None, "redirect-blocked", _hop(0, 302) + _denied(1, "private", "redirect-blocked")),
    ("redirect-refused-connection", lambda s, p: redirect_url(s, f"http://refused.test:{p}/"),
     {}, None, "connection-refused",
     [*_hop(0, 302), ("decision", 1, "allow", "allowed-by-rule", None),
      ("completion", 1, None, "connection-refused")]),
    ("too-many-redirects", lambda s, p: s.url("/loop", host="public.test"),
     {"max_redirects": 1}, None, "too-many-redirects",
     _hop(0, 302) + _hop(1, 302) + _denied(2, "too-many-redirects", "too-many-redirects")),
]


@pytest.mark.parametrize(("url", "options", "policy", "case", "records"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_every_hop_allowed_or_denied_has_a_decision_and_a_completion(
        host: Host, sink: MemorySink, http_server: TestServer, closed_port: int, url: Case,
        options: dict[str, Any], policy: list[str] | None, case: str,
        records: list[Summary]) -> None:
    http_server.add_route("/moved", redirect_to(b"/a\x01b"))
    parsed = None if policy is None else EgressPolicy.parse(policy)
    kind, _ = await _run(host, url(http_server, closed_port), parsed, **options)
    assert kind == case
    assert _summary(sink) == records
    _paired(sink)
    assert len({r["request_id"] for r in _requests(sink)}) == 1


async def test_each_hop_is_on_the_record_before_the_server_gets_a_byte_of_it(
        host: Host, sink: MemorySink, http_server: TestServer) -> None:
    """The route answers 200 only when the trail already holds the decision of the hop it is
    serving (same path hash): the record was written before the request left."""
    async def checked(ex: Exchange) -> None:
        path = ex.request.target.split(b"?")[0]
        digest = hashlib.sha256(path).hexdigest()
        on_record = any(r["kind"] == "decision" and r["path_sha256"] == digest
                        for r in sink.records())
        if not on_record:
            await ex.respond(599)
        elif b"hop=0" in ex.request.target:
            await ex.respond(302, b"", [(b"location", b"/checked-too?hop=1")])
        else:
            await ex.respond(200, b"ok")

    http_server.add_route("/checked", checked)
    http_server.add_route("/checked-too", checked)
    kind, resp = await _run(host, http_server.url("/checked?hop=0", host="public.test"),
                            method="post", body=b"payload")
    assert (kind, resp.status) == ("ok", 200)
    first = _requests(sink)[0]
    assert first["body_length"] == 7
    assert first["body_sha256"] == hashlib.sha256(b"payload").hexdigest()
    assert first["query_sha256"] == hashlib.sha256(b"hop=0").hexdigest()
    assert [(r["kind"], r["hop"]) for r in _requests(sink)] == [
        ("decision", 0), ("completion", 0), ("decision", 1), ("completion", 1)]
    assert _requests(sink)[1]["bytes_out"] == 7


async def test_a_tls_hop_is_on_the_record_before_its_handshake(
        cache_dir: Path, tls_ca: TestCA, https_expired_server: TestServer) -> None:
    """The record is written once TCP is connected, before the TLS handshake (whose
    ClientHello names the host): a failed handshake still has its decision, with the address
    connected to."""
    sink = MemorySink()
    host = Host(cache_dir=cache_dir, resolver=StaticResolver(GUEST_NAMES),
                classifier=loopback_as_public(), ssl_context=tls_ca.client_context(), audit=sink)
    async with host:
        kind, _ = await _run(host, https_expired_server.url("/", host="public.test"))
    assert kind == "tls-error"
    assert _summary(sink) == [ALLOW0, ("completion", 0, None, "tls-error")]


class _FailingSink(MemorySink):
    """A sink that cannot keep records of the kinds in ``failing``."""

    def __init__(self, failing: set[str]) -> None:
        super().__init__()
        self.failing = failing

    def append(self, record: AuditRecord) -> None:
        if record.kind in self.failing:
            raise AuditError("disk full")
        super().append(record)


@pytest.mark.parametrize("failing", ["decision", "completion"])
async def test_a_trail_that_cannot_be_written_refuses_the_request(
        cache_dir: Path, http_server: TestServer, caplog: pytest.LogCaptureFixture,
        failing: str) -> None:
    sink = _FailingSink({failing})
    async with _host(cache_dir, sink) as host:
        kind, payload = await _run(host, http_server.url("/bytes?n=5", host="public.test"))
    assert kind == "internal" and "audit trail" in payload
    # A decision that is not on the record is never sent; a completion that is not on the
    # record withholds the response from the capsule.
    assert len(http_server.requests) == (0 if failing == "decision" else 1)
    assert "disk full" in caplog.text and "disk full" not in payload


class _BlockingSink(MemorySink):
    """A sink that says it blocks (like ``fsync`` mode): records which threads append."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def append(self, record: AuditRecord) -> None:
        self.threads.append(threading.get_ident())
        super().append(record)


async def test_a_blocking_sink_is_written_from_a_worker_thread(
        cache_dir: Path, http_server: TestServer) -> None:
    sink = _BlockingSink()
    async with _host(cache_dir, sink) as host:
        kind, _ = await _run(host, http_server.url("/bytes?n=5", host="public.test"))
    assert kind == "ok" and len(sink.threads) == 2
    assert threading.get_ident() not in sink.threads


async def test_streamed_responses_and_uploads_complete_on_the_record(
        host: Host, sink: MemorySink, http_server: TestServer) -> None:
    capsule = await host.load(HOSTILE, policy=list(TEST_RULES), name="guest")
    read = await capsule.call("stream", wit_request(
        http_server.url("/bytes?n=3000", host="public.test")), 1000)
    assert read == 3000
    assert await capsule.call("drop-mid-read", http_server.url("/bytes?n=300000",
                                                               host="public.test"), 10) == 10
    assert await capsule.call("upload-unfinished", http_server.url("/drain", host="public.test"),
                              2, 100) == 2
    await capsule.aclose()  # the unfinished upload is cancelled
    done = [r for r in _requests(sink) if r["kind"] == "completion"]
    assert [(r["status"], r["error"]) for r in done] == [
        (200, None), (200, "closed"), (None, "cancelled")]
    # The upload's first piece was on the wire before the capsule could write the second.
    assert done[0]["bytes_in"] >= 3000 and done[2]["bytes_out"] in (100, 200)
    upload = [r for r in _requests(sink) if r["kind"] == "decision"][2]
    assert upload["body_streamed"] is True and upload["body_sha256"] is None
    _paired(sink)


async def test_host_opens_and_closes_a_keyed_trail_that_verifies(
        cache_dir: Path, http_server: TestServer, tmp_path: Path) -> None:
    path, key = tmp_path / "audit.jsonl", b"k" * 32
    async with _host(cache_dir, AuditTrail(path, key=key, durability="fsync")) as host:
        assert (await _run(host, http_server.url("/bytes?n=5", host="public.test")))[0] == "ok"
        assert (await _run(host, "http://example.com/"))[0] == "denied"
    report = verify_files([path], key)
    assert report.ok and report.records == 5  # segment + 2 decisions + 2 completions
    FileSink(path, key=key).close()  # the host released the file: it can be continued


async def test_a_sink_given_by_the_caller_is_not_closed_by_the_host(
        cache_dir: Path, sink: MemorySink) -> None:
    async with _host(cache_dir, sink) as host:
        assert (await _run(host, "http://example.com/"))[0] == "denied"
    sink.append(DecisionRecord.build(capsule="x", request_id="1", hop=0, method="GET",
                                     allowed=False, reason="test"))  # still open


async def test_a_host_given_something_else_as_audit_refuses_it(cache_dir: Path) -> None:
    with pytest.raises(TypeError, match="AuditTrail, a path or an AuditSink"):
        _host(cache_dir, 42)


async def test_a_finished_upload_records_every_byte_it_sent(http_server: TestServer) -> None:
    """(The engine directly: the WAT guest has no export that finishes an upload.)"""
    sink = MemorySink()
    client = CapsuleHttp("uploader", EgressPolicy.parse(list(TEST_RULES)),
                         resolver=StaticResolver(GUEST_NAMES), classifier=loopback_as_public(),
                         audit=sink)
    upload = await client.upload(Request("POST", http_server.url("/drain", host="public.test")))
    for piece in (b"a" * 1000, b"b" * 24):
        await upload.write(piece)
    response = await upload.finish()
    await client.aclose()
    assert response.status == 200 and http_server.requests[0].body_size == 1024
    decision, done = _requests(sink)
    assert decision["body_streamed"] is True and decision["body_length"] is None
    assert (done["status"], done["bytes_out"], done["error"]) == (200, 1024, None)
