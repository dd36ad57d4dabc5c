"""Every reach into httpcore's and h11's private state, behind one door.

httpcore keeps a response's h11 connection in private attributes (the pool's stream, its
HTTP/1.1 stream, the connection's ``_h11_state``), and drops what h11 says at the end of a
body: ``EndOfMessage.headers``, the trailer section of a chunked response. Two things need
that state, and only this module touches it:

- :func:`bytes_past_response`: how many bytes h11 holds past the end of a response (the
  keep-alive check in ``_body.py``);
- :func:`watch_trailers`: the response's trailers. The h11 connection's ``next_event`` is
  wrapped, on that one connection object (never on the class), by a :class:`TrailerWatch`
  that notes the trailer fields of each ``EndOfMessage`` it passes on unchanged. The wrapper
  stays for the connection's life; each response resets what it noted.

If httpcore changes the shape, :func:`bytes_past_response` answers ``None`` (the connection is
not reused) and :func:`watch_trailers` ``None`` (trailers unknown: the engine says it cannot
tell, and logs it). :func:`self_check` looks for everything used here;
``tests/net/test_trailers.py`` runs it and a chunked response with trailers through the engine,
so a new httpcore that breaks either fails there, loudly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import h11
import httpcore

__all__ = ["TrailerWatch", "bytes_past_response", "self_check", "watch_trailers"]

#: What h11's ``next_event`` returns.
_Event = Any


def _h11_connection(resp: httpcore.Response) -> h11.Connection | None:
    """The h11 connection ``resp`` is read from (``None``: httpcore is not shaped as known)."""
    inner = getattr(resp.stream, "_stream", None)
    state = getattr(getattr(inner, "_connection", None), "_h11_state", None)
    return state if isinstance(state, h11.Connection) else None


def bytes_past_response(resp: httpcore.Response) -> int | None:
    """How many bytes h11 holds past the end of ``resp`` (``None``: this cannot tell)."""
    state = _h11_connection(resp)
    return None if state is None else len(state.trailing_data[0])


class TrailerWatch:
    """Wraps one h11 connection's ``next_event``; notes the trailers of the message that ended.

    ``fields`` is ``None`` until an ``EndOfMessage`` passes, then its header fields as h11
    parsed and validated them (original name case, in order; empty when there were none).
    """

    __slots__ = ("_next_event", "fields")

    def __init__(self, next_event: Callable[[], _Event]) -> None:
        self._next_event = next_event
        self.fields: tuple[tuple[bytes, bytes], ...] | None = None

    def __call__(self) -> _Event:
        event = self._next_event()
        if type(event) is h11.EndOfMessage:
            self.fields = tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items())
        return event


def watch_trailers(resp: httpcore.Response) -> TrailerWatch | None:
    """The watch noting ``resp``'s trailers (installed on its connection if not there yet,
    reset for this response). Call it before the body is read; ``None`` when httpcore's shape
    is not the known one."""
    state = _h11_connection(resp)
    if state is None:
        return None
    watch = state.__dict__.get("next_event")
    if not isinstance(watch, TrailerWatch):
        watch = TrailerWatch(state.next_event)
        state.next_event = watch  # type: ignore[method-assign]
    watch.fields = None
    return watch


def self_check() -> list[str]:
    """What this module relies on and the installed httpcore / h11 no longer have (empty: all
    there). The source checks pin that httpcore's body loop still goes through
    ``_h11_state.next_event`` and stops at ``EndOfMessage``."""
    missing: list[str] = []
    conn_cls = httpcore.AsyncHTTP11Connection
    if "_h11_state = h11.Connection(" not in inspect.getsource(conn_cls.__init__):
        missing.append("AsyncHTTP11Connection._h11_state is an h11.Connection")
    if "self._h11_state.next_event()" not in inspect.getsource(conn_cls._receive_event):
        missing.append("AsyncHTTP11Connection._receive_event calls _h11_state.next_event()")
    if "h11.EndOfMessage" not in inspect.getsource(conn_cls._receive_response_body):
        missing.append("AsyncHTTP11Connection._receive_response_body ends at EndOfMessage")
    byte_stream = getattr(httpcore._async.http11, "HTTP11ConnectionByteStream", None)
    if byte_stream is None or "self._connection = connection" not in inspect.getsource(
            byte_stream.__init__):
        missing.append("HTTP11ConnectionByteStream._connection")
    pool_stream = getattr(httpcore._async.connection_pool, "PoolByteStream", None)
    if pool_stream is None or "self._stream = stream" not in inspect.getsource(
            pool_stream.__init__):
        missing.append("PoolByteStream._stream")
    if not hasattr(h11.Connection, "trailing_data"):
        missing.append("h11.Connection.trailing_data")
    if "headers" not in getattr(h11.EndOfMessage, "__slots__", ()):
        missing.append("h11.EndOfMessage.headers")
    return missing
