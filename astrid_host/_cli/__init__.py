"""The `astrid-host` command line.

Each group of commands lives in its own module exposing ``register(subparsers)``; every
command's handler takes the parsed namespace and returns the process exit status.

Exit status (all commands): 0 success / allowed, 1 denied or the capsule failed,
2 invalid input or usage, 3 the host itself failed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

# Modules that contribute commands, in --help order. A module that is missing (a command
# group not built yet) is simply not offered.
_COMMAND_MODULES = (
    "astrid_host._cli._demo",
    "astrid_host._cli._capsule",
    "astrid_host._cli._astrid",
    "astrid_host._cli._egress",
    "astrid_host._cli._bindgen",
    "astrid_host._cli._audit",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="astrid-host",
        description="Run WebAssembly capsules with guarded outgoing HTTP, "
                    "and debug their policies.",
        epilog="Exit status: 0 ok/allowed, 1 denied or capsule error, 2 invalid input, "
               "3 host error.",
    )
    parser.add_argument("--version", action="version", version=version_text(),
                        help="print the versions of astrid-host and wasmtime, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def version_text() -> str:
    """``astrid-host X.Y.Z (wasmtime A.B.C, Python D.E.F)``: what a bug report needs."""
    from astrid_host import __version__

    try:
        wasmtime = importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        wasmtime = "not installed"
    python = ".".join(str(part) for part in sys.version_info[:3])
    return f"astrid-host {__version__} (wasmtime {wasmtime}, Python {python})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
