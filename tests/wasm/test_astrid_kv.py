"""`astrid:kv/host@1.0.0` through a real component: a WAT guest that imports the interface
with its exact WIT types (rendered from the generated model) and exports each function again
through its own core code, so every call crosses the guest boundary both ways and reaches the
capsule's SQLite store. Persistence, per-capsule namespaces, key rules and bounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from astrid_host import Host
from astrid_host._core._astrid_kv import KvLimits, key_ok
from astrid_host._core._astrid_state import AstridState
from astrid_host._core._wit_astrid_kv import HOST as KV_HOST
from astrid_host._wasm._astrid_kv import SqliteKv, kv_path
from tests.support.wat import BUMP_MEMORY
from tests.support.wit_wat import instance_type

#: (function, core parameter count): every parameter of astrid:kv flattens to i32s, and every
#: result is returned through memory (a return area in the lowered call, a pointer lifted).
_FUNCS = (("kv-get", 2), ("kv-set", 4), ("kv-delete", 2), ("kv-list-keys", 2),
          ("kv-list-keys-page", 6), ("kv-clear-prefix", 2), ("kv-cas", 7))
_TYPES = {
    "kv-get": '(param "key" string) (result (result (option (list u8)) (error $ec)))',
    "kv-set": '(param "key" string) (param "value" (list u8)) (result (result (error $ec)))',
    "kv-delete": '(param "key" string) (result (result (error $ec)))',
    "kv-list-keys": '(param "prefix" string) (result (result (list string) (error $ec)))',
    "kv-list-keys-page": '(param "prefix" string) (param "cursor" (option string)) '
                         '(param "limit" u32) (result (result $page (error $ec)))',
    "kv-clear-prefix": '(param "prefix" string) (result (result u64 (error $ec)))',
    "kv-cas": '(param "key" string) (param "expected" (option (list u8))) '
              '(param "new" (list u8)) (result (result (error $ec)))',
}


def _guest() -> bytes:
    """A component that passes each astrid:kv call through its own core code (lowered
    import, lifted export of the same signature), so values cross the guest both ways."""
    core_imports = "".join(
        f'    (import "host" "{f}" (func ${f} (param {"i32 " * (n + 1)})))\n'
        for f, n in _FUNCS)
    core_funcs = "".join(
        f'    (func (export "{f}") (param {"i32 " * n}) (result i32)\n'
        f'      (call ${f} {" ".join(f"(local.get {i})" for i in range(n))} (i32.const 16))\n'
        f'      (i32.const 16))\n' for f, n in _FUNCS)
    lowered = "".join(
        f'  (alias export $kv "{f}" (func $imp-{f}))\n'
        f'  (core func $low-{f} (canon lower (func $imp-{f}) (memory $memory) '
        f'(realloc $realloc)))\n' for f, _ in _FUNCS)
    lifted = "".join(
        f'  (type $ty-{f} (func {_TYPES[f]}))\n'
        f'  (func (export "{f}") (type $ty-{f}) (canon lift (core func $main "{f}") '
        f'(memory $memory) (realloc $realloc)))\n' for f, _ in _FUNCS)
    with_host = " ".join(f'(export "{f}" (func $low-{f}))' for f, _ in _FUNCS)
    return f"""
(component
  (type $kv-type {instance_type(KV_HOST)})
  (import "astrid:kv/host@1.0.0" (instance $kv (type $kv-type)))
  (alias export $kv "error-code" (type $ec))
  (alias export $kv "key-page" (type $page))
{BUMP_MEMORY}{lowered}
  (core module $Main
{core_imports}{core_funcs}  )
  (core instance $host {with_host})
  (core instance $main (instantiate $Main (with "host" (instance $host))))
{lifted})
""".encode()


KV_GUEST = _guest()


async def call(capsule: Any, fn: str, *args: Any) -> Any:
    return await capsule.call(fn, *args)


def tag(value: Any) -> str:
    return str(getattr(value, "tag", value))


async def load(host: Host, store: SqliteKv | None, name: str = "kv") -> Any:
    return await host.load(KV_GUEST, name=name, astrid=AstridState(name, kv=store))


async def test_values_round_trip_and_persist_across_hosts(tmp_path: Path) -> None:
    path = kv_path(tmp_path, "kv")
    async with Host(use_cache=False) as host:
        capsule = await load(host, SqliteKv(path))
        assert await call(capsule, "kv-get", "a") is None
        assert await call(capsule, "kv-set", "a", b"\x00\x01") is None
        assert await call(capsule, "kv-get", "a") == b"\x00\x01"
    async with Host(use_cache=False) as host:  # a new host, the same file
        capsule = await load(host, SqliteKv(path))
        assert await call(capsule, "kv-get", "a") == b"\x00\x01"
        assert await call(capsule, "kv-delete", "a") is None
        assert await call(capsule, "kv-get", "a") is None


async def test_each_capsule_has_its_own_namespace(tmp_path: Path) -> None:
    async with Host(use_cache=False) as host:
        one = await load(host, SqliteKv(kv_path(tmp_path, "one")), "one")
        two = await load(host, SqliteKv(kv_path(tmp_path, "two")), "two")
        await call(one, "kv-set", "k", b"1")
        assert await call(two, "kv-get", "k") is None
    assert kv_path(tmp_path, "one") != kv_path(tmp_path, "two")
    assert kv_path(tmp_path, "../x").parent == tmp_path  # a name never escapes the directory


async def test_listing_paging_clearing_and_cas(tmp_path: Path) -> None:
    async with Host(use_cache=False) as host:
        capsule = await load(host, SqliteKv(kv_path(tmp_path, "kv")))
        for key in ("a.1", "a.2", "a.3", "b.1"):
            await call(capsule, "kv-set", key, key.encode())
        assert list(await call(capsule, "kv-list-keys", "a.")) == ["a.1", "a.2", "a.3"]
        page = await call(capsule, "kv-list-keys-page", "a.", None, 2)
        assert list(page.keys) == ["a.1", "a.2"]
        nxt = getattr(page, "next-cursor")
        page = await call(capsule, "kv-list-keys-page", "a.", nxt, 2)
        assert list(page.keys) == ["a.3"] and getattr(page, "next-cursor") is None
        assert await call(capsule, "kv-clear-prefix", "a.") == 3
        assert list(await call(capsule, "kv-list-keys", "")) == ["b.1"]
        assert await call(capsule, "kv-cas", "new", None, b"v") is None
        assert tag(await call(capsule, "kv-cas", "new", None, b"w")) == "cas-mismatch"
        assert tag(await call(capsule, "kv-cas", "new", b"x", b"w")) == "cas-mismatch"
        assert await call(capsule, "kv-cas", "new", b"v", b"w") is None
        assert await call(capsule, "kv-get", "new") == b"w"


@pytest.mark.parametrize("key", ["", "a\x00b", "tab\there", "e\u0301", "k" * 257])
async def test_invalid_keys_are_invalid_key(tmp_path: Path, key: str) -> None:
    assert not key_ok(key)
    async with Host(use_cache=False) as host:
        capsule = await load(host, SqliteKv(kv_path(tmp_path, "kv")))
        assert tag(await call(capsule, "kv-set", key, b"v")) == "invalid-key"
        assert tag(await call(capsule, "kv-get", key)) == "invalid-key"


async def test_sizes_and_counts_are_bounded(tmp_path: Path) -> None:
    limits = KvLimits(max_value_bytes=8, max_keys=2, max_total_bytes=64, max_list_keys=1)
    async with Host(use_cache=False) as host:
        capsule = await load(host, SqliteKv(kv_path(tmp_path, "kv"), limits))
        assert tag(await call(capsule, "kv-set", "big", b"x" * 9)) == "too-large"
        await call(capsule, "kv-set", "a", b"1")
        await call(capsule, "kv-set", "b", b"2")
        assert tag(await call(capsule, "kv-set", "c", b"3")) == "quota"  # a third key
        assert await call(capsule, "kv-set", "a", b"12345678") is None  # replacing is fine
        assert tag(await call(capsule, "kv-list-keys", "")) == "too-large"  # 2 > 1
    total = KvLimits(max_total_bytes=10)
    async with Host(use_cache=False) as host:
        capsule = await load(host, SqliteKv(kv_path(tmp_path, "t"), total), "t")
        await call(capsule, "kv-set", "k", b"x" * 9)  # 1 + 9 bytes
        assert tag(await call(capsule, "kv-set", "l", b"x")) == "quota"


async def test_a_capsule_without_a_store_gets_unknown_naming_the_interface() -> None:
    async with Host(use_cache=False) as host:
        capsule = await host.load(KV_GUEST, name="bare")
        answer = await call(capsule, "kv-get", "a")
    assert tag(answer) == "unknown" and "astrid:kv" in answer.payload


async def test_an_upstream_capsule_directory_gets_a_store_under_kv_dir(tmp_path: Path) -> None:
    directory = tmp_path / "capsule"
    directory.mkdir()
    (directory / "kv.wasm").write_bytes(KV_GUEST)
    (directory / "Capsule.toml").write_text(
        '[package]\nname = "kv-user"\nversion = "0.1.0"\n'
        '[[component]]\nid = "kv"\nfile = "kv.wasm"\n')
    async with Host(use_cache=False, kv_dir=tmp_path / "kv") as host:
        capsule = await host.load(directory)
        assert await call(capsule, "kv-set", "k", b"v") is None
    assert (tmp_path / "kv" / "kv-user.sqlite3").is_file()
