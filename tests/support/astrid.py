"""Upstream Astrid manifests for the SDK fetch capsule (build/guests/rust-astrid-fetch.wasm) in
tests: the settings its code reads through `get-config`, a `net` list and a publish ACL."""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = ["fetch_manifest"]


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
