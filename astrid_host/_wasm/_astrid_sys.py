"""The host side of upstream Astrid's `astrid:sys/host@1.0.0` (`log`, `random-bytes`,
`get-config`) and `astrid:ipc/host@1.0.0` (`publish`), over the capsule's
:class:`~astrid_host._core._astrid_state.AstridState` (``StoreSession.astrid``).

A capsule loaded without Astrid state (a bare component) reads no configuration and may
publish nothing. The other functions of both interfaces are not linked: a capsule importing one
fails to load, naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from astrid_host._core._astrid_state import (
    MAX_LOG_CHARS,
    MAX_RANDOM_BYTES,
    AstridState,
    PublishRefused,
)
from astrid_host._core._wit_astrid_ipc import HOST as IPC_HOST
from astrid_host._core._wit_astrid_ipc import HostErrorCode as IpcError
from astrid_host._core._wit_astrid_sys import HOST as SYS_HOST
from astrid_host._core._wit_astrid_sys import ErrorCode as SysError
from astrid_host._core._wit_astrid_sys import LogLevel
from astrid_host._core._witschema import Err, Ok
from astrid_host._wasm._dispatch import HOST_FAULT, Call, HostInterface, handled, logged_fault

__all__ = ["ASTRID_IPC", "ASTRID_SYS", "CAPSULE_LOG"]

#: Where capsules' `log` calls go: a child logger per capsule (``astrid_host.capsule.NAME``).
CAPSULE_LOG = "astrid_host.capsule"

_LEVELS = {LogLevel.TRACE: logging.DEBUG, LogLevel.DEBUG: logging.DEBUG,
           LogLevel.INFO: logging.INFO, LogLevel.WARN: logging.WARNING,
           LogLevel.ERROR: logging.ERROR}


def _state(call: Call) -> AstridState | None:
    state: AstridState | None = call.session.astrid
    return state


def _log(call: Call, level: LogLevel, message: str) -> None:
    text = message if len(message) <= MAX_LOG_CHARS else message[:MAX_LOG_CHARS] + "..."
    logging.getLogger(f"{CAPSULE_LOG}.{call.session.name}").log(
        _LEVELS[level], "%s", text, extra={"capsule": call.session.name})


def _random_bytes(call: Call, length: int) -> Ok[bytes] | Err[SysError]:
    if length > MAX_RANDOM_BYTES:
        return Err(SysError.too_large())
    return Ok(os.urandom(length))


def _get_config(call: Call, key: str) -> Ok[str | None]:
    state = _state(call)
    return Ok(None if state is None else state.config.get(key))


def _publish(call: Call, topic: str, payload: str) -> Ok[None] | Err[IpcError]:
    state = _state(call)
    if state is None:
        return Err(IpcError.capability_denied())
    try:
        state.publish_message(topic, payload)
    except PublishRefused as exc:
        return Err(IpcError(exc.arm))
    return Ok(None)


_SYS_HANDLERS: dict[str, Callable[..., Any]] = {
    "log": _log, "random-bytes": _random_bytes, "get-config": _get_config}
_IPC_HANDLERS: dict[str, Callable[..., Any]] = {"publish": _publish}

#: `astrid:sys/host@1.0.0` as astrid-host serves it (the functions with a handler).
ASTRID_SYS = HostInterface(
    model=handled(SYS_HOST, _SYS_HANDLERS),
    handlers=_SYS_HANDLERS,
    error_value=logged_fault("astrid:sys", lambda: SysError.unknown(HOST_FAULT)),
)

#: `astrid:ipc/host@1.0.0` as astrid-host serves it (``publish``).
ASTRID_IPC = HostInterface(
    model=handled(IPC_HOST, _IPC_HANDLERS),
    handlers=_IPC_HANDLERS,
    error_value=logged_fault("astrid:ipc", lambda: IpcError.unknown(HOST_FAULT)),
)
