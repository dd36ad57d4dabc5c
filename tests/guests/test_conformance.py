"""One conformance suite for every guest language.

Each built ``build/guests/<lang>-conformance.wasm`` (python, rust, go) implements the WIT world
``conformance`` (wit/worlds.wit). Every test below runs the *same* case through the real host
(``Host`` + the default ``CapsuleHttp``) against a real loopback server, once per guest:

1. each guest's result must show the behaviour the WIT documents (status, bytes, hash, the
   error-code case), and
2. the results of all guests, normalised to plain Python values (only run-dependent fields
   such as ``elapsed-ms`` dropped), must be identical: any difference between languages fails.

Loopback is reached only through the operator's local allowance in the capsule policy, never
by weakening the classifier. A missing guest is skipped with the command that builds it
(``ASTRID_REQUIRE_ALL=1``: a failure instead).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from wasmtime.component import Record, Variant

from tests.support.http import RecordedRequest, TestServer, pattern, run_http_server
from tests.support.paths import ROOT
from tests.support.values import FNV_OFFSET, fnv1a64

GUEST_DIR = ROOT / "build" / "guests"
LANGS = ("python", "rust", "go")
IFACE = "astrid:http/conformance-tests@0.1.0"
REQUIRE_ALL = os.environ.get("ASTRID_REQUIRE_ALL") == "1"
MiB = 1024 * 1024
CALL_TIMEOUT_S = 300

#: Fields whose values depend on timing, not on the guest: dropped before comparing.
VOLATILE_FIELDS = frozenset({"elapsed-ms"})

pytestmark = [pytest.mark.guest("conformance")]


def upload_pattern(n: int) -> bytes:
    """What ``upload-pattern`` sends: byte i is i % 251."""
    block = bytes(range(251))
    return (block * (n // 251 + 1))[:n]


def echo_document(recorded: RecordedRequest) -> bytes:
    """The body ``/echo`` answers ``recorded`` with (the format of tests/support/http.py)."""
    def latin1(b: bytes) -> str:
        return b.decode("latin-1")

    doc = {"method": latin1(recorded.method), "target": latin1(recorded.target),
           "headers": [[latin1(n), latin1(v)] for n, v in recorded.headers],
           "body_b64": base64.b64encode(recorded.body or b"").decode()}
    return json.dumps(doc).encode()


# --- guests and the host ----------------------------------------------------------------------


def _built_guests() -> list[Path]:
    return [GUEST_DIR / f"{lang}-conformance.wasm" for lang in LANGS
            if (GUEST_DIR / f"{lang}-conformance.wasm").is_file()]


def _require_guests() -> list[Path]:
    missing = [lang for lang in LANGS if not (GUEST_DIR / f"{lang}-conformance.wasm").is_file()]
    how = "build them with: python scripts/build_guests.py --only conformance"
    if missing and REQUIRE_ALL:
        pytest.fail(f"conformance guests missing for {', '.join(missing)}; {how}")
    guests = _built_guests()
    if not guests:
        pytest.skip(f"no conformance guest built; {how}")
    return guests


def _require_runtime() -> tuple[Any, Any, Any]:
    """The runtime, the HTTP engine and the policy type, or a skip/fail saying what is missing."""
    try:
        from astrid_host._core._limits import Limits
        from astrid_host._core._policy import EgressPolicy
        from astrid_host._net import _client  # noqa: F401  (the Host's default HTTP engine)
        from astrid_host._wasm._host import Host
    except ImportError as e:  # pragma: no cover - only while the layers are being written
        if REQUIRE_ALL:
            pytest.fail(f"host runtime incomplete: {e}")
        pytest.skip(f"host runtime incomplete: {e}")
    return Host, EgressPolicy, Limits


@dataclass
class Guests:
    """Every built conformance guest, loaded in one Host with the same policy."""

    capsules: dict[str, Any]
    server: TestServer

    async def each(self, export: str, *args: Any) -> dict[str, Any]:
        """Call ``export`` in every guest (one after the other); results by guest name."""
        out = {}
        for name, capsule in self.capsules.items():
            with anyio.fail_after(CALL_TIMEOUT_S + 30):
                out[name] = await capsule.call(f"{IFACE}#{export}", *args)
        return out


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


REFUSED_PORT = _closed_port()


@asynccontextmanager
async def loaded_guests(server: TestServer, policy_rules: list[str], local: list[str],
                        **host_options: Any) -> AsyncIterator[Guests]:
    """Every built conformance guest in one Host, each with the same policy.

    The Host builds each capsule's real ``CapsuleHttp`` with its default factory;
    ``host_options`` are Host parameters (a test resolver and classifier).
    """
    paths = _require_guests()
    Host, EgressPolicy, Limits = _require_runtime()
    policy = EgressPolicy.parse(policy_rules, methods=["*"], local=local)
    cache = ROOT / "build" / "cache" / "conformance"
    # The 64 MiB upload takes ~5 s per guest on an idle machine, far more on a busy 2-core one
    # (every 1 MiB piece crosses wasmtime-py as list<u8>): give a call more than the 60 s
    # default so that a slow machine is not mistaken for a failing guest.
    limits = Limits(max_open_streams=4, call_timeout_s=CALL_TIMEOUT_S)
    async with Host(cache_dir=cache, limits=limits, **host_options) as host:
        capsules = {}
        for path in paths:
            name = path.name.removesuffix(".wasm")
            capsules[name] = await host.load(path, policy=policy, name=name)
        yield Guests(capsules, server)


@pytest.fixture
async def guests() -> AsyncIterator[Guests]:
    """The guests with loopback reachable through the operator's local allowance only."""
    async with run_http_server() as server, loaded_guests(
            server,
            ["http://169.254.169.254"],  # allowed by rule, refused by the address check
            [f"127.0.0.1:{server.port}", f"127.0.0.1:{REFUSED_PORT}"]) as g:
        yield g


def loopback_as_public(*names: str) -> Callable[[Any], Any]:
    """A test-only classifier: the named loopback addresses count as public; every other
    address gets the real verdict. The real classifier is never weakened."""
    from astrid_host._core._classify import IpVerdict, Reason, classify_ip

    public = {ipaddress.ip_address(n) for n in names}

    def classify(ip: Any) -> Any:
        return IpVerdict(True, Reason.PUBLIC) if ip in public else classify_ip(ip)

    return classify


@pytest.fixture
async def public_guests() -> AsyncIterator[Guests]:
    """The guests reaching the server as ``public.test`` (a made-up public name resolved by a
    static table to 127.0.0.1, which only this test classifier calls public), so that
    redirects are followed as for any public site. No local allowance."""
    from astrid_host._net._backend import StaticResolver

    resolver = StaticResolver({"public.test": ["127.0.0.1"], "private.test": ["10.0.0.1"]})
    async with run_http_server() as server, loaded_guests(
            server, ["http://public.test:*", "http://private.test:*"], [],
            resolver=resolver, classifier=loopback_as_public("127.0.0.1")) as g:
        yield g


# --- building requests, reading results -----------------------------------------------------


def _record(**fields: Any) -> Record:
    r = Record()
    r.__dict__.update({k.replace("_", "-"): v for k, v in fields.items()})
    return r


def request(url: str, method: str = "get", *, headers: list[tuple[str, bytes]] | None = None,
            body: bytes | None = None, other: str | None = None) -> Record:
    """A WIT ``request`` value for wasmtime-py (records by attribute, dashed names)."""
    m = Variant("other", other) if other is not None else Variant(method)
    return _record(method=m, url=url, headers=headers or [], body=body, options=None)


def options(**given: Any) -> Record:
    """A WIT ``request-options`` value: every field absent/false unless given."""
    fields: dict[str, Any] = {name: None for name in (
        "connect_timeout_ms", "first_byte_timeout_ms", "between_bytes_timeout_ms",
        "total_timeout_ms", "redirect_policy", "max_redirects", "max_response_bytes",
        "integrity")}
    fields.update(https_only=False, decompress=False)
    fields.update(given)
    return _record(**fields)


def with_options(req: Record, **given: Any) -> Record:
    req.options = options(**given)
    return req


def plain(value: Any) -> Any:
    """A wasmtime value as plain, comparable Python data (volatile fields dropped)."""
    if isinstance(value, Variant):
        return {"case": value.tag, "payload": plain(value.payload)}
    if isinstance(value, Record):
        return {k: plain(v) for k, v in sorted(value.__dict__.items())
                if k not in VOLATILE_FIELDS}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


def outcome(value: Any) -> tuple[str, Any]:
    """``result<T, error-code>`` as ("ok", T) or ("err", error): in every export of the
    conformance world no ok type is a variant, so wasmtime-py's bare Variant means err."""
    if isinstance(value, Variant) and value.tag in ERROR_CASES:
        return ("err", plain(value))
    return ("ok", plain(value))


ERROR_CASES = frozenset({
    "denied", "destination-prohibited", "invalid-request", "dns-error", "connection-refused",
    "connection-failed", "tls-error", "timeout", "body-too-large", "request-too-large",
    "too-many-redirects", "redirect-blocked", "integrity-mismatch", "protocol-error",
    "stream-limit", "closed", "cancelled", "internal"})


def same_everywhere(results: dict[str, Any], key: Callable[[Any], Any] = outcome) -> Any:
    """Assert that every guest produced the same (normalised) result; return it."""
    normalised = {name: key(v) for name, v in results.items()}
    first_name, first = next(iter(normalised.items()))
    for name, value in normalised.items():
        assert value == first, (
            f"guests differ: {name} returned {value!r}\n but {first_name} returned {first!r}")
    return first


def ok(results: dict[str, Any]) -> dict[str, Any]:
    """Each guest's ok payload; fails naming the guest if any returned an error."""
    out = {}
    for name, value in results.items():
        tag, payload = outcome(value)
        assert tag == "ok", f"{name}: expected ok, got error {payload!r}"
        out[name] = value
    return out


def err_case(results: dict[str, Any]) -> dict[str, str]:
    cases = {}
    for name, value in results.items():
        tag, payload = outcome(value)
        assert tag == "err", f"{name}: expected an error, got ok {payload!r}"
        cases[name] = payload["case"]
    return cases


def header_values(resp: Any, name: str) -> list[bytes]:
    return [v for n, v in resp.headers if n.lower() == name]


# --- the cases ------------------------------------------------------------------------------


def test_every_language_has_a_conformance_guest() -> None:
    """In CI (ASTRID_REQUIRE_ALL=1) all three languages must have been built."""
    built = {p.name.split("-")[0] for p in _built_guests()}
    if REQUIRE_ALL:
        assert built == set(LANGS)
    elif built != set(LANGS):
        pytest.skip(f"built: {sorted(built)}; python scripts/build_guests.py --only conformance")


async def test_buffered_send_carries_binary_body_and_duplicate_headers_both_ways(
        guests: Guests) -> None:
    body = bytes(range(256)) * 4 + b"\x00\xff"
    req = request(guests.server.url("/echo?q=1"), "post", body=body,
                  headers=[("x-dup", b"one"), ("x-dup", b"two"), ("x-raw", b"\xff\xfe\x80")])
    results = ok(await guests.each("fetch", req))
    for name, resp in results.items():
        assert resp.status == 200, name
        doc = json.loads(resp.body)
        assert doc["method"] == "POST", name
        assert base64.b64decode(doc["body_b64"]) == body, name
        sent = [(n.lower(), v) for n, v in doc["headers"]]
        assert [v for n, v in sent if n == "x-dup"] == ["one", "two"], name
        assert ("x-raw", b"\xff\xfe\x80".decode("latin-1")) in sent, name
        assert getattr(resp.meta, "final-url") == guests.server.url("/echo?q=1"), name
    same_everywhere(results)

    results = ok(await guests.each("fetch", request(guests.server.url("/dup-headers"))))
    for name, resp in results.items():
        assert header_values(resp, "set-cookie") == [b"a=1", b"b=2"], name
        assert header_values(resp, "x-bin") == [b"\xff\xfe raw"], name
    same_everywhere(results)


@pytest.mark.parametrize("method", ["put", "delete", "patch", "options", "head"])
async def test_standard_methods_reach_the_server_unchanged(guests: Guests, method: str) -> None:
    results = ok(await guests.each("fetch", request(guests.server.url("/echo"), method)))
    for name, resp in results.items():
        assert resp.status == 200, name
        if method == "head":
            assert resp.body == b"", name
        else:
            assert json.loads(resp.body)["method"] == method.upper(), name
    same_everywhere(results)


async def test_other_method_token_is_sent_as_given(guests: Guests) -> None:
    results = ok(await guests.each("fetch", request(guests.server.url("/echo"), other="PROPFIND")))
    for name, resp in results.items():
        assert json.loads(resp.body)["method"] == "PROPFIND", name
    same_everywhere(results)


@pytest.mark.parametrize("route", ["/bytes", "/chunked"])
async def test_streamed_read_to_the_end_sees_every_byte(guests: Guests, route: str) -> None:
    n, chunk = 300_000, 16_384
    req = request(guests.server.url(f"{route}?n={n}&chunk=10000"))
    results = ok(await guests.each("stream-all", req, chunk))
    expected_hash = fnv1a64(pattern(n))
    for name, report in results.items():
        assert report.status == 200, name
        assert getattr(report, "total-bytes") == n, name
        assert report.fnv1a64 == expected_hash, name
        # how the body arrives in pieces depends on timing; the minimum does not
        assert report.chunks >= -(-n // chunk), name
    same_everywhere(results, key=lambda r: {k: v for k, v in plain(r).items() if k != "chunks"})


async def test_streamed_and_buffered_views_of_one_response_agree(guests: Guests) -> None:
    url = guests.server.url("/many-headers?n=7")
    fetched = ok(await guests.each("fetch", request(url)))
    streamed = ok(await guests.each("stream-all", request(url), 1))
    for name in fetched:
        resp, report = fetched[name], streamed[name]
        assert report.status == resp.status == 200, name
        assert getattr(report, "header-count") == len(resp.headers) >= 7, name
        assert getattr(report, "total-bytes") == len(resp.body) == 2, name
        assert report.fnv1a64 == fnv1a64(resp.body), name
        assert report.chunks == 2, name  # read(1) returns one byte at a time
    same_everywhere(streamed)


async def test_streamed_read_of_an_empty_body_ends_at_once(guests: Guests) -> None:
    results = ok(await guests.each("stream-all", request(guests.server.url("/status?code=204")),
                                   1024))
    for name, report in results.items():
        assert (report.status, getattr(report, "total-bytes"), report.chunks) == (204, 0, 0), name
        assert report.fnv1a64 == FNV_OFFSET, name
    same_everywhere(results)


@pytest.mark.slow
async def test_upload_of_64_mib_arrives_whole(guests: Guests) -> None:
    total = 64 * MiB
    expected = hashlib.sha256(upload_pattern(total)).hexdigest()
    results = ok(await guests.each("upload-pattern", request(guests.server.url("/drain"), "post"),
                                   total, MiB))
    for name, resp in results.items():
        assert resp.status == 200, name
        assert json.loads(resp.body) == {"size": total, "sha256": expected}, name
    same_everywhere(results)


async def test_upload_in_uneven_pieces_keeps_the_pattern(guests: Guests) -> None:
    total = 100_003
    expected = hashlib.sha256(upload_pattern(total)).hexdigest()
    results = ok(await guests.each("upload-pattern", request(guests.server.url("/drain"), "put"),
                                   total, 7_919))
    for name, resp in results.items():
        assert json.loads(resp.body) == {"size": total, "sha256": expected}, name
    same_everywhere(results)


async def test_upload_then_stream_reads_back_the_echo_of_the_uploaded_body(
        guests: Guests) -> None:
    total, chunk = 200_003, 7_919  # under the 1 MiB /echo keeps, in uneven pieces
    results = ok(await guests.each("upload-then-stream",
                                   request(guests.server.url("/echo?upload=stream"), "post"),
                                   total, chunk))
    # each() calls the guests one after the other, so their requests arrive in that order
    echoed = [r for r in guests.server.requests if r.target == b"/echo?upload=stream"]
    assert len(echoed) == len(results)
    for (name, report), recorded in zip(results.items(), echoed, strict=True):
        assert recorded.body == upload_pattern(total), name
        expected = echo_document(recorded)
        assert report.status == 200, name
        assert getattr(report, "total-bytes") == len(expected), name
        assert report.fnv1a64 == fnv1a64(expected), name
        assert report.chunks >= -(-len(expected) // chunk), name
    same_everywhere(results, key=lambda r: {k: v for k, v in plain(r).items() if k != "chunks"})


async def test_upload_then_stream_counts_a_zero_chunk_as_one_both_ways(guests: Guests) -> None:
    total = 600
    results = ok(await guests.each("upload-then-stream",
                                   request(guests.server.url("/echo?upload=zero"), "put"),
                                   total, 0))
    echoed = [r for r in guests.server.requests if r.target == b"/echo?upload=zero"]
    for (name, report), recorded in zip(results.items(), echoed, strict=True):
        assert recorded.body == upload_pattern(total), name
        expected = echo_document(recorded)
        assert getattr(report, "total-bytes") == len(expected), name
        assert report.fnv1a64 == fnv1a64(expected), name
        assert report.chunks == len(expected), name  # read(1): one byte at a time
    same_everywhere(results)


async def test_upload_then_stream_of_a_large_body_streams_the_servers_answer(
        guests: Guests) -> None:
    total = 3 * MiB
    expected = json.dumps({"size": total,
                           "sha256": hashlib.sha256(upload_pattern(total)).hexdigest()}).encode()
    results = ok(await guests.each("upload-then-stream",
                                   request(guests.server.url("/drain"), "post"), total, 65_536))
    for name, report in results.items():
        assert report.status == 200, name
        assert getattr(report, "total-bytes") == len(expected), name
        assert report.fnv1a64 == fnv1a64(expected), name
    same_everywhere(results, key=lambda r: {k: v for k, v in plain(r).items() if k != "chunks"})


def meta_fields(meta: Any, *, wire_bytes: bool) -> dict[str, Any]:
    """A ``response-meta`` for comparing guests: ``wire-bytes`` only when it is settled (the
    body was read to its end); mid-body it depends on how far the host has read ahead."""
    fields = plain(meta)
    if not wire_bytes:
        del fields["wire-bytes"]
    return fields


@pytest.mark.parametrize("read_bytes", [0, 100_000, 4 * MiB],
                         ids=["before-the-body", "mid-body", "past-the-end"])
async def test_meta_after_reading_counts_wire_bytes_so_far(guests: Guests,
                                                           read_bytes: int) -> None:
    n = 2 * MiB
    url = guests.server.url(f"/bytes?n={n}")
    # The whole exchange on the wire, as the buffered call reports it.
    whole = {name: getattr(resp.meta, "wire-bytes")
             for name, resp in ok(await guests.each("fetch", request(url))).items()}
    assert len(set(whole.values())) == 1 and next(iter(whole.values())) > n, whole
    results = ok(await guests.each("meta-after", request(url), read_bytes))
    for name, meta in results.items():
        wire = getattr(meta, "wire-bytes")
        assert 0 < wire <= whole[name], (name, wire, whole[name])
        assert wire >= min(read_bytes, n), (name, wire)  # what the guest read came over it
        if read_bytes >= n:
            assert wire == whole[name], (name, wire, whole[name])
        assert getattr(meta, "final-url") == url, name
        assert getattr(meta, "redirect-count") == 0, name
    same_everywhere(results, key=lambda m: meta_fields(m, wire_bytes=read_bytes >= n))


async def test_early_drop_of_a_stream_frees_it_for_the_next_request(guests: Guests) -> None:
    req = request(guests.server.url(f"/bytes?n={8 * MiB}"))
    results = ok(await guests.each("drop-early", req, 100_000, 16_384))
    for name, got in results.items():
        assert got == 100_000, name
    same_everywhere(results)
    # The dropped stream no longer counts against the limit and its connection is not reused
    # half-read: a full read right after works in every guest.
    after = ok(await guests.each("stream-all", request(guests.server.url("/bytes?n=5000")), 4096))
    for name, report in after.items():
        assert getattr(report, "total-bytes") == 5000, name


async def test_open_many_hits_the_stream_limit_after_four(guests: Guests) -> None:
    req = request(guests.server.url(f"/bytes?n={4 * MiB}"))
    results = await guests.each("open-many", req, 6)
    for name, attempts in results.items():
        outcomes = [outcome(a) for a in attempts]
        assert outcomes[:4] == [("ok", 200)] * 4, (name, outcomes)
        assert outcomes[4:] == [("err", {"case": "stream-limit", "payload": 4})] * 2, (
            name, outcomes)
    same_everywhere(results, key=lambda attempts: [outcome(a) for a in attempts])
    # All were dropped on return: the full limit is available again.
    again = await guests.each("open-many", req, 4)
    same_everywhere(again, key=lambda attempts: [outcome(a) for a in attempts])
    for name, attempts in again.items():
        assert [outcome(a) for a in attempts] == [("ok", 200)] * 4, name


async def test_read_after_end_is_none_or_closed_and_the_same_everywhere(guests: Guests) -> None:
    results = await guests.each("read-after-end", request(guests.server.url("/bytes?n=1000")))
    result = same_everywhere(results)
    assert result in [("ok", None), ("err", {"case": "closed", "payload": None})]


async def test_write_after_finish_is_closed(guests: Guests) -> None:
    results = await guests.each("write-after-finish",
                                request(guests.server.url("/drain"), "post"))
    assert same_everywhere(results) == ("err", {"case": "closed", "payload": None})


# --- error cases: the same error-code case (and detail) in every language ----------------------

ExportCall = Callable[[Guests, Record], Awaitable[dict[str, Any]]]


async def _fetch(g: Guests, req: Record) -> dict[str, Any]:
    return await g.each("fetch", req)


async def _stream(g: Guests, req: Record) -> dict[str, Any]:
    return await g.each("stream-all", req, 1024)


async def _upload(g: Guests, req: Record) -> dict[str, Any]:
    return await g.each("upload-pattern", req, 10, 10)


async def _upload_stream(g: Guests, req: Record) -> dict[str, Any]:
    return await g.each("upload-then-stream", req, 10, 10)


async def _meta(g: Guests, req: Record) -> dict[str, Any]:
    return await g.each("meta-after", req, 1024)


def _other_port(port: int) -> int:
    """A loopback port the policy does not cover (never contacted: the policy refuses first)."""
    return port + 1 if port < 65535 else 1024


ERROR_ROWS: list[tuple[str, Callable[[TestServer], Record], str]] = [
    ("host-not-in-policy", lambda s: request("http://not-allowed.test/"), "denied"),
    ("port-not-in-policy", lambda s: request(f"http://127.0.0.1:{_other_port(s.port)}/"),
     "denied"),
    ("metadata-address", lambda s: request("http://169.254.169.254/latest/"),
     "destination-prohibited"),
    ("not-a-url", lambda s: request("not a url"), "invalid-request"),
    ("framing-header", lambda s: request(s.url("/echo"), headers=[("host", b"evil.test")]),
     "invalid-request"),
    ("header-with-newline", lambda s: request(s.url("/echo"), headers=[("x-a", b"1\r\nx-b: 2")]),
     "invalid-request"),
    ("connect-method", lambda s: request(s.url("/echo"), other="CONNECT"), "invalid-request"),
    ("nothing-listening", lambda s: request(f"http://127.0.0.1:{REFUSED_PORT}/"),
     "connection-refused"),
]


@pytest.mark.parametrize("call", [_fetch, _stream, _upload, _upload_stream, _meta],
                         ids=["send", "start", "upload", "upload-stream", "meta"])
@pytest.mark.parametrize(("make", "case"), [(m, c) for _, m, c in ERROR_ROWS],
                         ids=[r[0] for r in ERROR_ROWS])
async def test_refused_requests_give_the_same_error_code_in_every_language(
        guests: Guests, call: ExportCall, make: Callable[[TestServer], Record],
        case: str) -> None:
    req = make(guests.server)
    results = await call(guests, req)
    cases = err_case(results)
    assert set(cases.values()) == {case}, cases
    same_everywhere(results)


# Failures that need the network: the server misbehaves or a limit fires. Each row is
# (id, route, request options, export, expected error-code case).
NETWORK_ERROR_ROWS: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("first-byte-timeout", "/never-headers", {"first_byte_timeout_ms": 300}, "fetch", "timeout"),
    ("between-bytes-timeout", "/trickle?n=20&interval=1", {"between_bytes_timeout_ms": 300},
     "stream-all", "timeout"),
    ("response-over-the-limit", f"/bytes?n={256 * 1024}", {"max_response_bytes": 1000}, "fetch",
     "body-too-large"),
    ("stream-over-the-limit", f"/bytes?n={256 * 1024}", {"max_response_bytes": 1000},
     "stream-all", "body-too-large"),
    ("gzip-bomb", f"/gzip-bomb?n={32 * MiB}", {"decompress": True,
                                                "max_response_bytes": MiB}, "fetch",
     "body-too-large"),
    ("redirect-from-a-local-endpoint", "/redirect?to=/echo", {}, "fetch", "redirect-blocked"),
    ("bad-framing", "/bad-framing", {}, "fetch", "protocol-error"),
    ("not-http", "/garbage", {}, "fetch", "protocol-error"),
    ("truncated-body", "/short?n=1000&after=10", {}, "fetch", "protocol-error"),
    ("truncated-stream", "/short?n=1000&after=10", {}, "stream-all", "protocol-error"),
    ("reset-mid-stream", "/reset?n=100000&after=1000", {}, "stream-all", "connection-failed"),
]


@pytest.mark.parametrize(("route", "opts", "export", "case"),
                         [r[1:] for r in NETWORK_ERROR_ROWS],
                         ids=[r[0] for r in NETWORK_ERROR_ROWS])
async def test_network_failures_give_the_same_error_code_in_every_language(
        guests: Guests, route: str, opts: dict[str, Any], export: str, case: str) -> None:
    req = with_options(request(guests.server.url(route)), **opts)
    args = (req, 4096) if export == "stream-all" else (req,)
    results = await guests.each(export, *args)
    cases = err_case(results)
    assert set(cases.values()) == {case}, {n: outcome(v) for n, v in results.items()}
    same_everywhere(results)


async def test_decompressed_body_and_its_hash_agree_everywhere(guests: Guests) -> None:
    req = with_options(request(guests.server.url("/gzip?n=50000")), decompress=True)
    fetched = ok(await guests.each("fetch", req))
    for name, resp in fetched.items():
        assert resp.body == pattern(50_000), name
    same_everywhere(fetched)
    streamed = ok(await guests.each("stream-all", req, 8192))
    for name, report in streamed.items():
        assert getattr(report, "total-bytes") == 50_000, name
        assert report.fnv1a64 == fnv1a64(pattern(50_000)), name
    same_everywhere(streamed, key=lambda r: {k: v for k, v in plain(r).items() if k != "chunks"})


async def test_manual_redirect_policy_returns_the_redirect_itself(guests: Guests) -> None:
    req = with_options(request(guests.server.url("/redirect?to=/echo&code=307")),
                       redirect_policy="manual")
    results = ok(await guests.each("fetch", req))
    for name, resp in results.items():
        assert resp.status == 307, name
        assert header_values(resp, "location") == [b"/echo"], name
        assert getattr(resp.meta, "redirect-count") == 0, name
    same_everywhere(results)


# --- redirects, as for a public site (test resolver + test classifier) -------------------------


async def test_redirect_chain_is_followed_and_reported_the_same_everywhere(
        public_guests: Guests) -> None:
    url = public_guests.server.url("/chain?hops=3", host="public.test")
    results = ok(await public_guests.each("fetch", request(url)))
    for name, resp in results.items():
        assert (resp.status, resp.body) == (200, b"done"), name
        assert getattr(resp.meta, "redirect-count") == 3, name
        assert getattr(resp.meta, "final-url") == public_guests.server.url(
            "/chain?hops=0", host="public.test"), name
    same_everywhere(results)


@pytest.mark.parametrize("read_bytes", [0, 1024], ids=["before-the-body", "to-the-end"])
async def test_meta_after_a_redirect_chain_reports_hops_and_final_url(
        public_guests: Guests, read_bytes: int) -> None:
    url = public_guests.server.url("/chain?hops=3", host="public.test")
    final = public_guests.server.url("/chain?hops=0", host="public.test")
    whole = {name: getattr(resp.meta, "wire-bytes")
             for name, resp in ok(await public_guests.each("fetch", request(url))).items()}
    results = ok(await public_guests.each("meta-after", request(url), read_bytes))
    for name, meta in results.items():
        assert getattr(meta, "redirect-count") == 3, name
        assert getattr(meta, "final-url") == final, name
        wire = getattr(meta, "wire-bytes")
        # every hop's response counts; the final body ("done") may not have arrived yet
        assert whole[name] - len(b"done") <= wire <= whole[name], (name, wire, whole[name])
        if read_bytes:
            assert wire == whole[name], (name, wire, whole[name])
    same_everywhere(results, key=lambda m: meta_fields(m, wire_bytes=read_bytes > 0))


async def test_streamed_upload_is_not_resent_on_a_307(public_guests: Guests) -> None:
    url = public_guests.server.url("/redirect?to=/echo&code=307", host="public.test")
    results = ok(await public_guests.each("upload-then-stream", request(url, "post"), 1000, 100))
    for name, report in results.items():
        assert (report.status, getattr(report, "total-bytes")) == (307, 0), name
    same_everywhere(results)
    assert not [r for r in public_guests.server.requests if r.target.startswith(b"/echo")]


REDIRECT_ERROR_ROWS: list[tuple[str, str, dict[str, Any], str]] = [
    ("loop", "/loop", {"max_redirects": 2}, "too-many-redirects"),
    ("policy-error", "/redirect?to=/echo", {"redirect_policy": "error"}, "redirect-blocked"),
    ("to-metadata-address", "/redirect?to=http://169.254.169.254/", {}, "redirect-blocked"),
    ("to-a-name-on-a-private-address", "/redirect?to=http://private.test/", {},
     "redirect-blocked"),
    ("to-a-host-not-in-policy", "/redirect?to=http://elsewhere.test/", {}, "redirect-blocked"),
]


@pytest.mark.parametrize(("route", "opts", "case"), [r[1:] for r in REDIRECT_ERROR_ROWS],
                         ids=[r[0] for r in REDIRECT_ERROR_ROWS])
async def test_refused_redirects_give_the_same_error_code_in_every_language(
        public_guests: Guests, route: str, opts: dict[str, Any], case: str) -> None:
    req = with_options(request(public_guests.server.url(route, host="public.test")), **opts)
    for export, args in (("fetch", (req,)), ("stream-all", (req, 1024))):
        results = await public_guests.each(export, *args)
        cases = err_case(results)
        assert set(cases.values()) == {case}, (export, {n: outcome(v)
                                                         for n, v in results.items()})
        same_everywhere(results)


async def test_upload_with_a_body_in_the_request_is_invalid(guests: Guests) -> None:
    req = request(guests.server.url("/drain"), "post", body=b"not allowed here")
    results = await guests.each("upload-pattern", req, 10, 10)
    assert set(err_case(results).values()) == {"invalid-request"}
    same_everywhere(results)


# --- the Rust example capsule (guests/rust/example), through the same host ----------------------

EXAMPLE = GUEST_DIR / "rust-example.wasm"
PAGE = b"<!doctype html>\n<html><head><title>\n  Hello,   capsule </title></head></html>\n"


@pytest.fixture
async def example() -> AsyncIterator[tuple[Any, TestServer]]:
    if not EXAMPLE.is_file():
        how = "python scripts/build_guests.py --only rust-example"
        if REQUIRE_ALL:
            pytest.fail(f"{EXAMPLE} missing; {how}")
        pytest.skip(f"{EXAMPLE.name} not built; {how}")
    Host, EgressPolicy, _ = _require_runtime()

    async def page(ex: Any) -> None:
        await ex.respond(200, PAGE, [(b"content-type", b"text/html; charset=utf-8")])

    async with run_http_server() as server:
        server.add_route("/page", page)
        policy = EgressPolicy.parse(["http://169.254.169.254"], methods=["GET"],
                                    local=[f"127.0.0.1:{server.port}"])
        async with Host(cache_dir=ROOT / "build" / "cache" / "conformance") as host:
            yield await host.load(EXAMPLE, policy=policy, name="rust-example"), server


async def test_rust_example_summarises_an_html_page(example: tuple[Any, TestServer]) -> None:
    capsule, server = example
    for given in (server.url("/page"), json.dumps({"url": server.url("/page")})):
        summary = await capsule.run(given)
        assert summary.splitlines() == [
            "status: 200", "content-type: text/html; charset=utf-8", f"bytes: {len(PAGE)}",
            f"final-url: {server.url('/page')}", "title: Hello, capsule"]


async def test_rust_example_shows_the_first_line_of_a_non_html_body(
        example: tuple[Any, TestServer]) -> None:
    capsule, server = example
    summary = await capsule.run(server.url("/bytes?n=5"))
    assert summary.splitlines()[:3] == ["status: 200", "content-type: -", "bytes: 5"]
    assert summary.splitlines()[-1].startswith("first-line: ")


@pytest.mark.parametrize(("url", "prefix"), [
    ("http://169.254.169.254/latest/meta-data/", "destination-prohibited: 169.254.169.254"),
    ("http://not-allowed.test/", "denied: "),
])
async def test_rust_example_reports_a_refused_request_with_its_error_code(
        example: tuple[Any, TestServer], url: str, prefix: str) -> None:
    from astrid_host._wasm._errors import CapsuleRunError

    capsule, _ = example
    with pytest.raises(CapsuleRunError) as info:
        await capsule.run(json.dumps({"url": url}))
    assert prefix in str(info.value)


async def test_rust_example_rejects_input_without_a_url(example: tuple[Any, TestServer]) -> None:
    from astrid_host._wasm._errors import CapsuleRunError

    capsule, _ = example
    with pytest.raises(CapsuleRunError, match="url"):
        await capsule.run('{"link": 1}')
