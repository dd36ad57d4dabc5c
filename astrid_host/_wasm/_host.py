"""`Host`: the engine, the epoch ticker, the guest-call threads and the compile cache.

One :class:`Host` serves many capsules::

    async with Host(cache_dir="build/cache") as host:
        capsule = await host.load("build/guests/python-example.wasm", policy=policy)
        print(await capsule.run('{"url": "https://example.test/"}'))

Everything a capsule gets from outside comes through its ``http_factory`` object (see
:class:`CapsuleContext`); WASI is linked because toolchains such as componentize-py need it, but
every Store gets an empty ``WasiConfig``: no files, environment, arguments, sockets or stdio.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
from wasmtime import Config, Engine, WasmtimeError, wat2wasm
from wasmtime.component import Linker

from astrid_host._audit._sink import AuditSink
from astrid_host._audit._trail import AuditTrail
from astrid_host._core._astrid_errors import AstridManifestError, ConfigError
from astrid_host._core._astrid_manifest import (
    MANIFEST_NAME,
    AstridManifest,
    is_upstream_manifest,
    parse_astrid_manifest,
)
from astrid_host._core._astrid_state import AstridState
from astrid_host._core._contracts import HttpBackend
from astrid_host._core._limits import Limits
from astrid_host._core._secret_value import Secret
from astrid_host._core._secrets import Secrets
from astrid_host._wasm import _malloc
from astrid_host._wasm._astrid_http import ASTRID_HTTP, ASTRID_HTTP_1_0
from astrid_host._wasm._astrid_io import ASTRID_IO_ERROR, ASTRID_IO_POLL, ASTRID_IO_STREAMS
from astrid_host._wasm._astrid_kv import ASTRID_KV, SqliteKv, default_kv_dir, kv_path
from astrid_host._wasm._astrid_sys import ASTRID_IPC, ASTRID_SYS
from astrid_host._wasm._cache import CompileCache, LoadInfo, default_cache_dir
from astrid_host._wasm._capsule import Capsule, EpochTicker
from astrid_host._wasm._dispatch import HostInterface, link_interface
from astrid_host._wasm._errors import (
    CapsuleClosed,
    CapsuleLoadError,
    CapsuleTrap,
    instantiation_failure,
)
from astrid_host._wasm._loop import Loop, current_loop
from astrid_host._wasm._output import HTTP_INTERFACES
from astrid_host._wasm._typeinfo import check_imports
from astrid_host._wasm._wasmtime_patches import _fastbytes, install_memory_creator

__all__ = ["SERVED", "CapsuleContext", "Host", "HttpFactory", "set_default_http_factory"]

#: The interfaces every capsule may import, each a generated host model with its adapter:
#: our own `astrid:http@0.1.0` and upstream Astrid's (docs/astrid.md).
SERVED: tuple[HostInterface, ...] = (
    *HTTP_INTERFACES, ASTRID_IO_ERROR, ASTRID_IO_POLL, ASTRID_IO_STREAMS, ASTRID_HTTP,
    ASTRID_HTTP_1_0, ASTRID_SYS, ASTRID_IPC, ASTRID_KV)

_COMPONENT_PREAMBLE = b"\0asm\x0d\x00\x01\x00"
_MODULE_PREAMBLE = b"\0asm\x01\x00\x00\x00"


@dataclass(frozen=True)
class CapsuleContext:
    """What an ``http_factory`` gets to build one capsule's HTTP client.

    name: the capsule's name (for logs).
    policy: the egress policy given to :meth:`Host.load` (``None``: the factory decides; the
        default client then denies everything).
    limits: the capsule's effective :class:`Limits`.
    resolver, classifier, ssl_context: the host-wide overrides given to :class:`Host`
        (``None``: the network layer's defaults: system DNS, the real address classifier,
        certifi-verified TLS). Tests inject fakes here.
    io_limiter: the host-wide limiter on concurrent network operations of all capsules.
    options: the ``factory_options`` given to :class:`Host`, passed through untouched.
    secrets: the capsule's own copies of the secrets given to :meth:`Host.load` (the client
        owns them and wipes them when it closes).
    audit: the host's audit sink (``None``: no audit trail).

    A factory of its own must hand ``secrets`` and ``audit`` to the client it builds (as the
    default one does): a client without them fills in no secret and writes no record.
    """

    name: str
    policy: Any
    limits: Limits
    resolver: Any = None
    classifier: Any = None
    ssl_context: Any = None
    io_limiter: anyio.CapacityLimiter | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    secrets: Secrets = field(default_factory=Secrets)
    audit: AuditSink | None = None


#: Builds the per-capsule HTTP object; it must implement the contract in docs/dev/contracts.md.
HttpFactory = Callable[[CapsuleContext], HttpBackend]


_default_factory: HttpFactory | None = None


def set_default_http_factory(factory: HttpFactory) -> None:
    """Set the factory a :class:`Host` uses when it is given none.

    The wasm layer does not know the network layer; the composition root
    (``astrid_host._compose``, run when ``astrid_host`` is imported) wires in ``CapsuleHttp``.
    """
    global _default_factory
    _default_factory = factory


def _default() -> HttpFactory:
    if _default_factory is None:
        raise RuntimeError("no default http_factory: import astrid_host (its composition root "
                           "wires the network layer in) or pass http_factory=")
    return _default_factory


def engine_fingerprint() -> str:
    """The engine settings that shape compiled code: part of every compile cache key."""
    return (f"consume_fuel=1;epoch_interruption=1;memory_creator=1;memory_init_cow=0;"
            f"machine={platform.machine()};"
            f"platform={sys.platform}")


class Host:
    """Runs capsules. Use as ``async with Host(...) as host`` on a trio or asyncio event loop.

    The host and its capsules belong to the event loop that entered it: using them with no
    loop, or from another loop, raises :class:`EventLoopError` naming the fix.

    cache_dir: where compiled components are kept (default ``$ASTRID_CACHE_DIR`` or
        ``~/.cache/astrid-host``); ``use_cache=False`` compiles every time.
    limits: the default :class:`Limits` of every capsule (``load(limits=...)`` overrides).
    http_factory: builds each capsule's HTTP client from a :class:`CapsuleContext`
        (default: the network layer's ``CapsuleHttp``).
    resolver, classifier, ssl_context, factory_options: passed to the factory in the context.
    max_threads: guest calls running at once across all capsules (each holds a thread).
    max_io: network operations in flight at once across all capsules.
    progress: where "compiling..." goes on a slow first load (default stderr, TTY only).
    audit: the audit trail every capsule's requests are written to (``docs/audit.md``): an
        :class:`AuditTrail` or a path (opened when the host starts, closed when it closes;
        ``AuditError`` if unusable), or any ``AuditSink`` (used, never closed, by the host).
    kv_dir: where upstream Astrid capsules' `astrid:kv` stores live, one SQLite file per
        capsule name (default ``$ASTRID_KV_DIR`` or ``~/.local/share/astrid-host/kv``).
    malloc_threshold_bytes: glibc's malloc thresholds, set process-wide on start (``_malloc``).
    """

    def __init__(
        self,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        use_cache: bool = True,
        limits: Limits | None = None,
        http_factory: HttpFactory | None = None,
        resolver: Any = None,
        classifier: Any = None,
        ssl_context: Any = None,
        max_threads: int = 8,
        max_io: int = 64,
        progress: TextIO | None = None,
        factory_options: Mapping[str, Any] | None = None,
        audit: AuditTrail | str | os.PathLike[str] | AuditSink | None = None,
        kv_dir: str | os.PathLike[str] | None = None,
        malloc_threshold_bytes: int | None = None,
    ) -> None:
        if max_threads < 1 or max_io < 1:
            raise ValueError("max_threads and max_io must be at least 1")
        if isinstance(audit, (str, os.PathLike)):
            audit = AuditTrail(audit)
        if audit is not None and not isinstance(audit, (AuditTrail, AuditSink)):
            raise TypeError(f"audit must be an AuditTrail, a path or an AuditSink, not "
                            f"{type(audit).__name__}")
        self._audit_config = audit
        self._audit: AuditSink | None = None if isinstance(audit, AuditTrail) else audit
        self.limits = limits if limits is not None else Limits()
        self._factory: HttpFactory = http_factory or _default()
        self._host_options = dict(resolver=resolver, classifier=classifier,
                                  ssl_context=ssl_context)
        # Not **kwargs: a misspelt Host parameter must be an error, not a silent option.
        self._extra_options = dict(factory_options or {})
        directory = None if not use_cache else (cache_dir if cache_dir is not None
                                                else default_cache_dir())
        self.cache = CompileCache(
            directory,
            wasmtime_version=importlib.metadata.version("wasmtime"),
            engine_fingerprint=engine_fingerprint(),
            progress=progress,
        )
        self._max_threads = max_threads
        self._malloc_threshold = _malloc.check_threshold(malloc_threshold_bytes)
        self._kv_dir = kv_dir
        self._max_io = max_io
        self._capsules: set[Capsule] = set()
        self._stack: AsyncExitStack | None = None
        self._engine: Engine | None = None
        self._linker: Linker | None = None
        self._loop: Loop | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._io_limiter: anyio.CapacityLimiter | None = None
        self._ticker: EpochTicker | None = None
        self._ticker_scope: anyio.CancelScope | None = None
        self._closed = False
        #: What the last :meth:`load` did: cache hit or compile, and how long it took.
        self.last_load: LoadInfo | None = None

    # -- lifecycle

    async def __aenter__(self) -> Host:
        if self._stack is not None or self._closed:
            raise RuntimeError("a Host can be entered only once")
        loop = current_loop("entering a Host")
        if isinstance(self._audit_config, AuditTrail):
            self._audit = await anyio.to_thread.run_sync(self._audit_config.open)
        _fastbytes.install()  # bulk list<u8> conversion: stock costs ~1 s per MiB
        if self._malloc_threshold is not None:
            _malloc.apply(self._malloc_threshold)
        cfg = Config()
        cfg.consume_fuel = True
        cfg.epoch_interruption = True
        # The host owns every linear memory, so the body lane can copy straight into it.
        install_memory_creator(cfg)
        self._engine = Engine(cfg)
        linker = Linker(self._engine)
        linker.add_wasip2()
        for interface in SERVED:
            link_interface(linker, interface)
        self._linker = linker
        self._limiter = anyio.CapacityLimiter(self._max_threads)
        self._io_limiter = anyio.CapacityLimiter(self._max_io)
        stack = AsyncExitStack()
        group = await stack.enter_async_context(anyio.create_task_group())
        self._ticker = EpochTicker(self._engine)
        # The ticker's own scope, not the task group's: that one also covers the body of the
        # `async with Host()` block, which aclose() (callable from any task) must not cancel.
        self._ticker_scope = anyio.CancelScope()
        group.start_soon(self._tick, self._ticker, self._ticker_scope,
                         name="astrid epoch ticker")
        stack.callback(self._ticker_scope.cancel)  # runs before the task group exits
        self._loop = loop
        self._stack = stack
        return self

    @staticmethod
    async def _tick(ticker: EpochTicker, scope: anyio.CancelScope) -> None:
        with scope:
            await ticker.run()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
        # The ticker's task group is exited here, in the task that entered it: AnyIO requires
        # that, so aclose() (callable from any task) only cancels it.
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def aclose(self) -> None:
        """Close every capsule and stop the epoch ticker. Idempotent; callable from any task
        (the host's resources are fully released when its ``async with`` block ends)."""
        if self._closed:
            return
        if self._loop is not None:
            self._loop.check("Host.aclose()")
        self._closed = True
        with anyio.CancelScope(shield=True):
            for capsule in list(self._capsules):
                await capsule.aclose()
            if isinstance(self._audit_config, AuditTrail) and self._audit is not None:
                await anyio.to_thread.run_sync(self._audit.close)
        if self._ticker_scope is not None:
            self._ticker_scope.cancel()

    # -- loading

    async def load(
        self,
        source: str | os.PathLike[str] | bytes | bytearray,
        *,
        policy: Any = None,
        limits: Limits | None = None,
        name: str | None = None,
        astrid: Any = None,
        secrets: Mapping[str, Secret] | None = None,
        declared_secrets: Iterable[str] | None = None,
        config: Mapping[str, str] | None = None,
    ) -> Capsule:
        """Compile (or fetch from the cache) and instantiate a component.

        ``source`` is a path, or the component's bytes (binary, or WAT text as bytes).
        ``secrets``: name → :class:`Secret` the capsule may use as ``{{secret:NAME}}`` in a
        header value (only towards each secret's origins); ``declared_secrets``: the names its
        manifest declares (``Manifest.secrets``: then only those may be used). The capsule
        gets its own copies of the values, wiped when it closes. A bad name or value raises
        ``SecretError``.
        Raises :class:`CapsuleLoadError` naming the problem (unreadable, not a component,
        imports the host does not provide, ...); the host stays usable. ``astrid`` is an
        upstream Astrid capsule's state (``AstridState``: configuration, publish ACL).

        ``source`` may also be an upstream Astrid capsule: its directory or its
        ``Capsule.toml`` (docs/astrid.md). The manifest names the component, its ``net``
        entries become the policy (``policy`` can only narrow it: its rules and methods must
        allow a request too, its ``local`` entries are the operator's local allowance), its
        ``[publish]`` ACL and its ``[env]`` defaults, overridden by ``config``, become the
        capsule's Astrid state. A malformed manifest or configuration is a
        :class:`CapsuleLoadError`.
        """
        if self._loop is not None:
            self._loop.check("Host.load()")
        if self._closed or self._engine is None or self._linker is None:
            raise CapsuleClosed(name or "host")
        upstream = await self._read_upstream(source, name)
        manifest: AstridManifest | None = None
        if upstream is not None:
            manifest, source = upstream
            name = name or manifest.package.name
            if declared_secrets is None:  # its `type = "secret"` [env] keys
                declared_secrets = manifest.secret_names
        elif config is not None:
            raise ValueError("config= applies to an upstream Astrid capsule (a directory or "
                             "Capsule.toml), not to a bare component")
        checked = Secrets.build(secrets, declared_secrets)
        if manifest is not None:
            assert name is not None
            try:
                settings = manifest.resolve_config(config or {})
            except ConfigError as exc:
                raise CapsuleLoadError(name, str(exc)) from None
            policy = manifest.policy_under(policy)
            kv = SqliteKv(kv_path(self._kv_dir if self._kv_dir is not None
                                  else default_kv_dir(), name))
            astrid = AstridState(name, config=settings, publish=manifest.publish, kv=kv)
        wasm, default_name = await self._read_source(source, name)
        name = name or default_name
        wasm = _to_component_binary(name, wasm)
        engine = self._engine
        try:
            result = await anyio.to_thread.run_sync(
                lambda: self.cache.load(engine, wasm, name=name), limiter=self._limiter)
        except WasmtimeError as exc:
            raise CapsuleLoadError(name, f"does not compile: {exc}") from None
        self.last_load = result.info()
        component = result.component
        assert component is not None
        del result
        mismatch = check_imports(component, engine, [i.model for i in SERVED])
        if mismatch is not None:
            raise CapsuleLoadError(name, mismatch)
        effective = limits if limits is not None else self.limits
        ctx = CapsuleContext(name=name, policy=policy, limits=effective,
                             io_limiter=self._io_limiter, options=dict(self._extra_options),
                             secrets=checked.copy(), audit=self._audit, **self._host_options)
        backend = self._factory(ctx)
        assert self._limiter is not None and self._ticker is not None and self._loop is not None
        try:
            capsule = Capsule(name=name, engine=engine, linker=self._linker,
                              component=component, limits=effective, backend=backend,
                              thread_limiter=self._limiter, ticker=self._ticker,
                              loop=self._loop,
                              on_close=self._capsules.discard, astrid=astrid)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await backend.aclose()
            raise
        # Registered before instantiating so that a host closing meanwhile closes it too.
        self._capsules.add(capsule)
        try:
            await capsule._start()
        except CapsuleTrap as exc:
            await capsule.aclose()
            raise CapsuleLoadError(name, instantiation_failure(
                exc.message, component, engine, [i.model.id for i in SERVED])) from None
        except BaseException:
            await capsule.aclose()
            raise
        if self._closed:  # the host closed while this load was instantiating
            await capsule.aclose()
            raise CapsuleClosed(name)
        return capsule

    async def _read_upstream(self, source: str | os.PathLike[str] | bytes | bytearray,
                             name: str | None) -> tuple[AstridManifest, Path] | None:
        """For an upstream capsule directory or ``Capsule.toml``: its manifest and component
        path; ``None`` for anything else (a component)."""
        if isinstance(source, (bytes, bytearray)):
            return None
        path = Path(source)
        toml = path / MANIFEST_NAME if await anyio.Path(path).is_dir() else path
        if toml.suffix != ".toml":
            return None
        text, _ = await self._read_source(toml, name)
        what = name or path.name
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise CapsuleLoadError(what, f"{toml} is not UTF-8 text") from None
        if not is_upstream_manifest(decoded):
            raise CapsuleLoadError(what, f"{toml} is not an upstream Astrid manifest (no "
                                   "[[component]]); astrid-host's own manifest is read with "
                                   "load_manifest, which names the component to load")
        try:
            manifest = parse_astrid_manifest(decoded)
        except AstridManifestError as exc:
            raise CapsuleLoadError(what, f"{toml}: {exc}") from None
        return manifest, toml.parent / manifest.component.file

    async def _read_source(self, source: str | os.PathLike[str] | bytes | bytearray,
                           name: str | None) -> tuple[bytes, str]:
        if isinstance(source, (bytes, bytearray)):
            return bytes(source), "capsule"
        path = Path(source)
        try:
            data = await anyio.Path(path).read_bytes()
        except OSError as exc:
            raise CapsuleLoadError(name or path.name, f"cannot read {path}: "
                                   f"{exc.strerror or exc}") from None
        return data, path.stem


def _to_component_binary(name: str, wasm: bytes) -> bytes:
    if wasm.startswith(_MODULE_PREAMBLE):
        raise CapsuleLoadError(name, "this is a core wasm module, not a component "
                                     "(wrap it with `wasm-tools component new`)")
    if wasm.startswith(b"\0asm"):
        if not wasm.startswith(_COMPONENT_PREAMBLE):
            raise CapsuleLoadError(name, "unsupported wasm binary version/layer "
                                         f"{wasm[4:8].hex()}")
        return wasm
    if not wasm.lstrip().startswith((b"(", b";;")):
        raise CapsuleLoadError(name, "not a wasm component (no \\0asm header, not WAT text)")
    try:
        binary = bytes(wat2wasm(wasm.decode("utf-8")))
    except (WasmtimeError, UnicodeDecodeError) as exc:
        raise CapsuleLoadError(name, f"invalid WAT text: {exc}") from None
    if not binary.startswith(_COMPONENT_PREAMBLE):
        raise CapsuleLoadError(name, "this WAT text is a core module, not a component")
    return binary
