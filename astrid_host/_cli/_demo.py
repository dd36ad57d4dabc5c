"""``astrid-host demo``: the example capsule against a local server, allowed and blocked.

Everything runs on this machine. A tiny HTTP server listens on 127.0.0.1; the demo's resolver
maps ``api.demo.test`` to it and ``intranet.demo.test`` to a private address. Loopback is
normally refused, so the demo (and only the demo) tells the classifier to treat 127.0.0.1 as
if it were a public address. As a safety net, its classifier refuses every other address the
real guard would allow, so nothing can leave the machine even if the guard were wrong.

The capsule's policy is deliberately wide (any ``http`` host, any port) to show that rules
open destinations, never the internal network: the address guard still refuses private,
link-local and metadata addresses, by IP literal, by DNS answer and by redirect.

It also shows a secret the capsule uses but never sees: the capsule writes
``Authorization: Bearer {{secret:demo_token}}`` and the host fills in a random token, bound to
the demo server's origin only; the server reports that the right value arrived. Every decision
goes to an audit trail in a temporary file, which the demo verifies at the end (hash chain and
HMAC) and then deletes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import trio

from astrid_host._core._classify import IPAddress, IpVerdict, classify_ip
from astrid_host._core._policy import EgressPolicy
from astrid_host._core._ranges import Reason

__all__ = ["register"]

_SIMULATED_PUBLIC = ip_address("127.0.0.1")
_GUESTS = ("python-example.wasm", "rust-example.wasm")


def register(subparsers: Any) -> None:
    """Add the ``demo`` command."""
    demo = subparsers.add_parser(
        "demo", help="the example capsule against a local server: allowed and blocked requests",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Exit status: 0 every step had the expected outcome, 1 a step did not, "
               "2 the example capsule is not built (run ./dev guests --only example).")
    demo.add_argument("--capsule", metavar="WASM",
                      help="the example capsule (default: build/guests/python-example.wasm)")
    demo.add_argument("--quiet-log", action="store_true",
                      help="do not print the egress decision log lines")
    demo.set_defaults(handler=demo_command)


def demo_classifier(addr: IPAddress) -> IpVerdict:
    """127.0.0.1 counts as public (the simulated internet); anything else the real guard would
    allow is refused too, so the demo can never send traffic off this machine."""
    if addr == _SIMULATED_PUBLIC:
        return IpVerdict(True, Reason.PUBLIC)
    verdict = classify_ip(addr)
    if verdict.allowed:
        return IpVerdict(False, Reason.RESERVED)
    return verdict


@dataclass(frozen=True)
class Step:
    """One request the capsule makes, and the outcome the demo expects."""

    title: str
    request: dict[str, Any]
    expect: str  # "ok" or an error-code case
    status: int | None = None  # the status an "ok" step must get, when it matters


#: The secret the demo gives the capsule, and the header the capsule writes for it.
SECRET_NAME = "demo_token"
_SECRET_HEADER = ["authorization", "Bearer {{secret:demo_token}}"]


def _steps(port: int) -> list[Step]:
    api = f"http://api.demo.test:{port}"
    return [
        Step("allowed fetch", {"url": f"{api}/hello"}, "ok"),
        Step("API call with a secret the capsule never sees "
             "(Authorization: Bearer {{secret:demo_token}})",
             {"url": f"{api}/whoami", "headers": [_SECRET_HEADER]}, "ok", status=200),
        Step("streamed download (8 MiB)",
             {"url": f"{api}/download?bytes={8 << 20}", "stream": True, "chunk": 1 << 20}, "ok"),
        Step("private address behind DNS (intranet.demo.test -> 10.20.30.40)",
             {"url": "http://intranet.demo.test/admin"}, "destination-prohibited"),
        Step("cloud metadata by IP literal", {"url": "http://169.254.169.254/latest/meta-data/"},
             "destination-prohibited"),
        Step("IPv4-mapped IPv6 literal hiding 10.0.0.1", {"url": "http://[::ffff:10.0.0.1]/"},
             "destination-prohibited"),
        Step("redirect to the metadata address", {"url": f"{api}/to-metadata"},
             "redirect-blocked"),
        Step("scheme the policy does not allow", {"url": "https://api.demo.test/"}, "denied"),
    ]


def _find_capsule(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    for name in _GUESTS:
        path = Path("build/guests") / name
        if path.is_file():
            return path
    return None


def _describe(answer: dict[str, Any]) -> str:
    if answer.get("ok"):
        return (f"HTTP {answer.get('status')}, {answer.get('bytes')} bytes, "
                f"sha256 {str(answer.get('sha256', ''))[:16]}...")
    return f"{answer.get('error')}: {answer.get('detail')}"


async def _run(capsule_path: Path, log: bool, trail_dir: Path) -> int:
    # Imported here: the wasm runtime is only needed when the demo actually runs.
    from astrid_host._audit._trail import AuditTrail
    from astrid_host._core._secrets import Secret
    from astrid_host._net._backend import StaticResolver
    from astrid_host._net._demo_server import serve_demo
    from astrid_host._wasm._bindings_rt import Err
    from astrid_host._wasm._host import Host
    from astrid_host.bindings.capsule import CapsuleWorld

    # The host's decision lines go to stdout between the steps, or nowhere with --quiet-log.
    handler: logging.Handler = logging.NullHandler()
    if log:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("      %(levelname)-7s %(message)s"))
    egress = logging.getLogger("astrid_host")
    egress.addHandler(handler)
    egress.setLevel(logging.INFO)
    failures = 0
    token = os.urandom(16).hex().encode()
    trail = AuditTrail(trail_dir / "audit.jsonl", key=os.urandom(32), durability="none")
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_demo, token)
            resolver = StaticResolver({"api.demo.test": ["127.0.0.1"],
                                       "intranet.demo.test": ["10.20.30.40"]})
            policy = EgressPolicy.parse(["http://*:*"], methods=["GET", "HEAD"])
            origin = f"http://api.demo.test:{server.port}"
            print(f"demo server on http://127.0.0.1:{server.port} (reached as api.demo.test)")
            print("capsule policy: http://*:* (any http host), methods GET and HEAD")
            print(f"capsule secret: {SECRET_NAME} (a random token), may be sent to {origin} only")
            print(f"audit trail: {trail.path} (keyed, verified at the end)")
            print(f"loading {capsule_path} ...", flush=True)
            secrets = {SECRET_NAME: Secret(token, origins=[origin])}
            async with Host(resolver=resolver, classifier=demo_classifier, audit=trail) as host:
                capsule = await host.load(capsule_path, policy=policy, name="example",
                                          secrets=secrets)
                world = CapsuleWorld(capsule)
                load = host.last_load
                if load is not None:
                    print(f"loaded in {load.seconds * 1000:.0f} ms "
                          f"({'compile cache hit' if load.hit else 'compiled, now cached'})")
                for number, step in enumerate(_steps(server.port), 1):
                    print(f"\n[{number}] {step.title}\n    GET {step.request['url']}", flush=True)
                    try:
                        answer = json.loads(await world.run(json.dumps(step.request)))
                    except Err as err:  # the capsule itself reported bad input
                        answer = {"ok": False, "error": "capsule-error", "detail": err.value}
                    got = "ok" if answer.get("ok") else str(answer.get("error"))
                    if got == "ok" and step.status not in (None, answer.get("status")):
                        got = f"HTTP {answer.get('status')}"
                    verdict = "as expected" if got == step.expect else f"EXPECTED {step.expect}"
                    failures += got != step.expect
                    print(f"    -> {_describe(answer)}  [{verdict}]", flush=True)
                    if step.status is not None:
                        failures += not _secret_kept(server.authorized, answer, token)
                await capsule.aclose()
            nursery.cancel_scope.cancel()
    finally:
        egress.removeHandler(handler)
    assert isinstance(trail.key, bytes)
    failures += not _verify_trail(Path(trail.path), trail.key)
    print(f"\n{'all steps behaved as expected' if not failures else f'{failures} step(s) did not'}")
    return 1 if failures else 0


def _secret_kept(authorized: list[bool], answer: dict[str, Any], token: bytes) -> bool:
    """Print and check what the secret step showed: the server got the token, the capsule
    did not."""
    received = bool(authorized) and authorized[-1]
    seen = token.decode() in json.dumps(answer)
    print(f"    server: {'received the right token' if received else 'DID NOT get the token'}"
          f"; capsule: {'SAW the token' if seen else 'never saw it (it wrote a placeholder)'}")
    return received and not seen


def _verify_trail(path: Path, key: bytes) -> bool:
    """Verify the demo's trail (chain and MACs) and show the secret step's decision record."""
    from astrid_host._audit._read import iter_lines, verify_files
    from astrid_host._cli._audit import describe
    from astrid_host._core._audit_records import parse_line

    report = verify_files([path], key)
    print(f"\n[audit] {path}")
    if report.problem is not None:
        print(f"    -> FAILED {report.problem}")
        return False
    records = [parse_line(data) for _, data, _ in iter_lines(path)]
    with_secret = next((r for r in records if r.get("secrets")), None)
    if with_secret is not None:
        print(f"    {describe(with_secret)}")
    print(f"    -> {report.records} records verified (hash chain and HMAC)  [as expected]")
    return with_secret is not None


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo; see the module docstring."""
    path = _find_capsule(args.capsule)
    if path is None or not path.is_file():
        print("the example capsule is not built: run `./dev guests --only example` "
              "(or pass --capsule PATH)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="astrid-demo-audit-") as trail_dir:
        return trio.run(_run, path, not args.quiet_log, Path(trail_dir))
