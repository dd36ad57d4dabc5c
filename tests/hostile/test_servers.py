"""Hostile servers on loopback: each behaviour ends in the documented error-code (docs/http.md),
on time, with bounded memory, whoever drives the request.

"On time": a case with a timeout ends no earlier than it (the timers are trio's) and every case
ends within PROMPT_S (tests/support/timing.py), long before the 30 s / 120 s defaults of
``Limits()`` that a behaviour the engine failed to cut short would run into.

Three drivers run the same table:

- ``engine``: ``CapsuleHttp`` directly (every case, including the TLS stall);
- ``wat``: the hand-written WAT guest forwarding the request through the real host imports
  (``fetch`` -> ``client.send``; ``stream`` -> ``client.start`` + ``read`` to the end);
- ``python``: the componentize-py conformance guest (``fetch`` / ``stream-all``) for a
  representative subset (it is slower to load and call).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from astrid_host._core._limits import Limits, MiB
from astrid_host._core._model import HttpError, Request, TimeoutPhase
from astrid_host._wasm._host import Host
from tests.hostile._support import HOSTILE, engine_open_streams
from tests.hostile.servers import add_hostile_routes, silent_tls_port
from tests.support.guard import TEST_RULES, loopback_as_public, make_client, test_resolver
from tests.support.http import TestServer
from tests.support.paths import built_guest
from tests.support.process import rss_bytes
from tests.support.timing import PROMPT_S
from tests.support.tls import TestCA
from tests.support.values import model_options, outcome_of, wit_request
from tests.support.wat import ERROR_CASES

#: Rules of every capsule here: the made-up names, and the metadata address (allowed by rule,
#: so that refusing it is the address check's doing, not the policy's).
RULES = [*TEST_RULES, "http://169.254.169.254"]
#: Most a case may add to the process's resident memory.
RSS_BOUND = 48 * MiB
CONFORMANCE_IFACE = "astrid:http/conformance-tests@0.1.0"


@dataclass(frozen=True)
class Case:
    """One hostile server behaviour and what the capsule must see."""

    name: str
    path: str
    expect: str                      # error-code case, or "ok"
    payload: Any = None              # expected payload (None: not checked)
    options: dict[str, Any] = field(default_factory=dict)
    streamed: bool = False           # start + read to the end instead of send
    at_least_s: float = 0.0          # the configured timeout that must end it
    tls: bool = False


CASES = [
    Case("never-sends-headers", "/never-headers", "timeout", TimeoutPhase.FIRST_BYTE,
         {"first_byte_timeout_ms": 300}, at_least_s=0.3),
    Case("headers-byte-by-byte-forever", "/head-drip?interval=0.01", "timeout",
         TimeoutPhase.FIRST_BYTE, {"first_byte_timeout_ms": 300}, at_least_s=0.3),
    Case("headers-flood-forever", "/head-flood", "protocol-error"),
    Case("10k-response-headers", "/many-headers?n=10000", "protocol-error"),
    Case("infinite-chunked-body", "/endless-chunked", "body-too-large", 1 * MiB,
         {"max_response_bytes": 1 * MiB}),
    Case("infinite-close-delimited-body", "/endless-close", "body-too-large", 1 * MiB,
         {"max_response_bytes": 1 * MiB}),
    # Streamed through a guest, every byte is copied into its memory (~0.1 s per MiB with
    # the runtime's bulk bytes, ~1 s with wasmtime-py's per-byte copy): 1 MiB is enough.
    Case("infinite-body-streamed", "/endless-chunked", "body-too-large", 1 * MiB,
         {"max_response_bytes": 1 * MiB}, streamed=True),
    Case("infinite-body-streamed-total-timeout", "/endless-chunked", "timeout",
         TimeoutPhase.TOTAL, {"total_timeout_ms": 500}, streamed=True, at_least_s=0.5),
    Case("body-larger-than-declared", "/long?n=10&extra=100000", "ok"),
    Case("truncated-body", "/short?n=100000&after=1000", "protocol-error"),
    Case("truncated-body-streamed", "/short?n=100000&after=1000", "protocol-error",
         streamed=True),
    Case("invalid-chunk-size", "/bad-chunk", "protocol-error"),
    Case("chunk-longer-than-announced", "/chunk-lies", "protocol-error"),
    Case("two-content-lengths", "/bad-framing", "protocol-error"),
    Case("reset-mid-body", "/reset?n=1000000&after=1000", "connection-failed"),
    Case("reset-mid-body-streamed", "/reset?n=1000000&after=1000", "connection-failed",
         streamed=True),
    Case("gzip-bomb", f"/gzip-bomb?n={64 * MiB}", "body-too-large", 10 * MiB,
         {"decompress": True}),
    Case("gzip-bomb-streamed", f"/gzip-bomb?n={64 * MiB}", "body-too-large", 1 * MiB,
         {"decompress": True, "max_response_bytes": 1 * MiB}, streamed=True),
    Case("redirect-loop", "/loop", "too-many-redirects", 10),
    Case("redirect-to-private-address", "/redirect-private", "redirect-blocked"),
    Case("redirect-to-metadata-address", "/redirect-metadata", "redirect-blocked"),
    Case("tls-handshake-stalls", "/", "timeout", TimeoutPhase.CONNECT,
         {"connect_timeout_ms": 300}, at_least_s=0.3, tls=True),
]

#: The subset driven through the componentize-py guest.
PYTHON_SUBSET = {"never-sends-headers", "10k-response-headers", "infinite-body-streamed",
                 "gzip-bomb", "redirect-loop", "redirect-to-private-address",
                 "reset-mid-body-streamed", "invalid-chunk-size"}


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    from tests.support.http import run_http_server
    async with run_http_server() as s:
        yield add_hostile_routes(s)


async def _case_url(case: Case, server: TestServer, tls_port: int) -> str:
    if case.tls:
        return f"https://public.test:{tls_port}{case.path}"
    return server.url(case.path, host="public.test")


def _check(case: Case, got: tuple[str, Any], took: float, rss_growth: int) -> None:
    kind, payload = got
    assert kind == case.expect, f"{case.name}: {kind} {payload!r}"
    if isinstance(case.payload, TimeoutPhase):
        assert TimeoutPhase(payload) is case.payload, f"{case.name}: {payload!r}"
    elif case.payload is not None:
        assert payload == case.payload, f"{case.name}: payload {payload!r}"
    if case.expect == "redirect-blocked":
        assert "10.0.0.5" in str(payload) or "169.254.169.254" in str(payload)
    if case.expect == "ok" and not case.streamed:
        assert len(payload.body) == 10  # exactly the declared length, the rest dropped
    assert case.at_least_s <= took < case.at_least_s + PROMPT_S, (
        f"{case.name}: took {took:.3f}s")
    assert rss_growth < RSS_BOUND, f"{case.name}: RSS grew {rss_growth / MiB:.1f} MiB"


# ---------------------------------------------------------------------- driver: the engine


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_hostile_server_through_the_engine(case: Case, server: TestServer,
                                                 tls_ca: TestCA) -> None:
    client = make_client(rules=RULES, ssl_context=tls_ca.client_context())
    async with silent_tls_port() as tls_port:
        req = Request("GET", await _case_url(case, server, tls_port),
                      options=model_options(case.options or None))
        rss, start = rss_bytes(), time.monotonic()
        got: tuple[str, Any]
        try:
            if case.streamed:
                stream = await client.start(req)
                total = 0
                while (piece := await stream.read(1024 * 1024)) is not None:
                    total += len(piece)
                got = ("ok", total)
            else:
                resp = await client.send(req)
                got = ("ok", resp)
        except HttpError as exc:
            got = (exc.code.case, exc.code.payload)
        took = time.monotonic() - start
        _check(case, got, took, rss_bytes() - rss)
        assert client.open_streams == 0
        await client.aclose()


# --------------------------------------------------------------------- driver: a WAT guest


@pytest.fixture
async def tls_host(cache_dir: Path, tls_ca: TestCA) -> AsyncIterator[Host]:
    """The real host with the test CA trusted (for the TLS case)."""
    async with Host(cache_dir=cache_dir, resolver=test_resolver(),
                    classifier=loopback_as_public(), ssl_context=tls_ca.client_context(),
                    limits=Limits()) as h:
        yield h


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_hostile_server_through_a_wat_guest(case: Case, server: TestServer,
                                                  tls_host: Host) -> None:
    capsule = await tls_host.load(HOSTILE, policy=RULES, name=f"wat-{case.name}")
    async with silent_tls_port() as tls_port:
        req = wit_request(await _case_url(case, server, tls_port), options=case.options or None)
        rss, start = rss_bytes(), time.monotonic()
        if case.streamed:
            n = await capsule.call("stream", req, 1024 * 1024)
            got: tuple[str, Any] = (("ok", n) if n < 1000 or n > 2100 else
                                    (ERROR_CASES[n % 1000], None))
        else:
            got = outcome_of(await capsule.call("fetch", req))
        took = time.monotonic() - start
        _check(case, _lenient(case, got), took, rss_bytes() - rss)
        assert engine_open_streams(capsule) == 0
        await capsule.aclose()


def _lenient(case: Case, got: tuple[str, Any]) -> tuple[str, Any]:
    # The WAT guest's `stream` export reports only the error case, not its payload.
    if case.streamed and got[1] is None:
        return got[0], case.payload
    return got


# ------------------------------------------------------- driver: the componentize-py guest


@pytest.fixture
async def python_guest(tls_host: Host) -> Any:
    path = built_guest("python-conformance.wasm")
    return await tls_host.load(path, policy=RULES, name="python-conformance")


@pytest.mark.guest("conformance")
@pytest.mark.parametrize("case", [c for c in CASES if c.name in PYTHON_SUBSET],
                         ids=lambda c: c.name)
async def test_hostile_server_through_the_python_guest(case: Case, server: TestServer,
                                                       python_guest: Any) -> None:
    req = wit_request(server.url(case.path, host="public.test"), options=case.options or None)
    rss, start = rss_bytes(), time.monotonic()
    if case.streamed:
        got = outcome_of(await python_guest.call(f"{CONFORMANCE_IFACE}#stream-all", req,
                                                 1024 * 1024))
    else:
        got = outcome_of(await python_guest.call(f"{CONFORMANCE_IFACE}#fetch", req))
    took = time.monotonic() - start
    _check(case, got, took, rss_bytes() - rss)
    assert engine_open_streams(python_guest) == 0


async def test_server_that_never_reads_the_upload_ends_in_total_timeout(
        cache_dir: Path) -> None:
    """The guest writes 25 MiB to a server that accepts and never reads: once the socket
    buffers fill, ``write`` waits, bounded by ``total`` (here 0.5 s). Only the HTTP timeouts
    bound a guest waiting in host I/O, not its call deadline (docs/runtime.md)."""
    async with silent_tls_port() as port, Host(
            cache_dir=cache_dir, resolver=test_resolver(), classifier=loopback_as_public(),
            limits=Limits(total_timeout_s=0.5)) as host:
        capsule = await host.load(HOSTILE, policy=RULES, name="uploader")
        start = time.monotonic()
        result = await capsule.call("upload-unfinished", f"http://public.test:{port}/",
                                    400, 65536)
        took = time.monotonic() - start
        assert result == 2000 + ERROR_CASES.index("timeout")
        assert 0.5 <= took < 0.5 + PROMPT_S
        assert engine_open_streams(capsule) == 1  # the guest still holds the failed upload
        assert await capsule.call("drop-all") == 1
        assert engine_open_streams(capsule) == 0
