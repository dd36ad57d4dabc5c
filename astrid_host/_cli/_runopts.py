"""The options every command that runs a capsule shares: secrets, the audit trail, malloc.

A command adds them with :func:`add_run_options` and reads them with :func:`read_run_options`,
then hands ``secrets`` to ``Host.load(secrets=..., declared_secrets=manifest.secrets)`` and
:meth:`RunOptions.host_options` to ``Host(...)``::

    --secret NAME=@FILE           the value is read from FILE (one trailing newline removed)
    --secret-origin NAME=ORIGIN   an origin the secret may be sent to (repeatable)
    --audit FILE                  write the audit trail to FILE
    --audit-key @FILE             HMAC key for the trail (at least 16 bytes)
    --audit-durability MODE       fsync (default), <N>ms or none
    --malloc-threshold MIB        glibc's malloc thresholds (default 64; 0 leaves them alone)

Values and keys never come from the command line itself: every user of the machine can read a
process's arguments.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from astrid_host._audit._file import Durability, read_key
from astrid_host._audit._sink import AuditError
from astrid_host._audit._trail import AuditTrail
from astrid_host._core._secret_value import Secret, SecretError, validate_secret_name
from astrid_host._wasm._malloc import MAX_THRESHOLD, RECOMMENDED_THRESHOLD

__all__ = ["RunOptions", "add_reach_options", "add_run_options", "read_run_options"]


@dataclass(frozen=True)
class RunOptions:
    """What the shared options ask for: the secrets (name → :class:`Secret`), the audit
    trail to open (``None``: no trail) and the malloc threshold (``None``: untouched)."""

    secrets: dict[str, Secret]
    audit: AuditTrail | None
    malloc_threshold: int | None = RECOMMENDED_THRESHOLD

    def host_options(self) -> dict[str, Any]:
        """The ``Host(...)`` keyword arguments these options set."""
        return {"audit": self.audit, "malloc_threshold_bytes": self.malloc_threshold}


def add_reach_options(parser: argparse.ArgumentParser) -> None:
    """``--local`` and ``--resolve``, the same for every command that runs a capsule."""
    parser.add_argument("--local", metavar="ENTRY", action="append", default=[],
                        help="operator's local allowance: 127.0.0.1:8080 for IP-literal URLs, "
                             "sidecar.internal=127.0.0.1:8080 for a name (repeatable)")
    parser.add_argument("--resolve", metavar="HOST=IP[,IP...]", action="append", default=[],
                        help="answer DNS for HOST with these addresses instead of the system "
                             "resolver (repeatable); the guard still judges every address, so "
                             "loopback or private answers also need --local HOST=IP:PORT")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add the secret and audit options to a command's parser, as one group."""
    group = parser.add_argument_group(
        "secrets and audit trail",
        "A capsule writes {{secret:NAME}} in a header value; the host fills the value in only "
        "for requests to the secret's origins. See docs/secrets.md and docs/audit.md.")
    group.add_argument("--secret", metavar="NAME=@FILE", action="append", default=[],
                       help="a secret the capsule may use, its value read from FILE (one "
                            "trailing newline removed; never given inline) (repeatable)")
    group.add_argument("--secret-origin", metavar="NAME=ORIGIN", action="append", default=[],
                       help="an origin secret NAME may be sent to, in the policy's rule syntax "
                            "such as https://api.example.com (repeatable; at least one per "
                            "secret)")
    group.add_argument("--audit", metavar="FILE",
                       help="write every egress decision and completion to this hash-chained "
                            "trail (continued if it exists)")
    group.add_argument("--audit-key", metavar="@FILE",
                       help="authenticate every record with the HMAC key in FILE")
    group.add_argument("--audit-durability", metavar="MODE",
                       help="fsync (each record on the disk before the request goes on; the "
                            "default), <N>ms (flushed every N ms) or none")
    parser.add_argument("--malloc-threshold", metavar="MIB", type=int,
                        default=RECOMMENDED_THRESHOLD >> 20,
                        help="glibc's mmap and trim thresholds in MiB (default %(default)s): "
                             "list<u8> values of about 1 MiB convert ~1.6-1.9x faster, at the "
                             "price of keeping freed memory in the process; 0 leaves malloc alone "
                             "(docs/performance.md)")


def _pair(flag: str, entry: str, what: str) -> tuple[str, str]:
    name, eq, rest = entry.partition("=")
    if not eq or not rest:
        raise ValueError(f"{flag} {entry!r} must look like NAME={what}")
    try:
        return validate_secret_name(name), rest
    except SecretError as exc:
        raise ValueError(f"{flag} {entry!r}: {exc}") from None


def _read_value(name: str, spec: str) -> bytes:
    if not spec.startswith("@"):
        raise ValueError(f"--secret {name}: give the value as @FILE; a value on the command "
                         "line would be visible to every user of the machine")
    path = Path(spec[1:])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"--secret {name}: cannot read {path}: {exc.strerror}") from None
    return raw.removesuffix(b"\n").removesuffix(b"\r")


def read_run_options(args: argparse.Namespace) -> RunOptions:
    """The options in ``args``; :class:`ValueError` naming the flag for anything unusable
    (never a secret's value or a key)."""
    values: dict[str, bytes] = {}
    for entry in args.secret:
        name, spec = _pair("--secret", entry, "@FILE")
        if name in values:
            raise ValueError(f"--secret {name} is given twice")
        values[name] = _read_value(name, spec)
    origins: dict[str, list[str]] = {}
    for entry in args.secret_origin:
        name, origin = _pair("--secret-origin", entry, "ORIGIN")
        if name not in values:
            raise ValueError(f"--secret-origin {entry!r}: no --secret {name}=@FILE")
        origins.setdefault(name, []).append(origin)
    secrets: dict[str, Secret] = {}
    for name, value in values.items():
        if name not in origins:
            raise ValueError(f"--secret {name} needs at least one --secret-origin "
                             f"{name}=ORIGIN: where it may be sent")
        try:
            secrets[name] = Secret(value, origins=origins[name])
        except SecretError as exc:
            raise ValueError(f"--secret {name}: {exc}") from None
    return RunOptions(secrets, _audit(args), _malloc_threshold(args.malloc_threshold))


def _malloc_threshold(mib: int) -> int | None:
    if mib == 0:
        return None
    if not 0 < mib <= MAX_THRESHOLD >> 20:
        raise ValueError(f"--malloc-threshold {mib}: give MiB between 0 (off) and "
                         f"{MAX_THRESHOLD >> 20}")
    return mib << 20


def _audit(args: argparse.Namespace) -> AuditTrail | None:
    if args.audit is None:
        if args.audit_key is not None or args.audit_durability is not None:
            raise ValueError("--audit-key and --audit-durability need --audit FILE")
        return None
    key = None
    if args.audit_key is not None:
        if not args.audit_key.startswith("@"):
            raise ValueError("--audit-key takes @FILE: a key on the command line would be "
                             "visible to every user of the machine")
        try:
            key = read_key(args.audit_key[1:])
        except AuditError as exc:
            raise ValueError(f"--audit-key: {exc}") from None
    try:
        durability = Durability.parse(args.audit_durability or "fsync")
    except ValueError as exc:
        raise ValueError(f"--audit-durability: {exc}") from None
    return AuditTrail(args.audit, key=key, durability=durability)
