"""Runtime support for generated bindings: typed Python values ⇄ wasmtime-py component values.

Generated modules describe each WIT type once with the descriptors below (``RecordTy``,
``VariantTy``, ...) and call :meth:`Ty.lower` before a call and :meth:`Ty.lift` after it.

wasmtime-py 50 represents a variant, option or result as a *bare* payload unless the
Python classes of its cases overlap, in which case it wants a tagged ``Variant``
(``VariantLikeType._tagged`` in ``wasmtime/component/_types.py``). :meth:`Ty.classes`
mirrors its ``add_classes`` exactly so both sides agree on which form to use. When lowering
a bare payload wasmtime-py picks the *first* case whose classes accept it (``isinstance``),
so some values cannot be sent at all (``flag(true)`` after a ``u32`` case: a ``bool`` is an
``int``); :class:`UnrepresentableValue` reports those instead of sending the wrong case.

This module is part of the wasm layer: it is the only place generated code touches wasmtime.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from wasmtime.component import Record, ResourceAny, ResourceHost, Variant

__all__ = [
    "BOOL",
    "CHAR",
    "F32",
    "F64",
    "S8",
    "S16",
    "S32",
    "S64",
    "STRING",
    "U8",
    "U16",
    "U32",
    "U64",
    "BytesTy",
    "CallTarget",
    "ClosedHandle",
    "EnumTy",
    "Err",
    "FlagsTy",
    "HandleTy",
    "ListTy",
    "Ok",
    "OptionTy",
    "RecordTy",
    "ResultTy",
    "Some",
    "TupleTy",
    "Ty",
    "UnrepresentableValue",
    "VariantTy",
    "drop_handle",
    "unwrap",
]

T = TypeVar("T")
E = TypeVar("E")
_T_co = TypeVar("_T_co", covariant=True)


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


class UnrepresentableValue(TypeError):
    """The caller passed a value wasmtime-py 50 cannot lower faithfully.

    Raised instead of letting wasmtime-py silently send a different case (see the module
    docstring). The fix is on the WIT side: reorder the cases or make their types distinct.
    """


@dataclass(frozen=True)
class Some(Generic[T]):
    """The present case of an ``option`` whose payload can itself be ``None``
    (``option<option<T>>`` is ``Some[T | None] | None``)."""

    value: T


@dataclass(frozen=True)
class Ok(Generic[T]):
    """The ``ok`` case of a ``result`` that is passed as a value (a parameter or nested)."""

    value: T


@dataclass(frozen=True, eq=True)
class Err(Exception, Generic[E]):
    """The ``err`` case of a ``result``: raised by a binding whose function returned ``err``,
    and used as a value where a result is a parameter or nested in another type."""

    value: E

    def __str__(self) -> str:
        return f"err: {self.value!r}"


def unwrap(result: Ok[T] | Err[Any]) -> T:
    """The ``ok`` payload, or raise the :class:`Err`."""
    if isinstance(result, Err):
        raise result
    return result.value


class Ty(Generic[T]):
    """Describes one WIT type: how it lowers to and lifts from wasmtime-py values."""

    #: The WIT spelling, for error messages.
    wit: str = "?"

    def lower(self, value: T, ctx: Any = None) -> Any:
        """Convert a typed Python value to wasmtime-py's representation."""
        raise NotImplementedError

    def lift(self, raw: Any, ctx: Any = None) -> T:
        """Convert wasmtime-py's representation to the typed Python value."""
        raise NotImplementedError

    def classes(self) -> frozenset[type]:
        """The Python classes wasmtime-py uses for this type (its ``add_classes``)."""
        raise NotImplementedError

    def _expected(self, value: Any) -> TypeError:
        return TypeError(f"expected a value of WIT type {self.wit}, got {value!r}")


class _BoolTy(Ty[bool]):
    wit = "bool"

    def lower(self, value: bool, ctx: Any = None) -> Any:
        if not isinstance(value, bool):
            raise self._expected(value)
        return value

    def lift(self, raw: Any, ctx: Any = None) -> bool:
        return bool(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({bool})


class _IntTy(Ty[int]):
    def __init__(self, wit: str, bits: int, signed: bool) -> None:
        self.wit = wit
        self.lo = -(1 << (bits - 1)) if signed else 0
        self.hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def lower(self, value: int, ctx: Any = None) -> Any:
        # wasmtime-py does not range-check: 2**64 as a u64 silently becomes 0.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._expected(value)
        if not self.lo <= value <= self.hi:
            raise OverflowError(f"{value} is out of range for WIT {self.wit} "
                                f"({self.lo}..{self.hi})")
        return value

    def lift(self, raw: Any, ctx: Any = None) -> int:
        return int(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({int})


class _FloatTy(Ty[float]):
    def __init__(self, wit: str) -> None:
        self.wit = wit

    def lower(self, value: float, ctx: Any = None) -> Any:
        # wasmtime-py accepts only `float`; an int is a valid float argument in Python.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._expected(value)
        return float(value)

    def lift(self, raw: Any, ctx: Any = None) -> float:
        return float(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({float})


class _StrTy(Ty[str]):
    def __init__(self, wit: str) -> None:
        self.wit = wit

    def lower(self, value: str, ctx: Any = None) -> Any:
        if not isinstance(value, str) or (self.wit == "char" and len(value) != 1):
            raise self._expected(value)
        return value

    def lift(self, raw: Any, ctx: Any = None) -> str:
        return str(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({str})


BOOL: Ty[bool] = _BoolTy()
S8: Ty[int] = _IntTy("s8", 8, True)
U8: Ty[int] = _IntTy("u8", 8, False)
S16: Ty[int] = _IntTy("s16", 16, True)
U16: Ty[int] = _IntTy("u16", 16, False)
S32: Ty[int] = _IntTy("s32", 32, True)
U32: Ty[int] = _IntTy("u32", 32, False)
S64: Ty[int] = _IntTy("s64", 64, True)
U64: Ty[int] = _IntTy("u64", 64, False)
F32: Ty[float] = _FloatTy("f32")
F64: Ty[float] = _FloatTy("f64")
CHAR: Ty[str] = _StrTy("char")
STRING: Ty[str] = _StrTy("string")


class BytesTy(Ty[bytes]):
    """``list<u8>`` as :class:`bytes`."""

    wit = "list<u8>"

    def lower(self, value: bytes, ctx: Any = None) -> Any:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise self._expected(value)
        return bytes(value)

    def lift(self, raw: Any, ctx: Any = None) -> bytes:
        return bytes(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({bytes})


class ListTy(Ty[list[T]]):
    """``list<T>`` (other than ``list<u8>``) as a Python :class:`list`."""

    def __init__(self, element: Ty[T]) -> None:
        self.element = element
        self.wit = f"list<{element.wit}>"

    def lower(self, value: list[T], ctx: Any = None) -> Any:
        if not isinstance(value, (list, tuple)):
            raise self._expected(value)
        return [self.element.lower(v, ctx) for v in value]

    def lift(self, raw: Any, ctx: Any = None) -> list[T]:
        return [self.element.lift(v, ctx) for v in raw]

    def classes(self) -> frozenset[type]:
        return frozenset({list})


class TupleTy(Ty[Any]):
    """``tuple<...>`` as a Python :class:`tuple`."""

    def __init__(self, *items: Ty[Any]) -> None:
        self.items = items
        self.wit = "tuple<" + ", ".join(i.wit for i in items) + ">"

    def lower(self, value: Any, ctx: Any = None) -> Any:
        if not isinstance(value, tuple) or len(value) != len(self.items):
            raise self._expected(value)
        return tuple(t.lower(v, ctx) for t, v in zip(self.items, value, strict=True))

    def lift(self, raw: Any, ctx: Any = None) -> Any:
        return tuple(t.lift(v, ctx) for t, v in zip(self.items, raw, strict=True))

    def classes(self) -> frozenset[type]:
        return frozenset({tuple})


class RecordTy(Ty[T]):
    """A ``record`` as a frozen dataclass; ``fields`` are (WIT name, attribute, type)."""

    def __init__(self, cls: type[T], fields: Sequence[tuple[str, str, Ty[Any]]]) -> None:
        self.cls = cls
        self.fields = tuple(fields)
        self.wit = cls.__name__

    def lower(self, value: T, ctx: Any = None) -> Any:
        if not isinstance(value, self.cls):
            raise self._expected(value)
        # A real `Record` (not the dataclass) because wasmtime-py's untagged-variant lowering
        # picks a record case with isinstance(value, Record).
        out = Record()
        for wit_name, attr, ty in self.fields:
            setattr(out, wit_name, ty.lower(getattr(value, attr), ctx))
        return out

    def lift(self, raw: Any, ctx: Any = None) -> T:
        return self.cls(**{attr: ty.lift(getattr(raw, wit_name), ctx)
                           for wit_name, attr, ty in self.fields})

    def classes(self) -> frozenset[type]:
        return frozenset({Record})


_EnumT = TypeVar("_EnumT", bound=enum.Enum)
_FlagT = TypeVar("_FlagT", bound=enum.Flag)


class EnumTy(Ty[_EnumT]):
    """An ``enum`` as an :class:`enum.Enum` whose values are the WIT case names."""

    def __init__(self, cls: type[_EnumT]) -> None:
        self.cls = cls
        self.wit = cls.__name__

    def lower(self, value: _EnumT, ctx: Any = None) -> Any:
        if not isinstance(value, self.cls):
            raise self._expected(value)
        return value.value

    def lift(self, raw: Any, ctx: Any = None) -> _EnumT:
        return self.cls(raw)

    def classes(self) -> frozenset[type]:
        return frozenset({str})


class FlagsTy(Ty[_FlagT]):
    """``flags`` as an :class:`enum.Flag`; ``names`` pairs each member with its WIT name."""

    def __init__(self, cls: type[_FlagT], names: Sequence[tuple[_FlagT, str]]) -> None:
        self.cls = cls
        self.names = tuple(names)
        self.wit = cls.__name__

    def lower(self, value: _FlagT, ctx: Any = None) -> Any:
        if not isinstance(value, self.cls):
            raise self._expected(value)
        return {name for member, name in self.names if member in value}

    def lift(self, raw: Any, ctx: Any = None) -> _FlagT:
        out = self.cls(0)
        for member, name in self.names:
            if name in raw:
                out |= member
        return out

    def classes(self) -> frozenset[type]:
        return frozenset({set})


class _VariantLike(Ty[T]):
    """Shared tagging logic for variant, option and result (wasmtime-py's VariantLikeType)."""

    def _cases(self) -> Sequence[tuple[str, Ty[Any] | None]]:
        raise NotImplementedError

    def _case_classes(self, ty: Ty[Any] | None) -> frozenset[type]:
        return frozenset({object}) if ty is None else ty.classes()

    def tagged(self) -> bool:
        """Whether wasmtime-py wants a ``Variant`` for this type (its ``_tagged``)."""
        seen: set[type] = set()
        for _, ty in self._cases():
            case = self._case_classes(ty)
            if case & seen:
                return True
            seen |= case
        return False

    def classes(self) -> frozenset[type]:
        if self.tagged():
            return frozenset({Variant})
        out: set[type] = set()
        for _, ty in self._cases():
            out |= self._case_classes(ty)
        return frozenset(out)

    def _lower_case(self, tag: str, payload: Any, ctx: Any) -> Any:
        ty = dict(self._cases())[tag]
        raw = None if ty is None else ty.lower(payload, ctx)
        if self.tagged():
            return Variant(tag) if ty is None else Variant(tag, raw)
        # wasmtime-py picks the first case that accepts the bare value; make sure that is ours.
        for name, case_ty in self._cases():
            if case_ty is None:
                accepts = raw is None
            else:
                accepts = isinstance(raw, tuple(case_ty.classes()))
            if accepts:
                if name != tag:
                    raise UnrepresentableValue(
                        f"wasmtime-py 50 would send this {tag!r} value of {self.wit} as case "
                        f"{name!r} (bare payloads are matched by Python class, first case wins)"
                    )
                return raw
        raise self._expected(payload)

    def _lift_case(self, raw: Any, ctx: Any) -> tuple[str, Any]:
        cases = self._cases()
        if self.tagged():
            if not isinstance(raw, Variant):
                raise TypeError(f"{self.wit}: wasmtime-py returned {raw!r}, not a Variant")
            by_tag = dict(cases)
            if raw.tag not in by_tag:
                raise TypeError(f"{self.wit}: unknown case {raw.tag!r}")
            ty = by_tag[raw.tag]
            return raw.tag, None if ty is None else ty.lift(raw.payload, ctx)
        # Bare payload: the case whose classes contain its exact class (so a `bool` is not
        # taken for an `int`), else the one case that accepts anything (`object`).
        fallback: tuple[str, Ty[Any] | None] | None = None
        for name, ty in cases:
            if ty is None:
                if raw is None:
                    return name, None
                continue
            classes = ty.classes()
            if type(raw) in classes:
                return name, ty.lift(raw, ctx)
            if object in classes:
                fallback = (name, ty)
        if fallback is not None and fallback[1] is not None:
            return fallback[0], fallback[1].lift(raw, ctx)
        raise TypeError(f"{self.wit}: cannot tell which case {raw!r} belongs to")


class VariantTy(_VariantLike[T]):
    """A ``variant`` as one class per case; ``cases`` are (WIT name, case class, payload)."""

    def __init__(self, name: str, cases: Sequence[tuple[str, type[Any], Ty[Any] | None]]) -> None:
        self.wit = name
        self.cases = tuple(cases)

    def _cases(self) -> Sequence[tuple[str, Ty[Any] | None]]:
        return [(name, ty) for name, _, ty in self.cases]

    def lower(self, value: T, ctx: Any = None) -> Any:
        for name, cls, ty in self.cases:
            if type(value) is cls:
                payload = None if ty is None else getattr(value, "value")  # noqa: B009
                return self._lower_case(name, payload, ctx)
        raise self._expected(value)

    def lift(self, raw: Any, ctx: Any = None) -> T:
        tag, payload = self._lift_case(raw, ctx)
        for name, cls, ty in self.cases:
            if name == tag:
                result: T = cls() if ty is None else cls(payload)
                return result
        raise TypeError(f"{self.wit}: unknown case {tag!r}")  # pragma: no cover


class OptionTy(_VariantLike[T]):
    """``option<T>`` as ``T | None``, or ``Some[T] | None`` when ``T`` itself may be ``None``."""

    def __init__(self, inner: Ty[Any], wrap: bool = False) -> None:
        self.inner = inner
        self.wrap = wrap
        self.wit = f"option<{inner.wit}>"

    def _cases(self) -> Sequence[tuple[str, Ty[Any] | None]]:
        return [("none", None), ("some", self.inner)]

    def lower(self, value: T, ctx: Any = None) -> Any:
        if value is None:
            return self._lower_case("none", None, ctx)
        if self.wrap:
            if not isinstance(value, Some):
                raise TypeError(f"{self.wit}: expected Some(...) or None, got {value!r}")
            return self._lower_case("some", value.value, ctx)
        return self._lower_case("some", value, ctx)

    def lift(self, raw: Any, ctx: Any = None) -> T:
        tag, payload = self._lift_case(raw, ctx)
        if tag == "none":
            return None  # type: ignore[return-value]
        result: Any = Some(payload) if self.wrap else payload
        return result  # type: ignore[no-any-return]


class ResultTy(_VariantLike[T]):
    """``result<ok, err>`` as a value: :class:`Ok` or :class:`Err`."""

    def __init__(self, ok: Ty[Any] | None, err: Ty[Any] | None) -> None:
        self.ok = ok
        self.err = err
        self.wit = f"result<{ok.wit if ok else '_'}, {err.wit if err else '_'}>"

    def _cases(self) -> Sequence[tuple[str, Ty[Any] | None]]:
        return [("ok", self.ok), ("err", self.err)]

    def lower(self, value: T, ctx: Any = None) -> Any:
        if isinstance(value, Ok):
            return self._lower_case("ok", value.value, ctx)
        if isinstance(value, Err):
            return self._lower_case("err", value.value, ctx)
        raise TypeError(f"{self.wit}: expected Ok(...) or Err(...), got {value!r}")

    def lift(self, raw: Any, ctx: Any = None) -> T:
        tag, payload = self._lift_case(raw, ctx)
        result: Any = Ok(payload) if tag == "ok" else Err(payload)
        return result  # type: ignore[no-any-return]


class HandleTy(Ty[T]):
    """An ``own``/``borrow`` resource handle wrapped by a generated resource class.

    ``wrap(ctx, handle)`` builds the Python object from the raw ``ResourceAny``; lowering
    hands back the object's ``handle`` attribute.
    """

    def __init__(self, name: str, wrap: Callable[[Any, Any], T]) -> None:
        self.wit = name
        self.wrap = wrap

    def lower(self, value: T, ctx: Any = None) -> Any:
        handle = getattr(value, "handle", None)
        if handle is None:
            raise self._expected(value)
        return handle

    def lift(self, raw: Any, ctx: Any = None) -> T:
        return self.wrap(ctx, raw)

    def classes(self) -> frozenset[type]:
        return frozenset({ResourceAny, ResourceHost})
