"""The one table that turns foreign exceptions into WIT ``error-code`` cases.

Applied at the edge of the network layer (:func:`translating`), so nothing but
:class:`~astrid_host._core._model.HttpError` ever leaves it. Each failure maps to exactly one
case: the exception and everything it was raised from (``__cause__``/``__context__``, and the
members of an exception group) are collected, and the **first row of** :data:`ERROR_TABLE`
that matches any of them wins. Row order is therefore the policy: a specific cause (an
``ssl.SSLError`` under an ``httpcore.ConnectError``) beats the generic wrapper, and an
``HttpError`` raised by our own code beats everything.

Whose fault: ``protocol-error`` and ``connection-*`` are the server's or the network's,
``tls-error`` the certificate's or the server's, ``internal`` the host's own (an HTTP library
refusing what we validated is a host bug, never the capsule's).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import anyio
import h11
import httpcore

from astrid_host._core._model import ErrorCode, HttpError, RequestPart, TimeoutPhase

__all__ = ["ERROR_TABLE", "to_error_code", "translating"]

Mapper = Callable[[BaseException], ErrorCode]


def _text(exc: BaseException) -> str:
    msg = str(exc) or type(exc).__name__
    return msg[:300]


def _tls(exc: BaseException) -> ErrorCode:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorCode.tls_error(f"certificate not accepted: {exc.verify_message or exc}")
    return ErrorCode.tls_error(f"TLS failed: {_text(exc)}")


#: Ordered (exception type, mapper) rows; see the module docstring for how a row is chosen.
ERROR_TABLE: tuple[tuple[type[BaseException], Mapper], ...] = (
    (HttpError, lambda e: e.code if isinstance(e, HttpError) else ErrorCode.internal("?")),
    (ssl.SSLError, _tls),  # includes SSLCertVerificationError (= ssl.CertificateError)
    (ConnectionRefusedError, lambda e: ErrorCode.connection_refused(_text(e))),
    (httpcore.ConnectTimeout, lambda e: ErrorCode.timeout(TimeoutPhase.CONNECT)),
    (httpcore.PoolTimeout, lambda e: ErrorCode.timeout(TimeoutPhase.CONNECT)),
    (httpcore.ReadTimeout, lambda e: ErrorCode.timeout(TimeoutPhase.BETWEEN_BYTES)),
    (httpcore.WriteTimeout, lambda e: ErrorCode.timeout(TimeoutPhase.TOTAL)),
    # anyio.fail_after's TimeoutError (an OSError, so before the OSError row).
    (TimeoutError, lambda e: ErrorCode.timeout(TimeoutPhase.TOTAL)),
    (httpcore.RemoteProtocolError,
     lambda e: ErrorCode.protocol_error(f"server broke HTTP/1.1: {_text(e)}")),
    (h11.RemoteProtocolError,
     lambda e: ErrorCode.protocol_error(f"server broke HTTP/1.1: {_text(e)}")),
    (httpcore.UnsupportedProtocol,
     lambda e: ErrorCode.invalid_request(RequestPart.URL, _text(e))),
    (httpcore.LocalProtocolError,
     lambda e: ErrorCode.internal(f"HTTP library refused a validated request: {_text(e)}")),
    (h11.LocalProtocolError,
     lambda e: ErrorCode.internal(f"HTTP library refused a validated request: {_text(e)}")),
    (httpcore.ConnectError, lambda e: ErrorCode.connection_failed(f"connect: {_text(e)}")),
    (httpcore.ReadError, lambda e: ErrorCode.connection_failed(f"read: {_text(e)}")),
    (httpcore.WriteError, lambda e: ErrorCode.connection_failed(f"write: {_text(e)}")),
    (anyio.BrokenResourceError, lambda e: ErrorCode.connection_failed(f"broken: {_text(e)}")),
    (anyio.ClosedResourceError, lambda e: ErrorCode.closed()),
    (OSError, lambda e: ErrorCode.connection_failed(_text(e))),
)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 64:
        e = todo.pop(0)
        if any(e is s for s in seen):
            continue
        seen.append(e)
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        todo.extend(x for x in (e.__cause__, e.__context__) if x is not None)
    return seen


#: Not failures: OpenSSL asking for more bytes. AnyIO's TLS stream waits for them inside an
#: ``except`` block, so a timeout or a closed socket during a handshake has one as its context.
_TLS_FLOW = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def to_error_code(exc: BaseException) -> ErrorCode:
    """The single error-code case for ``exc`` (``internal`` when no row matches)."""
    chain = [e for e in _chain(exc) if not isinstance(e, _TLS_FLOW)]
    for kind, mapper in ERROR_TABLE:
        for e in chain:
            if isinstance(e, kind):
                return mapper(e)
    return ErrorCode.internal(f"unexpected {type(exc).__name__}: {_text(exc)}")


@contextmanager
def translating() -> Iterator[None]:
    """Re-raise any ``Exception`` from the block as ``HttpError`` (cancellation passes through)."""
    try:
        yield
    except HttpError:
        raise
    except Exception as exc:
        raise HttpError(to_error_code(exc)) from exc
