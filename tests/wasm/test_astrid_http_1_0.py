"""`astrid:http/host@1.0.0` through a real component: a WAT guest importing the served
functions with their exact WIT types (rendered from the generated model) passes
`http-request` and `http-stream-start` through its own core code. The same engine and guard
as 1.1.0 answer, with upstream's down-mapping of the error arms 1.0.0 lacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from wasmtime.component import Variant

from astrid_host import EgressPolicy, Host
from astrid_host._wasm._astrid_http import ASTRID_HTTP_1_0
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import TestServer, run_http_server
from tests.support.wat import BUMP_MEMORY
from tests.support.wit_wat import instance_type

#: Both functions take `http-request-data`, ten i32s flat, and return through memory.
_FUNCS = ("http-request", "http-stream-start")

GUEST = f"""
(component
  (type $http-type {instance_type(ASTRID_HTTP_1_0.model)})
  (import "astrid:http/host@1.0.0" (instance $http (type $http-type)))
  (alias export $http "error-code" (type $ec))
  (alias export $http "http-request-data" (type $req))
  (alias export $http "http-response-data" (type $resp))
  (alias export $http "http-stream" (type $stream))
{BUMP_MEMORY}""" + "".join(f"""
  (alias export $http "{f}" (func $imp-{f}))
  (core func $low-{f} (canon lower (func $imp-{f}) (memory $memory) (realloc $realloc)))
""" for f in _FUNCS) + """
  (core module $Main
""" + "".join(f"""    (import "host" "{f}" (func ${f} (param {"i32 " * 11})))
""" for f in _FUNCS) + "".join(f"""    (func (export "{f}") (param {"i32 " * 10}) (result i32)
      (call ${f} {" ".join(f"(local.get {i})" for i in range(10))} (i32.const 16))
      (i32.const 16))
""" for f in _FUNCS) + """  )
  (core instance $host """ + " ".join(f'(export "{f}" (func $low-{f}))' for f in _FUNCS) + """)
  (core instance $main (instantiate $Main (with "host" (instance $host))))
  (type $request-ty (func (param "request" $req) (result (result $resp (error $ec)))))
  (type $start-ty (func (param "request" $req) (result (result (own $stream) (error $ec)))))
  (func (export "http-request") (type $request-ty)
    (canon lift (core func $main "http-request") (memory $memory) (realloc $realloc)))
  (func (export "http-stream-start") (type $start-ty)
    (canon lift (core func $main "http-stream-start") (memory $memory) (realloc $realloc)))
)
"""


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async with run_http_server() as srv:
        yield srv


async def request(url: str, fn: str = "http-request") -> Any:
    # The guest's export takes wasmtime-py values: records as attributes, variants tagged.
    data = SimpleNamespace(url=url, method=Variant("get"),
                           headers=[SimpleNamespace(key="x-test", value="1")], body=None)
    async with Host(use_cache=False, resolver=test_resolver(),
                    classifier=loopback_as_public()) as host:
        capsule = await host.load(GUEST.encode(), name="http10",
                                  policy=EgressPolicy.parse(["*://public.test:*",
                                                             "*://private.test:*"]))
        return await capsule.call(fn, data)


async def test_a_buffered_request_answers_1_0s_response_without_meta(
        server: TestServer) -> None:
    answer = await request(server.url("/bytes?n=4", host="public.test"))
    assert (answer.status == 200 and answer.body == b"xxxx") or len(answer.body) == 4
    assert not hasattr(answer, "meta")
    (seen,) = server.requests
    assert seen.header(b"x-test") == [b"1"]


@pytest.mark.parametrize(("path", "arm", "text"), [
    # 1.1.0's redirect-blocked is 1.0.0's airlock-rejected.
    ("/redirect?to=http://private.test:1/", "airlock-rejected", None),
    # too-many-redirects is protocol("too many redirects").
    ("/loop", "protocol", "too many redirects"),
])
async def test_arms_1_0_lacks_are_mapped_down(server: TestServer, path: str, arm: str,
                                              text: str | None) -> None:
    answer = await request(server.url(path, host="public.test"))
    assert answer.tag == arm and answer.payload == text


@pytest.mark.parametrize(("url", "arm"), [
    ("ftp://public.test/x", "invalid-request"),        # 1.1.0's scheme-denied
    ("http://other.test/", "capability-denied"),
    ("http://private.test/", "airlock-rejected"),
])
async def test_refusals_before_sending(server: TestServer, url: str, arm: str) -> None:
    for fn in _FUNCS:
        answer = await request(url, fn)
        assert answer.tag == arm, (fn, answer)
    assert server.connections == 0
