"""A Starlette app that loads a capsule at start-up and runs it per request (docs/asgi.md).

    ASTRID_CAPSULE=build/guests/python-example.wasm ASTRID_ALLOW=https://api.example.com \
        uvicorn --app-dir docs/examples starlette_app:app

``GET /fetch?url=...`` runs the capsule with ``{"url": ...}`` and answers what it answered.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from astrid_host import CapsuleError, CapsuleRunError, EgressPolicy, Host, Limits


def _list(name: str) -> list[str]:
    return [item for item in os.environ.get(name, "").split(",") if item]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Start-up: one Host on the server's event loop, the capsule loaded (and compiled, or
    taken from the compile cache) once. Shutdown: leaving the block closes every capsule."""
    policy = EgressPolicy.parse(_list("ASTRID_ALLOW"), methods=["GET"],
                                local=_list("ASTRID_LOCAL"))
    async with Host() as host:
        app.state.fetcher = await host.load(os.environ["ASTRID_CAPSULE"], policy=policy,
                                            name="fetcher", limits=Limits(call_timeout_s=10))
        yield


async def fetch(request: Request) -> JSONResponse:
    """Run the capsule for this request. One capsule runs one call at a time; concurrent
    requests wait for each other (load several capsules to serve them in parallel)."""
    try:
        answer = await request.app.state.fetcher.run(
            json.dumps({"url": request.query_params.get("url", "")}))
    except CapsuleRunError as exc:  # the capsule refused the input
        return JSONResponse({"error": exc.message}, status_code=400)
    except CapsuleError as exc:  # a trap (fuel, deadline, memory): the next call gets a fresh Store
        return JSONResponse({"error": str(exc)}, status_code=502)
    return JSONResponse(json.loads(answer))


app = Starlette(routes=[Route("/fetch", fetch)], lifespan=lifespan)
