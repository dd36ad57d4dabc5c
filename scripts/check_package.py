"""Check the built distribution the way a user gets it: install the wheel (not editable) into a
fresh virtual environment and use it from a directory outside the source tree.

    python scripts/check_package.py DIST_DIR     # DIST_DIR holds one .tar.gz and one .whl

Checks, each failing loudly: the sdist and the wheel carry the LICENSE and `py.typed`; the
installed `astrid-host` prints its version and decides `check-url` as documented; `wasm-tools`
came with the package (`inspect` reads a component with it); a capsule built from WAT loads and
runs, through the CLI and from Python; `bindgen` writes bindings for a WIT world that pass
`mypy --strict` together with a script that uses them. pip reaches PyPI for the dependencies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The `capsule` world's `run`, answering `ok(input)`: a bump allocator, and the canonical
#: ABI's return area (discriminant at +0, string pointer and length at +4 and +8).
ECHO_CAPSULE_WAT = r"""
(component
  (core module $m
    (memory (export "memory") 1)
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $next))
      (global.set $next (i32.add (global.get $next) (local.get 3)))
      (local.get $p))
    (func (export "run") (param $ptr i32) (param $len i32) (result i32)
      (i32.store8 (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (local.get $ptr))
      (i32.store (i32.const 24) (local.get $len))
      (i32.const 16)))
  (core instance $i (instantiate $m))
  (type $r (result string (error string)))
  (func (export "run") (param "input" string) (result $r)
    (canon lift (core func $i "run") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
)
"""

#: Uses the installed package and the generated bindings; run, then type-checked.
USE_BINDINGS = '''
import sys

import trio

from astrid_host import Host
from capsule_bindings import CapsuleWorld


async def main(path: str) -> str:
    async with Host() as host:  # ASTRID_CACHE_DIR: the scratch directory
        capsule = await host.load(path)
        async with capsule:
            return await CapsuleWorld(capsule).run("hello from the wheel")


print(trio.run(main, sys.argv[1]))
'''


def run(cmd: list[str | Path], cwd: Path, expect: int = 0) -> str:
    """Run ``cmd`` in ``cwd``; fail unless it exits with ``expect``. Returns stdout."""
    shown = " ".join(str(c) for c in cmd)
    print(f"package: $ {shown}", flush=True)
    # The compile cache in the scratch directory, not the user's ~/.cache.
    env = {**os.environ, "ASTRID_CACHE_DIR": str(cwd / "cache")}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != expect:
        sys.exit(f"package: FAILED (exit {proc.returncode}, expected {expect}): {shown}\n"
                 f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    return proc.stdout


def check_archives(dist: Path) -> Path:
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        sys.exit(f"package: expected one sdist and one wheel in {dist}, found "
                 f"{[p.name for p in (*sdists, *wheels)]}")
    with tarfile.open(sdists[0]) as tar:
        names = tar.getnames()
    for wanted in ("LICENSE", "README.md", "pyproject.toml", "astrid_host/py.typed"):
        if not any(n.endswith("/" + wanted) for n in names):
            sys.exit(f"package: the sdist has no {wanted}")
    with zipfile.ZipFile(wheels[0]) as whl:
        names = whl.namelist()
    for wanted in ("licenses/LICENSE", "astrid_host/py.typed", "astrid_host/bindings/capsule.py"):
        if not any(n.endswith(wanted) for n in names):
            sys.exit(f"package: the wheel has no {wanted}")
    if any(n.startswith(("tests/", "guests/", "scripts/")) for n in names):
        sys.exit("package: the wheel carries the repository's tests, guests or scripts")
    return wheels[0]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.exit(__doc__)
    dist = Path(argv[0]).resolve()
    wheel = check_archives(dist)
    with tempfile.TemporaryDirectory(prefix="astrid-package-") as tmp:
        work = Path(tmp)
        env_dir = work / "venv"
        venv.create(env_dir, with_pip=True)
        bin_dir = env_dir / "bin"
        python, cli = bin_dir / "python", bin_dir / "astrid-host"
        run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel,
             "mypy>=1.10"], cwd=work)
        # Not importable from here: only the installed wheel is.
        run([python, "-c", "import astrid_host, sys; "
             "sys.exit(0 if '/site-packages/' in astrid_host.__file__ else 1)"], cwd=work)

        source = (ROOT / "astrid_host" / "__init__.py").read_text()
        expected = re.search(r'^__version__ = "([^"]+)"', source, re.MULTILINE)
        version = run([cli, "--version"], cwd=work)
        if expected is None or not version.startswith(
                f"astrid-host {expected.group(1)} (wasmtime 50."):
            sys.exit(f"package: unexpected --version output {version!r}")

        denied = json.loads(run([cli, "check-url", "http://0x7f.1/", "--json"], cwd=work,
                                expect=1))
        if denied["reason"] != "loopback":
            sys.exit(f"package: check-url judged 0x7f.1 as {denied}")
        run([cli, "check-url", "https://api.example.com/v1", "--allow",
             "https://api.example.com", "--resolve", "api.example.com=93.184.215.14"], cwd=work)

        (work / "echo.wat").write_text(ECHO_CAPSULE_WAT)
        # wasm-tools is a dependency: it sits next to astrid-host, found without PATH.
        run([bin_dir / "wasm-tools", "parse", "echo.wat", "-o", "echo.wasm"], cwd=work)
        described = json.loads(run([cli, "inspect", "echo.wasm", "--json"], cwd=work))
        if not described["runnable"]:
            sys.exit(f"package: inspect does not see run: {described}")
        answer = run([cli, "run", "echo.wasm", "--input", "hi"], cwd=work)
        if answer.strip() != "hi":
            sys.exit(f"package: the echo capsule answered {answer!r}")

        run([cli, "bindgen", ROOT / "wit", "--world", "capsule", "-o", "capsule_bindings.py"],
            cwd=work)
        (work / "use_bindings.py").write_text(textwrap.dedent(USE_BINDINGS))
        run([python, "-m", "mypy", "--strict", "--no-incremental", "capsule_bindings.py",
             "use_bindings.py"], cwd=work)
        if run([python, "use_bindings.py", "echo.wasm"], cwd=work).strip() != \
                "hello from the wheel":
            sys.exit("package: the bindings did not round-trip through the capsule")
    print(f"package: ok ({wheel.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
