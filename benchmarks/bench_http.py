"""`http_buffered` and `http_per_request_client`: 1 KiB GETs through a capsule's `send`.

The server is the trio/h11 test server (tests/support/http.py, ``/bytes?n=1024``) in a child
process on loopback, reached as ``public.test`` through the test resolver and the test-only
`loopback_as_public` classifier: the real egress guard runs on every request.

Variants, awaited in turn round by round in one event loop run:

- ``capsule``: the Rust conformance guest's ``fetch`` export (``client.send`` as given), one
  export call per request, with the Host's default `CapsuleHttp` (pooled keep-alive).
- ``httpcore``: the same GETs made directly with one ``httpcore.AsyncConnectionPool`` from
  Python (keep-alive, no guard, no wasm) -- the baseline of ``http_buffered``.
- ``fresh-client``: the same capsule path, but every ``send`` builds a new `CapsuleHttp` (a new
  pool, so a new connection) and closes it afterwards -- what the original host did, the
  baseline of ``http_per_request_client``.

Goals (issue 7): http_buffered throughput ratio >= 0.7; http_per_request_client >= 2x.
The same three variants run again over HTTPS (the server's certificate from a throwaway CA):
``http_buffered_tls`` and ``http_per_request_client_tls``, reported without a goal.

Those rows are measured on trio, the reference. The same measurement then runs on asyncio
(AnyIO, the same code) and ``http_buffered_asyncio`` / ``http_per_request_client_asyncio``
(and their ``_tls`` twins) report the asyncio rate against the trio rate: ratio > 1 means
asyncio is faster. No goal: they say what an asyncio application gets.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

import anyio
import httpcore

from astrid_host._core._model import Request, Response
from astrid_host._core._policy import EgressPolicy
from astrid_host._net._client import CapsuleHttp
from astrid_host._wasm._host import CapsuleContext, Host
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.values import wit_request

from ._harness import (
    CONFORMANCE,
    ROOT,
    Result,
    Server,
    guest,
    interleave,
    loopback_server,
    median_of,
    per_second,
    ratio,
    unmeasured,
)

CACHE = ROOT / "build" / "cache" / "bench"
RULES = ["http://public.test:*", "https://public.test:*"]


def _client(ctx: CapsuleContext) -> CapsuleHttp:
    policy = EgressPolicy.parse(RULES)
    return CapsuleHttp(ctx.name, policy, ctx.limits, resolver=ctx.resolver,
                       classifier=ctx.classifier, io_limiter=ctx.io_limiter,
                       ssl_context=ctx.ssl_context, secrets=ctx.secrets, audit=ctx.audit)


class FreshClientPerRequest:
    """An HttpBackend whose every ``send`` uses a brand-new `CapsuleHttp` (no pooling)."""

    def __init__(self, ctx: CapsuleContext) -> None:
        self._ctx = ctx

    async def send(self, req: Request) -> Response:
        client = _client(self._ctx)
        try:
            return await client.send(req)
        finally:
            await client.aclose()

    async def start(self, req: Request) -> Any:
        raise NotImplementedError

    async def upload(self, req: Request) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def factory(ctx: CapsuleContext) -> Any:
    """Pooled `CapsuleHttp` for every capsule, except those named ``*-fresh``."""
    if ctx.name.endswith("-fresh"):
        return FreshClientPerRequest(ctx)
    return _client(ctx)


def bench_host(**options: Any) -> Host:
    """A Host reaching the loopback server as ``public.test`` through the real guard."""
    return Host(cache_dir=CACHE, http_factory=factory, resolver=test_resolver(),
                classifier=loopback_as_public(), **options)


def check_response(value: Any, size: int) -> None:
    """Fail loudly when a `fetch` result is not 200 with ``size`` bytes."""
    status = getattr(value, "status", None)
    if status != 200 or len(value.body) != size:
        raise AssertionError(f"unexpected fetch result: {value!r}")


async def _measure(quick: bool, tiny: bool, server: Server) -> list[Result]:
    tls = server.ca_pem is not None
    n = 3 if tiny else (20 if tls else 40) if quick else (100 if tls else 200)
    rounds = 1 if tiny else 5 if quick else 9
    path = "/bytes?n=1024"
    scheme = "https" if tls else "http"
    url = f"{scheme}://public.test:{server.port}{path}"
    direct_url = f"{scheme}://127.0.0.1:{server.port}{path}"
    fetch = f"{CONFORMANCE}#fetch"
    ssl_context = server.client_context()
    async with bench_host(ssl_context=ssl_context) as host, \
            httpcore.AsyncConnectionPool(ssl_context=ssl_context) as pool:
        wasm = guest("rust-conformance")
        pooled = await host.load(wasm, name="http-pooled")
        fresh = await host.load(wasm, name="http-fresh")
        request = wit_request(url)

        async def capsule() -> None:
            for _ in range(n):
                check_response(await pooled.call(fetch, request), 1024)

        async def fresh_client() -> None:
            for _ in range(n):
                check_response(await fresh.call(fetch, request), 1024)

        async def direct() -> None:
            for _ in range(n):
                resp = await pool.request("GET", direct_url)
                if resp.status != 200 or len(resp.content) != 1024:
                    raise AssertionError(f"unexpected response {resp!r}")

        for warm in (capsule, fresh_client, direct):
            await warm()
        times = await interleave(
            {"capsule": capsule, "httpcore": direct, "fresh-client": fresh_client}, rounds)
    per = {k: median_of(v) / n for k, v in times.items()}
    rate = {k: per_second(1, v) for k, v in per.items()}
    extra = {"requests_per_round": n, "rounds": rounds, "guest": "rust-conformance",
             "ms_per_request": {k: v * 1e3 for k, v in per.items()}}
    suffix, over = ("_tls", " over HTTPS") if tls else ("", "")
    return [
        Result(name=f"http_buffered{suffix}", value=rate["capsule"],
               baseline=rate["httpcore"], ratio=ratio(rate["capsule"], rate["httpcore"]),
               unit="req/s", note=unmeasured(value=rate["capsule"], baseline=rate["httpcore"]),
               what=f"1 KiB GET{over} through a capsule's send (keep-alive) vs httpcore "
                    "directly",
               goal="reported" if tls else ">= 0.7", extra=extra),
        Result(name=f"http_per_request_client{suffix}", value=rate["capsule"],
               baseline=rate["fresh-client"], ratio=ratio(rate["capsule"], rate["fresh-client"]),
               unit="req/s",
               note=unmeasured(value=rate["capsule"], baseline=rate["fresh-client"]),
               what=f"same capsule path{over}, pooled client vs a new client+connection per "
                    "request",
               goal="reported" if tls else ">= 2x", extra=extra),
    ]


def run(quick: bool, *, tiny: bool = False) -> list[Result]:
    """Rows from interleaved runs over HTTP, then HTTPS; ratio > 1: the capsule path is faster.

    The issue's goals are for plain HTTP; the HTTPS rows show what a new connection costs when
    it includes a TLS handshake (as it does for most real destinations)."""
    rows = []
    for tls in (False, True):
        with loopback_server(tls=tls) as server:
            on_trio = anyio.run(_measure, quick, tiny, server, backend="trio")
            on_asyncio = anyio.run(_measure, quick, tiny, server, backend="asyncio")
        buffered_trio, per_request_trio = on_trio[0], on_trio[1]
        buffered_asyncio, per_request_asyncio = on_asyncio[0], on_asyncio[1]
        rows += [*on_trio,
                 # the pooled capsule path (each row's value) ...
                 _versus(buffered_trio.name, buffered_asyncio.value, buffered_trio.value),
                 # ... and the new-client-per-request path (http_per_request_client's baseline)
                 _versus(per_request_trio.name, per_request_asyncio.baseline,
                         per_request_trio.baseline)]
    return rows


def _versus(row: str, on_asyncio: float, on_trio: float) -> Result:
    """``row``'s capsule path on asyncio against the same on trio (ratio asyncio/trio)."""
    base, tls = row.removesuffix("_tls"), row.endswith("_tls")
    return Result(name=f"{base}_asyncio{'_tls' if tls else ''}", value=on_asyncio,
                  baseline=on_trio, ratio=ratio(on_asyncio, on_trio), unit="req/s",
                  note=unmeasured(value=on_asyncio, baseline=on_trio),
                  what=f"{row}'s capsule path on asyncio vs on trio (asyncio/trio)",
                  goal="reported")


if __name__ == "__main__":
    for r in run("--quick" in sys.argv):
        print(f"{r.name}: {r.value:.0f} {r.unit} vs {r.baseline:.0f} -> {r.ratio:.2f} "
              f"(goal {r.goal})")
