"""docs/asgi.md's recipe, for real: the Starlette app of docs/examples/starlette_app.py under
uvicorn in a child process on loopback, a capsule loaded at start-up and run per request.

The listening socket is made here and handed to uvicorn (``--fd``): no port is guessed, and a
request sent before the app finished starting waits in the backlog instead of failing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import httpcore

from tests.support.http import TestServer
from tests.support.paths import ROOT, built_guest

#: Seconds the app may take to start and answer (a cold compile of the capsule is ~10 s).
ANSWER_S = 120


async def _get(port: int, url: str) -> tuple[int, dict[str, object]]:
    async with httpcore.AsyncConnectionPool() as pool:
        resp = await pool.request(
            "GET", f"http://127.0.0.1:{port}/fetch?url={url}",
            extensions={"timeout": {"connect": ANSWER_S, "read": ANSWER_S}})
        return resp.status, json.loads(resp.content)


async def test_the_starlette_recipe_serves_allowed_and_blocks_the_rest(
        http_server: TestServer, cache_dir: Path, tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    target = f"127.0.0.1:{http_server.port}"
    env = {**os.environ, "ASTRID_CAPSULE": str(built_guest("python-example.wasm")),
           "ASTRID_ALLOW": f"http://{target}", "ASTRID_LOCAL": target,
           "ASTRID_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "uvicorn.log"
    with log.open("w") as stderr:
        proc = await anyio.open_process(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "docs" / "examples"),
             "--fd", str(listener.fileno()), "--log-level", "info", "starlette_app:app"],
            pass_fds=(listener.fileno(),), env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    listener.close()  # the child has its own copy
    async with proc:
        try:
            status, allowed = await _get(port, http_server.url("/bytes?n=5"))
            assert status == 200 and allowed["ok"] is True, allowed
            assert allowed["status"] == 200 and allowed["bytes"] == 5
            # Not in the policy: the host refuses the capsule's request, the app answers.
            status, blocked = await _get(port, f"http://127.0.0.1:{http_server.port + 1}/")
            assert status == 200 and blocked["ok"] is False, blocked
            assert blocked["error"] == "denied", blocked
            assert [r.target for r in http_server.requests] == [b"/bytes?n=5"]
        finally:
            proc.terminate()  # SIGTERM: uvicorn's graceful shutdown runs the lifespan's exit
            with anyio.fail_after(60):
                await proc.wait()
    text = log.read_text()
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), text
    assert "Application startup complete" in text and "Application shutdown complete" in text
