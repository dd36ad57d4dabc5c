"""The compile cache: compiled components (``.cwasm``) on disk, so a capsule compiles once.

Compiling a componentize-py guest takes 8-17 s; loading its ``.cwasm`` takes milliseconds.
An entry is keyed by the sha256 of the component bytes, the wasmtime version and the engine
configuration, because wasmtime rejects (or, worse, misreads) an artifact made under another
version or another ``Config``. Next to each entry a ``.sha256`` file holds the digest of the
artifact itself: ``Component.deserialize_file`` trusts its input completely, so a truncated or
damaged file must be caught before wasmtime sees it. A missing, damaged or rejected entry is
rebuilt, never fatal; a cache directory that cannot be written only costs the speed-up.

Writes are atomic (temporary file + ``os.replace``) so concurrent hosts never see half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from wasmtime import Engine, WasmtimeError
from wasmtime.component import Component

__all__ = ["CacheResult", "CompileCache", "LoadInfo", "cache_key", "default_cache_dir"]

log = logging.getLogger("astrid_host.cache")

#: Bumped when the layout of the cache directory changes.
_LAYOUT = "v1"


def default_cache_dir() -> Path:
    """``$ASTRID_CACHE_DIR`` when set, else ``~/.cache/astrid-host``."""
    env = os.environ.get("ASTRID_CACHE_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "astrid-host"


def cache_key(component_sha256: str, wasmtime_version: str, engine_fingerprint: str) -> str:
    """The file stem of a cache entry: changes whenever any input that shapes the artifact does.

    Pure: the same three inputs always give the same key, and the key is a safe file name.
    """
    h = hashlib.sha256()
    for part in (_LAYOUT, component_sha256, wasmtime_version, engine_fingerprint):
        h.update(part.encode())
        h.update(b"\0")  # a separator, so ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()


@dataclass(frozen=True)
class LoadInfo:
    """How a component was obtained: from the cache (``hit``) or compiled, and how long it took.

    Holds no reference to the component: a component deserialized from the cache keeps its
    file open (wasmtime maps it) for as long as it lives.
    """

    hit: bool
    seconds: float
    path: Path | None


@dataclass(frozen=True)
class CacheResult(LoadInfo):
    """What :meth:`CompileCache.load` returns: the component and how it was obtained."""

    component: Component | None = None

    def info(self) -> LoadInfo:
        """The same facts without the component."""
        return LoadInfo(self.hit, self.seconds, self.path)


class CompileCache:
    """Loads components through an on-disk cache of compiled artifacts.

    ``directory=None`` disables the disk cache (every load compiles). ``progress`` is where
    the "compiling..." message goes when a compile takes longer than ``progress_after_s`` and
    the stream is a terminal; ``None`` means ``sys.stderr``. ``compiler`` turns bytes into a
    ``Component`` (tests inject a slow one).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None,
        *,
        wasmtime_version: str,
        engine_fingerprint: str,
        progress: TextIO | None = None,
        progress_after_s: float = 1.0,
        compiler: Callable[[Engine, bytes], Component] = Component,
    ) -> None:
        self.directory = None if directory is None else Path(directory)
        self.wasmtime_version = wasmtime_version
        self.engine_fingerprint = engine_fingerprint
        self._progress = progress
        self._progress_after_s = progress_after_s
        self._compiler = compiler

    def path_for(self, wasm: bytes) -> Path | None:
        """Where the artifact for these component bytes lives (``None`` when disabled)."""
        if self.directory is None:
            return None
        digest = hashlib.sha256(wasm).hexdigest()
        key = cache_key(digest, self.wasmtime_version, self.engine_fingerprint)
        return self.directory / f"{key}.cwasm"

    def load(self, engine: Engine, wasm: bytes, *, name: str = "capsule") -> CacheResult:
        """The compiled component for ``wasm``: from the cache when valid, else compiled.

        Blocking (compiling takes seconds): call it from a worker thread. Raises
        ``WasmtimeError`` only when the bytes themselves do not compile.
        """
        start = time.perf_counter()
        path = self.path_for(wasm)
        if path is not None:
            component = self._try_read(engine, path)
            if component is not None:
                return CacheResult(True, time.perf_counter() - start, path, component)
        component = self._compile(engine, wasm, name)
        if path is not None:
            self._try_write(component, path)
        return CacheResult(False, time.perf_counter() - start, path, component)

    def _try_read(self, engine: Engine, path: Path) -> Component | None:
        sidecar = path.with_suffix(".sha256")
        try:
            expected = sidecar.read_text().strip()
            with open(path, "rb") as f:
                actual = hashlib.file_digest(f, "sha256").hexdigest()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("compile cache entry %s unreadable, rebuilding: %s", path, exc)
            return None
        if actual != expected:
            log.warning("compile cache entry %s is damaged (digest mismatch), rebuilding", path)
            return None
        try:
            return Component.deserialize_file(engine, str(path))
        except WasmtimeError as exc:
            # Made by another wasmtime or Config despite the key, or otherwise unusable.
            log.warning("compile cache entry %s rejected by wasmtime, rebuilding: %s", path, exc)
            return None

    def _compile(self, engine: Engine, wasm: bytes, name: str) -> Component:
        # Said before the work starts, whatever stderr is: a Python capsule compiles for tens
        # of seconds, and a silent first load looks like a hang (the CLI prints this line).
        where = (f"cached in {self.directory}" if self.directory is not None
                 else "the compile cache is disabled")
        log.info("compiling %s (%.1f MiB) for its first load (a Python capsule takes tens of "
                 "seconds); later loads take milliseconds (%s)", name,
                 len(wasm) / (1024 * 1024), where)
        stream = self._progress if self._progress is not None else sys.stderr
        announced = threading.Event()
        timer = threading.Timer(self._progress_after_s, _announce(stream, name, wasm, announced))
        timer.daemon = True
        if _is_tty(stream):
            timer.start()
        start = time.perf_counter()
        try:
            return self._compiler(engine, wasm)
        finally:
            timer.cancel()
            if announced.is_set():
                _write(stream, f"astrid-host: compiled {name} in "
                               f"{time.perf_counter() - start:.1f} s (cached for next time)\n")

    def _try_write(self, component: Component, path: Path) -> None:
        try:
            artifact = bytes(component.serialize())
            path.parent.mkdir(parents=True, exist_ok=True)
            # The digest goes first: an entry whose artifact is missing is simply absent, and
            # one whose digest is stale fails the check and is rebuilt.
            digest = hashlib.sha256(artifact).hexdigest().encode()
            _atomic_write(path.with_suffix(".sha256"), digest)
            _atomic_write(path, artifact)
        except (OSError, WasmtimeError) as exc:
            log.warning("cannot write compile cache entry %s: %s", path, exc)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _write(stream: TextIO, text: str) -> None:
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass  # a progress message is never worth failing a load over


def _announce(stream: TextIO, name: str, wasm: bytes, done: threading.Event) -> Callable[[], None]:
    def announce() -> None:
        done.set()
        size_mb = len(wasm) / (1024 * 1024)
        _write(stream, f"astrid-host: compiling {name} ({size_mb:.1f} MiB), "
                       "first load only, this can take a while...\n")
    return announce
