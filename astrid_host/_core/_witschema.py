"""How generated code describes WIT types: pure type descriptors and the values they use.

Both generated outputs of ``astrid-host bindgen`` are built from these: the host models
(``_core/_wit_*.py``: the types of the interfaces the host serves) and the typed bindings
(``astrid_host/bindings``: the exports of a guest). A descriptor says what a WIT type is and
how its Python value looks; converting to and from wasmtime-py values is the wasm layer's
single converter (:mod:`astrid_host._wasm._convert`), which reads these descriptors.

Python mappings: ``list<u8>`` is :class:`bytes`; other lists are :class:`list` (bindings) or
:class:`tuple` (host models, so their frozen values stay hashable); records are frozen
dataclasses; enums :class:`enum.Enum` (values are the WIT names); flags :class:`enum.Flag`;
a variant is one class per case (:class:`VariantTy`, bindings), one :class:`TaggedValue`
class (:class:`TaggedTy`, host models), or whatever a :class:`VariantCodec` makes of it
(:class:`CodecTy`); ``option<T>`` is ``T | None`` (:class:`Some` where ``T`` can be ``None``);
``result`` is :class:`Ok` / :class:`Err`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

__all__ = [
    "BOOL", "CHAR", "F32", "F64", "S8", "S16", "S32", "S64", "STRING", "U8", "U16", "U32",
    "U64",
    "BoolTy", "BytesTy", "CodecTy", "EnumTy", "Err", "FlagsTy", "FloatTy", "Func", "HandleTy",
    "IntTy", "Interface", "ListTy", "Ok", "OptionTy", "RecordTy", "ResultTy", "Some", "StrTy",
    "TaggedTy", "TaggedValue", "TupleTy", "Ty", "VariantCodec", "VariantLike", "VariantTy",
    "unwrap",
]

T = TypeVar("T")
E = TypeVar("E")


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Some(Generic[T]):
    """The present case of an ``option`` whose payload can itself be ``None``
    (``option<option<T>>`` is ``Some[T | None] | None``)."""

    value: T


@dataclass(frozen=True)
class Ok(Generic[T]):
    """The ``ok`` case of a ``result`` that is passed as a value."""

    value: T


@dataclass(frozen=True, eq=True)
class Err(Exception, Generic[E]):
    """The ``err`` case of a ``result``: raised by a binding whose function returned ``err``,
    and used as a value where a result is a parameter, nested, or a host import's answer."""

    value: E

    def __str__(self) -> str:
        return f"err: {self.value!r}"


def unwrap(result: Ok[T] | Err[Any]) -> T:
    """The ``ok`` payload, or raise the :class:`Err`."""
    if isinstance(result, Err):
        raise result
    return result.value


@dataclass(frozen=True)
class TaggedValue:
    """A variant value in a host model: the case name (as in the WIT, dashed) and its payload.

    Generated subclasses set :attr:`CASES` (case → the payload's Python classes, ``None`` for
    no payload) and :attr:`WIT`; construction refuses a payload of the wrong type.
    """

    case: str
    payload: Any = None

    WIT: ClassVar[str] = "variant"
    CASES: ClassVar[Mapping[str, type | tuple[type, ...] | None]] = {}

    def __post_init__(self) -> None:
        if self.case not in self.CASES:
            raise ValueError(f"unknown {self.WIT} case {self.case!r}")
        expected = self.CASES[self.case]
        if expected is None:
            if self.payload is not None:
                raise TypeError(f"{self.WIT} {self.case!r} takes no payload")
            return
        classes = expected if isinstance(expected, tuple) else (expected,)
        if not isinstance(self.payload, classes) or (
                isinstance(self.payload, bool) and bool not in classes):
            names = " or ".join(c.__name__ for c in classes)
            raise TypeError(f"{self.WIT} {self.case!r} needs a {names} payload")

    def __str__(self) -> str:
        return self.case if self.payload is None else f"{self.case}: {self.payload}"


class VariantCodec(Protocol):
    """How a host model represents a WIT variant its own way (see :class:`CodecTy`)."""

    def to_host(self, case: str, payload: Any) -> Any:
        """The host value of ``case(payload)``."""
        ...

    def to_wit(self, value: Any, cases: Sequence[str]) -> tuple[str, Any]:
        """``(case, payload)`` for a host value; ``TypeError`` when it is not one."""
        ...


# --- descriptors ----------------------------------------------------------------------------


class Ty(Generic[T]):
    """Describes one WIT type and the Python values of it."""

    #: The WIT spelling (``u32``, ``list<u8>``, ``request``), for messages and mirrors.
    wit: str = "?"


class BoolTy(Ty[bool]):
    """``bool``."""

    wit = "bool"


class IntTy(Ty[int]):
    """An integer type; ``lo``/``hi`` are its bounds."""

    def __init__(self, wit: str, bits: int, signed: bool) -> None:
        self.wit = wit
        self.lo = -(1 << (bits - 1)) if signed else 0
        self.hi = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1


class FloatTy(Ty[float]):
    """``f32`` or ``f64``."""

    def __init__(self, wit: str) -> None:
        self.wit = wit


class StrTy(Ty[str]):
    """``string``, or ``char`` (a one-character string)."""

    def __init__(self, wit: str) -> None:
        self.wit = wit


BOOL: Ty[bool] = BoolTy()
S8: Ty[int] = IntTy("s8", 8, True)
U8: Ty[int] = IntTy("u8", 8, False)
S16: Ty[int] = IntTy("s16", 16, True)
U16: Ty[int] = IntTy("u16", 16, False)
S32: Ty[int] = IntTy("s32", 32, True)
U32: Ty[int] = IntTy("u32", 32, False)
S64: Ty[int] = IntTy("s64", 64, True)
U64: Ty[int] = IntTy("u64", 64, False)
F32: Ty[float] = FloatTy("f32")
F64: Ty[float] = FloatTy("f64")
CHAR: Ty[str] = StrTy("char")
STRING: Ty[str] = StrTy("string")


class BytesTy(Ty[bytes]):
    """``list<u8>`` as :class:`bytes`."""

    wit = "list<u8>"


class ListTy(Ty[Any]):
    """``list<T>`` (other than ``list<u8>``): a :class:`list`, or a :class:`tuple` when
    ``container`` is ``tuple``."""

    def __init__(self, element: Ty[Any], container: type = list) -> None:
        self.element = element
        self.container = container
        self.wit = f"list<{element.wit}>"


class TupleTy(Ty[Any]):
    """``tuple<...>`` as a Python :class:`tuple`."""

    def __init__(self, *items: Ty[Any]) -> None:
        self.items = items
        self.wit = "tuple<" + ", ".join(i.wit for i in items) + ">"


class RecordTy(Ty[T]):
    """A ``record`` as a frozen dataclass; ``fields`` are (WIT name, attribute, type)."""

    def __init__(self, cls: type[T], fields: Sequence[tuple[str, str, Ty[Any]]],
                 wit: str | None = None) -> None:
        self.cls = cls
        self.fields = tuple(fields)
        self.wit = wit or cls.__name__


_EnumT = TypeVar("_EnumT", bound=enum.Enum)
_FlagT = TypeVar("_FlagT", bound=enum.Flag)


class EnumTy(Ty[_EnumT]):
    """An ``enum`` as an :class:`enum.Enum` whose values are the WIT case names."""

    def __init__(self, cls: type[_EnumT], wit: str | None = None) -> None:
        self.cls = cls
        self.wit = wit or cls.__name__


class FlagsTy(Ty[_FlagT]):
    """``flags`` as an :class:`enum.Flag`; ``names`` pairs each member with its WIT name."""

    def __init__(self, cls: type[_FlagT], names: Sequence[tuple[_FlagT, str]],
                 wit: str | None = None) -> None:
        self.cls = cls
        self.names = tuple(names)
        self.wit = wit or cls.__name__


class VariantLike(Ty[T]):
    """A type with cases (variant, option, result): :attr:`variant_cases` in WIT order, and
    the two halves of its Python mapping, :meth:`split` and :meth:`make`."""

    variant_cases: tuple[tuple[str, Ty[Any] | None], ...] = ()

    def split(self, value: Any) -> tuple[str, Any]:
        """``(case, payload)`` of a Python value; ``TypeError`` when it is not one."""
        raise NotImplementedError

    def make(self, case: str, payload: Any) -> Any:
        """The Python value of ``case(payload)``."""
        raise NotImplementedError

    def _expected(self, value: Any) -> TypeError:
        return TypeError(f"expected a value of WIT type {self.wit}, got {value!r}")


class VariantTy(VariantLike[T]):
    """A ``variant`` as one class per case; ``cases`` are (WIT name, case class, payload)."""

    def __init__(self, name: str, cases: Sequence[tuple[str, type[Any], Ty[Any] | None]]) -> None:
        self.wit = name
        self.cases = tuple(cases)
        self.variant_cases = tuple((n, ty) for n, _, ty in self.cases)

    def split(self, value: Any) -> tuple[str, Any]:
        for name, cls, ty in self.cases:
            if type(value) is cls:
                return name, None if ty is None else value.value
        raise self._expected(value)

    def make(self, case: str, payload: Any) -> Any:
        for name, cls, ty in self.cases:
            if name == case:
                return cls() if ty is None else cls(payload)
        raise TypeError(f"{self.wit}: unknown case {case!r}")


class TaggedTy(VariantLike[T]):
    """A ``variant`` as one :class:`TaggedValue` class; ``cases`` are (WIT name, payload)."""

    def __init__(self, cls: type[T], cases: Sequence[tuple[str, Ty[Any] | None]],
                 wit: str | None = None) -> None:
        self.cls = cls
        self.variant_cases = tuple(cases)
        self.wit = wit or cls.__name__

    def split(self, value: Any) -> tuple[str, Any]:
        if not isinstance(value, self.cls):
            raise self._expected(value)
        return value.case, value.payload  # type: ignore[attr-defined]

    def make(self, case: str, payload: Any) -> Any:
        return self.cls(case, payload)  # type: ignore[call-arg]


class CodecTy(VariantLike[T]):
    """A ``variant`` that a host model represents its own way, through ``codec``
    (e.g. the HTTP method as its wire token)."""

    def __init__(self, wit: str, cases: Sequence[tuple[str, Ty[Any] | None]],
                 codec: VariantCodec) -> None:
        self.wit = wit
        self.variant_cases = tuple(cases)
        self.codec = codec
        self._names = tuple(n for n, _ in self.variant_cases)

    def split(self, value: Any) -> tuple[str, Any]:
        return self.codec.to_wit(value, self._names)

    def make(self, case: str, payload: Any) -> Any:
        return self.codec.to_host(case, payload)


class OptionTy(VariantLike[T]):
    """``option<T>`` as ``T | None``, or ``Some[T] | None`` when ``T`` itself may be ``None``."""

    def __init__(self, inner: Ty[Any], wrap: bool = False) -> None:
        self.inner = inner
        self.wrap = wrap
        self.wit = f"option<{inner.wit}>"
        self.variant_cases = (("none", None), ("some", inner))

    def split(self, value: Any) -> tuple[str, Any]:
        if value is None:
            return "none", None
        if self.wrap:
            if not isinstance(value, Some):
                raise TypeError(f"{self.wit}: expected Some(...) or None, got {value!r}")
            return "some", value.value
        return "some", value

    def make(self, case: str, payload: Any) -> Any:
        if case == "none":
            return None
        return Some(payload) if self.wrap else payload


class ResultTy(VariantLike[T]):
    """``result<ok, err>`` as a value: :class:`Ok` or :class:`Err`."""

    def __init__(self, ok: Ty[Any] | None, err: Ty[Any] | None) -> None:
        self.ok = ok
        self.err = err
        self.wit = f"result<{ok.wit if ok else '_'}, {err.wit if err else '_'}>"
        self.variant_cases = (("ok", ok), ("err", err))

    def split(self, value: Any) -> tuple[str, Any]:
        if isinstance(value, Ok):
            return "ok", value.value
        if isinstance(value, Err):
            return "err", value.value
        raise TypeError(f"{self.wit}: expected Ok(...) or Err(...), got {value!r}")

    def make(self, case: str, payload: Any) -> Any:
        return Ok(payload) if case == "ok" else Err(payload)


class HandleTy(Ty[T]):
    """An ``own``/``borrow`` handle of resource ``wit``.

    A guest's resource (bindings) is wrapped by a generated class: ``wrap(ctx, handle)`` builds
    it, its ``handle`` attribute is what is passed back. A resource the host implements
    (``host=True``, host models; ``interface`` is the id of the interface defining it) is an
    object of the host's own; the converter's context keeps the table that maps guest handles
    to those objects.
    """

    def __init__(self, wit: str, wrap: Any = None, *, mode: Literal["own", "borrow"] = "own",
                 host: bool = False, interface: str = "") -> None:
        self.wit = wit
        self.wrap = wrap
        self.mode = mode
        self.host = host
        self.interface = interface


# --- interfaces -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Func:
    """A function of a served interface, as the component model names it
    (``send``, ``[method]incoming-response.read``).

    ``signature`` is the sha256 of its canonical type text (``render_func`` in
    ``astrid_host._wasm._typeinfo``): a guest declaring it with other types is refused at load.
    """

    name: str
    params: tuple[tuple[str, Ty[Any]], ...]
    result: Ty[Any] | None
    signature: str


@dataclass(frozen=True)
class Interface:
    """An interface the host serves: its full id, resources and functions, in WIT order.

    ``resources`` are (the name the interface exports it under, its ``own`` handle): those it
    defines and those it uses from another interface (the same type, so the same handle).
    """

    id: str
    resources: tuple[tuple[str, HandleTy[Any]], ...]
    functions: tuple[Func, ...]

    def func(self, name: str) -> Func:
        """The function called ``name``."""
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)
