"""A test capsule that tries to get out of the sandbox without `astrid:http`.

`run(input)` takes ``{"port": N}`` (a loopback port the test listens on) and answers a JSON
object saying, for each attempt, whether it worked and with what error: a raw TCP connection
through WASI sockets, a DNS lookup, reading a host file, listing the root directory, reading
the environment and the arguments. The host links WASI with an empty configuration, so every
attempt must fail.
"""

from __future__ import annotations

import encodings.idna  # noqa: F401  (bundled so name handling reaches WASI, not a codec error)
import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import wit_world


def _attempt(fn: Callable[[], Any]) -> dict[str, Any]:
    try:
        value = fn()
    except BaseException as exc:  # anything at all: the point is to report it
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {"ok": True, "value": repr(value)[:200]}


def _connect(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect((b"127.0.0.1", port))  # bytes: no name handling, straight to WASI
        sock.sendall(b"escaped\n")
        return "connected"


class WitWorld(wit_world.WitWorld):
    def run(self, input: str) -> str:
        port = int(json.loads(input)["port"])
        report = {
            "tcp-connect": _attempt(lambda: _connect(port)),
            "dns-lookup": _attempt(lambda: socket.getaddrinfo("localhost", 80)),
            "read-file": _attempt(lambda: open("/etc/hostname").read()),
            "list-root": _attempt(lambda: os.listdir("/")),
            "environment": {"ok": bool(os.environ), "value": sorted(os.environ)[:10]},
            "arguments": {"ok": len(sys.argv) > 1, "value": sys.argv[:5]},
        }
        return json.dumps(report, sort_keys=True)
