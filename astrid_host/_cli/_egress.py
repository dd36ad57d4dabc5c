"""``check-ip`` and ``check-url``: debug egress policies without sending a request.

Both commands only decide; neither opens a connection. ``check-url`` resolves a name through the
system resolver (DNS only) unless ``--resolve`` gives the answers.

Exit status: 0 allowed, 1 denied (including names that do not resolve), 2 invalid input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import trio

from astrid_host._cli._resolve import OverrideResolver, parse_resolve
from astrid_host._core._classify import InvalidAddress, IpVerdict, classify_ip
from astrid_host._core._decision import Resolution
from astrid_host._core._model import HttpError
from astrid_host._core._policy import (
    ADDRESS_RULES_ONLY_RULE,
    AddressCheck,
    EgressPolicy,
    PolicyDecision,
    PolicyReason,
    check_url,
)
from astrid_host._core._policy_methods import parse_method
from astrid_host._core._policy_rules import PolicyError
from astrid_host._core._url import InvalidUrl, ParsedUrl
from astrid_host._net._backend import PinnedBackend, Resolver

__all__ = ["register", "run_check_ip", "run_check_url"]

EXIT_ALLOWED, EXIT_DENIED, EXIT_INVALID = 0, 1, 2



def register(subparsers: Any) -> None:
    """Add the ``check-ip`` and ``check-url`` commands."""
    ip = subparsers.add_parser(
        "check-ip", help="classify one IP address as the egress guard does",
        description="Say whether a capsule may connect to ADDRESS, and why.",
        epilog="Exit status: 0 allowed, 1 denied, 2 not an IP address.")
    ip.add_argument("address", metavar="ADDRESS", help="an IPv4 or IPv6 address")
    ip.add_argument("--json", action="store_true", help="print one JSON object")
    ip.set_defaults(handler=run_check_ip)

    url = subparsers.add_parser(
        "check-url", help="check a URL against a policy without sending anything",
        description=(
            "Normalise URL as a browser would, apply the policy rules (--allow; without any, "
            "only the address rules apply) and judge every address the host resolves to. "
            "Nothing is connected to; names are resolved with the system resolver unless "
            "--resolve gives the answers."),
        epilog="Exit status: 0 allowed, 1 denied, 2 invalid URL, rule or argument.")
    url.add_argument("url", metavar="URL")
    url.add_argument("--allow", action="append", default=[], metavar="RULE",
                     help="an allow rule such as https://*.example.com:8443 (repeatable)")
    url.add_argument("--local", action="append", default=[], metavar="ENTRY",
                     help="a local-allowance entry: ADDRESS:PORT or CIDR:PORT for IP-literal "
                          "URLs, NAME=ADDRESS:PORT for a name (repeatable)")
    url.add_argument("--resolve", action="append", default=[], metavar="HOST=IP[,IP...]",
                     help="use these answers instead of DNS for HOST (repeatable)")
    url.add_argument("--method", default="GET",
                     help="request method, an upper-case token (default GET)")
    url.add_argument("--json", action="store_true", help="print one JSON object")
    url.set_defaults(handler=run_check_url)


def _verdict_json(verdict: IpVerdict) -> dict[str, Any]:
    return {
        "allowed": verdict.allowed,
        "reason": verdict.reason.value,
        "reason_text": verdict.reason.text,
        "range": None if verdict.range is None else {
            "network": verdict.range.network, "name": verdict.range.name,
            "rfc": verdict.range.rfc},
        "embedded_ipv4": None if verdict.embedded_ipv4 is None else str(verdict.embedded_ipv4),
    }


def _invalid(message: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"allowed": False, "reason": "invalid-input", "error": message}))
    else:
        print(f"invalid: {message}", file=sys.stderr)
    return EXIT_INVALID


def run_check_ip(args: argparse.Namespace) -> int:
    """Classify ``args.address``; print text or JSON; return the exit status."""
    try:
        verdict = classify_ip(args.address)
    except InvalidAddress as exc:
        return _invalid(str(exc), args.json)
    if args.json:
        print(json.dumps({"address": args.address, **_verdict_json(verdict)}))
    else:
        word = "allowed" if verdict.allowed else "denied"
        print(f"{args.address}: {word} ({verdict.reason.value}): {verdict.reason.text}")
        if verdict.range is not None:
            print(f"  range: {verdict.range.network} {verdict.range.name} [{verdict.range.rfc}]")
        if verdict.embedded_ipv4 is not None:
            inner = verdict.embedded_reason.value if verdict.embedded_reason else "?"
            print(f"  embedded IPv4: {verdict.embedded_ipv4} ({inner})")
    return EXIT_ALLOWED if verdict.allowed else EXIT_DENIED


def run_check_url(args: argparse.Namespace) -> int:
    """Check ``args.url``; print text or JSON; return the exit status."""
    try:
        # Without --allow, only the address rules decide: every URL passes the rule stage.
        policy = EgressPolicy.parse(args.allow or [ADDRESS_RULES_ONLY_RULE], local=args.local)
        table = parse_resolve(args.resolve)
        method = parse_method(args.method)
        parsed, decision = check_url(args.url, policy, method)
    except (InvalidUrl, PolicyError, ValueError) as exc:
        return _invalid(str(exc), args.json)
    resolution: Resolution | None = None
    error: str | None = None
    if decision.allowed and parsed.ip is None:
        resolver: Resolver = OverrideResolver(table)
        # Resolve only: PinnedBackend.resolve never connects.
        backend = PinnedBackend(policy, resolver)
        try:
            resolution = trio.run(backend.resolve, parsed.host, parsed.port)
        except HttpError as exc:
            error = str(exc.code)
    report = _report(parsed, decision, resolution, error, bool(args.allow))
    if args.json:
        print(json.dumps(report))
    else:
        _print_report(report)
    return EXIT_ALLOWED if report["allowed"] else EXIT_DENIED


def _report(parsed: ParsedUrl, decision: PolicyDecision, resolution: Resolution | None,
            error: str | None, with_rules: bool) -> dict[str, Any]:
    checks: tuple[AddressCheck, ...]
    if decision.address is not None:
        checks = (decision.address,)
    elif resolution is not None:
        checks = resolution.addresses
    else:
        checks = ()
    addresses = [{"address": str(c.address), "allowed": c.allowed,
                  "reason": "local-allowance" if c.via_local else c.verdict.reason.value}
                 for c in checks]
    first = next((c for c in checks if c.allowed), None)
    allowed = decision.allowed and error is None and first is not None
    if not decision.allowed:
        reason = decision.reason_key
    elif error is not None:
        reason = error.partition(":")[0]  # the error-code case, e.g. "dns-error"
    elif first is None:
        reason = checks[0].verdict.reason.value  # every answer refused: blame the first
    elif first.via_local:
        reason = PolicyReason.LOCAL.value
    else:
        # With rules, say which stage allowed it; without, the address class is the news.
        reason = decision.reason_key if with_rules else first.verdict.reason.value
    connect_to = str(first.address) if allowed and first is not None else None
    if error is not None:
        detail = error
    elif not decision.allowed or (with_rules and first is not None and not first.via_local):
        detail = decision.detail
    elif first is None:
        detail = "every address is refused"
    else:
        detail = first.verdict.reason.text if not first.via_local else "operator's local allowance"
    return {
        "url": parsed.redacted(), "allowed": allowed, "reason": reason,
        "detail": detail,
        "host": parsed.host, "port": parsed.port, "rule": decision.rule if with_rules else None,
        "addresses": addresses, "connect_to": connect_to,
        "follow_redirects": allowed and decision.follow_redirects and not (
            first is not None and first.via_local),
    }


def _print_report(report: dict[str, Any]) -> None:
    word = "allowed" if report["allowed"] else "denied"
    print(f"{report['url']}: {word} ({report['reason']})")
    if report["detail"]:
        print(f"  detail: {report['detail']}")
    if report["rule"]:
        print(f"  rule: {report['rule']}")
    for a in report["addresses"]:
        mark = "ok  " if a["allowed"] else "deny"
        print(f"  {mark} {a['address']} ({a['reason']})")
    if report["connect_to"]:
        print(f"  would connect to {report['connect_to']} port {report['port']}")
