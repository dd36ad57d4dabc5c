"""The call's output through the conformance guests (`lane-tests.fetch-to-output`): a body
read into the guest with `read-into` and handed to the host with one `output.write-from`.

As an export result (`fetch`) a guest cannot hand the host more than ~2.67 MiB of `list<u8>`
(wasmtime's hostcall fuel traps it); through the output 10 MiB arrive byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from astrid_host._core._limits import Limits
from astrid_host._core._policy import EgressPolicy
from astrid_host._wasm._host import Host
from astrid_host._wasm._output import NOT_ASKED
from tests.support import paths
from tests.support.http import TestServer, pattern, run_http_server
from tests.support.values import outcome_of, wit_request

MiB = 1024 * 1024
LANE = "astrid:http/lane-tests@0.1.0"
FETCH_TO_OUTPUT = f"{LANE}#fetch-to-output"

pytestmark = [pytest.mark.guest("conformance")]


async def _output_guest(language: str, limits: Limits) -> AsyncIterator[tuple[Any, TestServer]]:
    path = paths.built_guest(f"{language}-conformance.wasm")
    async with run_http_server() as server:
        policy = EgressPolicy.parse([], methods=["*"], local=[f"127.0.0.1:{server.port}"])
        async with Host(cache_dir=paths.ROOT / "build" / "cache" / "conformance",
                        limits=limits) as host:
            yield await host.load(path, policy=policy, name=path.stem), server


@pytest.fixture(params=["rust", "go"])
async def guest(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, TestServer]]:
    async for pair in _output_guest(request.param, Limits(call_timeout_s=300)):
        yield pair


async def _has_fetch_to_output(capsule: Any, server: TestServer) -> None:
    """Skip (fail under ASTRID_REQUIRE_ALL) for a guest built before fetch-to-output."""
    from astrid_host._wasm._errors import ExportNotFound

    try:
        await capsule.call(FETCH_TO_OUTPUT, wit_request(server.url("/bytes?n=1")))
    except ExportNotFound:
        message = f"{capsule.name} predates fetch-to-output: python3 scripts/build_guests.py"
        if paths.require_all():
            pytest.fail(message)
        pytest.skip(message)


async def test_ten_mib_returned_through_the_output_byte_for_byte(
        guest: tuple[Any, TestServer]) -> None:
    capsule, server = guest
    await _has_fetch_to_output(capsule, server)
    n = 10 * MiB
    done = await capsule.call_with_output(FETCH_TO_OUTPUT,
                                          wit_request(server.url(f"/bytes?n={n}")))
    assert done.value.status == 200
    assert getattr(done.value, "total-bytes") == n
    assert len(done.output) == n
    assert hashlib.sha256(done.output).digest() == hashlib.sha256(pattern(n)).digest()
    assert capsule.instantiations == 1


async def test_a_plain_call_gets_invalid_request_for_its_write(
        guest: tuple[Any, TestServer]) -> None:
    capsule, server = guest
    await _has_fetch_to_output(capsule, server)
    case, payload = outcome_of(await capsule.call(FETCH_TO_OUTPUT,
                                                  wit_request(server.url("/bytes?n=100"))))
    assert case == "invalid-request"
    assert (payload.part, payload.detail) == ("body", NOT_ASKED)


@pytest.mark.parametrize("language", ["rust", "go"])
async def test_one_byte_over_the_output_limit_is_refused_and_the_host_is_fine(
        language: str) -> None:
    limit = 64 * 1024
    async for capsule, server in _output_guest(language, Limits(max_output_bytes=limit)):
        await _has_fetch_to_output(capsule, server)
        done = await capsule.call_with_output(
            FETCH_TO_OUTPUT, wit_request(server.url(f"/bytes?n={limit + 1}")))
        assert outcome_of(done.value) == ("body-too-large", limit)
        assert done.output == b""
        done = await capsule.call_with_output(
            FETCH_TO_OUTPUT, wit_request(server.url(f"/bytes?n={limit}")))
        assert done.output == pattern(limit)
        assert capsule.instantiations == 1


async def test_typed_bindings_get_the_output_through_with_output() -> None:
    """`CapsuleWorld(WithOutput(capsule)).run(...)`: the generated `run` answers as usual and
    the target keeps what the Rust example capsule wrote (`{"output": true}`); a call that did
    not ask (the capsule itself) gets the example's refusal text, not a body."""
    import json

    from astrid_host import WithOutput
    from astrid_host.bindings.capsule import CapsuleWorld, Err

    path = paths.built_guest("rust-example.wasm")
    async with run_http_server() as server:
        policy = EgressPolicy.parse([], local=[f"127.0.0.1:{server.port}"])
        async with Host(cache_dir=paths.ROOT / "build" / "cache" / "conformance") as host:
            capsule = await host.load(path, policy=policy, name="example")
            ask = json.dumps({"url": server.url(f"/bytes?n={3 * MiB}"), "output": True})
            target = WithOutput(capsule)
            answer = await CapsuleWorld(target).run(ask)
            assert target.output == pattern(3 * MiB)
            assert str(3 * MiB) in answer
            with pytest.raises(Err) as refused:
                await CapsuleWorld(capsule).run(ask)
            assert NOT_ASKED in str(refused.value.value)
