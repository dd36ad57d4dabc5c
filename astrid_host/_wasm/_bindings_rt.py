"""Runtime support for generated bindings: the names their code uses, in one import.

Generated modules (``astrid_host/bindings``) describe each WIT type once with the descriptors
of :mod:`astrid_host._core._witschema` and convert with the wasm layer's single converter,
:mod:`astrid_host._wasm._convert` (``rt.lower`` before a call, ``rt.lift`` after it) — the
same converter the host's own imports use. What is only theirs is here: the capsule they call
(:class:`CallTarget`) and the lifetime of guest resource handles.

This module is part of the wasm layer: it is the only place generated code touches wasmtime.
"""

from __future__ import annotations

from typing import Any, Protocol

from astrid_host._core._witschema import (
    BOOL,
    CHAR,
    F32,
    F64,
    S8,
    S16,
    S32,
    S64,
    STRING,
    U8,
    U16,
    U32,
    U64,
    BytesTy,
    EnumTy,
    Err,
    FlagsTy,
    HandleTy,
    ListTy,
    Ok,
    OptionTy,
    RecordTy,
    ResultTy,
    Some,
    TupleTy,
    Ty,
    VariantTy,
    unwrap,
)
from astrid_host._wasm._convert import UnrepresentableValue, classes, lift, lower, tagged

__all__ = [
    "BOOL", "CHAR", "F32", "F64", "S8", "S16", "S32", "S64", "STRING", "U8", "U16", "U32",
    "U64",
    "BytesTy", "CallTarget", "ClosedHandle", "EnumTy", "Err", "FlagsTy", "HandleTy", "ListTy",
    "Ok", "OptionTy", "RecordTy", "ResultTy", "Some", "TupleTy", "Ty", "UnrepresentableValue",
    "VariantTy", "WithOutput", "classes", "drop_handle", "lift", "lower", "tagged", "unwrap",
]


class CallTarget(Protocol):
    """What generated world classes call into: a loaded capsule.

    ``name`` is a world-level export (``"run"``) or ``"<interface-id>#<function>"`` for a
    function of an exported interface. Arguments and result are wasmtime-py values.
    """

    async def call(self, name: str, /, *args: Any) -> Any:
        """Call the export ``name`` with already-lowered arguments."""
        ...


class ClosedHandle(Exception):
    """A method was called on a resource object after its ``close()`` (the caller's bug)."""


async def drop_handle(capsule: Any, handle: Any) -> None:
    """Drop a guest resource handle through the capsule's ``drop_resource(handle)``."""
    drop = getattr(capsule, "drop_resource", None)
    if drop is None:
        raise NotImplementedError(
            f"{type(capsule).__name__} cannot drop resource handles (no drop_resource method)")
    await drop(handle)


class WithOutput:
    """A :class:`CallTarget` whose calls ask the capsule for output (`astrid:http/output`):
    generated bindings over it return the export's result as usual, and :attr:`output` holds
    the bytes the last call wrote::

        target = WithOutput(capsule)
        answer = await CapsuleWorld(target).run(input)
        body = target.output

    ``output`` is ``b""`` before the first call, for a call that wrote nothing, and after a
    call that raised (its output is discarded, see ``Capsule.call_with_output``). It belongs
    to the target, not to a call: tasks calling at the same time each use their own target.
    """

    def __init__(self, capsule: Any) -> None:
        self.capsule = capsule
        #: What the last call wrote.
        self.output = b""

    async def call(self, name: str, /, *args: Any) -> Any:
        """``capsule.call_with_output(name, *args)``: its value; its output in :attr:`output`."""
        self.output = b""
        done = await self.capsule.call_with_output(name, *args)
        self.output = done.output
        return done.value

    async def drop_resource(self, handle: Any) -> None:
        """Drop a guest resource handle through the capsule (what generated handles call)."""
        await self.capsule.drop_resource(handle)
