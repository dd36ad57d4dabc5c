"""The error table (astrid_host/_net/_errors.py): each failure maps to exactly one case."""

from __future__ import annotations

import asyncio
import errno
import ssl

import anyio
import h11
import httpcore
import pytest

from astrid_host._core._model import ErrorCode, HttpError, TimeoutPhase
from astrid_host._net._errors import ERROR_TABLE, to_error_code, translating


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


CERT = ssl.SSLCertVerificationError(1, "certificate verify failed")
CERT.verify_message = "Hostname mismatch"


@pytest.mark.parametrize(("exc", "case", "payload"), [
    (HttpError(ErrorCode.stream_limit(4)), "stream-limit", 4),
    (_caused(httpcore.ConnectError("boom"), CERT), "tls-error", None),
    (ssl.SSLError(1, "wrong version"), "tls-error", None),
    (_caused(httpcore.ConnectError("x"), ConnectionRefusedError(errno.ECONNREFUSED, "no")),
     "connection-refused", None),
    (httpcore.ConnectTimeout(), "timeout", TimeoutPhase.CONNECT),
    (httpcore.ReadTimeout(), "timeout", TimeoutPhase.BETWEEN_BYTES),
    (TimeoutError(), "timeout", TimeoutPhase.TOTAL),  # anyio.fail_after
    (httpcore.RemoteProtocolError("peer closed"), "protocol-error", None),
    (h11.RemoteProtocolError("bad"), "protocol-error", None),
    (httpcore.LocalProtocolError("we sent junk"), "internal", None),
    (httpcore.UnsupportedProtocol("ftp"), "invalid-request", None),
    (httpcore.ReadError("reset"), "connection-failed", None),
    (httpcore.WriteError("pipe"), "connection-failed", None),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "connection-failed", None),
    (anyio.BrokenResourceError(), "connection-failed", None),
    (anyio.ClosedResourceError(), "closed", None),
    (ValueError("surprise"), "internal", None),
])
def test_each_failure_maps_to_one_case(exc: BaseException, case: str, payload: object) -> None:
    code = to_error_code(exc)
    assert code.case == case
    if payload is not None:
        assert code.payload == payload


def test_certificate_detail_names_the_problem() -> None:
    code = to_error_code(_caused(httpcore.ConnectError("x"), CERT))
    assert "Hostname mismatch" in str(code)


def test_our_http_error_wins_over_anything_it_was_raised_from() -> None:
    inner = HttpError(ErrorCode.timeout(TimeoutPhase.FIRST_BYTE))
    outer = _caused(httpcore.ReadError("wrapped"), inner)
    assert to_error_code(outer) == ErrorCode.timeout(TimeoutPhase.FIRST_BYTE)


def test_exception_group_members_are_looked_at() -> None:
    group = ExceptionGroup("g", [ValueError("x"), httpcore.RemoteProtocolError("y")])
    assert to_error_code(group).case == "protocol-error"


def test_every_table_row_produces_a_valid_error_code() -> None:
    for kind, mapper in ERROR_TABLE:
        try:
            sample = kind("sample")
        except TypeError:
            sample = kind()
        if isinstance(sample, HttpError):
            continue
        assert isinstance(mapper(sample), ErrorCode)


def test_translating_lets_cancellation_through_and_converts_the_rest() -> None:
    with pytest.raises(HttpError) as exc, translating():
        raise httpcore.ReadError("gone")
    assert exc.value.code.case == "connection-failed"
    with pytest.raises(KeyboardInterrupt), translating():
        raise KeyboardInterrupt
    with pytest.raises(asyncio.CancelledError), translating():
        raise asyncio.CancelledError


def test_openssl_asking_for_bytes_is_not_a_tls_failure() -> None:
    # AnyIO's TLS stream waits for the peer inside `except SSLWantReadError`: a handshake that
    # times out carries one as its context, and must stay a connect timeout, not tls-error.
    timeout = httpcore.ConnectTimeout()
    timeout.__context__ = ssl.SSLWantReadError(2, "read more")
    assert to_error_code(timeout) == ErrorCode.timeout(TimeoutPhase.CONNECT)
