"""``astrid-host bindgen``: typed Python bindings, host models or a Markdown reference from WIT."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from astrid_host._bindgen import BindgenError, generate
from astrid_host._bindgen._model import WasmToolsMissing

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``bindgen`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bindgen",
        help="generate typed Python bindings for a WIT world",
        description=(
            "Generate a typed Python module for a WIT world (from a WIT directory, a .wit file "
            "or a built component), with --format host the host model of a package (the types "
            "and functions of the interfaces the host serves), or with --format markdown a "
            "reference of the whole package."
        ),
        epilog="Exit status: 0 written/up to date, 1 --check found a stale file, "
               "2 invalid WIT or arguments, 3 host error (wasm-tools missing).",
    )
    p.add_argument("source", metavar="WIT_DIR_OR_COMPONENT",
                   help="a WIT directory, .wit file or .wasm component")
    p.add_argument("--world", help="the world to bind (required when there are several; a "
                                   "component's world is called 'root')")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write (default: stdout)")
    p.add_argument("--check", action="store_true",
                   help="do not write; fail if FILE differs from what would be generated")
    p.add_argument("--format", choices=("python", "host", "markdown"), default="python",
                   help="python bindings (default), a host model, or a markdown reference")
    p.add_argument("--package", help="the package of a host model (required when there are "
                                     "several, e.g. astrid:http@0.1.0)")
    p.set_defaults(handler=run_bindgen)


def run_bindgen(args: argparse.Namespace) -> int:
    """Generate, write or check; returns the exit status."""
    if args.check and not args.output:
        print("astrid-host bindgen: --check needs -o FILE to compare with", file=sys.stderr)
        return 2
    try:
        text = generate(args.source, args.world, fmt=args.format, package=args.package)
    except WasmToolsMissing as exc:
        print(f"astrid-host bindgen: {exc}", file=sys.stderr)
        return 3
    except BindgenError as exc:
        print(f"astrid-host bindgen: {exc}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
        return 0
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            print(f"astrid-host bindgen: {out} is out of date; regenerate it with the same "
                  "command without --check", file=sys.stderr)
            return 1
        return 0
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"astrid-host bindgen: cannot write {out}: {exc}", file=sys.stderr)
        return 2
    return 0
