"""`python -m benchmarks [--quick] [--only NAME]`: run every benchmark, print a table, write
build/bench.json as {"name": {"value", "baseline", "ratio", "unit", ...}} (null: not measured)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
import time
import traceback
from pathlib import Path

import benchmarks

from ._harness import Result


def _modules() -> list[str]:
    names = (m.name for m in pkgutil.iter_modules(benchmarks.__path__))
    return sorted(name for name in names if name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller loads (CI)")
    parser.add_argument("--only", action="append", default=[], help="module name part to run")
    parser.add_argument("--out", default="build/bench.json")
    args = parser.parse_args(argv)
    # One egress log line per request would drown the table (denials are warnings).
    logging.getLogger("astrid_host").setLevel(logging.ERROR)
    results: list[Result] = []
    failed: list[str] = []
    for name in _modules():
        if args.only and not any(part in name for part in args.only):
            continue
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            results.extend(module.run(args.quick))
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    print(f"{'name':<26} {'value':>12} {'baseline':>12} {'ratio':>8}  unit  goal")
    for r in results:
        row = f"{r.name:<26} {r.value:>12.3f} {r.baseline:>12.3f} {r.ratio:>8.2f}"
        print(f"{row}  {r.unit:<5} {r.goal}")
        if r.extra and r.extra.get("failed"):  # the candidate could not do the work
            print(f"{'':<26} FAILED: {r.extra['failed']}")
    for r in results:  # nan above: a figure not measured in this mode or swallowed by noise
        if r.note:
            print(f"  {r.name}: {r.note}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({r.name: r.as_json() for r in results}, indent=2) + "\n")
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
