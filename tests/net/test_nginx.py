"""A real server nobody here wrote: Debian's nginx on loopback, over HTTP and HTTPS."""

from __future__ import annotations

import hashlib

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request
from tests.support.guard import make_client
from tests.support.nginx import BIG_SIZE, Nginx
from tests.support.tls import TestCA

pytestmark = pytest.mark.nginx


@pytest.mark.parametrize("https", [False, True])
@pytest.mark.parametrize("name", ["small.txt", "index.html"])
async def test_static_files_are_byte_identical(nginx: Nginx, tls_ca: TestCA, https: bool,
                                               name: str) -> None:
    client = make_client(ssl_context=tls_ca.client_context())
    resp = await client.send(Request("GET", nginx.url(f"/{name}", https=https,
                                                      host="public.test")))
    assert resp.status == 200
    assert resp.body == Nginx.content(name)
    assert any(n.lower() == "server" and v.startswith(b"nginx") for n, v in resp.headers)
    await client.aclose()


async def test_missing_file_is_a_plain_404(nginx: Nginx, tls_ca: TestCA) -> None:
    client = make_client()
    resp = await client.send(Request("GET", nginx.url("/nope", host="public.test")))
    assert resp.status == 404
    await client.aclose()


@pytest.mark.parametrize("https", [False, True])
async def test_50_mb_file_streams_byte_identical(nginx: Nginx, tls_ca: TestCA,
                                                 https: bool) -> None:
    client = make_client(ssl_context=tls_ca.client_context(),
                         limits=Limits(max_stream_bytes=64 * 1024 * 1024))
    stream = await client.start(Request("GET", nginx.url("/big.bin", https=https,
                                                         host="public.test")))
    digest, size = hashlib.sha256(), 0
    while (piece := await stream.read(1024 * 1024)) is not None:
        digest.update(piece)
        size += len(piece)
    assert size == BIG_SIZE
    assert digest.hexdigest() == hashlib.sha256(Nginx.content("big.bin")).hexdigest()
    await client.aclose()


async def test_50_mb_file_over_the_buffered_cap_is_refused_up_front(nginx: Nginx) -> None:
    client = make_client()
    with pytest.raises(HttpError) as exc:
        await client.send(Request("GET", nginx.url("/big.bin", host="public.test")))
    assert exc.value.code.case == "body-too-large"
    await client.aclose()
