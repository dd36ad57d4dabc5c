"""What the first-hour CLI tests share: the example capsule, a loopback HTTP server, and a WAT
capsule exporting the `capsule` world's `run` that traps."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "build" / "guests" / "python-example.wasm"


def example_capsule() -> Path:
    """build/guests/python-example.wasm, or skip (fail under ASTRID_REQUIRE_ALL=1)."""
    if not EXAMPLE.is_file():
        message = "build/guests/python-example.wasm is missing: run ./dev guests --only example"
        if os.environ.get("ASTRID_REQUIRE_ALL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return EXAMPLE


#: The token ``/whoami`` expects in ``X-Token`` (a test secret).
TOKEN = "tok-4f1e9c-never-in-any-output"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        size = int(self.path.partition("bytes=")[2] or 0)
        body = b"x" * size if size else b"hello from loopback"
        status = 200
        if self.path.startswith("/whoami"):  # checks the secret; never echoes it
            good = self.headers.get("x-token") == TOKEN
            status, body = (200, b"token ok") if good else (403, b"bad token")
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def loopback_server() -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1; yields its port. ``/?bytes=N`` sends N bytes;
    ``/whoami`` answers 200 when ``X-Token`` is :data:`TOKEN`, else 403."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


#: The `capsule` world's `run` export over a core function that executes `unreachable`.
TRAPPING_RUN_WAT = r"""
(component
  (core module $m
    (memory (export "memory") 1)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
    (func (export "run") (param i32 i32) (result i32) unreachable))
  (core instance $i (instantiate $m))
  (type $r (result string (error string)))
  (func (export "run") (param "input" string) (result $r)
    (canon lift (core func $i "run") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
)
"""
