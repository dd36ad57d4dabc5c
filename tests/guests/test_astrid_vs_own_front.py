"""The same server cases through both fronts, compared through the error table.

Each case runs once through the Astrid front (the SDK 0.7.2 fetch capsule, `astrid:http@1.1.0`
`http-request-opts`, loaded from its capsule directory) and once through our own front (the
Rust conformance guest's `fetch`, `astrid:http@0.1.0` `send`, with the options the Astrid front
gives a buffered request: follow up to 10 redirects, the capsule's body limit and deadline).
Our outcome, mapped by ``ERROR_TABLE`` to upstream's arm, must equal the arm the capsule
reports, and both fronts must have sent the server the same number of requests.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from astrid_host import EgressPolicy, Host
from astrid_host._core._astrid_http import ERROR_TABLE
from tests.guests.test_conformance import IFACE, outcome, request, with_options
from tests.support.astrid import fetch_manifest
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, run_http_server
from tests.support.paths import ROOT, built_guest

MiB = 1024 * 1024

MANIFEST = fetch_manifest("fetch-compared", ["public.test", "private.test", "169.254.169.254"])

#: Our own front's policy: the same hosts, any method (upstream filters none).
OWN_RULES = ["*://public.test:*", "*://private.test:*", "http://169.254.169.254"]


@dataclass(frozen=True)
class Case:
    path: str                      # on the test server as public.test, or a full URL
    expected: tuple[str, Any]      # ("ok", status) or ("err", upstream arm)
    config: dict[str, str] = field(default_factory=dict)


CASES = {
    "ok": Case("/bytes?n=5", ("ok", 200)),
    "404": Case("/status?code=404", ("ok", 404)),
    "redirect": Case("/redirect?to=/bytes%3Fn%3D3", ("ok", 200)),
    "redirect-to-private": Case("/redirect?to=http://private.test:1/",
                                ("err", "redirect-blocked")),
    "private": Case("http://private.test/", ("err", "airlock-rejected")),
    "metadata": Case("http://169.254.169.254/latest/meta-data/", ("err", "airlock-rejected")),
    "big-body-over-limit": Case(f"/bytes?n={2 * MiB}", ("err", "body-too-large")),
    "slow-server-timeout": Case("/slow-headers?delay=30", ("err", "timeout"),
                                {"timeout_ms": "500"}),
}


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


def url_of(server: TestServer, case: Case) -> str:
    return server.url(case.path, host="public.test") if case.path.startswith("/") else case.path


def upstream_arm(content: str) -> str:
    """The arm in the SDK's error text (``... ErrorCode::AirlockRejected``), in WIT spelling."""
    found = re.search(r"ErrorCode::([A-Za-z]+)", content)
    assert found, content
    return re.sub(r"(?<!^)(?=[A-Z])", "-", found.group(1)).lower()


async def through_astrid(host: Host, directory: Path, url: str, case: Case) -> tuple[str, Any]:
    capsule = await host.load(directory, config=case.config, name="astrid-front")
    result = await capsule.call_tool("fetch", {"url": url})
    await capsule.aclose()
    if result.is_error:
        return ("err", upstream_arm(result.content))
    return ("ok", result.value()["status"])


async def through_own(host: Host, url: str, case: Case) -> tuple[str, Any]:
    capsule = await host.load(built_guest("rust-conformance.wasm"), name="own-front",
                              policy=EgressPolicy.parse(OWN_RULES, methods=["*"]))
    total_ms = int(case.config.get("timeout_ms", "30000"))
    req = with_options(request(url), redirect_policy="follow", max_redirects=10,
                       max_response_bytes=MiB, total_timeout_ms=total_ms, decompress=True)
    kind, value = outcome(await capsule.call(f"{IFACE}#fetch", req))
    await capsule.aclose()
    if kind == "err":
        return ("err", ERROR_TABLE[value["case"]])
    return ("ok", value["status"])


@pytest.mark.guest("rust-astrid-fetch")
@pytest.mark.guest("rust-conformance")
@pytest.mark.parametrize("name", list(CASES))
async def test_both_fronts_agree(server: TestServer, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    shutil.copyfile(built_guest("rust-astrid-fetch.wasm"), tmp_path / "fetch.wasm")
    (tmp_path / "Capsule.toml").write_text(MANIFEST)
    url = url_of(server, case)
    async with Host(cache_dir=ROOT / "build" / "cache" / "conformance",
                    resolver=test_resolver(), classifier=loopback_as_public()) as host:
        astrid = await through_astrid(host, tmp_path, url, case)
        sent_by_astrid = len(server.requests)
        own = await through_own(host, url, case)
        sent_by_own = len(server.requests) - sent_by_astrid
    assert astrid == own == case.expected, (astrid, own)
    assert sent_by_astrid == sent_by_own
