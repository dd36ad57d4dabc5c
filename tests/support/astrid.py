"""Upstream Astrid capsules in tests: manifests for the SDK fetch capsule
(build/guests/rust-astrid-fetch.wasm: the settings its code reads through `get-config`, a `net`
list and a publish ACL), and a hook call of the http-all capsule (rust-astrid-http-all.wasm)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["fetch_manifest", "trigger_http_all"]


def fetch_manifest(name: str, net: Sequence[str], *, extra_env: str = "",
                   describe: bool = False) -> str:
    """A `Capsule.toml` for the fetch capsule as ``name`` (component file `fetch.wasm`) that may
    reach ``net``, publishes tool results (and tool descriptions when ``describe``), with the
    fetch capsule's `[env]` defaults plus ``extra_env`` (TOML text)."""
    describe_acl = '"tool.v1.response.describe.*" = "x"\n' if describe else ""
    return f"""
[package]
name = "{name}"
version = "0.1.0"

[[component]]
id = "fetch"
file = "fetch.wasm"

[capabilities]
net = {json.dumps(list(net))}

[env.user_agent]
type = "text"
default = "astrid-fetch/test"
[env.timeout_ms]
type = "text"
default = 30000
[env.max_response_bytes]
type = "text"
default = 1048576
[env.follow_redirects]
type = "text"
default = true
{extra_env}
[publish]
"tool.v1.execute.*.result" = "x"
{describe_acl}"""


async def trigger_http_all(action: str, payload: dict[str, Any], limits: Any = None) -> Any:
    """Call hook ``action`` of the http-all capsule on a fresh Host that reaches the loopback
    servers as ``public.test`` (any method); its JSON report (the hook must answer continue)."""
    from astrid_host import EgressPolicy, Host
    from astrid_host._core._astrid_state import AstridState
    from tests.support.guard import loopback_as_public, test_resolver
    from tests.support.paths import built_guest

    async with Host(use_cache=False, resolver=test_resolver(),
                    classifier=loopback_as_public(), limits=limits) as host:
        capsule = await host.load(built_guest("rust-astrid-http-all.wasm"),
                                  policy=EgressPolicy.parse(["*://public.test:*"], methods=["*"]),
                                  astrid=AstridState("http-all"))
        answer = await capsule.trigger(action, payload)
    assert answer.result.action == "continue", answer.result.data
    return answer.result.json()
