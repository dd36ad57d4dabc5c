#!/usr/bin/env python3
"""Fetch upstream Astrid's WIT (the ``wit-staging/`` tree of the crates.io crate astrid-sys).

Capsules built with upstream's Rust SDK (``astrid-sdk`` 0.7.2) import ``astrid:http/host@1.1.0``
and companion packages (``astrid:io``, ``astrid:sys``, ``astrid:ipc``, ...). Those WIT files
ship inside the published crate ``astrid-sys`` 0.7.2, so we take them from there at build
time instead of copying them into this repository:

1. If cargo's download cache already holds ``astrid-sys-0.7.2.crate``, use it; otherwise run
   ``cargo fetch`` in a throwaway project that depends on ``astrid-sys = "=0.7.2"`` (the
   ordinary client, so mirrors and credentials configured for cargo apply).
2. Check the ``.crate`` file's sha256 against the checksum pinned below (the one crates.io's
   index lists; the guests' Cargo.lock files record the same value).
3. Extract ``astrid-sys-0.7.2/wit-staging/**`` into ``<build>/wit/astrid-sys-0.7.2/``: regular
   files only, no absolute paths, no ``..``, no links; written to a temporary directory first
   and moved into place, with a stamp holding the checksum.

A second run finds the stamp and does nothing (``--force`` redoes it). The output directory is
a WIT package root (``root.wit`` plus ``deps/astrid-<pkg>@<version>/``) that ``wasm-tools`` and
``wit-bindgen`` accept. Pure standard library; ``scripts/build_guests.py`` imports it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
CRATE = "astrid-sys"
VERSION = "0.7.2"
#: sha256 of astrid-sys-0.7.2.crate as published on crates.io (the index's `cksum`).
SHA256 = "c394d40d1cd5318d1553bf499c55eaa440519c99e2236cf154858b7e579b805c"
#: The directory inside the crate that holds the WIT.
WIT_DIR = "wit-staging"
#: The stamp file (a dot-file, so build_guests.py's cache key ignores it).
STAMP = ".crate-sha256"


class FetchError(Exception):
    """The crate could not be obtained, or it is not the crate we pinned."""


def destination(build: Path) -> Path:
    """Where the WIT of the pinned crate goes under a build directory."""
    return build / "wit" / f"{CRATE}-{VERSION}"


def crate_file_name() -> str:
    return f"{CRATE}-{VERSION}.crate"


def is_current(dest: Path, sha256: str = SHA256) -> bool:
    """True when ``dest`` was extracted from the crate with this checksum."""
    stamp = dest / STAMP
    return stamp.is_file() and stamp.read_text().strip() == sha256


def verify(data: bytes, sha256: str = SHA256) -> None:
    """Raise FetchError unless ``data`` has the pinned sha256."""
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise FetchError(f"{crate_file_name()}: sha256 {got}, expected {sha256} "
                         "(a different crate than the one pinned in scripts/fetch_astrid_wit.py)")


def wit_members(crate: bytes, prefix: str = f"{CRATE}-{VERSION}/{WIT_DIR}/"
                ) -> list[tuple[PurePosixPath, bytes]]:
    """The regular files under ``prefix`` in a ``.crate`` (a gzipped tar), relative to it.

    Raises FetchError for an entry under ``prefix`` that is a link or device, has an absolute
    path or a ``..`` component, or for a crate with no such files.
    """
    found: list[tuple[PurePosixPath, bytes]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(crate), mode="r:gz") as tar:
            for member in tar.getmembers():
                name = member.name
                if not name.startswith(prefix):
                    continue
                rel = PurePosixPath(name[len(prefix):])
                if not rel.parts:
                    continue  # the directory itself
                if rel.is_absolute() or ".." in rel.parts or name.startswith("/"):
                    raise FetchError(f"unsafe path in crate: {name!r}")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise FetchError(f"not a regular file in crate: {name!r}")
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise FetchError(f"unreadable entry in crate: {name!r}")
                found.append((rel, extracted.read()))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise FetchError(f"{crate_file_name()}: not a readable .crate archive: {e}") from e
    if not found:
        raise FetchError(f"{crate_file_name()}: no files under {prefix}")
    return sorted(found)


def extract(crate: bytes, dest: Path, sha256: str = SHA256) -> Path:
    """Verify ``crate`` and write its WIT tree to ``dest`` (replacing what was there)."""
    verify(crate, sha256)
    members = wit_members(crate)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as tmp:
        staged = Path(tmp, "wit")
        for rel, data in members:
            path = staged.joinpath(*rel.parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (staged / STAMP).write_text(sha256 + "\n")
        if dest.exists():
            shutil.move(str(dest), str(Path(tmp, "old")))  # removed with the temp dir
        os.replace(staged, dest)
    return dest


def cargo_home() -> Path:
    return Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")


def cached_crate(home: Path | None = None) -> Path | None:
    """The ``.crate`` file in cargo's download cache (any registry source), if present."""
    base = (home or cargo_home()) / "registry" / "cache"
    hits = sorted(base.glob(f"*/{crate_file_name()}"))
    return hits[0] if hits else None


def cargo_binary() -> str:
    """``$CARGO``, Debian's cargo, or the one on PATH."""
    for candidate in (os.environ.get("CARGO"), "/usr/bin/cargo", shutil.which("cargo")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FetchError("cargo not found (install cargo, or set CARGO)")


def cargo_fetch(cargo: str | None = None) -> None:
    """Download the pinned crate into cargo's cache with ``cargo fetch`` (a throwaway project)."""
    cargo = cargo or cargo_binary()
    with tempfile.TemporaryDirectory(prefix="astrid-wit-fetch.") as tmp:
        project = Path(tmp)
        (project / "src").mkdir()
        (project / "src" / "lib.rs").write_text("")
        (project / "Cargo.toml").write_text(
            '[package]\nname = "astrid-wit-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
            'publish = false\n\n[dependencies]\n'
            f'{CRATE} = "={VERSION}"\n')
        # Only the wasm target's dependencies: astrid-sys's platform crates are not needed.
        proc = subprocess.run(
            [cargo, "fetch", "--quiet", "--target", "wasm32-unknown-unknown"],
            cwd=project, capture_output=True, text=True, check=False,
            env={**os.environ, "CARGO_TARGET_DIR": str(project / "target")})
        if proc.returncode != 0:
            raise FetchError(f"cargo fetch {CRATE} {VERSION} failed:\n{proc.stderr[-4000:]}")


def ensure(build: Path, *, force: bool = False, sha256: str = SHA256,
           fetch: Callable[[], None] = cargo_fetch,
           locate: Callable[[], Path | None] = cached_crate) -> Path:
    """The WIT directory of the pinned crate under ``build``, fetched and extracted if needed.

    ``sha256``, ``fetch`` and ``locate`` are for tests (a fake crate, no cargo).
    """
    dest = destination(build)
    if not force and is_current(dest, sha256):
        return dest
    crate = locate()
    if crate is None:
        fetch()
        crate = locate()
        if crate is None:
            raise FetchError(f"cargo fetch succeeded but {crate_file_name()} is not in "
                             f"{cargo_home() / 'registry' / 'cache'} (source replacement?)")
    return extract(crate.read_bytes(), dest, sha256)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build",
                        help="build directory (default: <repo>/build); output in <dir>/wit/")
    parser.add_argument("--force", action="store_true", help="extract again even if current")
    args = parser.parse_args(argv)
    try:
        dest = ensure(args.build_dir.resolve(), force=args.force)
    except FetchError as e:
        print(f"fetch_astrid_wit: {e}", file=sys.stderr)
        return 1
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
