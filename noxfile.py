"""Developer and CI sessions. `./dev test` and `./dev demo` are the entry points (see README)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "typecheck", "tests", "package"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _install(session: nox.Session, *extras: str) -> None:
    spec = "." if not extras else f".[{','.join(extras)}]"
    session.install("-q", "-e", spec)


@nox.session
def guests(session: nox.Session) -> None:
    """Build every guest component into build/guests/ (installs toolchains when allowed)."""
    _install(session, "guests")
    session.run("python", "scripts/build_guests.py", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Build the guests, then run the whole test suite. In CI nothing may be skipped."""
    # typecheck and lint too: tests run mypy --strict and ruff on freshly generated bindings.
    _install(session, "test", "guests", "typecheck", "lint")
    session.run("python", "scripts/build_guests.py")
    env = {"ASTRID_REQUIRE_ALL": "1"} if IN_CI else {}
    session.run("pytest", *session.posargs, env=env)


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and the wheel, install the wheel (not editable) into a fresh venv and
    use it from there: CLI, a capsule, bindings under mypy --strict (scripts/check_package.py).
    """
    session.install("-q", "build>=1.2")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    # The console script, not `python -m build`: the repository's build/ directory would be
    # found as a namespace package when `build` is missing from the venv.
    session.run("pyproject-build", "--outdir", str(dist), ".")
    session.run("python", "scripts/check_package.py", str(dist))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, scripts and benchmarks."""
    session.install("-q", "ruff>=0.6")
    session.run("ruff", "check", "astrid_host", "tests", "scripts", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the astrid_host package."""
    _install(session, "typecheck", "test")
    session.run("mypy", "--strict", "astrid_host")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the example capsule against a local server, allowed and blocked requests."""
    _install(session, "guests")
    # The Python example needs only PyPI packages, so the demo works before any toolchain.
    session.run("python", "scripts/build_guests.py", "--only", "python-example")
    session.run("astrid-host", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Side-by-side benchmarks (pass --quick for the CI mode)."""
    _install(session, "test", "guests")
    session.run("python", "scripts/build_guests.py")
    session.run("python", "-m", "benchmarks", *session.posargs)
