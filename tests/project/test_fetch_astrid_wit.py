"""scripts/fetch_astrid_wit.py: upstream's WIT comes from the pinned crate, verified, safely."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
_spec = importlib.util.spec_from_file_location(
    "fetch_astrid_wit", ROOT / "scripts" / "fetch_astrid_wit.py")
assert _spec is not None and _spec.loader is not None
fw = importlib.util.module_from_spec(_spec)
sys.modules["fetch_astrid_wit"] = fw
_spec.loader.exec_module(fw)

PREFIX = "astrid-sys-0.7.2/wit-staging/"


def make_crate(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    """A gzipped tar like a .crate: regular files and (optionally) symlinks, by full name."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return out.getvalue()


GOOD = {
    PREFIX + "root.wit": b"package astrid-root:placeholder;\n",
    PREFIX + "deps/astrid-http@1.1.0/http@1.1.0.wit": b"package astrid:http@1.1.0;\n",
    "astrid-sys-0.7.2/src/lib.rs": b"// not WIT\n",
    "astrid-sys-0.7.2/Cargo.toml": b"[package]\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_only_the_wit_tree_is_taken_with_paths_relative_to_it() -> None:
    members = fw.wit_members(make_crate(GOOD))
    assert [(str(rel), data) for rel, data in members] == [
        ("deps/astrid-http@1.1.0/http@1.1.0.wit", b"package astrid:http@1.1.0;\n"),
        ("root.wit", b"package astrid-root:placeholder;\n"),
    ]


@pytest.mark.parametrize("crate", [
    make_crate({**GOOD, PREFIX + "../../escape.wit": b"x"}),
    make_crate({**GOOD, PREFIX + "deps/../../../escape.wit": b"x"}),
    make_crate(GOOD, links={PREFIX + "deps/link.wit": "/etc/passwd"}),
], ids=["dotdot", "nested-dotdot", "symlink"])
def test_an_unsafe_entry_in_the_wit_tree_refuses_the_whole_crate(crate: bytes) -> None:
    with pytest.raises(fw.FetchError, match=r"unsafe path|not a regular file"):
        fw.wit_members(crate)


@pytest.mark.parametrize(("crate", "problem"), [
    (b"not a tarball", "not a readable .crate"),
    (make_crate({"astrid-sys-0.7.2/src/lib.rs": b""}), "no files under"),
])
def test_a_crate_without_a_wit_tree_is_an_error(crate: bytes, problem: str) -> None:
    with pytest.raises(fw.FetchError, match=problem):
        fw.wit_members(crate)


def test_a_crate_with_another_checksum_is_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    crate = make_crate(GOOD)
    dest = fw.destination(tmp_path)
    with pytest.raises(fw.FetchError, match="sha256"):
        fw.extract(crate, dest, sha256="0" * 64)
    assert not dest.exists()


class FakeCargo:
    """Stands in for cargo: `fetch` puts the crate where `locate` then finds it."""

    def __init__(self, tmp: Path, crate: bytes) -> None:
        self.crate = crate
        self.path = tmp / "cache" / fw.crate_file_name()
        self.fetches = 0
        self.locates = 0

    def fetch(self) -> None:
        self.fetches += 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(self.crate)

    def locate(self) -> Path | None:
        self.locates += 1
        return self.path if self.path.is_file() else None


def test_ensure_fetches_once_then_finds_the_stamp(tmp_path: Path) -> None:
    crate = make_crate(GOOD)
    cargo = FakeCargo(tmp_path, crate)
    build = tmp_path / "build"

    dest = fw.ensure(build, sha256=sha(crate), fetch=cargo.fetch, locate=cargo.locate)
    assert dest == build / "wit" / "astrid-sys-0.7.2"
    assert (dest / "deps/astrid-http@1.1.0/http@1.1.0.wit").read_bytes() == (
        b"package astrid:http@1.1.0;\n")
    assert not (dest / "src").exists()
    assert cargo.fetches == 1

    assert fw.ensure(build, sha256=sha(crate), fetch=cargo.fetch, locate=cargo.locate) == dest
    assert (cargo.fetches, cargo.locates) == (1, 2)  # the second call touched nothing


def test_ensure_uses_a_cached_crate_without_fetching(tmp_path: Path) -> None:
    crate = make_crate(GOOD)
    cargo = FakeCargo(tmp_path, crate)
    cargo.fetch()
    fw.ensure(tmp_path / "build", sha256=sha(crate), fetch=cargo.fetch, locate=cargo.locate)
    assert cargo.fetches == 1  # only ours, above


def test_a_stale_tree_is_replaced_whole(tmp_path: Path) -> None:
    crate = make_crate(GOOD)
    cargo = FakeCargo(tmp_path, crate)
    dest = fw.destination(tmp_path / "build")
    (dest / "deps" / "old@0.1.0").mkdir(parents=True)
    (dest / "deps" / "old@0.1.0" / "old.wit").write_text("package old:old@0.1.0;\n")
    (dest / fw.STAMP).write_text("another checksum\n")

    fw.ensure(tmp_path / "build", sha256=sha(crate), fetch=cargo.fetch, locate=cargo.locate)
    assert not (dest / "deps" / "old@0.1.0").exists()
    assert fw.is_current(dest, sha(crate))


def test_ensure_reports_a_fetch_that_leaves_no_crate(tmp_path: Path) -> None:
    with pytest.raises(fw.FetchError, match="not in"):
        fw.ensure(tmp_path, fetch=lambda: None, locate=lambda: None)


def test_the_pinned_checksum_is_the_one_cargo_locked_for_the_upstream_guests() -> None:
    """Two independent records of the registry's checksum: ours and cargo's lockfiles."""
    locks = sorted(ROOT.glob("guests/rust/astrid-*/Cargo.lock"))
    assert locks, "no upstream guests"
    for lock in locks:
        entry = re.search(
            r'name = "astrid-sys"\nversion = "([^"]+)"\n.*?\nchecksum = "([0-9a-f]+)"',
            lock.read_text(), re.S)
        assert entry is not None, lock
        assert entry.groups() == (fw.VERSION, fw.SHA256), lock


@pytest.mark.slow
def test_the_real_crate_carries_the_upstream_http_wit(tmp_path: Path) -> None:
    """End to end with cargo: fetch (or reuse cargo's cache), verify, extract."""
    if shutil.which("cargo") is None and not Path("/usr/bin/cargo").exists():
        pytest.skip("cargo not installed")
    dest = fw.ensure(tmp_path)
    http = (dest / "deps" / "astrid-http@1.1.0" / "http@1.1.0.wit").read_text()
    assert "package astrid:http@1.1.0;" in http
    assert "http-upload-start: func(" in http
    assert (dest / "deps" / "astrid-guest@1.0.0" / "guest@1.0.0.wit").is_file()
