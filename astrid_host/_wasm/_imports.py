"""The host side of `astrid:http/client@0.1.0`: linking, the handlers, resource handles.

Value conversion lives in :mod:`astrid_host._wasm._values`; reading, rendering and checking
wasmtime-py types in :mod:`astrid_host._wasm._typeinfo`.

What happens on one guest -> host call:

1. wasmtime calls :func:`_trampoline` on the worker thread running the guest.
2. The trampoline finds the :class:`StoreSession` of that Store (a context variable set by the
   capsule before it enters the guest), lifts the arguments with the wasmtime types it cached
   for this import on this Store, and runs the handler.
3. The handler converts WIT values to `astrid_host._core._model` values, awaits the capsule's
   :class:`HttpBackend` on the trio thread with ``trio.from_thread.run``, and converts back.
4. Every failure becomes a WIT `error-code` value: :class:`HttpError` carries its own code,
   cancellation (the capsule was closed) is ``cancelled``, any other exception is ``internal``.
   Nothing is raised into wasmtime: an exception there poisons the Store and is reported
   through a process-global slot that concurrent calls can mix up.

Why a trampoline of our own instead of ``LinkerInstance.add_func``: wasmtime-py lowers a
``result`` whose ok type is ``option<...>`` by trying the ok case first with an ``isinstance``
check against ``object``, so ``result<option<list<u8>>, error-code>`` (``read``) can never carry
an error. Here results are lowered explicitly from :class:`_Ok` / :class:`_Err`. The types are
read once per import per Store instead of on every call.

The only trap a handler can cause is a host fault with no error channel (a method like
``status`` on a handle the host no longer knows) or a guest that declared an import with a type
other than the one in `wit/client.wit`.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio
from wasmtime import WasmtimeError
from wasmtime import _ffi as ffi
from wasmtime._store import StoreContext
from wasmtime.component import Record, ResourceHost, ResourceType, Variant
from wasmtime.component._types import FuncType, ResultType, ValType

from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    ErrorCode,
    Header,
    HttpError,
    Request,
    RequestPart,
    Response,
    ResponseMeta,
    TimeoutPhase,
)
from astrid_host._wasm._typeinfo import freeze_type
from astrid_host._wasm._values import (
    U16_MAX,
    U32_MAX,
    GuestValueError,
    HostFault,
    checked_uint,
    error_to_wit,
    headers_to_wit,
    meta_to_wit,
    request_from_wit,
    response_to_wit,
)

__all__ = [
    "CLIENT_INTERFACE",
    "HttpBackend",
    "IncomingStream",
    "OutgoingUpload",
    "READ_CHUNK_MAX",
    "StoreSession",
    "current_session",
    "link_client",
    "precheck_request",
]

log = logging.getLogger("astrid_host.wasm")

#: The interface name the guest imports.
CLIENT_INTERFACE = "astrid:http/client@0.1.0"

#: Largest piece handed back by one ``read``: moving ``list<u8>`` across the boundary costs
#: about a microsecond per byte in wasmtime-py, so a huge ``max`` only makes one call slow.
#: ``read`` may return fewer bytes than asked, so clamping is invisible to a correct guest.
READ_CHUNK_MAX = 256 * 1024

# Host resource type ids (any u32 unique within this linker).
_INCOMING = 0xA5710001
_OUTGOING = 0xA5710002


# --------------------------------------------------------------------------------------------
# What the wasm layer needs from the network layer (see docs/dev/contracts.md)


class IncomingStream(Protocol):
    """A streamed response: head known, body read piece by piece."""

    status: int
    headers: tuple[Header, ...]

    def meta(self) -> ResponseMeta: ...
    async def read(self, max_bytes: int) -> bytes | None: ...
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


# --------------------------------------------------------------------------------------------
# Per-Store state


@dataclass
class _Ok:
    value: Any = None


@dataclass
class _Err:
    value: Variant


class _Cancelled(Exception):
    """The session was closed (or the trio run ended) while the host waited."""


@dataclass
class _Slot:
    kind: int
    obj: Any


@dataclass
class StoreSession:
    """Everything the host imports need for one Store: backend, trio token, handle table.

    Created by the capsule for each fresh Store. The handle table maps the ``rep`` of each
    live resource handle to the backend object behind it; wasmtime never calls destructors
    for handles still alive when a Store dies, so :meth:`take_resources` hands them to the
    capsule to close.
    """

    backend: HttpBackend
    trio_token: trio.lowlevel.TrioToken
    name: str = "capsule"
    limits: Limits = field(default_factory=Limits)
    resources: dict[int, _Slot] = field(default_factory=dict)
    closed: bool = False
    _reps: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _scopes: set[trio.CancelScope] = field(default_factory=set)
    _types: dict[str, tuple[list[ValType], ValType | None]] = field(default_factory=dict)
    #: How many host imports ran on this Store (tests and diagnostics).
    calls: int = 0

    #: Set when the caller of the current call was cancelled; reset by :meth:`begin_call`.
    call_cancelled: bool = False
    #: ``time.monotonic()`` when the current call's wall-clock budget ends (set on entry).
    call_deadline: float = math.inf

    # -- called on the trio thread

    def cancel(self) -> None:
        """Cancel every host I/O in flight and make all later ones fail with ``cancelled``."""
        self.closed = True
        self._cancel_scopes()

    def cancel_call(self) -> None:
        """Cancel the current call's host I/O; later I/O in this call fails too."""
        self.call_cancelled = True
        self._cancel_scopes()

    def begin_call(self) -> None:
        """A new call starts: a previous call's cancellation no longer applies."""
        self.call_cancelled = False

    def _cancel_scopes(self) -> None:
        for scope in list(self._scopes):
            scope.cancel()

    def take_resources(self) -> list[Any]:
        """Remove and return every backend object still owned by a guest handle."""
        objs = [slot.obj for slot in self.resources.values()]
        self.resources.clear()
        return objs

    async def _guarded(self, afn: Callable[..., Awaitable[Any]], remaining: float,
                       *args: Any) -> Any:
        if self.closed or self.call_cancelled:
            raise _Cancelled
        # The call's wall-clock budget bounds its host I/O too: the epoch deadline only
        # interrupts guest code, and a request's own timeouts may be longer than the call's.
        with trio.CancelScope() as scope, trio.move_on_after(max(remaining, 0.0)) as budget:
            self._scopes.add(scope)
            try:
                return await afn(*args)
            finally:
                self._scopes.discard(scope)
        if budget.cancelled_caught and not scope.cancelled_caught:
            raise HttpError(ErrorCode.timeout(TimeoutPhase.TOTAL))
        raise _Cancelled  # only reached when the scope was cancelled

    # -- called on the worker thread

    def run_io(self, afn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Await ``afn(*args)`` on the trio thread; raises HttpError or _Cancelled."""
        if self.closed or self.call_cancelled:
            raise _Cancelled
        try:
            remaining = self.call_deadline - time.monotonic()
            return trio.from_thread.run(self._guarded, afn, remaining, *args,
                                        trio_token=self.trio_token)
        except trio.RunFinishedError:
            raise _Cancelled from None

    def run_cleanup(self, afn: Callable[[], Awaitable[Any]]) -> None:
        """Await ``afn()`` on the trio thread, shielded and even after cancellation: closing
        a resource must happen whatever state the call is in."""
        async def shielded() -> None:
            with trio.CancelScope(shield=True):
                await afn()
        try:
            trio.from_thread.run(shielded, trio_token=self.trio_token)
        except trio.RunFinishedError:
            pass

    def add(self, kind: int, obj: Any) -> int:
        rep = next(self._reps)
        if rep > U32_MAX:
            raise HostFault("resource handle space exhausted")
        self.resources[rep] = _Slot(kind, obj)
        return rep

    def get(self, kind: int, this: Any, store: StoreContext) -> Any:
        host = this.to_host(store)
        slot = self.resources.get(host.rep)
        if slot is None or slot.kind != kind or host.type != kind:
            raise HostFault(f"unknown resource handle {host.rep}")
        return slot.obj


_SESSION: ContextVar[StoreSession | None] = ContextVar("astrid_store_session", default=None)


def current_session() -> ContextVar[StoreSession | None]:
    """The context variable the capsule sets (on the worker thread) before entering a Store."""
    return _SESSION


# --------------------------------------------------------------------------------------------
# Handlers. Each runs on the worker thread and returns a plain value or an _Ok/_Err.


def _io_result(session: StoreSession, convert: Callable[[Any], Any],
               afn: Callable[..., Awaitable[Any]], *args: Any) -> _Ok | _Err:
    """Run one backend call and turn *every* outcome into an _Ok or an _Err."""
    try:
        value = session.run_io(afn, *args)
        too_big = _exceeds_guest_memory(session, value)
        if too_big is not None:
            return _Err(error_to_wit(too_big))
        return _Ok(convert(value))
    except HttpError as exc:
        return _Err(error_to_wit(exc.code))
    except _Cancelled:
        return _Err(error_to_wit(ErrorCode.cancelled()))
    except GuestValueError as exc:
        return _Err(error_to_wit(exc.code))
    except HostFault:
        raise
    except Exception as exc:
        log.exception("host import failed in capsule %s", session.name)
        # Only the exception type reaches the guest: its text may hold host details
        # (paths, addresses) an untrusted capsule has no business seeing.
        return _Err(error_to_wit(ErrorCode.internal(
            f"host fault ({type(exc).__name__}); details are in the host log")))
    except BaseException:  # trio.Cancelled, KeyboardInterrupt: never into wasmtime
        return _Err(error_to_wit(ErrorCode.cancelled()))


def _body_bytes(value: Any) -> int:
    """Bytes a result will copy into the guest: a read piece, or a buffered response body."""
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    body = getattr(value, "body", None)
    return len(body) if isinstance(body, (bytes, bytearray)) else 0


def _exceeds_guest_memory(session: StoreSession, value: Any) -> ErrorCode | None:
    """A body that cannot fit in the capsule's memory limit is refused before it is lowered:
    the guest's allocator would fail anyway, after the host had spent time and memory on it."""
    size = _body_bytes(value)
    if size > session.limits.memory_bytes:
        return ErrorCode.body_too_large(session.limits.memory_bytes)
    return None


class _ByteBudget:
    """A host-wide budget for bytes being copied into guests at the same time.

    Lowering a ``list<u8>`` costs wasmtime-py about 80 bytes of transient host memory per
    payload byte (a 32-byte C value per byte, then wasmtime's own copy), so a 10 MiB body
    costs ~840 MiB while it crosses. Large copies wait for their share of this budget; a copy
    larger than the budget waits until it can run alone.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._cond = threading.Condition()

    def acquire(self, n: int) -> int:
        n = min(n, self.capacity)
        with self._cond:
            self._cond.wait_for(lambda: self._free >= n)
            self._free -= n
        return n

    def release(self, n: int) -> None:
        with self._cond:
            self._free += n
            self._cond.notify_all()


#: Payload bytes that may be crossing into guests at once, host-wide (~1.3 GiB transient).
LOWERING_BUDGET_BYTES = 16 * 1024 * 1024
#: Copies smaller than this skip the budget (the common case: small bodies, read pieces).
_BUDGET_FROM_BYTES = 512 * 1024
_LOWERING = _ByteBudget(LOWERING_BUDGET_BYTES)


def _with_request(session: StoreSession, req_value: Any,
                  body: Callable[[Request], _Ok | _Err]) -> _Ok | _Err:
    try:
        req = request_from_wit(req_value)
    except GuestValueError as exc:
        return _Err(error_to_wit(exc.code))
    return body(req)


def _send(session: StoreSession, store: StoreContext, req: Any) -> _Ok | _Err:
    return _with_request(session, req, lambda r: _io_result(
        session, response_to_wit, session.backend.send, r))


def _own(session: StoreSession, kind: int) -> Callable[[Any], ResourceHost]:
    def convert(obj: Any) -> ResourceHost:
        return ResourceHost.own(session.add(kind, obj), kind)
    return convert


def _start(session: StoreSession, store: StoreContext, req: Any) -> _Ok | _Err:
    return _with_request(session, req, lambda r: _io_result(
        session, _own(session, _INCOMING), session.backend.start, r))


def _upload(session: StoreSession, store: StoreContext, req: Any) -> _Ok | _Err:
    return _with_request(session, req, lambda r: _io_result(
        session, _own(session, _OUTGOING), session.backend.upload, r))


def _status(session: StoreSession, store: StoreContext, this: Any) -> int:
    return checked_uint(session.get(_INCOMING, this, store).status, U16_MAX, "status")


def _headers(session: StoreSession, store: StoreContext, this: Any) -> list[tuple[str, bytes]]:
    return headers_to_wit(session.get(_INCOMING, this, store).headers)


def _meta(session: StoreSession, store: StoreContext, this: Any) -> Record:
    return meta_to_wit(session.get(_INCOMING, this, store).meta())


def _read(session: StoreSession, store: StoreContext, this: Any, max_bytes: int) -> _Ok | _Err:
    stream = session.get(_INCOMING, this, store)
    # 0 would make "at least one byte" impossible; huge values make one call slow.
    want = max(1, min(checked_uint(max_bytes, U32_MAX, "max"), READ_CHUNK_MAX))
    return _io_result(session, lambda b: None if b is None else bytes(b), stream.read, want)


def _write(session: StoreSession, store: StoreContext, this: Any, chunk: bytes) -> _Ok | _Err:
    upload = session.get(_OUTGOING, this, store)
    return _io_result(session, lambda _: None, upload.write, bytes(chunk))


def _finish(session: StoreSession, store: StoreContext, this: Any) -> _Ok | _Err:
    upload = session.get(_OUTGOING, this, store)
    return _io_result(session, response_to_wit, upload.finish)


def _finish_streaming(session: StoreSession, store: StoreContext, this: Any) -> _Ok | _Err:
    upload = session.get(_OUTGOING, this, store)
    return _io_result(session, _own(session, _INCOMING), upload.finish_streaming)


_Handler = Callable[..., Any]

_FUNCS: dict[str, _Handler] = {
    "send": _send,
    "start": _start,
    "upload": _upload,
    "[method]incoming-response.status": _status,
    "[method]incoming-response.headers": _headers,
    "[method]incoming-response.meta": _meta,
    "[method]incoming-response.read": _read,
    "[method]outgoing-body.write": _write,
    "[method]outgoing-body.finish": _finish,
    "[method]outgoing-body.finish-streaming": _finish_streaming,
}


def _drop(session: StoreSession, rep: int) -> None:
    slot = session.resources.pop(rep, None)
    if slot is None:
        return
    try:
        session.run_cleanup(slot.obj.aclose)
    except BaseException:
        log.debug("closing resource %d of capsule %s failed", rep, session.name, exc_info=True)


def _dtor(store: StoreContext, rep: int) -> None:
    # Called by wasmtime-py's own wrapper; it must not raise either.
    try:
        session = _SESSION.get()
        if session is not None:
            _drop(session, rep)
    except BaseException:
        log.exception("resource destructor failed")


# --------------------------------------------------------------------------------------------
# The trampoline


_REGISTRY: dict[int, str] = {}
_NEXT_ID = itertools.count(1)


def _payload_bytes(payload: Any) -> int:
    """Byte-list payload size of a lowered result: bytes, a Record with a ``body``, or an
    option/variant holding one."""
    if isinstance(payload, (bytes, bytearray)):
        return len(payload)
    body = getattr(payload, "body", None)
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    inner = getattr(payload, "payload", None)
    return len(inner) if isinstance(inner, (bytes, bytearray)) else 0


def _lower_result(store: StoreContext, ty: ResultType, value: _Ok | _Err,
                  out: ctypes._Pointer[Any]) -> None:
    # Mirrors ResultType.convert_to_c, but the case is chosen by the caller, not guessed.
    if isinstance(value, _Ok):
        payload_ty, payload, is_ok = ty.ok, value.value, True
    else:
        payload_ty, payload, is_ok = ty.err, value.value, False
    raw_ptr = None
    if payload_ty is not None:
        raw = ffi.wasmtime_component_val_t()
        size = _payload_bytes(payload)
        held = _LOWERING.acquire(size) if size >= _BUDGET_FROM_BYTES else 0
        try:
            payload_ty.convert_to_c(store, payload, ctypes.pointer(raw))
            raw_ptr = ffi.wasmtime_component_val_new(ctypes.byref(raw))
        finally:
            if held:
                _LOWERING.release(held)
    out.contents.kind = ffi.WASMTIME_COMPONENT_RESULT
    out.contents.of.result.is_ok = is_ok
    out.contents.of.result.val = raw_ptr


def _types_for(session: StoreSession, name: str, store: StoreContext,
               ty_raw: Any) -> tuple[list[ValType], ValType | None]:
    cached = session._types.get(name)
    if cached is None:
        fty = FuncType._from_ptr(ty_raw, owner=store)  # owned by wasmtime: not deleted here
        result = fty.result
        cached = ([freeze_type(ty) for _, ty in fty.params],
                  None if result is None else freeze_type(result))
        session._types[name] = cached
    return cached


_REQUEST_IMPORTS = frozenset({"send", "start", "upload"})


def precheck_request(raw: Any, limits: Limits) -> ErrorCode | None:
    """Refuse an oversized request from its raw C value, before lifting it into Python.

    Lifting costs about a microsecond per list element (wasmtime-py converts one value at a
    time, in host code the epoch deadline cannot interrupt), so a guest could make the host
    spend seconds materialising 100k headers that would be refused anyway. Reads only sizes:
    the URL's bytes, the number of header fields, the body's bytes. ``None`` means "lift it".
    """
    if raw.kind != ffi.WASMTIME_COMPONENT_RECORD.value or raw.of.record.size != 5:
        return None  # not the shape load-time checking admits; the normal path decides
    fields = raw.of.record.data  # method, url, headers, body, options (wit/types.wit)
    url, headers, body = fields[1].val, fields[2].val, fields[3].val
    if url.kind == ffi.WASMTIME_COMPONENT_STRING.value \
            and url.of.string.size > limits.max_url_bytes:
        return ErrorCode.invalid_request(
            RequestPart.URL, f"the URL is longer than {limits.max_url_bytes} bytes")
    if headers.kind == ffi.WASMTIME_COMPONENT_LIST.value \
            and headers.of.list.size > limits.max_request_headers:
        return ErrorCode.invalid_request(
            RequestPart.HEADER, f"more than {limits.max_request_headers} header fields")
    if body.kind == ffi.WASMTIME_COMPONENT_OPTION.value and body.of.option:
        inner = body.of.option.contents
        if inner.kind == ffi.WASMTIME_COMPONENT_LIST.value \
                and inner.of.list.size > limits.max_request_bytes:
            return ErrorCode.request_too_large(limits.max_request_bytes)
    return None


def _invoke(name: str, context: Any, ty_raw: Any, args: Any, nargs: int,
            results: Any, nresults: int) -> int:
    store = StoreContext(context)
    try:
        session = _SESSION.get()
        if session is None:
            raise HostFault("host import called outside a capsule call")
        session.calls += 1
        params, result_ty = _types_for(session, name, store, ty_raw)
        if len(params) != nargs or nresults != (0 if result_ty is None else 1):
            raise HostFault("import signature differs from astrid:http/client")
        refusal = None
        if name in _REQUEST_IMPORTS and nargs == 1:
            refusal = precheck_request(args[0], session.limits)
        if refusal is not None:
            # Lifting would have taken ownership of the argument values; free them here.
            for i in range(nargs):
                ffi.wasmtime_component_val_delete(ctypes.byref(args[i]))
            value: Any = _Err(error_to_wit(refusal))
        else:
            pyargs = [ty.convert_from_c(args[i]) for i, ty in enumerate(params)]
            value = _FUNCS[name](session, store, *pyargs)
        if result_ty is None:
            return 0
        if isinstance(value, (_Ok, _Err)):
            if not isinstance(result_ty, ResultType):
                raise HostFault("import signature differs from astrid:http/client")
            _lower_result(store, result_ty, value, results)
        else:
            result_ty.convert_to_c(store, value, results)
        return 0
    except BaseException as exc:
        message = f"astrid host import {name}: {type(exc).__name__}: {exc}"
        if not isinstance(exc, HostFault):
            log.error("%s", message, exc_info=True)
        err = WasmtimeError(message)
        return ctypes.cast(err._consume(), ctypes.c_void_p).value or 0
    finally:
        store._invalidate()


@ffi.wasmtime_component_func_callback_t  # type: ignore[untyped-decorator]
def _trampoline(data: Any, context: Any, ty_raw: Any, args: Any, nargs: int,
                results: Any, nresults: int) -> int:
    try:
        name = _REGISTRY[data or 0]
    except BaseException:
        return ctypes.cast(WasmtimeError("unknown astrid host import")._consume(),
                           ctypes.c_void_p).value or 0
    return _invoke(name, context, ty_raw, args, nargs, results, nresults)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # type: ignore[untyped-decorator]
def _finalize(data: Any) -> None:
    _REGISTRY.pop(data or 0, None)


def _add_func(instance: Any, name: str) -> None:
    ident = next(_NEXT_ID)
    _REGISTRY[ident] = name
    raw_name = name.encode()
    buf = ctypes.create_string_buffer(raw_name)
    err = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), buf, len(raw_name), _trampoline, ident, _finalize)
    if err:
        raise WasmtimeError._from_ptr(err)


def link_client(linker: Any) -> None:
    """Define every function and resource of `astrid:http/client@0.1.0` on ``linker``.

    The linker must not be locked (no live ``root()`` child).
    """
    with linker.root() as root, root.add_instance(CLIENT_INTERFACE) as client:
        client.add_resource("incoming-response", ResourceType.host(_INCOMING), _dtor)
        client.add_resource("outgoing-body", ResourceType.host(_OUTGOING), _dtor)
        for name in _FUNCS:
            _add_func(client, name)

