"""The host side of upstream Astrid's `astrid:kv/host@1.0.0`: a per-capsule, persistent store
in SQLite (one file per capsule, ``SqliteKv``), bounded by
:class:`~astrid_host._core._astrid_kv.KvLimits`.

The store is the capsule's ``AstridState.kv``; a capsule without one (a bare component loaded
without Astrid state) gets ``unknown("astrid:kv: ...")`` from every function. SQLite work runs
on the guest's worker thread, inside the host call; each operation opens the file, runs in one
transaction and closes it, so nothing is held between calls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from astrid_host._core._astrid_kv import KvLimits, KvRefused, KvStore, key_ok, prefix_ok
from astrid_host._core._wit_astrid_kv import HOST as KV_HOST
from astrid_host._core._wit_astrid_kv import ErrorCode as KvError
from astrid_host._core._wit_astrid_kv import KeyPage
from astrid_host._core._witschema import Err, Ok
from astrid_host._wasm._dispatch import HOST_FAULT, Call, HostInterface, logged_fault

__all__ = ["ASTRID_KV", "SqliteKv", "default_kv_dir", "kv_path"]

log = logging.getLogger("astrid_host.wasm")

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def default_kv_dir() -> Path:
    """``$ASTRID_KV_DIR``, else ``$XDG_DATA_HOME/astrid-host/kv`` (``~/.local/share/...``)."""
    explicit = os.environ.get("ASTRID_KV_DIR")
    if explicit:
        return Path(explicit)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "astrid-host" / "kv"


def kv_path(directory: str | os.PathLike[str], capsule: str) -> Path:
    """The store file of ``capsule`` under ``directory``: its name, made safe as a file name
    (with a digest of the name when that changed it, so two names never share a file)."""
    safe = _SAFE.sub("_", capsule) or "_"
    if safe != capsule or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha256(capsule.encode()).hexdigest()[:16]}"
    return Path(directory) / f"{safe}.sqlite3"


class SqliteKv:
    """One capsule's store in the SQLite file ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str], limits: KvLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or KvLimits()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(_SCHEMA)
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def _key(self, key: str) -> None:
        if not key_ok(key, self.limits):
            raise KvRefused("invalid-key", f"invalid key {key[:64]!r}")

    def _prefix(self, prefix: str) -> None:
        if not prefix_ok(prefix, self.limits):
            raise KvRefused("invalid-key", f"invalid prefix {prefix[:64]!r}")

    def get(self, key: str) -> bytes | None:
        self._key(key)
        with self._tx() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _put(self, db: sqlite3.Connection, key: str, value: bytes) -> None:
        limits = self.limits
        if len(value) > limits.max_value_bytes:
            raise KvRefused("too-large", f"value larger than {limits.max_value_bytes} bytes")
        old = db.execute("SELECT length(CAST(key AS BLOB)) + length(value) FROM kv "
                         "WHERE key = ?", (key,)).fetchone()
        count, total = db.execute("SELECT count(*), coalesce(sum(length(CAST(key AS BLOB)) "
                                  "+ length(value)), 0) FROM kv").fetchone()
        if old is None and count >= limits.max_keys:
            raise KvRefused("quota", f"the store holds {limits.max_keys} keys already")
        size = len(key.encode()) + len(value)
        if total - (old[0] if old else 0) + size > limits.max_total_bytes:
            raise KvRefused("quota", f"the store would exceed {limits.max_total_bytes} bytes")
        db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))

    def set(self, key: str, value: bytes) -> None:
        self._key(key)
        with self._tx() as db:
            self._put(db, key, value)

    def delete(self, key: str) -> None:
        self._key(key)
        with self._tx() as db:
            db.execute("DELETE FROM kv WHERE key = ?", (key,))

    _PREFIXED = "substr(key, 1, ?) = ?"

    def list_keys(self, prefix: str) -> tuple[str, ...]:
        self._prefix(prefix)
        cap = self.limits.max_list_keys
        with self._tx() as db:
            rows = db.execute(f"SELECT key FROM kv WHERE {self._PREFIXED} ORDER BY key "
                              "LIMIT ?", (len(prefix), prefix, cap + 1)).fetchall()
        if len(rows) > cap:
            raise KvRefused("too-large", f"more than {cap} keys: use kv-list-keys-page")
        return tuple(r[0] for r in rows)

    def list_page(self, prefix: str, cursor: str | None, limit: int
                  ) -> tuple[tuple[str, ...], str | None]:
        self._prefix(prefix)
        if cursor is not None:
            self._key(cursor)
        limit = max(1, min(limit, self.limits.max_list_keys))
        with self._tx() as db:
            rows = db.execute(f"SELECT key FROM kv WHERE {self._PREFIXED} AND key > ? "
                              "ORDER BY key LIMIT ?",
                              (len(prefix), prefix, cursor or "", limit + 1)).fetchall()
        keys = tuple(r[0] for r in rows[:limit])
        return keys, (keys[-1] if len(rows) > limit else None)

    def clear_prefix(self, prefix: str) -> int:
        self._prefix(prefix)
        with self._tx() as db:
            return db.execute(f"DELETE FROM kv WHERE {self._PREFIXED}",
                              (len(prefix), prefix)).rowcount

    def cas(self, key: str, expected: bytes | None, new: bytes) -> None:
        self._key(key)
        with self._tx() as db:
            row = db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            current = None if row is None else bytes(row[0])
            if current != expected:
                raise KvRefused("cas-mismatch", f"{key!r} does not hold the expected value")
            self._put(db, key, new)


def _store(call: Call) -> KvStore:
    state = call.session.astrid
    store: KvStore | None = None if state is None else state.kv
    if store is None:
        raise LookupError("astrid:kv: this capsule has no store (load it from its "
                          "Capsule.toml, or give its AstridState a kv store)")
    return store


def _run(call: Call, op: Callable[[KvStore], Any]) -> Ok[Any] | Err[KvError]:
    try:
        return Ok(op(_store(call)))
    except KvRefused as exc:
        return Err(KvError(exc.arm))
    except LookupError as exc:
        return Err(KvError.unknown(str(exc)))
    except (sqlite3.Error, OSError) as exc:
        log.error("astrid:kv store of capsule %s failed", call.session.name, exc_info=exc)
        return Err(KvError.unknown(f"store failure ({type(exc).__name__}); details are in "
                                   "the host log"))


def _page(store: KvStore, prefix: str, cursor: str | None, limit: int) -> KeyPage:
    keys, nxt = store.list_page(prefix, cursor, limit)
    return KeyPage(keys, nxt)


_HANDLERS: dict[str, Callable[..., Any]] = {
    "kv-get": lambda call, key: _run(call, lambda s: s.get(key)),
    "kv-set": lambda call, key, value: _run(call, lambda s: s.set(key, value)),
    "kv-delete": lambda call, key: _run(call, lambda s: s.delete(key)),
    "kv-list-keys": lambda call, prefix: _run(call, lambda s: s.list_keys(prefix)),
    "kv-list-keys-page": lambda call, prefix, cursor, limit: _run(
        call, lambda s: _page(s, prefix, cursor, limit)),
    "kv-clear-prefix": lambda call, prefix: _run(call, lambda s: s.clear_prefix(prefix)),
    "kv-cas": lambda call, key, expected, new: _run(call, lambda s: s.cas(key, expected, new)),
}


#: `astrid:kv/host@1.0.0` as astrid-host serves it (every function).
ASTRID_KV = HostInterface(
    model=KV_HOST,
    handlers=_HANDLERS,
    error_value=logged_fault("astrid:kv", lambda: KvError.unknown(HOST_FAULT)),
)
