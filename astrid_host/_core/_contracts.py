"""What the wasm layer needs from an HTTP engine, as pure Protocols.

The wasm layer serves a capsule's imports with one :class:`HttpBackend` per capsule; the
network layer's ``CapsuleHttp`` implements it, tests inject fakes. Both layers depend on these
contracts, neither on the other (see docs/dev/contracts.md). Every method raises only
:class:`~astrid_host._core._model.HttpError`.
"""

from __future__ import annotations

from typing import Protocol

from astrid_host._core._model import Header, Request, Response, ResponseMeta

__all__ = ["HttpBackend", "IncomingStream", "OutgoingUpload"]


class IncomingStream(Protocol):
    """A streamed response: head known, body read piece by piece. ``trailers()`` is ``None``
    until ``read`` has reached the end of the body, then its trailer fields (empty if none)."""

    status: int
    headers: tuple[Header, ...]

    def meta(self) -> ResponseMeta: ...
    async def read(self, max_bytes: int) -> bytes | None: ...
    def trailers(self) -> tuple[Header, ...] | None: ...
    async def aclose(self) -> None: ...


class OutgoingUpload(Protocol):
    """A request whose body is written piece by piece."""

    async def write(self, chunk: bytes) -> None: ...
    async def finish(self) -> Response: ...
    async def finish_streaming(self) -> IncomingStream: ...
    async def aclose(self) -> None: ...


class HttpBackend(Protocol):
    """One capsule's HTTP client. Every method raises only :class:`HttpError`."""

    async def send(self, req: Request) -> Response: ...
    async def start(self, req: Request) -> IncomingStream: ...
    async def upload(self, req: Request) -> OutgoingUpload: ...
    async def aclose(self) -> None: ...
