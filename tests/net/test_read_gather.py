"""`IncomingStream.read(max)` gathers what is already there: after the first piece (which may
be waited for) it adds pieces the exchange has without waiting, up to `max`, and never waits
for more. Driven by a scripted exchange, so nothing depends on timing."""

from __future__ import annotations

import pytest

from astrid_host._core._model import ErrorCode, HttpError
from astrid_host._net._handles import IncomingStream
from astrid_host._net._inflight import Inflight

K = 1024


class ScriptedExchange:
    """Pieces ``(bytes | None | HttpError, ready)``: ``ready`` says whether the piece is there
    before it is asked for; asking for one that is not while gathering is a failure."""

    status = 200
    headers = ()

    def __init__(self, *script: tuple[bytes | HttpError | None, bool]) -> None:
        self.script = list(script)
        self.waited = 0
        self.closed = False

    def ready(self) -> bool:
        return bool(self.script) and self.script[0][1]

    async def read(self) -> bytes | None:
        item, ready = self.script.pop(0)
        if not ready:
            self.waited += 1
        if isinstance(item, HttpError):
            raise item
        return item

    async def close(self) -> None:
        self.closed = True


def _stream(ex: ScriptedExchange) -> IncomingStream:
    inflight = Inflight(4)
    return IncomingStream(ex, inflight.take_slot(), inflight)  # type: ignore[arg-type]


async def test_pieces_already_there_are_gathered_up_to_max() -> None:
    a, b, c = b"a" * 64 * K, b"b" * 64 * K, b"c" * 64 * K
    ex = ScriptedExchange((a, False), (b, True), (c, True), (b"late", False), (None, False))
    stream = _stream(ex)
    assert await stream.read(1024 * K) == a + b + c  # one call, not three
    assert ex.waited == 1  # only the first piece was waited for
    assert await stream.read(1024 * K) == b"late"
    assert await stream.read(1024 * K) is None
    assert ex.closed


async def test_gathering_stops_at_max_and_keeps_the_rest() -> None:
    ex = ScriptedExchange((b"x" * 100, False), (b"y" * 100, True), (b"z" * 100, True),
                          (None, True))
    stream = _stream(ex)
    assert await stream.read(150) == b"x" * 100 + b"y" * 50
    assert ex.script[0][0] == b"z" * 100  # nothing read past what max needed
    assert await stream.read(150) == b"y" * 50 + b"z" * 100
    assert await stream.read(150) is None


async def test_the_end_found_while_gathering_ends_the_stream() -> None:
    ex = ScriptedExchange((b"head", False), (b"tail", True), (None, True))
    stream = _stream(ex)
    assert await stream.read(K) == b"headtail"
    assert ex.closed  # released as soon as the end was seen
    assert await stream.read(K) is None


async def test_a_failure_while_gathering_comes_after_the_bytes() -> None:
    boom = HttpError(ErrorCode.protocol_error("truncated"))
    ex = ScriptedExchange((b"good", False), (boom, True), (b"never", True))
    stream = _stream(ex)
    assert await stream.read(K) == b"good"
    with pytest.raises(HttpError) as caught:
        await stream.read(K)
    assert caught.value.code.case == "protocol-error"
    with pytest.raises(HttpError) as again:
        await stream.read(K)
    assert again.value.code.case == "closed"


async def test_nothing_ready_means_one_piece() -> None:
    ex = ScriptedExchange((b"one", False), (b"two", False), (None, False))
    stream = _stream(ex)
    assert await stream.read(K) == b"one"
    assert await stream.read(K) == b"two"
    assert ex.waited == 2
