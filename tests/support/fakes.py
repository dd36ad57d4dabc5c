"""A fake HTTP backend implementing the wasm layer's contract (``HttpBackend``), injected into a
Host with ``http_factory``: the runtime tests need no network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import anyio.lowlevel

from astrid_host._core._model import ErrorCode, HttpError, Request, Response, ResponseMeta

__all__ = ["FakeHttp", "FakeStream", "FakeUpload", "make_response"]


def make_response(url: str, body: bytes = b"hello", status: int = 200) -> Response:
    return Response(status=status, headers=(("content-type", b"text/plain"),), body=body,
                    meta=ResponseMeta(final_url=url, redirect_count=0, elapsed_ms=1,
                                      wire_bytes=len(body)))


@dataclass
class FakeStream:
    """An IncomingStream serving ``body`` in pieces, then ``trailer_fields``; records reads
    and closing."""

    status: int
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    url: str
    position: int = 0
    closed: bool = False
    fail_read_with: ErrorCode | None = None
    trailer_fields: tuple[tuple[str, bytes], ...] = ()
    ended: bool = False

    def meta(self) -> ResponseMeta:
        return ResponseMeta(self.url, 0, 1, self.position)

    async def read(self, max_bytes: int) -> bytes | None:
        await anyio.lowlevel.checkpoint()
        if self.closed:
            raise HttpError(ErrorCode.closed())
        if self.fail_read_with is not None:
            raise HttpError(self.fail_read_with)
        if self.position >= len(self.body):
            self.ended = True
            return None
        piece = self.body[self.position:self.position + max_bytes]
        self.position += len(piece)
        return piece

    def trailers(self) -> tuple[tuple[str, bytes], ...] | None:
        return self.trailer_fields if self.ended else None

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeUpload:
    url: str
    written: bytearray = field(default_factory=bytearray)
    closed: bool = False

    async def write(self, chunk: bytes) -> None:
        self.written += chunk

    async def finish(self) -> Response:
        return make_response(self.url, bytes(self.written))

    async def finish_streaming(self) -> FakeStream:
        return FakeStream(200, (), bytes(self.written), self.url)

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class FakeHttp:
    """A per-capsule HttpBackend that never touches the network.

    ``routes`` maps a URL to a body (200) or to an ErrorCode (raised as HttpError). A URL
    starting with ``block:`` waits until cancelled (an I/O that never finishes); one starting
    with ``crash:`` raises a plain RuntimeError (a host bug).
    """

    routes: dict[str, bytes | ErrorCode] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    streams: list[FakeStream] = field(default_factory=list)
    uploads: list[FakeUpload] = field(default_factory=list)
    closed: bool = False
    blocked: anyio.Event = field(default_factory=anyio.Event)
    cancelled_waits: int = 0

    async def _answer(self, req: Request) -> bytes:
        self.requests.append(req)
        if req.url.startswith("block:"):
            self.blocked.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.cancelled_waits += 1
                raise
        if req.url.startswith("crash:"):
            raise RuntimeError("fake backend bug")
        route = self.routes.get(req.url, b"hello")
        if isinstance(route, ErrorCode):
            raise HttpError(route)
        return route

    async def send(self, req: Request) -> Response:
        return make_response(req.url, await self._answer(req))

    async def start(self, req: Request) -> FakeStream:
        stream = FakeStream(200, (("x-fake", b"1"),), await self._answer(req), req.url)
        self.streams.append(stream)
        return stream

    async def upload(self, req: Request) -> FakeUpload:
        await self._answer(req)
        upload = FakeUpload(req.url)
        self.uploads.append(upload)
        return upload

    async def aclose(self) -> None:
        self.closed = True
