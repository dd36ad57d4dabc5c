"""The handles a capsule holds: :class:`IncomingStream` and :class:`OutgoingUpload`.

Each owns its :class:`Exchange` and one open-stream :class:`Slot`, and runs every method as an
operation of the capsule's :class:`Inflight` (so ``aclose`` cancels it). Their states are
:class:`StreamState` and :class:`UploadState`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from astrid_host._core._bodies import ByteCap
from astrid_host._core._model import ErrorCode, Header, HttpError, Response, ResponseMeta
from astrid_host._net._deadlines import cleanup
from astrid_host._net._exchange import Exchange
from astrid_host._net._inflight import Inflight, Slot

__all__ = ["UPLOAD_PIECE_BYTES", "IncomingStream", "OutgoingUpload", "StreamState",
           "UploadState", "open_stream"]

#: Pieces fed to the upload are at most this large (larger writes are split).
UPLOAD_PIECE_BYTES = 256 * 1024


class StreamState(enum.Enum):
    """Where a streamed response is."""

    OPEN = "open"        # body pieces may be read
    READING = "reading"  # a read is waiting for the next piece (a second read is refused)
    ENDED = "ended"      # the body was read to its end: read() answers None
    CLOSED = "closed"    # failed, closed or cancelled: read() raises closed


class IncomingStream:
    """A streamed response: ``status``, ``headers``, ``meta()``, ``read(max)``, ``trailers()``,
    ``aclose()``.

    Created by :func:`open_stream` for :meth:`CapsuleHttp.start` and
    :meth:`OutgoingUpload.finish_streaming`; it holds one of the capsule's open-stream slots
    until the body ends, fails or is closed.
    """

    def __init__(self, ex: Exchange, slot: Slot, inflight: Inflight) -> None:
        self._ex = ex
        self._slot = slot
        self._inflight = inflight
        self._state = StreamState.OPEN
        self._buffer = b""
        self._failed: HttpError | None = None
        self.status: int = ex.status
        self.headers: tuple[Header, ...] = ex.headers
        slot.hold(self._abort)

    def meta(self) -> ResponseMeta:
        """Final URL, redirect count, elapsed ms until the head, wire bytes received so far."""
        return self._ex.meta()

    def trailers(self) -> tuple[Header, ...] | None:
        """The response's trailers once :meth:`read` has reached the end of the body (an empty
        tuple when it had none); ``None`` before that, and for a body closed or failed before
        its end."""
        return self._ex.trailers

    async def read(self, max_bytes: int) -> bytes | None:
        """Up to ``max_bytes`` of the body (at least 1 while any remain); ``None`` at the end.

        The first piece may be waited for; after it, pieces that are already there (the socket
        is readable, TLS or the decoder holds bytes) are gathered up to ``max_bytes``, so a
        large ``max`` is not answered one network read (<= 64 KiB) at a time. Nothing beyond
        the first piece is waited for. After a failure every later call raises ``closed``;
        a failure while gathering is raised by the next call, after the bytes gathered.
        """
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        if self._state in (StreamState.READING, StreamState.CLOSED):
            raise HttpError(ErrorCode.closed())
        if max_bytes <= 0:
            return b""
        if not self._buffer:
            if self._state is StreamState.ENDED:
                return None
            piece = await self._pull()
            if piece is None:
                return None
            self._buffer = piece
        if len(self._buffer) < max_bytes:
            self._buffer = await self._gather(max_bytes)
        out, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return out

    async def _gather(self, max_bytes: int) -> bytes:
        """The buffer plus the pieces available without waiting, until ``max_bytes``."""
        pieces, have = [self._buffer], len(self._buffer)
        while have < max_bytes and self._state is StreamState.OPEN and self._ex.ready():
            try:
                piece = await self._pull()
            except HttpError as exc:
                self._failed = exc  # the bytes gathered first; the error on the next read
                break
            if piece is None:
                break
            pieces.append(piece)
            have += len(piece)
        return b"".join(pieces)

    async def _pull(self) -> bytes | None:
        """The next piece from the exchange (``None`` at the end), keeping the state."""
        self._state = StreamState.READING
        piece: bytes | None = b""
        try:
            with self._inflight.operation():
                piece = await self._ex.read()
        except HttpError:
            self._state = StreamState.CLOSED
            raise
        finally:
            if self._state is StreamState.READING:  # read, or cancelled from outside
                self._state = StreamState.ENDED if piece is None else StreamState.OPEN
            if self._state is not StreamState.OPEN:
                await self._end()
        if self._state is StreamState.CLOSED:  # closed or aborted while this read waited
            raise HttpError(ErrorCode.closed())
        return piece

    async def aclose(self) -> None:
        """Close the stream (and its connection if the body was not read to its end)."""
        if self._state is not StreamState.ENDED:
            self._state = StreamState.CLOSED
        await self._end()

    async def _abort(self) -> None:
        # The capsule's client is closing. A read in progress has been cancelled already and
        # ends the stream itself.
        if self._state is StreamState.OPEN:
            self._state = StreamState.CLOSED
            await self._end()
        elif self._state is StreamState.READING:
            self._state = StreamState.CLOSED

    async def _end(self) -> None:
        self._slot.release()
        await self._ex.close()


async def open_stream(ex: Exchange, slot: Slot, inflight: Inflight) -> IncomingStream:
    """The stream of ``ex``'s response (its head is in), holding ``slot`` from now on; the
    slot is released if the body cannot be opened."""
    try:
        await ex.open_body()
    except BaseException:
        slot.release()
        raise
    return IncomingStream(ex, slot, inflight)


class UploadState(enum.Enum):
    """Where an upload is."""

    OPEN = "open"            # write() takes pieces
    FINISHING = "finishing"  # the body ended; waiting for the response head
    DONE = "done"            # finished, failed or closed


class _Pieces:
    """The streamed upload's request body: pieces arrive through a memory object stream."""

    def __init__(self, receive: MemoryObjectReceiveStream[bytes]) -> None:
        self._receive = receive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self._receive:
            yield piece


class OutgoingUpload:
    """A request whose body is written in pieces: ``write``, ``finish``, ``finish_streaming``.

    The request starts at once in a background task; each ``write`` hands a piece to it
    through a zero-capacity memory object stream, so at most one piece waits in memory
    whatever the body size. Holds one open-stream slot until finished, failed or closed.
    """

    def __init__(self, ex: Exchange, slot: Slot, inflight: Inflight, *, max_bytes: int,
                 name: str) -> None:
        self._ex = ex
        self._slot = slot
        self._inflight = inflight
        self._send, self._receive = anyio.create_memory_object_stream[bytes](0)
        self._cap = ByteCap(max_bytes, request=True)
        self._done = anyio.Event()
        self._error: HttpError | None = None
        self._state = UploadState.OPEN
        self._scope = anyio.CancelScope()
        slot.hold(self._fail)
        inflight.spawn(self._run, name=name)

    async def _run(self) -> None:
        """The request, in its own task: hops until the response head (or a failure)."""
        try:
            with self._scope:
                await self._ex.fetch_head(_Pieces(self._receive))
            if self._scope.cancelled_caught:
                self._error = HttpError(ErrorCode.cancelled())
        except HttpError as e:
            self._error = e
        except Exception as e:
            self._error = HttpError(ErrorCode.internal(f"upload task: {e!r}"))
        finally:
            self._receive.close()
            self._done.set()

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the body (``request-too-large`` past the limit)."""
        if self._state is not UploadState.OPEN:
            raise HttpError(ErrorCode.closed())
        with self._inflight.operation():
            try:
                self._cap.add(len(chunk))
            except HttpError:
                await self._fail()
                raise
            view = memoryview(chunk)
            try:
                with self._ex.deadline():
                    for i in range(0, len(view), UPLOAD_PIECE_BYTES):
                        await self._send.send(bytes(view[i:i + UPLOAD_PIECE_BYTES]))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                # The request ended early (error, or the server answered before the body
                # was complete): report why.
                await self._done.wait()
                if self._error is not None:
                    self._state = UploadState.DONE
                    self._slot.release()
                    raise self._error from None
                # The server answered before taking the whole body: finish() returns it.
                raise HttpError(ErrorCode.closed()) from None

    async def finish(self) -> Response:
        """End the body and return the whole response."""
        await self._finish()
        try:
            with self._inflight.operation():
                return await self._ex.buffer()
        finally:
            self._slot.release()

    async def finish_streaming(self) -> IncomingStream:
        """End the body and return the response as a stream (the slot moves to it)."""
        await self._finish()
        with self._inflight.operation():
            return await open_stream(self._ex, self._slot, self._inflight)

    async def aclose(self) -> None:
        """Abandon the upload: the request is cancelled and its connection closed."""
        if self._state is not UploadState.DONE:
            await self._fail()

    async def _finish(self) -> None:
        if self._state is not UploadState.OPEN:
            raise HttpError(ErrorCode.closed())
        self._state = UploadState.FINISHING
        with self._inflight.operation():
            await self._send.aclose()
            await self._done.wait()
        self._state = UploadState.DONE
        if self._error is not None:
            self._slot.release()
            raise self._error

    async def _fail(self) -> None:
        self._state = UploadState.DONE
        self._scope.cancel()
        await self._send.aclose()
        with cleanup():
            await self._done.wait()
        await self._ex.close()
        self._slot.release()

