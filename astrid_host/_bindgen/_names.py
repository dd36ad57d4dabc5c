"""Python spellings of WIT names and the small text helpers every generated module uses."""

from __future__ import annotations

import keyword
from collections.abc import Iterable

__all__ = ["RESERVED", "constant", "docstring", "pascal", "snake", "upper", "wrap"]

# Names generated modules themselves use at top level; a WIT type must not shadow them.
RESERVED = frozenset({"Any", "ClassVar", "Err", "Mapping", "Ok", "Self", "Some", "TypeAlias",
                      "dataclass", "enum", "rt", "wit"})


def snake(name: str) -> str:
    """A WIT kebab-case name as a Python identifier: ``max-bytes`` → ``max_bytes``."""
    out = name.replace("-", "_").lower()
    if keyword.iskeyword(out) or keyword.issoftkeyword(out) or out == "self":
        out += "_"
    return out


def pascal(name: str) -> str:
    """A WIT kebab-case name as a Python class name: ``error-code`` → ``ErrorCode``."""
    out = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
    return out + "_" if out in RESERVED else out


def upper(name: str) -> str:
    """A WIT case name as an enum member: ``first-byte`` → ``FIRST_BYTE``."""
    out = name.replace("-", "_").upper()
    return out if out.isidentifier() and not out.startswith("_") else "V_" + out


def constant(class_name: str) -> str:
    """The descriptor constant of a class name: ``ErrorCode`` → ``ERROR_CODE_TY``."""
    out = [c if not c.isupper() or i == 0 else "_" + c for i, c in enumerate(class_name)]
    return "".join(out).upper() + "_TY"


def docstring(text: str | None, indent: str, extra: Iterable[str] = ()) -> list[str]:
    """Lines of a docstring holding ``text`` (and ``extra`` lines), or none when empty."""
    lines = (text or "").strip().splitlines()
    lines += list(extra)
    if not lines:
        return []
    lines = [ln.rstrip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for ln in lines]
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    body = [f"{indent}{ln}" if ln else "" for ln in lines[1:]]
    return [f'{indent}"""{lines[0]}', *body, f'{indent}"""']


def wrap(head: str, items: list[str], tail: str, limit: int = 100) -> list[str]:
    """``head + ", ".join(items) + tail``, one item per line when that is too long."""
    one = head + ", ".join(items) + tail
    if len(one) <= limit or not items:
        return [one]
    indent = " " * (len(head) - len(head.lstrip()) + 4)
    return [head, *(f"{indent}{item}," for item in items), head[: len(head) - len(head.lstrip())]
            + tail.lstrip()]
