"""Throughput measurements of the HTTP engine (a script, not part of `python -m benchmarks`).

    python3 -m benchmarks.engine_throughput [--requests N]

1 KiB GETs through one capsule client, keep-alive vs a new connection per request (a fresh
client each time), against nginx and against the trio/h11 test server; then streaming nginx's
50 MB file over HTTP and HTTPS. Loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import trio

from astrid_host._core._limits import Limits
from astrid_host._core._model import Request
from tests.support.guard import make_client
from tests.support.http import run_http_server
from tests.support.nginx import BIG_SIZE, Nginx, find_nginx, start_nginx
from tests.support.tls import TestCA

from ._harness import per_second


async def _gets(url: str, n: int, keep_alive: bool) -> float:
    client = make_client()
    t0 = time.perf_counter()
    for _ in range(n):
        if not keep_alive:
            await client.aclose()
            client = make_client()
        resp = await client.send(Request("GET", url))
        assert resp.status == 200 and len(resp.body) == 1024
    elapsed = time.perf_counter() - t0
    await client.aclose()
    return per_second(n, elapsed)


async def _stream(url: str, ca: TestCA) -> float:
    client = make_client(ssl_context=ca.client_context(),
                         limits=Limits(max_stream_bytes=64 * 1024 * 1024))
    t0 = time.perf_counter()
    stream = await client.start(Request("GET", url))
    size, digest = 0, hashlib.sha256()
    while (piece := await stream.read(1024 * 1024)) is not None:
        size += len(piece)
        digest.update(piece)
    elapsed = time.perf_counter() - t0
    assert size == BIG_SIZE
    await client.aclose()
    return per_second(size / 1e6, elapsed)


async def main(n: int, nginx: Nginx | None, ca: TestCA) -> None:
    async with run_http_server() as server:
        url = server.url("/bytes?n=1024", host="public.test")
        for keep in (True, False):
            rate = await _gets(url, n, keep)
            print(f"h11 test server  1 KiB GET keep-alive={keep!s:5}: {rate:8.0f} req/s")
    if nginx is None:
        print("nginx not installed: skipped")
        return
    url = nginx.url("/small.txt", host="public.test")
    for keep in (True, False):
        rate = await _gets(url, n, keep)
        print(f"nginx            1 KiB GET keep-alive={keep!s:5}: {rate:8.0f} req/s")
    for https in (False, True):
        mbps = await _stream(nginx.url("/big.bin", https=https, host="public.test"), ca)
        print(f"nginx 50 MB stream {'https' if https else 'http '}: {mbps:8.1f} MB/s "
              "(incl. sha256)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    ca = TestCA()
    binary = find_nginx()
    if binary is None:
        trio.run(main, args.requests, None, ca)
    else:
        with start_nginx(binary, ca) as nginx:
            trio.run(main, args.requests, nginx, ca)
