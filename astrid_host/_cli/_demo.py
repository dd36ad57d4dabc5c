"""``astrid-host demo``: the example capsule against a local server, allowed and blocked.

Everything runs on this machine. A tiny HTTP server listens on 127.0.0.1; the demo's resolver
maps ``api.demo.test`` to it and ``intranet.demo.test`` to a private address. Loopback is
normally refused, so the demo (and only the demo) tells the classifier to treat 127.0.0.1 as
if it were a public address. As a safety net, its classifier refuses every other address the
real guard would allow, so nothing can leave the machine even if the guard were wrong.

The capsule's policy is deliberately wide (any ``http`` host, any port) to show that rules
open destinations, never the internal network: the address guard still refuses private,
link-local and metadata addresses, by IP literal, by DNS answer and by redirect.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
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


def _steps(port: int) -> list[Step]:
    api = f"http://api.demo.test:{port}"
    return [
        Step("allowed fetch", {"url": f"{api}/hello"}, "ok"),
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


async def _run(capsule_path: Path, log: bool) -> int:
    # Imported here: the wasm runtime is only needed when the demo actually runs.
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
    try:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_demo)
            resolver = StaticResolver({"api.demo.test": ["127.0.0.1"],
                                       "intranet.demo.test": ["10.20.30.40"]})
            policy = EgressPolicy.parse(["http://*:*"], methods=["GET", "HEAD"])
            print(f"demo server on http://127.0.0.1:{server.port} (reached as api.demo.test)")
            print("capsule policy: http://*:* (any http host), methods GET and HEAD")
            print(f"loading {capsule_path} ...", flush=True)
            async with Host(resolver=resolver, classifier=demo_classifier) as host:
                capsule = await host.load(capsule_path, policy=policy, name="example")
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
                    verdict = "as expected" if got == step.expect else f"EXPECTED {step.expect}"
                    failures += got != step.expect
                    print(f"    -> {_describe(answer)}  [{verdict}]", flush=True)
                await capsule.aclose()
            nursery.cancel_scope.cancel()
    finally:
        egress.removeHandler(handler)
    print(f"\n{'all steps behaved as expected' if not failures else f'{failures} step(s) did not'}")
    return 1 if failures else 0


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo; see the module docstring."""
    path = _find_capsule(args.capsule)
    if path is None or not path.is_file():
        print("the example capsule is not built: run `./dev guests --only example` "
              "(or pass --capsule PATH)", file=sys.stderr)
        return 2
    return trio.run(_run, path, not args.quiet_log)
