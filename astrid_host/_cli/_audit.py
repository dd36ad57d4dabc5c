"""``astrid-host audit verify`` and ``audit show``: check and read an audit trail.

``verify`` walks the hash chain (and the MACs, with ``--key``) across the trail's files and
reports the first record that was edited, reordered, inserted or is missing. ``show`` prints the
records for people; it does not verify.

Exit status of ``verify``: 0 the trail is intact, 1 it is not (the first problem is printed),
2 invalid input (arguments, unreadable file or key), 4 intact except that the last line is torn
(the writer was killed while appending it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from astrid_host._audit._file import read_key
from astrid_host._audit._read import iter_lines, order_files, verify_files
from astrid_host._audit._sink import AuditError
from astrid_host._core._audit_records import RecordError, parse_line
from astrid_host._core._audit_verify import ProblemKind

__all__ = ["register"]

EXIT_OK, EXIT_BROKEN, EXIT_INPUT, EXIT_TORN = 0, 1, 2, 4


def register(subparsers: Any) -> None:
    """Add the ``audit`` command with its ``verify`` and ``show`` subcommands."""
    audit = subparsers.add_parser(
        "audit", help="verify or read an audit trail",
        description="Verify an audit trail's hash chain and MACs, or print its records.")
    sub = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    audit.set_defaults(handler=_usage(audit))

    verify = sub.add_parser(
        "verify", help="check that no record was edited, reordered, inserted or removed",
        description="Check the chain across FILE... (the active file and its rotated files; "
                    "audit.jsonl* is put in segment order). Reports the first problem with its "
                    "file and line.",
        epilog="Exit status: 0 intact, 1 a problem was found, 2 invalid input, 4 intact but "
               "the last line is torn (the writer was killed mid-record).")
    verify.add_argument("files", nargs="+", metavar="FILE")
    verify.add_argument("--key", metavar="@FILE",
                        help="also check every record's HMAC with the key in FILE")
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(handler=run_verify)

    show = sub.add_parser(
        "show", help="print the records of a trail for people (does not verify)",
        description="Print each record on one line. Use `audit verify` to check the trail.",
        epilog="Exit status: 0 every line is a record, 1 some lines are not (reported on "
               "stderr), 2 invalid input.")
    show.add_argument("files", nargs="+", metavar="FILE")
    show.add_argument("--capsule", metavar="NAME",
                      help="only the decisions and completions of this capsule")
    show.add_argument("--json", action="store_true",
                      help="print the records as stored, one JSON object per line")
    show.set_defaults(handler=run_show)


def _usage(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    return handler


def _fail(message: str) -> int:
    print(f"invalid: {message}", file=sys.stderr)
    return EXIT_INPUT


def run_verify(args: argparse.Namespace) -> int:
    """Verify the trail in ``args.files``; print a summary or one JSON object."""
    key = None
    if args.key is not None:
        if not args.key.startswith("@"):
            return _fail("--key takes @FILE: a key on the command line would be visible to "
                         "every user of the machine")
        try:
            key = read_key(args.key[1:])
        except AuditError as exc:
            return _fail(str(exc))
    try:
        report = verify_files(args.files, key)
    except (AuditError, OSError) as exc:
        return _fail(str(exc))
    problem = report.problem
    torn = problem is not None and problem.kind is ProblemKind.TORN
    status = EXIT_OK if problem is None else EXIT_TORN if torn else EXIT_BROKEN
    span = (f"seq {report.first_seq}-{report.last_seq}" if report.records else "none")
    if args.json:
        print(json.dumps({
            "ok": problem is None, "torn": torn, "records": report.records,
            "first_seq": report.first_seq, "last_seq": report.last_seq,
            "macs_checked": key is not None,
            "problem": None if problem is None else {
                "kind": problem.kind.value, "file": problem.source, "line": problem.line,
                "message": problem.message},
            "notes": report.notes,
        }))
        return status
    for note in report.notes:
        print(f"note: {note}")
    macs = "MACs checked" if key is not None else "MACs not checked"
    if problem is None:
        print(f"ok: {report.records} records verified ({span}), {macs}")
    elif torn:
        print(f"TORN {problem}")
        print(f"the {report.records} records before it verified ({span}), {macs}")
    else:
        print(f"FAILED {problem}")
        print(f"verified prefix: {report.records} records ({span})")
    return status


def run_show(args: argparse.Namespace) -> int:
    """Print the records of ``args.files`` (filtered by ``--capsule``)."""
    status = EXIT_OK
    try:
        files = order_files(args.files)
        for path in files:
            for number, data, complete in iter_lines(path):
                if not complete:
                    print(f"{path}:{number}: torn line ({len(data)} bytes, no newline)",
                          file=sys.stderr)
                    status = EXIT_BROKEN
                    continue
                try:
                    record = parse_line(data)
                except RecordError as exc:
                    print(f"{path}:{number}: not a record: {exc}", file=sys.stderr)
                    status = EXIT_BROKEN
                    continue
                if args.capsule is not None and record.get("capsule") != args.capsule:
                    continue
                if args.json:
                    print(data.decode("ascii"))
                    continue
                try:
                    print(describe(record))
                except (AttributeError, TypeError, KeyError):
                    print(f"{path}:{number}: a {record['kind']} record with fields of "
                          "unexpected types (edited?)", file=sys.stderr)
                    status = EXIT_BROKEN
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: cannot read: {exc.strerror or exc}")
    return status


def describe(record: dict[str, Any]) -> str:
    """One line for people: sequence number, time, then what the record says."""
    head = f"#{record['seq']} {record['time']}"
    kind = record["kind"]
    if kind == "segment":
        key = record.get("key_id")
        return f"{head} segment {record.get('segment')} starts" + (
            f" (key id {key})" if key else " (no key)")
    if kind == "recovery":
        return (f"{head} recovery: the host cut off a torn line of "
                f"{record.get('torn_bytes')} bytes left by a crash")
    who = f"{record.get('capsule')} req={record.get('request_id')} hop={record.get('hop')}"
    if kind == "completion":
        return (f"{head} {who} done status={_text(record.get('status'))} "
                f"in={record.get('bytes_in')} out={record.get('bytes_out')} "
                f"elapsed={record.get('elapsed_ms')}ms error={_text(record.get('error'))}")
    host = record.get("host")
    if host is not None and ":" in host:
        host = f"[{host}]"
    where = (f"{record.get('scheme')}://{host}:{record.get('port')}" if host is not None
             else "(no valid URL)")
    addresses = ",".join(
        f"{a.get('address')}/{'local' if a.get('via_local') else a.get('reason')}"
        for a in record.get("addresses") or [])
    parts = [f"{head} {who} {record.get('method')} {where} {record.get('decision')} "
             f"{record.get('reason')}"]
    for name, value in (("rule", record.get("rule")), ("addresses", addresses),
                        ("chosen", record.get("chosen")),
                        ("secrets", ",".join(record.get("secrets") or [])),
                        ("dropped", ",".join(record.get("dropped_headers") or []))):
        if value:
            parts.append(f"{name}={value}")
    if record.get("body_streamed"):
        parts.append("body=streamed")
    elif record.get("body_length") is not None:
        parts.append(f"body={record['body_length']}B")
    return " ".join(parts)


def _text(value: object) -> str:
    return "-" if value is None else str(value)
