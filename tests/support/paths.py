"""Where things are: the repository root, and the built guests (skip, or fail in CI, without)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["GUESTS", "ROOT", "built_guest", "require_all"]

#: The repository root.
ROOT = Path(__file__).resolve().parents[2]
#: Where scripts/build_guests.py puts the guest components.
GUESTS = ROOT / "build" / "guests"


def require_all() -> bool:
    """Whether nothing may be skipped (``ASTRID_REQUIRE_ALL=1``, set in CI)."""
    return os.environ.get("ASTRID_REQUIRE_ALL") == "1"


def built_guest(file_name: str) -> Path:
    """The path of a built guest, or skip (fail under ASTRID_REQUIRE_ALL=1) when missing."""
    path = GUESTS / file_name
    if not path.is_file():
        message = f"{path.relative_to(ROOT)} is missing: run ./dev guests (needs componentize-py)"
        if require_all():
            pytest.fail(message)
        pytest.skip(message)
    return path
