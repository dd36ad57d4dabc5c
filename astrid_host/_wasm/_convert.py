"""The one converter between Python values and wasmtime-py component values.

It reads the pure type descriptors of :mod:`astrid_host._core._witschema`, so the host's own
imports (host models) and generated bindings convert the same way. Each descriptor is compiled
once into a pair of closures (:func:`lowerer`, :func:`lifter`); a call then costs one Python
call per value, not a walk over the descriptor.

wasmtime-py 50 represents a variant, option or result as a *bare* payload unless the Python
classes of its cases overlap, in which case it wants a tagged ``Variant``
(``VariantLikeType._tagged`` in ``wasmtime/component/_types.py``). :func:`classes` mirrors its
``add_classes`` exactly so both sides agree on which form to use. When lowering a bare payload
wasmtime-py picks the *first* case whose classes accept it (``isinstance``), so some values
cannot be sent at all (``flag(true)`` after a ``u32`` case: a ``bool`` is an ``int``);
:class:`UnrepresentableValue` reports those instead of sending the wrong case.

Handles of resources the host implements need a context (``ctx``) with ``own(ty, obj)`` (a new
guest handle for a host object) and ``borrow(ty, handle)`` (the object behind a borrowed
handle), ``ty`` being the :class:`HandleTy`; for a guest's resources ``ctx`` is what the
generated wrapper class gets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from wasmtime.component import Record, ResourceAny, ResourceHost, Variant

from astrid_host._core import _witschema as w

__all__ = ["UnrepresentableValue", "ValueOutOfRange", "classes", "lift", "lifter", "lower",
           "lowerer", "tagged"]

T = TypeVar("T")
Conv = Callable[[Any, Any], Any]


class UnrepresentableValue(TypeError):
    """The caller passed a value wasmtime-py 50 cannot lower faithfully.

    Raised instead of letting wasmtime-py silently send a different case (see the module
    docstring). The fix is on the WIT side: reorder the cases or make their types distinct.
    """


class ValueOutOfRange(ValueError, OverflowError):
    """A number does not fit its WIT integer type (wasmtime-py would wrap it silently).

    ``path`` names the record fields it was found in, outermost first (empty when the number
    was not inside a record).
    """

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(f"{'.'.join(path)}: {message}" if path else message)
        self.message = message
        self.path = path


def lower(ty: w.Ty[T], value: T, ctx: Any = None) -> Any:
    """A typed Python value as wasmtime-py's representation of ``ty``."""
    return lowerer(ty)(value, ctx)


def lift(ty: w.Ty[T], raw: Any, ctx: Any = None) -> T:
    """wasmtime-py's representation of ``ty`` as the typed Python value."""
    result: T = lifter(ty)(raw, ctx)
    return result


_LOWER: dict[w.Ty[Any], Conv] = {}
_LIFT: dict[w.Ty[Any], Conv] = {}


def lowerer(ty: w.Ty[Any]) -> Conv:
    """``fn(value, ctx)`` lowering values of ``ty`` (compiled once per descriptor)."""
    fn = _LOWER.get(ty)
    if fn is None:
        fn = _LOWER[ty] = _compile_lower(ty)
    return fn


def lifter(ty: w.Ty[Any]) -> Conv:
    """``fn(raw, ctx)`` lifting values of ``ty`` (compiled once per descriptor)."""
    fn = _LIFT.get(ty)
    if fn is None:
        fn = _LIFT[ty] = _compile_lift(ty)
    return fn


def classes(ty: w.Ty[Any]) -> frozenset[type]:
    """The Python classes wasmtime-py uses for ``ty`` (its ``add_classes``)."""
    if isinstance(ty, w.VariantLike):
        if tagged(ty):
            return frozenset({Variant})
        out: set[type] = set()
        for _, case in ty.variant_cases:
            out |= _case_classes(case)
        return frozenset(out)
    if isinstance(ty, w.HandleTy):
        return frozenset({ResourceAny, ResourceHost})
    for kind, found in _CLASSES:
        if isinstance(ty, kind):
            return found
    raise TypeError(f"not a WIT type descriptor: {ty!r}")


_CLASSES: tuple[tuple[type, frozenset[type]], ...] = (
    (w.BoolTy, frozenset({bool})), (w.IntTy, frozenset({int})), (w.FloatTy, frozenset({float})),
    (w.StrTy, frozenset({str})), (w.BytesTy, frozenset({bytes})), (w.ListTy, frozenset({list})),
    (w.TupleTy, frozenset({tuple})), (w.RecordTy, frozenset({Record})),
    (w.EnumTy, frozenset({str})), (w.FlagsTy, frozenset({set})),
)


def _case_classes(ty: w.Ty[Any] | None) -> frozenset[type]:
    return frozenset({object}) if ty is None else classes(ty)


def tagged(ty: w.VariantLike[Any]) -> bool:
    """Whether wasmtime-py wants a ``Variant`` for this type (its ``_tagged``)."""
    seen: set[type] = set()
    for _, case in ty.variant_cases:
        found = _case_classes(case)
        if found & seen:
            return True
        seen |= found
    return False


def _expected(ty: w.Ty[Any], value: Any) -> TypeError:
    return TypeError(f"expected a value of WIT type {ty.wit}, got {value!r}")


def _in_field(name: str, exc: ValueOutOfRange) -> ValueOutOfRange:
    return ValueOutOfRange(exc.message, (name, *exc.path))


# --- lowering --------------------------------------------------------------------------------


def _compile_lower(ty: w.Ty[Any]) -> Conv:
    if isinstance(ty, w.BoolTy):
        def bool_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, bool):
                raise _expected(ty, v)
            return v
        return bool_
    if isinstance(ty, w.IntTy):
        lo, hi = ty.lo, ty.hi

        def int_(v: Any, ctx: Any) -> Any:
            if isinstance(v, bool) or not isinstance(v, int):
                raise _expected(ty, v)
            if not lo <= v <= hi:
                # wasmtime-py does not range-check: 2**64 as a u64 silently becomes 0.
                raise ValueOutOfRange(f"{v} is out of range for WIT {ty.wit} ({lo}..{hi})")
            return v
        return int_
    if isinstance(ty, w.FloatTy):
        def float_(v: Any, ctx: Any) -> Any:
            # wasmtime-py accepts only `float`; an int is a valid float argument in Python.
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _expected(ty, v)
            return float(v)
        return float_
    if isinstance(ty, w.StrTy):
        char = ty.wit == "char"

        def str_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, str) or (char and len(v) != 1):
                raise _expected(ty, v)
            return v
        return str_
    if isinstance(ty, w.BytesTy):
        def bytes_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, (bytes, bytearray, memoryview)):
                raise _expected(ty, v)
            return bytes(v)
        return bytes_
    if isinstance(ty, w.ListTy):
        element = lowerer(ty.element)

        def list_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, (list, tuple)):
                raise _expected(ty, v)
            return [element(x, ctx) for x in v]
        return list_
    if isinstance(ty, w.TupleTy):
        items = [lowerer(i) for i in ty.items]

        def tuple_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, tuple) or len(v) != len(items):
                raise _expected(ty, v)
            return tuple(f(x, ctx) for f, x in zip(items, v, strict=True))
        return tuple_
    if isinstance(ty, w.RecordTy):
        return _lower_record(ty)
    if isinstance(ty, w.EnumTy):
        def enum_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, ty.cls):
                raise _expected(ty, v)
            return v.value
        return enum_
    if isinstance(ty, w.FlagsTy):
        def flags_(v: Any, ctx: Any) -> Any:
            if not isinstance(v, ty.cls):
                raise _expected(ty, v)
            return {name for member, name in ty.names if member in v}
        return flags_
    if isinstance(ty, w.VariantLike):
        return _lower_variant(ty)
    if isinstance(ty, w.HandleTy):
        return _lower_handle(ty)
    raise TypeError(f"not a WIT type descriptor: {ty!r}")


def _lower_record(ty: w.RecordTy[Any]) -> Conv:
    fields = [(wit_name, attr, lowerer(f)) for wit_name, attr, f in ty.fields]
    cls = ty.cls

    def record(v: Any, ctx: Any) -> Any:
        if not isinstance(v, cls):
            raise _expected(ty, v)
        # A real `Record` (not the dataclass): wasmtime-py lowers records by attribute, and
        # its untagged-variant lowering picks a record case with isinstance(value, Record).
        out = Record()
        d = out.__dict__
        for wit_name, attr, f in fields:
            try:
                d[wit_name] = f(getattr(v, attr), ctx)
            except ValueOutOfRange as exc:
                raise _in_field(wit_name, exc) from None
        return out
    return record


def _lower_variant(ty: w.VariantLike[Any]) -> Conv:
    cases = {name: None if case is None else lowerer(case) for name, case in ty.variant_cases}
    is_tagged = tagged(ty)
    # Which case wasmtime-py will pick for a bare value: the first whose classes accept it.
    accepts = [(name, None if case is None else tuple(classes(case)))
               for name, case in ty.variant_cases]

    def variant(v: Any, ctx: Any) -> Any:
        tag, payload = ty.split(v)
        try:
            f = cases[tag]
        except KeyError:
            raise TypeError(f"{ty.wit}: unknown case {tag!r}") from None
        raw = None if f is None else f(payload, ctx)
        if is_tagged:
            return Variant(tag) if f is None else Variant(tag, raw)
        for name, found in accepts:
            if (raw is None) if found is None else isinstance(raw, found):
                if name != tag:
                    raise UnrepresentableValue(
                        f"wasmtime-py 50 would send this {tag!r} value of {ty.wit} as case "
                        f"{name!r} (bare payloads are matched by Python class, first case wins)"
                    )
                return raw
        raise _expected(ty, payload)
    return variant


def _lower_handle(ty: w.HandleTy[Any]) -> Conv:
    if ty.host:
        if ty.mode != "own":
            raise TypeError(f"a host cannot lend borrow<{ty.wit}> to a guest")

        def own(v: Any, ctx: Any) -> Any:
            return ctx.own(ty, v)
        return own

    def guest(v: Any, ctx: Any) -> Any:
        handle = getattr(v, "handle", None)
        if handle is None:
            raise _expected(ty, v)
        return handle
    return guest


# --- lifting ---------------------------------------------------------------------------------


def _compile_lift(ty: w.Ty[Any]) -> Conv:
    if isinstance(ty, w.BoolTy):
        return lambda raw, ctx: bool(raw)
    if isinstance(ty, w.IntTy):
        lo, hi = ty.lo, ty.hi

        def int_(raw: Any, ctx: Any) -> Any:
            if isinstance(raw, bool) or not isinstance(raw, int) or not lo <= raw <= hi:
                raise ValueOutOfRange(f"{raw!r} does not fit WIT {ty.wit}")
            return raw
        return int_
    if isinstance(ty, w.FloatTy):
        return lambda raw, ctx: float(raw)
    if isinstance(ty, w.StrTy):
        def str_(raw: Any, ctx: Any) -> Any:
            if not isinstance(raw, str):
                raise _expected(ty, raw)
            return raw
        return str_
    if isinstance(ty, w.BytesTy):
        def bytes_(raw: Any, ctx: Any) -> Any:
            if not isinstance(raw, (bytes, bytearray)):
                raise _expected(ty, raw)
            return bytes(raw)
        return bytes_
    if isinstance(ty, w.ListTy):
        element, container = lifter(ty.element), ty.container
        return lambda raw, ctx: container([element(x, ctx) for x in raw])
    if isinstance(ty, w.TupleTy):
        items = [lifter(i) for i in ty.items]
        return lambda raw, ctx: tuple(f(x, ctx) for f, x in zip(items, raw, strict=True))
    if isinstance(ty, w.RecordTy):
        return _lift_record(ty)
    if isinstance(ty, w.EnumTy):
        return lambda raw, ctx: ty.cls(raw)
    if isinstance(ty, w.FlagsTy):
        def flags_(raw: Any, ctx: Any) -> Any:
            out = ty.cls(0)
            for member, name in ty.names:
                if name in raw:
                    out |= member
            return out
        return flags_
    if isinstance(ty, w.VariantLike):
        return _lift_variant(ty)
    if isinstance(ty, w.HandleTy):
        return _lift_handle(ty)
    raise TypeError(f"not a WIT type descriptor: {ty!r}")


def _lift_record(ty: w.RecordTy[Any]) -> Conv:
    fields = [(wit_name, attr, lifter(f)) for wit_name, attr, f in ty.fields]
    cls = ty.cls

    def record(raw: Any, ctx: Any) -> Any:
        values = {}
        for wit_name, attr, f in fields:
            try:
                values[attr] = f(getattr(raw, wit_name), ctx)
            except ValueOutOfRange as exc:
                raise _in_field(wit_name, exc) from None
        return cls(**values)
    return record


def _lift_variant(ty: w.VariantLike[Any]) -> Conv:
    cases = {name: None if case is None else lifter(case) for name, case in ty.variant_cases}
    make = ty.make
    if tagged(ty):
        def tagged_(raw: Any, ctx: Any) -> Any:
            if not isinstance(raw, Variant):
                raise TypeError(f"{ty.wit}: wasmtime-py returned {raw!r}, not a Variant")
            try:
                f = cases[raw.tag]
            except KeyError:
                raise TypeError(f"{ty.wit}: unknown case {raw.tag!r}") from None
            return make(raw.tag, None if f is None else f(raw.payload, ctx))
        return tagged_
    # Bare payload: the case whose classes contain its exact class (so a `bool` is not taken
    # for an `int`), else the one case that accepts anything (`object`).
    exact: list[tuple[str, frozenset[type], Conv]] = []
    empty: str | None = None
    fallback: tuple[str, Conv] | None = None
    for name, case in ty.variant_cases:
        if case is None:
            empty = empty or name
            continue
        found = classes(case)
        exact.append((name, found, cases[name]))  # type: ignore[arg-type]
        if object in found:
            fallback = (name, lifter(case))

    def bare(raw: Any, ctx: Any) -> Any:
        if raw is None and empty is not None:
            return make(empty, None)
        for name, found, f in exact:
            if type(raw) in found:
                return make(name, f(raw, ctx))
        if fallback is not None:
            return make(fallback[0], fallback[1](raw, ctx))
        raise TypeError(f"{ty.wit}: cannot tell which case {raw!r} belongs to")
    return bare


def _lift_handle(ty: w.HandleTy[Any]) -> Conv:
    if ty.host:
        if ty.mode != "borrow":
            raise TypeError(f"a host import cannot take own<{ty.wit}> from a guest")
        return lambda raw, ctx: ctx.borrow(ty, raw)
    return lambda raw, ctx: ty.wrap(ctx, raw)
