"""The host side of upstream Astrid's `astrid:io@1.0.0` (`error`, `poll`, `streams`) for the
streams `astrid:http@1.1.0` hands out: an `http-stream`'s `body-stream` (an input-stream) and
`subscribe-readable`, an `http-upload`'s `body-sink` (an output-stream) and
`subscribe-writable`.

Readiness means something. A pollable on a response is ready when a chunk, the end or a failure
is known without waiting (the stream reads one chunk ahead when asked to wait:
:meth:`AstridStream.fill`); `block` waits for that. An upload's writes are handed to the request
before `write` returns, so its sink can accept more whenever the guest asks: its pollable is
always ready. A wait is host I/O of the guest's call: bounded by the call's deadline and ended
by cancellation (`block` then answers `cancelled`, a blocking read `last-operation-failed`).
`poll` returns the indices of the ready pollables; when none is ready it waits until every one
of them is (each wait is one chunk of read-ahead, so nothing is lost by waiting for all).

Served: `error.to-debug-string`; `pollable.ready`, `pollable.block`, `poll`; input-stream
`read`, `blocking-read`, `skip`, `blocking-skip`, `subscribe`; output-stream `check-write`,
`write`, `blocking-write-and-flush`, `flush`, `blocking-flush`, `subscribe`, `write-zeroes`,
`blocking-write-zeroes-and-flush`. Not served (a capsule importing them fails to load, naming
them): `splice`, `blocking-splice`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from astrid_host._core._contracts import OutgoingUpload
from astrid_host._core._model import HttpError
from astrid_host._core._wit_astrid_io import ERROR, POLL, STREAMS, StreamError
from astrid_host._core._wit_astrid_io import ErrorCode as PollError
from astrid_host._core._witschema import Err, Ok
from astrid_host._wasm._dispatch import HOST_FAULT, Call, HostInterface, handled, logged_fault
from astrid_host._wasm._imports import READ_CHUNK_MAX
from astrid_host._wasm._session import SessionCancelled

__all__ = ["ASTRID_IO_ERROR", "ASTRID_IO_POLL", "ASTRID_IO_STREAMS", "MAX_POLLABLES",
           "WRITE_PERMIT", "AstridUpload", "InputStream", "IoError", "OutputStream", "Pollable"]


#: `poll` over more pollables than this is `too-large` (upstream's cap).
MAX_POLLABLES = 256
#: What `check-write` permits per `write` (the engine's upload piece size).
WRITE_PERMIT = 64 * 1024


class Waitable(Protocol):
    """What a pollable watches."""

    def ready(self) -> bool: ...
    async def fill(self) -> None: ...


class Readable(Waitable, Protocol):
    """The source of an input-stream (an :class:`AstridStream`)."""

    closed: bool
    ended: bool
    buffer: bytes
    failure: HttpError | None

    def take(self, limit: int) -> bytes: ...


class IoError:
    """An `astrid:io/error` resource: the text of what failed."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def aclose(self) -> None:
        return None


class Pollable:
    """A `pollable` over a response stream or an upload."""

    def __init__(self, target: Waitable) -> None:
        self.target = target

    async def aclose(self) -> None:
        return None


class InputStream:
    """An `http-stream`'s `body-stream`: reads what the stream reads (its chunk read ahead
    first). After the end or a failure every read is `closed`."""

    def __init__(self, source: Readable) -> None:
        self.source = source
        self.done = False

    def read_now(self, length: int) -> Ok[bytes] | Err[StreamError]:
        if self.done:
            return Err(StreamError.closed())
        source = self.source
        if length == 0:
            return Ok(b"")
        if source.buffer:
            return Ok(source.take(min(length, READ_CHUNK_MAX)))
        if source.failure is not None:
            self.done = True
            return Err(StreamError.last_operation_failed(IoError(str(source.failure))))
        if source.ended or source.closed:
            self.done = True
            return Err(StreamError.closed())
        return Ok(b"")  # nothing yet: subscribe and wait, or use blocking-read

    async def aclose(self) -> None:
        return None


class AstridUpload:
    """An `http-upload`: our :class:`OutgoingUpload`, finished at most once. ``closed``: its
    sink accepts nothing more (finished, or a write failed)."""

    def __init__(self, upload: OutgoingUpload, decompression_limited: bool) -> None:
        self.upload = upload
        self.decompression_limited = decompression_limited
        self.closed = False

    def ready(self) -> bool:
        return True  # writes complete before `write` returns: the sink can always accept

    async def fill(self) -> None:
        return None

    async def aclose(self) -> None:
        await self.upload.aclose()


class OutputStream:
    """An `http-upload`'s `body-sink`. A failed write closes it."""

    def __init__(self, upload: AstridUpload) -> None:
        self.upload = upload

    async def aclose(self) -> None:
        return None


def _io_failure(exc: BaseException) -> StreamError:
    """`last-operation-failed` for an I/O failure (ours or the call's deadline/cancellation)."""
    if isinstance(exc, SessionCancelled):
        return StreamError.last_operation_failed(IoError("cancelled"))
    return StreamError.last_operation_failed(IoError(str(exc)))


# --- poll -------------------------------------------------------------------------------------

def _wait(call: Call, targets: list[Waitable]) -> PollError | None:
    async def fill_all() -> None:
        for target in targets:
            await target.fill()
    try:
        call.session.run_io(fill_all)
    except SessionCancelled:
        return PollError.cancelled()
    except HttpError as exc:  # the call's deadline
        return PollError.unknown(str(exc))
    return None


def _block(call: Call, pollable: Pollable) -> Ok[None] | Err[PollError]:
    failed = _wait(call, [pollable.target])
    return Ok(None) if failed is None else Err(failed)


def _poll(call: Call, pollables: tuple[Pollable, ...]) -> Ok[tuple[int, ...]] | Err[PollError]:
    if not pollables:
        return Err(PollError.invalid_input())
    if len(pollables) > MAX_POLLABLES:
        return Err(PollError.too_large())
    ready = tuple(i for i, p in enumerate(pollables) if p.target.ready())
    if ready:
        return Ok(ready)
    failed = _wait(call, [p.target for p in pollables])
    if failed is not None:
        return Err(failed)
    return Ok(tuple(i for i, p in enumerate(pollables) if p.target.ready()))


# --- streams ----------------------------------------------------------------------------------

def _blocking_read(call: Call, stream: InputStream, length: int) -> Ok[bytes] | Err[StreamError]:
    if not stream.done and length:
        try:
            call.session.run_io(stream.source.fill)
        except (SessionCancelled, HttpError) as exc:
            stream.done = True
            return Err(_io_failure(exc))
    return stream.read_now(length)


def _skip(read: Callable[[Call, InputStream, int], Ok[bytes] | Err[StreamError]]
          ) -> Callable[[Call, InputStream, int], Ok[int] | Err[StreamError]]:
    def skip(call: Call, stream: InputStream, length: int) -> Ok[int] | Err[StreamError]:
        answer = read(call, stream, length)
        return Ok(len(answer.value)) if isinstance(answer, Ok) else answer
    return skip


def _check_write(call: Call, sink: OutputStream) -> Ok[int] | Err[StreamError]:
    return Err(StreamError.closed()) if sink.upload.closed else Ok(WRITE_PERMIT)


def _write(call: Call, sink: OutputStream, data: bytes) -> Ok[None] | Err[StreamError]:
    upload = sink.upload
    if upload.closed:
        return Err(StreamError.closed())
    if len(data) > WRITE_PERMIT:
        return Err(StreamError.last_operation_failed(IoError(
            f"write of {len(data)} bytes exceeds check-write's permit of {WRITE_PERMIT}")))
    try:
        call.session.run_io(upload.upload.write, data)
    except (SessionCancelled, HttpError) as exc:
        upload.closed = True
        return Err(_io_failure(exc))
    return Ok(None)


def _write_zeroes(call: Call, sink: OutputStream, length: int) -> Ok[None] | Err[StreamError]:
    if length > WRITE_PERMIT:  # checked before allocating what the guest asks for
        return Err(StreamError.last_operation_failed(IoError(
            f"write of {length} bytes exceeds check-write's permit of {WRITE_PERMIT}")))
    return _write(call, sink, bytes(length))


def _flush(call: Call, sink: OutputStream) -> Ok[None] | Err[StreamError]:
    # Every write is handed to the request before it returns: nothing is left to flush.
    return Err(StreamError.closed()) if sink.upload.closed else Ok(None)


_stream_fault = logged_fault(
    "astrid:io", lambda: StreamError.last_operation_failed(IoError(HOST_FAULT)))
_poll_fault = logged_fault("astrid:io", lambda: PollError.unknown(HOST_FAULT))


def _served(model: Any, handlers: dict[str, Callable[..., Any]], fault: Any) -> HostInterface:
    return HostInterface(
        model=handled(model, handlers),
        handlers=handlers, error_value=fault)


#: `astrid:io/error@1.0.0`.
ASTRID_IO_ERROR = _served(ERROR, {
    "[method]error.to-debug-string": lambda call, e: e.message,
}, _stream_fault)

#: `astrid:io/poll@1.0.0`.
ASTRID_IO_POLL = _served(POLL, {
    "[method]pollable.ready": lambda call, p: p.target.ready(),
    "[method]pollable.block": _block,
    "poll": _poll,
}, _poll_fault)

#: `astrid:io/streams@1.0.0` (all but `splice`).
ASTRID_IO_STREAMS = _served(STREAMS, {
    "[method]input-stream.read": lambda call, s, n: s.read_now(n),
    "[method]input-stream.blocking-read": _blocking_read,
    "[method]input-stream.skip": _skip(lambda call, s, n: s.read_now(n)),
    "[method]input-stream.blocking-skip": _skip(_blocking_read),
    "[method]input-stream.subscribe": lambda call, s: Pollable(s.source),
    "[method]output-stream.check-write": _check_write,
    "[method]output-stream.write": _write,
    "[method]output-stream.blocking-write-and-flush": _write,
    "[method]output-stream.flush": _flush,
    "[method]output-stream.blocking-flush": _flush,
    "[method]output-stream.subscribe": lambda call, s: Pollable(s.upload),
    "[method]output-stream.write-zeroes": lambda call, s, n: _write_zeroes(call, s, n),
    "[method]output-stream.blocking-write-zeroes-and-flush": lambda call, s, n: _write_zeroes(
        call, s, n),
}, _stream_fault)
