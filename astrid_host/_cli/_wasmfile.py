"""Recognise a core WebAssembly module given where a component is expected, and say how to
turn it into one.

A Rust (or C, or Go) build's output is a *core module*. Built with ``wit-bindgen``, it already
carries the world's WIT in a ``component-type`` custom section, so tools that read WIT (and
``wasm-tools component wit``) describe it happily, yet the host cannot run it until
``wasm-tools component new`` has made a component of it. Pure byte parsing: no wasmtime.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["core_module_problem", "not_a_component"]

_CORE_PREAMBLE = b"\0asm\x01\x00\x00\x00"
_CUSTOM, _IMPORT = 0, 2


def not_a_component(path: Path) -> str | None:
    """What is wrong when ``path`` holds a core module (``None`` otherwise, and when it
    cannot be read: loading it reports that)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return core_module_problem(str(path), data)


def core_module_problem(shown: str, data: bytes) -> str | None:
    """The message for a core module (``None`` for anything else); ``shown`` is its path."""
    if not data.startswith(_CORE_PREAMBLE):
        return None
    sections = _sections(data)
    carries_wit = any(kind == _CUSTOM and _custom_name(body).startswith("component-type")
                      for kind, body in sections)
    wasi_p1 = any(kind == _IMPORT and b"wasi_snapshot_preview1" in body
                  for kind, body in sections)
    adapt = (" --adapt wasi_snapshot_preview1=wasi_snapshot_preview1.reactor.wasm"
             if wasi_p1 else "")
    if carries_wit:
        return (f"{shown} is a core WebAssembly module, not a component: a compiler's output "
                "that still carries its WIT (a `component-type` section, as wit-bindgen leaves "
                f"it). Make it a component with `wasm-tools component new {shown}{adapt} "
                "-o capsule.wasm` and give that to astrid-host")
    return (f"{shown} is a core WebAssembly module, not a component, and it carries no WIT. "
            f"Make it a component with `wasm-tools component embed wit --world capsule {shown} "
            f"-o embedded.wasm` then `wasm-tools component new embedded.wasm{adapt} "
            "-o capsule.wasm` (wit: the directory of the WIT package it was built against)")


def _sections(data: bytes) -> list[tuple[int, bytes]]:
    """(id, payload) of each section; stops quietly at the first malformed one."""
    found: list[tuple[int, bytes]] = []
    pos = len(_CORE_PREAMBLE)
    while pos < len(data):
        kind = data[pos]
        size, pos = _leb128(data, pos + 1)
        if size is None or pos + size > len(data):
            break
        found.append((kind, data[pos:pos + size]))
        pos += size
    return found


def _custom_name(body: bytes) -> str:
    length, pos = _leb128(body, 0)
    if length is None or pos + length > len(body):
        return ""
    return body[pos:pos + length].decode("utf-8", "replace")


def _leb128(data: bytes, pos: int) -> tuple[int | None, int]:
    """An unsigned LEB128 u32 at ``pos``: (value, position after it), ``None`` if malformed."""
    value = shift = 0
    for _ in range(5):
        if pos >= len(data):
            return None, pos
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos
