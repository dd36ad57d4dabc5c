"""Serving an interface from its generated host model: linking, and one guest → host call.

A :class:`HostInterface` pairs a generated :class:`~astrid_host._core._witschema.Interface`
(the functions, their types, the resources) with the adapter that implements it: one handler
per function and the rule that turns a failure into the interface's error value. Everything
else is here, the same for every interface:

1. wasmtime calls the trampoline (``_wasmtime_patches._hostfunc``) on the worker thread
   running the guest; it hands over the raw call.
2. :func:`_invoke` finds the :class:`StoreSession` of that Store (a context variable set by the
   capsule before it enters the guest), reads the guest's declared types once per Store,
   lets the adapter refuse the arguments from their sizes (``precheck``), lifts them with the
   single converter into host-model values, and runs the handler.
3. A function returning ``result`` gets its handler's :class:`Ok` / :class:`Err` lowered with
   the case chosen here; any exception in the handler or in lowering its ``ok`` value becomes
   ``err`` through the adapter's ``error_value``. A value the guest got wrong while lifting
   becomes ``err`` through ``guest_error``. Nothing is raised into wasmtime but a trap: a
   :class:`HostFault`, or any failure of a function without an error channel.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wasmtime.component import ResourceHost, ResourceType

from astrid_host._core import _witschema as wit
from astrid_host._core._witschema import Err, Ok
from astrid_host._wasm._convert import lifter, lowerer
from astrid_host._wasm._errors import HostFault
from astrid_host._wasm._session import StoreSession, current_session
from astrid_host._wasm._wasmtime_patches import HostCall, add_func

__all__ = ["HOST_FAULT", "LOWERING_BUDGET_BYTES", "Call", "HostInterface", "link_interface",
           "logged_fault", "payload_bytes"]

log = logging.getLogger("astrid_host.wasm")

#: A handler: ``handler(call, *params)`` with host-model parameters; returns the host-model
#: result (for a ``result`` function, an :class:`Ok` or an :class:`Err`).
Handler = Callable[..., Any]


@dataclass(frozen=True)
class HostInterface:
    """A served interface: its generated model and the adapter that implements it.

    handlers: function name → :data:`Handler`.
    error_value(call, exc): the ``err`` value for an exception a handler raised (log it if it
        is the host's fault); raise to trap instead.
    guest_error(exc): the ``err`` value for an exception raised while lifting the guest's
        arguments, or ``None`` when it is the host's fault (a trap; the default).
    precheck(call, func): an ``err`` value refusing the raw arguments (``call.raw_arg(i)``)
        before they are lifted, or ``None``.
    lower_error(value, call): lowers an ``err`` value (default: the generated descriptor's).
    """

    model: wit.Interface
    handlers: Mapping[str, Handler]
    error_value: Callable[[Call, BaseException], Any]
    guest_error: Callable[[Exception], Any | None] = lambda exc: None
    precheck: Callable[[Call, wit.Func], Any | None] | None = None
    lower_error: Callable[[Any, Any], Any] | None = None


#: What an ``err`` caused by the host's own failure tells the capsule.
HOST_FAULT = "host fault; details are in the host log"


def logged_fault(interface: str, error: Callable[[], Any]) -> Callable[[Call, BaseException], Any]:
    """An ``error_value`` for an interface whose handlers fail only by the host's fault: log
    the failure with the capsule's name and answer a fresh ``error()``."""
    def answer(call: Call, exc: BaseException) -> Any:
        log.error("%s import failed in capsule %s", interface, call.session.name, exc_info=exc)
        return error()
    return answer


def handled(model: wit.Interface, handlers: Mapping[str, Handler]) -> wit.Interface:
    """``model`` reduced to the functions that have a handler: a capsule importing any other
    one then fails to load naming it, instead of linking a function that cannot answer."""
    return replace(model, functions=tuple(f for f in model.functions if f.name in handlers))


# Host resource type ids (any u32 unique within a linker), one per (interface, resource):
# an interface using another's resource refers to the same type.
_KIND_IDS = itertools.count(0xA5710001)
_KINDS: dict[tuple[str, str], int] = {}


_HANDLE_KINDS: dict[wit.HandleTy[Any], int] = {}


def _kind(interface: str, resource: str) -> int:
    key = (interface, resource)
    if key not in _KINDS:
        _KINDS[key] = next(_KIND_IDS)
    return _KINDS[key]


def _handle_kind(ty: wit.HandleTy[Any]) -> int:
    kind = _HANDLE_KINDS.get(ty)
    if kind is None:
        kind = _HANDLE_KINDS[ty] = _kind(ty.interface, ty.wit)
    return kind


class Call(HostCall):
    """One host import call: the raw call, its Store's session and the handle table.

    It is also the converter's context for handles of the host's resources.
    """

    __slots__ = ("session",)
    session: StoreSession

    def own(self, ty: wit.HandleTy[Any], obj: Any) -> ResourceHost:
        """A new guest handle for ``obj`` (an ``own<resource>`` result)."""
        kind = _handle_kind(ty)
        return ResourceHost.own(self.session.add(kind, obj), kind)

    def borrow(self, ty: wit.HandleTy[Any], handle: Any) -> Any:
        """The host object behind a borrowed handle (``HostFault`` when it is not ours)."""
        return self.session.get(_handle_kind(ty), handle, self.store)


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


def payload_bytes(payload: Any) -> int:
    """Byte-list payload size of a result, lowered or not: bytes, a value with a ``body``
    (a response), or an option/variant holding bytes."""
    if isinstance(payload, (bytes, bytearray)):
        return len(payload)
    body = getattr(payload, "body", None)
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    inner = getattr(payload, "payload", None)
    return len(inner) if isinstance(inner, (bytes, bytearray)) else 0


_SESSION = current_session()


class _Served:
    """One function of a served interface, with its converters compiled once."""

    def __init__(self, iface: HostInterface, func: wit.Func) -> None:
        self.iface = iface
        self.func = func
        self.handler = iface.handlers[func.name]
        self.lift = [lifter(ty) for _, ty in func.params]
        result = func.result
        self.is_result = isinstance(result, wit.ResultTy)
        self.lower_value = None if result is None or self.is_result else lowerer(result)
        self.lower_ok = self.lower_err = None
        if isinstance(result, wit.ResultTy):
            self.lower_ok = None if result.ok is None else lowerer(result.ok)
            if iface.lower_error is not None:
                self.lower_err = iface.lower_error
            elif result.err is not None:
                self.lower_err = lowerer(result.err)
        self.differs = f"import signature differs from {iface.model.id.partition('@')[0]}"

    def __call__(self, name: str, call: Call) -> None:
        try:
            session = _SESSION.get()
            if session is None:
                raise HostFault("host import called outside a capsule call")
            call.session = session
            call.read_types(name, session.types)
            if len(call.params) != call.nargs or call.nresults != (call.result is not None) \
                    or self.is_result != call.returns_result:
                raise HostFault(self.differs)
            if self.is_result:
                self._answer(call)
                return
            args = [f(a, call) for f, a in zip(self.lift, call.lift_args(), strict=True)]
            value = self.handler(call, *args)
            if self.lower_value is not None:
                call.set_value(self.lower_value(value, call))
        except HostFault:
            raise
        except BaseException as exc:
            log.error("astrid host import %s: %s: %s", name, type(exc).__name__, exc,
                      exc_info=True)
            raise

    def _answer(self, call: Call) -> None:
        """Run a ``result`` function: every outcome but a trap is ``ok`` or ``err``."""
        value = self._outcome(call)
        size = payload_bytes(value.value)
        held = _LOWERING.acquire(size) if size >= _BUDGET_FROM_BYTES else 0
        try:
            call.set_result(isinstance(value, Ok), value.value)
        finally:
            if held:
                _LOWERING.release(held)

    def _outcome(self, call: Call) -> Ok[Any] | Err[Any]:
        """The handler's answer with its payload lowered to wasmtime-py values."""
        iface = self.iface
        refusal = None if iface.precheck is None else iface.precheck(call, self.func)
        if refusal is not None:
            call.discard_args()
            return self._err(refusal, call)
        try:
            args = [f(a, call) for f, a in zip(self.lift, call.lift_args(), strict=True)]
        except Exception as exc:
            refused = iface.guest_error(exc)
            if refused is None:
                raise
            return self._err(refused, call)
        try:
            value = self.handler(call, *args)
            if isinstance(value, Err):
                return self._err(value.value, call)
            return Ok(None if self.lower_ok is None else self.lower_ok(value.value, call))
        except HostFault:
            raise
        except BaseException as exc:
            return self._err(iface.error_value(call, exc), call)

    def _err(self, value: Any, call: Call) -> Err[Any]:
        return Err(None if self.lower_err is None else self.lower_err(value, call))


def link_interface(linker: Any, iface: HostInterface) -> None:
    """Define every function and resource of ``iface`` on ``linker``.

    The linker must not be locked (no live ``root()`` child).
    """
    model = iface.model
    with linker.root() as root, root.add_instance(model.id) as instance:
        for name, handle in model.resources:
            instance.add_resource(name, ResourceType.host(_handle_kind(handle)), _dtor)
        for func in model.functions:
            add_func(instance, func.name, _Served(iface, func), Call)


def _drop(session: StoreSession, rep: int) -> None:
    slot = session.resources.pop(rep, None)
    if slot is None:
        return
    try:
        session.run_cleanup(slot.obj.aclose)
    except BaseException:
        log.debug("closing resource %d of capsule %s failed", rep, session.name, exc_info=True)


def _dtor(store: Any, rep: int) -> None:
    # Called by wasmtime-py's own wrapper; it must not raise either.
    try:
        session = _SESSION.get()
        if session is not None:
            _drop(session, rep)
    except BaseException:
        log.exception("resource destructor failed")
