"""`astrid-host demo`, the README's main job: every step must have its expected outcome."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT, built_guest


def test_demo_shows_allowed_streamed_and_blocked_requests(cache_dir: Path) -> None:
    capsule = built_guest("python-example.wasm")
    proc = subprocess.run(
        [sys.executable, "-m", "astrid_host", "demo", "--capsule", str(capsule)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "ASTRID_CACHE_DIR": str(cache_dir)},
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "all steps behaved as expected" in out
    assert out.count("[as expected]") == 9  # 8 requests and the audit trail
    # The secret reached the server and not the capsule; the trail verified, with its name.
    assert "server: received the right token; capsule: never saw it" in out
    assert "records verified (hash chain and HMAC)" in out and "secrets=demo_token" in out
    # The blocked steps carry their reasons, and the log shows the decisions.
    assert "reason=private" in out and "reason=link-local" in out
    assert "redirect-blocked" in out and "embedded-ipv4:mapped" in out
    assert "HTTP 200, 8388608 bytes" in out


def test_demo_without_the_capsule_says_how_to_build_it(tmp_path: Path) -> None:
    # Run from an empty directory, but the checkout under test, not whatever is installed.
    proc = subprocess.run(
        [sys.executable, "-m", "astrid_host", "demo"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2
    assert "./dev guests --only example" in proc.stderr
