"""The wasmtime-py version every patch in this folder was verified against."""

from __future__ import annotations

import importlib.metadata

__all__ = ["VERIFIED_WASMTIME", "installed_wasmtime", "verified"]

#: wasmtime-py major version (as a version prefix) the patches were checked against.
VERIFIED_WASMTIME = "50."


def installed_wasmtime() -> str:
    """The installed wasmtime-py version."""
    return importlib.metadata.version("wasmtime")


def verified() -> bool:
    """Whether the installed wasmtime-py is the verified major version."""
    return installed_wasmtime().startswith(VERIFIED_WASMTIME)
