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
import sys
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
    """:class:`ValueError` for a combination that cannot work."""
    if args.output == STDOUT and args.json:
        raise ValueError("--output - and --json would both write to stdout: give --output FILE")


def save_output(spec: str, data: bytes) -> None:
    """Write ``data`` to the file ``spec`` (or stdout for ``-``); :class:`ValueError` naming
    the file when it cannot be written."""
    if spec == STDOUT:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(spec).write_bytes(data)
    except OSError as exc:
        raise ValueError(f"cannot write --output {spec}: {exc.strerror}") from None
