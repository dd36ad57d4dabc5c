"""Which Store a guest resource handle belongs to.

A handle an export returned is only valid in the Store that made it: using it with another
Store aborts the process (a Rust panic in wasmtime), and a Store replaced after a trap no
longer knows it. Every handle in an export's result is tagged with its Store, and arguments are
checked against the live Store before the guest runs.
"""

from __future__ import annotations

from typing import Any

from wasmtime import Store
from wasmtime.component import Record, ResourceAny, Variant

__all__ = ["dropped", "holds_foreign_resource", "mark_dropped", "store_of", "tag_resources"]

_STORE_TAG = "_astrid_store"
_DROPPED_TAG = "_astrid_dropped"


def tag_resources(value: Any, store: Store) -> None:
    """Remember which Store each resource handle in an export's result belongs to."""
    if isinstance(value, ResourceAny):
        setattr(value, _STORE_TAG, store)
    elif isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, (int, float, str, bytes, bool)):
                tag_resources(item, store)
    elif isinstance(value, Variant):
        tag_resources(value.payload, store)
    elif isinstance(value, Record):
        for item in vars(value).values():
            tag_resources(item, store)



def holds_foreign_resource(value: Any, store: Store) -> bool:
    """True if ``value`` contains a resource handle not tagged with ``store``, or one
    already dropped."""
    if isinstance(value, ResourceAny):
        return getattr(value, _STORE_TAG, None) is not store or hasattr(value, _DROPPED_TAG)
    if isinstance(value, (list, tuple)):
        return any(holds_foreign_resource(item, store) for item in value
                   if not isinstance(item, (int, float, str, bytes, bool)))
    if isinstance(value, Variant):
        return holds_foreign_resource(value.payload, store)
    if isinstance(value, Record):
        return any(holds_foreign_resource(item, store) for item in vars(value).values())
    return False


def store_of(handle: Any) -> Store | None:
    """The Store a tagged handle belongs to."""
    store: Store | None = getattr(handle, _STORE_TAG, None)
    return store


def dropped(handle: Any) -> bool:
    """Whether the handle's guest resource was dropped through the capsule."""
    return hasattr(handle, _DROPPED_TAG)


def mark_dropped(handle: Any) -> None:
    """Remember that the handle was dropped (using it again would trap the Store)."""
    setattr(handle, _DROPPED_TAG, True)
