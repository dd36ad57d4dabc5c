"""``astrid-host run`` and ``astrid-host inspect``: run a capsule, or describe one.

``run`` loads a component (optionally with its ``Capsule.toml``), calls its ``run`` export
through the generated ``CapsuleWorld`` bindings, prints the answer on stdout and every egress
decision (one canonical line each) on stderr; with ``--secret`` it gives the capsule secrets,
with ``--audit`` it writes the audit trail (the options of :mod:`._runopts`). ``inspect``
describes a component without running it: what it imports and exports, which capabilities that
means, its size and whether the compile cache already holds it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astrid_host._cli._announce import announce_compiles
from astrid_host._cli._output import (
    STDOUT,
    add_output_option,
    check_output_option,
    save_output,
)
from astrid_host._cli._resolve import OverrideResolver, parse_resolve
from astrid_host._cli._runopts import (
    RunOptions,
    add_reach_options,
    add_run_options,
    read_run_options,
)
from astrid_host._cli._wasmfile import not_a_component
from astrid_host._core._limits import Limits
from astrid_host._core._manifest import Manifest, ManifestError, load_manifest
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._policy_rules import PolicyError

__all__ = ["register"]

EXIT_OK, EXIT_CAPSULE, EXIT_INPUT, EXIT_HOST = 0, 1, 2, 3
_EPILOG = ("Exit status: 0 ok, 1 the capsule answered err, trapped, or had a request denied "
           "by the egress policy, 2 invalid input (arguments, manifest, component), "
           "3 host error.")

#: Imports the host provides, by interface id prefix → what granting them means.
_PROVIDED = (
    ("astrid:http/client@", "net", "outgoing HTTP through the host's egress guard"),
    ("astrid:http/output@", "output", "a body handed to the caller beside the answer"),
    ("astrid:http/host@1.", "net", "upstream Astrid's HTTP through the host's egress guard"),
    ("astrid:io/", "io", "pollables and streams of upstream Astrid's HTTP"),
    ("astrid:kv/host@1.0.0", "kv", "a persistent key/value store of its own (SQLite)"),
    ("astrid:sys/host@1.0.0", "sys", "log, random bytes, configuration from [env]"),
    ("astrid:ipc/host@1.0.0", "ipc", "publish under the manifest's [publish] ACL"),
    ("astrid:http/", "types", "type definitions only"),
    ("wasi:", "wasi", "linked with an empty WasiConfig: no files, env, args, sockets or stdio"),
)


def register(subparsers: Any) -> None:
    """Add the ``run`` and ``inspect`` commands."""
    run = subparsers.add_parser(
        "run", help="load a capsule and call its run export",
        description="Load a capsule, call its `run` export with --input, print the answer on "
                    "stdout and each egress decision on stderr.",
        epilog=_EPILOG)
    run.add_argument("capsule", metavar="CAPSULE",
                     help="a component (.wasm), a Capsule.toml, or a directory holding one")
    run.add_argument("--manifest", metavar="CAPSULE_TOML",
                     help="the capsule's manifest (net rules, methods, limits)")
    run.add_argument("--allow", metavar="RULE", action="append", default=[],
                     help="an extra egress rule such as https://api.example.com (repeatable)")
    add_reach_options(run)
    run.add_argument("--input", metavar="TEXT|@FILE", default="",
                     help="the text passed to run (@path reads a file, @- stdin)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object (answer, error, decisions) instead of text")
    add_output_option(run)
    add_run_options(run)
    run.set_defaults(handler=run_command)

    inspect = subparsers.add_parser(
        "inspect", help="describe a capsule without running it",
        description="Show a component's imports, exports, the capabilities it needs, its "
                    "size and whether the compile cache holds it. Needs wasm-tools.",
        epilog=_EPILOG)
    inspect.add_argument("capsule", metavar="CAPSULE",
                         help="a component (.wasm), a Capsule.toml, or a directory holding one")
    inspect.add_argument("--manifest", metavar="CAPSULE_TOML",
                         help="also show what this manifest asks for")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.set_defaults(handler=inspect_command)


class _UsageError(Exception):
    """The user's arguments or files are unusable (exit 2)."""


def _resolve(capsule: str, manifest: str | None) -> tuple[Path, Manifest | None]:
    """The component path and the manifest, from CAPSULE and --manifest."""
    from astrid_host._cli._astrid import upstream_manifest

    path = Path(capsule)
    if upstream_manifest(capsule) is not None:
        raise _UsageError(f"{capsule} is an upstream Astrid capsule: call its tools and hooks "
                          "with `astrid-host tool` or `astrid-host trigger`")
    found: Manifest | None = None
    if manifest is not None:
        found = load_manifest(manifest)
    if path.is_dir() or path.suffix == ".toml":
        from_capsule = load_manifest(path)
        found = found or from_capsule
        return from_capsule.component, found
    return path, found


def _read_input(spec: str) -> str:
    if not spec.startswith("@"):
        return spec
    source = spec[1:]
    try:
        if source == "-":
            return sys.stdin.read()
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _UsageError(f"cannot read --input {spec}: {exc}") from None


class _Decisions(logging.Handler):
    """Collects egress decision lines and echoes them to stderr."""

    def __init__(self, echo: bool) -> None:
        super().__init__(logging.INFO)
        self.echo = echo
        self.lines: list[str] = []
        self.denied = 0

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        # log_decision writes denials at WARNING: that level is the verdict.
        if record.levelno >= logging.WARNING:
            self.denied += 1
        if self.echo:
            print(line, file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``run``."""
    try:
        component, manifest = _resolve(args.capsule, args.manifest)
        text = _read_input(args.input)
        rules = [*(manifest.net if manifest else ()), *args.allow]
        policy = EgressPolicy.parse(rules, methods=manifest.methods if manifest else None,
                                    local=args.local)
        table = parse_resolve(args.resolve)
        options = read_run_options(args)
        check_output_option(args)
        problem = not_a_component(component)
    except (ManifestError, PolicyError, ValueError, _UsageError) as exc:
        return _fail(args, EXIT_INPUT, "invalid-input", str(exc))
    if problem is not None:
        return _fail(args, EXIT_INPUT, "invalid-capsule", problem)
    limits = manifest.limits_under(Limits()) if manifest else Limits()
    name = manifest.name if manifest else component.stem

    decisions = _Decisions(echo=not args.json)
    logger = logging.getLogger("astrid_host.egress")
    logger.addHandler(decisions)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with announce_compiles():
            import trio

            outcome = trio.run(_run, component, policy, limits, name, text, table, options,
                               manifest.secrets if manifest else None, args.output is not None)
    finally:
        logger.removeHandler(decisions)
        logger.setLevel(old_level)
    if outcome.status == EXIT_OK and decisions.denied:
        outcome.status = EXIT_CAPSULE  # the answer is printed, but the run hit the policy
    if outcome.output is not None:
        try:
            save_output(args.output, outcome.output)
        except ValueError as exc:
            return _fail(args, EXIT_INPUT, "invalid-output", str(exc))
    if args.json:
        doc: dict[str, Any] = {"capsule": name, "ok": outcome.status == EXIT_OK,
                               "decisions": decisions.lines}
        doc["output" if not outcome.kind else "error"] = outcome.payload
        if outcome.status != EXIT_OK and outcome.kind:
            doc["kind"] = outcome.kind
        if outcome.trap is not None:
            doc["trap"] = outcome.trap
        doc["denied"] = decisions.denied
        if outcome.output is not None:
            doc["output_bytes"] = len(outcome.output)
        print(json.dumps(doc, indent=2))
    elif not outcome.kind:
        print(outcome.payload, file=sys.stderr if args.output == STDOUT else sys.stdout)
    else:
        print(f"astrid-host run: {outcome.kind}: {outcome.payload}", file=sys.stderr)
    return outcome.status


@dataclass
class _Outcome:
    """What a run came to: the exit status, the error kind ('' on success), the answer or the
    message, for a trap its details (kind, cause, export, memory limit), and the capsule's
    output when it was asked for one and answered ``ok``."""

    status: int
    kind: str
    payload: str
    trap: dict[str, Any] | None = None
    output: bytes | None = None


async def _run(component: Path, policy: EgressPolicy, limits: Limits, name: str,
               text: str, table: dict[str, list[str]], options: RunOptions,
               declared_secrets: tuple[str, ...] | None, want_output: bool) -> _Outcome:
    """Load and run the capsule. Never raises for expected failures."""
    from astrid_host._audit._sink import AuditError
    from astrid_host._wasm._errors import (
        CapsuleLoadError,
        CapsuleRunError,
        CapsuleTrap,
        ExportNotFound,
    )
    from astrid_host._wasm._host import Host
    from astrid_host.bindings.capsule import CapsuleWorld, Err

    resolver = OverrideResolver(table) if table else None
    try:
        async with Host(limits=limits, resolver=resolver, **options.host_options()) as host:
            capsule = await host.load(component, policy=policy, limits=limits, name=name,
                                      secrets=options.secrets,
                                      declared_secrets=declared_secrets)
            async with capsule:
                if want_output:
                    done = await capsule.run_with_output(text)
                    return _Outcome(EXIT_OK, "", done.value, output=done.output)
                return _Outcome(EXIT_OK, "", await CapsuleWorld(capsule).run(text))
    except AuditError as exc:  # the trail cannot be opened: the operator's file or key
        return _Outcome(EXIT_INPUT, "invalid-audit", str(exc))
    except Err as err:
        return _Outcome(EXIT_CAPSULE, "capsule-error", str(err.value))
    except CapsuleRunError as exc:
        return _Outcome(EXIT_CAPSULE, "capsule-error", exc.message)
    except CapsuleTrap as exc:
        return _Outcome(EXIT_CAPSULE, "trap", str(exc), {
            "kind": exc.kind, "export": exc.export, "cause": exc.cause,
            "memory_limit_bytes": exc.memory_limit})
    except (CapsuleLoadError, ExportNotFound) as exc:
        return _Outcome(EXIT_INPUT, "invalid-capsule", str(exc))
    except Exception as exc:  # the host itself failed: say so, with the type for a report
        return _Outcome(EXIT_HOST, "host-error", f"{type(exc).__name__}: {exc}")


def _fail(args: argparse.Namespace, status: int, kind: str, message: str) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "kind": kind, "error": message}, indent=2))
    else:
        print(f"astrid-host {args.command}: {message}", file=sys.stderr)
    return status


# --- inspect ---------------------------------------------------------------------------------

def describe(component: Path, manifest: Manifest | None) -> dict[str, Any]:
    """Everything ``inspect`` reports, as JSON-ready data. Raises ``_UsageError``."""
    from astrid_host._bindgen import BindgenError, load
    from astrid_host._bindgen._markdown import wit_type
    from astrid_host._bindgen._model import Function, WasmToolsMissing
    from astrid_host._wasm._host import Host

    try:
        data = component.read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read {component}: {exc.strerror}") from None
    try:
        resolve = load(component)
        world = resolve.world("root")
    except WasmToolsMissing:
        raise  # the host's setup, not the component: reported as a host error
    except BindgenError as exc:
        raise _UsageError(f"{component} is not a readable component: {exc}") from None

    imports: list[dict[str, Any]] = []
    for item in world.imports:
        if item.interface is None:
            if item.function is not None:
                imports.append({"name": item.function.name, "provided": False,
                                "capability": None, "meaning": "a bare function import"})
            continue
        iface_id = resolve.interface_id(item.interface)
        iface = resolve.interfaces[item.interface]
        match = next(((cap, meaning) for prefix, cap, meaning in _PROVIDED
                      if iface_id.startswith(prefix)), None)
        if match is None and not iface.functions:
            match = ("types", "type definitions only")
        imports.append({"name": iface_id, "provided": match is not None,
                        "capability": match[0] if match else None,
                        "meaning": match[1] if match else "the host does not provide this"})

    def signature(name: str, fn: Function) -> str:
        args = ", ".join(f"{p.name}: {wit_type(resolve, p.type)}" for p in fn.params)
        ret = "" if fn.result is None else f" -> {wit_type(resolve, fn.result)}"
        return f"{name}: func({args}){ret}"

    # Spelled the way Capsule.call names them: "run", or "<interface id>#<function>".
    exports: list[str] = []
    for item in world.exports:
        if item.function is not None:
            exports.append(signature(item.function.name, item.function))
        elif item.interface is not None and not resolve.is_toolchain_internal(item):
            prefix = resolve.export_id(item)
            exports += [signature(f"{prefix}#{fn.name}", fn)
                        for fn in resolve.interfaces[item.interface].functions]

    cache_path = Host().cache.path_for(data)
    caps = sorted({i["capability"] for i in imports if i["capability"] not in (None, "types")})
    doc: dict[str, Any] = {
        "path": str(component),
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "cache": {"status": "disabled" if cache_path is None else
                  ("cached" if cache_path.exists() else "not cached"),
                  "path": None if cache_path is None else str(cache_path)},
        "capabilities": caps,
        "unsatisfied_imports": [i["name"] for i in imports if not i["provided"]],
        "imports": imports,
        "exports": exports,
        "runnable": "run: func(input: string) -> result<string, string>" in exports,
    }
    if manifest is not None:
        doc["manifest"] = {"path": manifest.path, "name": manifest.name,
                           "version": manifest.version, "net": list(manifest.net),
                           "methods": None if manifest.methods is None else
                           list(manifest.methods),
                           "limits": manifest.limits,
                           "secrets": None if manifest.secrets is None else
                           list(manifest.secrets)}
    return doc


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def inspect_command(args: argparse.Namespace) -> int:
    """Handler of ``inspect``."""
    from astrid_host._cli._astrid import astrid_summary, upstream_manifest
    from astrid_host._core._astrid_errors import AstridManifestError

    try:
        upstream = upstream_manifest(args.capsule)
        if upstream is not None:
            component, manifest = upstream[0].parent / upstream[1].component.file, None
        else:
            component, manifest = _resolve(args.capsule, args.manifest)
        problem = not_a_component(component)
        if problem is not None:
            return _fail(args, EXIT_INPUT, "invalid-capsule", problem)
        doc = describe(component, manifest)
        if upstream is not None:
            doc["astrid"] = astrid_summary(*upstream)
    except (ManifestError, AstridManifestError, _UsageError) as exc:
        return _fail(args, EXIT_INPUT, "invalid-input", str(exc))
    except Exception as exc:
        return _fail(args, EXIT_HOST, "host-error", f"{type(exc).__name__}: {exc}")
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    out = [f"{doc['path']}  {_size(doc['size_bytes'])}  sha256 {doc['sha256'][:16]}…",
           f"compile cache: {doc['cache']['status']}",
           "capabilities: " + (", ".join(doc["capabilities"]) or "none"), "", "exports:"]
    out += [f"  {e}" for e in doc["exports"]] or ["  (none)"]
    out += ["", "imports:"]
    wasi = [i for i in doc["imports"] if i["capability"] == "wasi"]
    for i in doc["imports"]:
        if i["capability"] != "wasi":
            mark = "ok " if i["provided"] else "!! "
            out.append(f"  {mark}{i['name']}  ({i['meaning']})")
    if wasi:
        # Toolchains import two dozen WASI interfaces; one line says what matters.
        out.append(f"  ok wasi: {len(wasi)} interfaces  ({wasi[0]['meaning']})")
    if doc["unsatisfied_imports"]:
        out += ["", "this host cannot load it: " + ", ".join(doc["unsatisfied_imports"])]
    if "manifest" in doc:
        m = doc["manifest"]
        out += ["", f"manifest {m['path']}: {m['name']} {m['version']}",
                "  net: " + (", ".join(m["net"]) or "nothing"),
                "  methods: " + (", ".join(m["methods"]) if m["methods"] else "default"),
                "  limits: " + (", ".join(f"{k}={v}" for k, v in m["limits"].items())
                                or "operator defaults"),
                "  secrets: " + (", ".join(m["secrets"]) if m["secrets"] is not None
                                 else "not declared (any the operator gives)")]
    if "astrid" in doc:
        out += _astrid_lines(doc["astrid"])
    print("\n".join(out))
    return EXIT_OK


def _astrid_lines(a: dict[str, Any]) -> list[str]:
    """The text ``inspect`` prints for an upstream Astrid capsule."""
    out = ["", f"upstream Astrid capsule {a['package']} {a['version']}",
           "  net: " + (", ".join(a["net"]) or "nothing"),
           "  publish: " + (", ".join(a["publish"]) or "nothing"), "  hooks:"]
    out += [f"    {h['action']}  on {h['topic']} (priority {h['priority']})"
            for h in a["hooks"]] or ["    (none)"]
    out.append("  config:")
    out += [f"    {c['key']}" + (" (needs a value)" if c["needs_value"] else
                                 f" = {c['default']!r}" if c["default"] is not None else "")
            for c in a["config"]] or ["    (none)"]
    if a["unsupported_capabilities"]:
        out.append("  not provided here: " + ", ".join(a["unsupported_capabilities"]))
    out.append("  tools:")
    if "tools_error" in a:
        out.append(f"    (tool_describe failed: {a['tools_error']})")
    out += [f"    {t['name']}{' (mutable)' if t['mutable'] else ''}: {t['description']}"
            for t in a["tools"]] or ([] if "tools_error" in a else ["    (none)"])
    return out
