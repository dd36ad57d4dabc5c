"""A tiny HTTP/1.1 server on loopback for `astrid-host demo`.

It exists so that the demo needs nothing but this package: a page to fetch, a large body to
stream, a redirect that points at the cloud metadata address (which the host must refuse), and
``/whoami``, which accepts only the demo's API token in ``Authorization: Bearer ...`` (the host
fills it in from a secret; the capsule only wrote a placeholder). Tests use the richer servers
in `tests/support/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import h11
import trio

__all__ = ["DemoServer", "serve_demo"]

_CHUNK = 64 * 1024
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@dataclass(frozen=True)
class DemoServer:
    """Where the demo server listens; ``authorized``: one entry per ``/whoami`` request, true
    when it carried the expected token."""

    host: str
    port: int
    authorized: list[bool] = field(default_factory=list)


def _pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


_PATTERN = _pattern(_CHUNK)


async def _respond(stream: trio.SocketStream, conn: h11.Connection, status: int,
                   headers: list[tuple[bytes, bytes]], body_len: int, body: bytes | None) -> None:
    headers = [*headers, (b"content-length", str(body_len).encode()), (b"server", b"astrid-demo")]
    await stream.send_all(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
    if body is not None:
        await stream.send_all(conn.send(h11.Data(data=body)) or b"")
    else:
        left = body_len
        while left:
            piece = _PATTERN[: min(left, _CHUNK)]
            await stream.send_all(conn.send(h11.Data(data=piece)) or b"")
            left -= len(piece)
    await stream.send_all(conn.send(h11.EndOfMessage()) or b"")


Route = tuple[int, list[tuple[bytes, bytes]], int, "bytes | None"]


def _route(target: str, authorization: bytes | None, server: DemoServer,
           token: bytes | None) -> Route:
    """(status, headers, body length, body or None for the generated pattern)."""
    path, _, query = target.partition("?")
    if path == "/whoami":
        accepted = token is not None and authorization == b"Bearer " + token
        server.authorized.append(accepted)
        text = b"token accepted\n" if accepted else b"wrong or missing token\n"
        return (200 if accepted else 401), [(b"content-type", b"text/plain")], len(text), text
    if path == "/hello":
        text = b"Hello from the astrid-host demo server.\n"
        return 200, [(b"content-type", b"text/plain")], len(text), text
    if path == "/download":
        wanted = query.removeprefix("bytes=")
        size = int(wanted) if query.startswith("bytes=") and wanted.isdigit() else 1 << 20
        return 200, [(b"content-type", b"application/octet-stream")], min(size, 256 << 20), None
    if path == "/to-metadata":
        return 302, [(b"location", METADATA_URL.encode())], 0, b""
    return 404, [(b"content-type", b"text/plain")], 10, b"not found\n"


async def _handle(stream: trio.SocketStream, server: DemoServer, token: bytes | None) -> None:
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(_CHUNK)
                conn.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                authorization = dict(event.headers).get(b"authorization")
                status, headers, length, body = _route(event.target.decode("ascii", "replace"),
                                                       authorization, server, token)
                await _respond(stream, conn, status, headers, length, body)
                continue
            if isinstance(event, h11.EndOfMessage):
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                continue
            if isinstance(event, h11.ConnectionClosed):
                return
    except (h11.ProtocolError, trio.BrokenResourceError, ValueError):
        return
    finally:
        await stream.aclose()


async def serve_demo(
    token: bytes | None = None, *,
    task_status: trio.TaskStatus[DemoServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve on an ephemeral port of 127.0.0.1 until cancelled; reports where via task_status.

    ``token``: what ``/whoami`` accepts as ``Authorization: Bearer <token>``."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    server = DemoServer("127.0.0.1", port)

    async def handle(stream: trio.SocketStream) -> None:
        await _handle(stream, server, token)

    async with trio.open_nursery() as nursery:
        task_status.started(server)
        await trio.serve_listeners(handle, listeners, handler_nursery=nursery)
