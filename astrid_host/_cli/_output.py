"""``astrid-host run --output FILE``: where the body a capsule hands over beside its answer goes.

With ``--output`` the capsule's ``run`` is called through :meth:`Capsule.run_with_output`
(`astrid:http/output`, ``wit/output.wit``): the answer is printed as usual and the output's bytes
are written, unchanged, to FILE once the capsule answered ``ok`` (a capsule that answers
``err`` or traps writes nothing). ``--output -`` writes them to stdout, and the answer then goes
to stderr so the two never mix. Without ``--output`` the capsule's writes fail with
`invalid-request`, as in any call that did not ask for output.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["STDOUT", "add_output_option", "check_output_option", "save_output"]

#: The ``--output`` value that means stdout.
STDOUT = "-"


def add_output_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--output FILE``."""
    parser.add_argument("--output", metavar="FILE",
                        help="ask the capsule for output (astrid:http/output) and write its "
                             "bytes to FILE; - writes them to stdout and the answer to stderr")


def check_output_option(args: argparse.Namespace) -> None:
    """:class:`ValueError` for a combination or a target that cannot work, before the capsule
    runs (and makes its requests) for nothing."""
    if args.output is None or args.output == STDOUT:
        if args.output == STDOUT and args.json:
            raise ValueError("--output - and --json would both write to stdout: give "
                             "--output FILE")
        return
    target = Path(args.output)
    if target.is_dir():
        raise ValueError(f"--output {args.output} is a directory: give a file name")
    if not target.parent.is_dir():
        raise ValueError(f"--output {args.output}: the directory {target.parent} does not "
                         "exist")


def save_output(spec: str, data: bytes) -> None:
    """Write ``data`` to the file ``spec`` (or stdout for ``-``); :class:`ValueError` naming
    the target when it cannot be written. A file appears whole or not at all: the bytes go to
    a temporary file next to it, renamed over it once written."""
    if spec == STDOUT:
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:  # a closed pipe included
            raise ValueError(f"cannot write the output to stdout: {exc.strerror or exc}") from None
        return
    target = Path(spec)
    part_name: str | None = None
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.",
                                         suffix=".part", delete=False) as part:
            part_name = part.name
            part.write(data)
        os.replace(part_name, target)
    except OSError as exc:
        if part_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(part_name)
        raise ValueError(f"cannot write --output {spec}: {exc.strerror or exc}") from None
