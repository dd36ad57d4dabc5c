"""One request from its first hop to the end of its body (astrid_host/_net/_exchange.py) and the
handles that own one (_handles.py): what the engine writes down once, and where.

Loopback servers reached through the real guard (tests/support/guard.py).
"""

from __future__ import annotations

import logging

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._model import HttpError, Request, RequestOptions
from astrid_host._core._url import too_long
from tests.net._guest import egress_lines
from tests.support.guard import make_client
from tests.support.http import TestServer, pattern


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="astrid_host")
    return caplog


def _failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "astrid_host.http"
            and r.getMessage().startswith("http failed")]


async def test_a_url_over_the_limit_is_one_refusal_with_the_one_message(
        logs: pytest.LogCaptureFixture) -> None:
    client = make_client(limits=Limits(max_url_bytes=64))
    with pytest.raises(HttpError) as exc:
        await client.send(Request("GET", "http://public.test/" + "a" * 60))
    await client.aclose()
    assert exc.value.code.case == "invalid-request"
    assert exc.value.code.payload.detail == too_long(64)  # type: ignore[union-attr]
    (line,) = egress_lines(logs)
    assert (line["decision"], line["reason"], line["error"]) == (
        "deny", "invalid-url", "invalid-request")


async def test_a_stream_read_to_its_end_completes_once_however_often_it_is_read(
        http_server: TestServer, logs: pytest.LogCaptureFixture) -> None:
    client = make_client()
    stream = await client.start(Request("GET", http_server.url("/bytes?n=5",
                                                               host="public.test")))
    assert await stream.read(100) == pattern(5)
    assert await stream.read(100) is None
    assert await stream.read(100) is None
    assert client.open_streams == 0
    await client.aclose()
    completions = [f for f in egress_lines(logs) if f["bytes"] != "-"]
    assert [f["bytes"] for f in completions] == ["5"]


async def test_a_stream_whose_body_fails_is_warned_about_once(
        http_server: TestServer, logs: pytest.LogCaptureFixture) -> None:
    client = make_client()
    stream = await client.start(Request("GET", http_server.url("/short?n=100&after=10",
                                                               host="public.test")))
    with pytest.raises(HttpError) as exc:
        while await stream.read(100) is not None:
            pass
    with pytest.raises(HttpError) as again:
        await stream.read(100)
    assert client.open_streams == 0
    await client.aclose()
    assert again.value.code.case == "closed"
    (warning,) = _failures(logs)
    assert f"error={exc.value.code}" in warning and "url=http://public.test" in warning


async def test_an_upload_whose_response_body_fails_is_warned_about_once(
        http_server: TestServer, logs: pytest.LogCaptureFixture) -> None:
    client = make_client()
    upload = await client.upload(Request(
        "POST", http_server.url("/bytes?n=100", host="public.test"),
        options=RequestOptions(max_response_bytes=10)))
    await upload.write(b"body")
    with pytest.raises(HttpError) as exc:
        await upload.finish()
    assert client.open_streams == 0
    await client.aclose()
    assert exc.value.code.case == "body-too-large"
    (warning,) = _failures(logs)
    assert "error=body-too-large" in warning and "method=POST" in warning
