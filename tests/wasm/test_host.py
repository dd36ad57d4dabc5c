"""Host: loading (good and bad input), the factory context, the Python example guest, the
compile cache as seen through load.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import anyio
import pytest

from astrid_host._core._limits import Limits, MiB
from astrid_host._core._model import ErrorCode
from astrid_host._wasm._errors import (
    CapsuleClosed,
    CapsuleLoadError,
    CapsuleRunError,
    CapsuleTrap,
)
from astrid_host._wasm._host import CapsuleContext, Host
from tests.support.fakes import FakeHttp
from tests.support.guard import TEST_RULES, loopback_as_public, test_resolver
from tests.support.http import TestServer, pattern
from tests.support.paths import built_guest
from tests.support.timing import PROMPT_S, eventually
from tests.support.wat import MISSING_IMPORT_WAT, PLAIN_GUEST_WAT, UNKNOWN_FUNC_WAT, WRONG_SEND_WAT

PLAIN = PLAIN_GUEST_WAT.encode()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("source", "reason"), [
    (b"\0asm\x01\x00\x00\x00", "core wasm module, not a component"),
    (b"\0asm\x0d\x00\x02\x00", "unsupported wasm binary"),
    (b"PK\x03\x04 a zip file", "not a wasm component"),
    (b"(component (func $broken", "invalid WAT"),
    (b"(module)", "core module, not a component"),
    (MISSING_IMPORT_WAT.encode(), "needs an import the host does not provide"),
    (b"\0asm\x0d\x00\x01\x00garbage", "does not compile"),
    (WRONG_SEND_WAT.encode(),
     "'send' is declared with other types than in the WIT of astrid:http/client@0.1.0"),
    (UNKNOWN_FUNC_WAT.encode(), "has no function 'frobnicate'"),
])
async def test_bad_component_is_a_load_error_and_the_host_stays_usable(
        host: Host, source: bytes, reason: str) -> None:
    with pytest.raises(CapsuleLoadError, match=reason):
        await host.load(source, name="bad")
    assert await (await host.load(PLAIN)).call("add", 1, 2) == 3


async def test_missing_import_error_names_the_interface(host: Host) -> None:
    with pytest.raises(CapsuleLoadError) as info:
        await host.load(MISSING_IMPORT_WAT.encode())
    assert "example:nothing/here@1.0.0" in info.value.reason


@pytest.mark.parametrize("file_name", ["rust-conformance.wasm", "rust-example.wasm",
                                       "go-conformance.wasm"])
async def test_guests_built_from_the_wit_pass_the_import_check(host: Host,
                                                               file_name: str) -> None:
    """The signature digests in _imports match what real toolchains generate from wit/."""
    capsule = await host.load(built_guest(file_name))
    assert capsule.exports


async def test_unreadable_path_is_a_load_error(host: Host, tmp_path: Path) -> None:
    with pytest.raises(CapsuleLoadError, match="cannot read"):
        await host.load(tmp_path / "missing.wasm")


async def test_failed_load_closes_the_backend_it_built(host: Host, fake_http: FakeHttp) -> None:
    with pytest.raises(CapsuleLoadError):
        await host.load(MISSING_IMPORT_WAT.encode())
    assert fake_http.closed


async def test_load_after_host_exit_is_refused() -> None:
    async with Host(use_cache=False, http_factory=lambda ctx: FakeHttp()) as host:
        pass
    with pytest.raises(CapsuleClosed):
        await host.load(PLAIN)


async def test_host_aclose_from_another_task_closes_everything() -> None:
    """aclose() from a task of a nursery inside the host block (a shutdown handler, say)."""
    fake = FakeHttp()
    async with Host(use_cache=False, http_factory=lambda ctx: fake) as host:
        capsule = await host.load(PLAIN)
        async with anyio.create_task_group() as nursery:
            nursery.start_soon(host.aclose)
        assert capsule.closed and fake.closed
        with pytest.raises(CapsuleClosed):
            await host.load(PLAIN)


# ---------------------------------------------------------------------- factory context


async def test_factory_gets_name_policy_and_limits(host: Host,
                                                   contexts: list[CapsuleContext]) -> None:
    policy = object()
    tight = Limits(max_open_streams=1)
    capsule = await host.load(PLAIN, name="one", policy=policy, limits=tight)
    await host.load(PLAIN, name="two")
    assert [(c.name, c.policy is policy, c.limits) for c in contexts] == [
        ("one", True, tight), ("two", False, host.limits)]
    assert capsule.limits is tight


async def test_host_options_reach_the_factory(cache_dir: Path) -> None:
    seen: list[CapsuleContext] = []

    def factory(ctx: CapsuleContext) -> FakeHttp:
        seen.append(ctx)
        return FakeHttp()

    resolver, classifier = object(), object()
    async with Host(use_cache=False, http_factory=factory, resolver=resolver,
                    classifier=classifier, factory_options={"io_limit": 3}) as host:
        await host.load(PLAIN)
    (ctx,) = seen
    assert ctx.resolver is resolver and ctx.classifier is classifier
    assert ctx.ssl_context is None and ctx.options == {"io_limit": 3}


def test_misspelt_host_parameter_is_an_error() -> None:
    with pytest.raises(TypeError):
        Host(max_thread=4)  # type: ignore[call-arg]


# --------------------------------------------------------------- the Python example guest


async def test_compile_cache_hits_on_second_load(cache_dir: Path, python_example_wasm: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A cold load compiles the Python guest, the next load takes it from the cache (the
    times are printed, not compared: a busy machine can make any load slow).

    It works in the run's shared cache (dropping the entry first) so the compile it pays for
    is the one every later test reuses; it comes first among the Python guest tests.
    """
    wasm = await anyio.Path(python_example_wasm).read_bytes()
    async with Host(cache_dir=cache_dir, http_factory=lambda ctx: FakeHttp()) as host:
        entry = host.cache.path_for(wasm)
        assert entry is not None
        await anyio.Path(entry).unlink(missing_ok=True)
        start = time.perf_counter()
        await host.load(python_example_wasm)
        cold = time.perf_counter() - start
        assert host.last_load is not None and host.last_load.hit is False
    async with Host(cache_dir=cache_dir, http_factory=lambda ctx: FakeHttp()) as host:
        start = time.perf_counter()
        capsule = await host.load(python_example_wasm)
        warm = time.perf_counter() - start
        assert host.last_load is not None and host.last_load.hit is True
        assert json.loads(await capsule.run('{"url": "https://a.test/"}'))["ok"] is True
    with capsys.disabled():
        print(f"\n[python-example load] cold {cold:.2f} s, cached {warm * 1000:.0f} ms")



async def test_python_guest_calls_the_host_import(host: Host, fake_http: FakeHttp,
                                                  python_example_wasm: Path) -> None:
    fake_http.routes["https://example.test/"] = b"x" * 3000
    capsule = await host.load(python_example_wasm)
    answer = json.loads(await capsule.run(json.dumps({"url": "https://example.test/"})))
    assert answer["ok"] is True and answer["status"] == 200 and answer["bytes"] == 3000
    (req,) = fake_http.requests
    assert (req.method, req.url) == ("GET", "https://example.test/")


async def test_python_guest_streams_through_the_resource(host: Host, fake_http: FakeHttp,
                                                         python_example_wasm: Path) -> None:
    fake_http.routes["https://example.test/big"] = bytes(range(256)) * 40
    capsule = await host.load(python_example_wasm)
    answer = json.loads(await capsule.run(json.dumps(
        {"url": "https://example.test/big", "stream": True, "chunk": 1000})))
    assert (answer["bytes"], answer["chunks"]) == (10240, 11)
    assert fake_http.streams[-1].closed  # the guest's `with` dropped it


async def test_python_guest_sees_the_error_case(host: Host, fake_http: FakeHttp,
                                                python_example_wasm: Path) -> None:
    fake_http.routes["https://blocked.test/"] = ErrorCode.denied("not on the allowlist")
    capsule = await host.load(python_example_wasm)
    answer = json.loads(await capsule.run(json.dumps({"url": "https://blocked.test/",
                                                      "method": "PROPFIND"})))
    assert answer == {"ok": False, "error": "denied", "detail": "not on the allowlist"}
    assert fake_http.requests[-1].method == "PROPFIND"


async def test_python_guest_out_of_memory_traps_and_recovers(
        host: Host, fake_http: FakeHttp, python_example_wasm: Path) -> None:
    # Fits the memory limit on paper (so the host lowers it), not next to the interpreter.
    fake_http.routes["https://big.test/"] = b"x" * (6 * MiB)
    capsule = await host.load(python_example_wasm, limits=Limits(memory_bytes=14 * MiB))
    with pytest.raises(CapsuleTrap) as info:
        await capsule.run(json.dumps({"url": "https://big.test/"}))
    # The guest aborts when an allocation fails: wasmtime reports `unreachable`.
    assert info.value.kind in ("memory", "unreachable", "other")
    answer = json.loads(await capsule.run('{"url": "https://a.test/"}'))
    assert answer["ok"] is True and capsule.instantiations == 2


async def test_python_guest_err_result_raises_capsule_run_error(
        host: Host, python_example_wasm: Path) -> None:
    capsule = await host.load(python_example_wasm)
    with pytest.raises(CapsuleRunError, match="JSON object with a url"):
        await capsule.run("not json")
    assert json.loads(await capsule.run('{"url": "https://a.test/"}'))["ok"] is True


# ------------------------------------------- end to end: the real HTTP engine on loopback


def _real_host(cache_dir: Path) -> Host:
    # The default factory (CapsuleHttp) with the test resolver and a classifier that calls
    # only 127.0.0.1 public: made-up *.test names reach the loopback test server, nothing else
    # resolves, so no test here can send traffic anywhere else.
    return Host(cache_dir=cache_dir, resolver=test_resolver(), classifier=loopback_as_public())


async def test_python_guest_fetches_through_the_real_engine(
        cache_dir: Path, python_example_wasm: Path, http_server: TestServer) -> None:
    async with _real_host(cache_dir) as host:
        capsule = await host.load(python_example_wasm, policy=list(TEST_RULES))
        url = http_server.url("/bytes?n=5000", host="public.test")
        answer = json.loads(await capsule.run(json.dumps({"url": url, "stream": True})))
    assert answer["ok"] is True and answer["status"] == 200 and answer["bytes"] == 5000
    assert answer["sha256"] == hashlib.sha256(pattern(5000)).hexdigest()
    assert len(http_server.requests) == 1


async def test_default_policy_denies_everything(cache_dir: Path, python_example_wasm: Path,
                                                http_server: TestServer) -> None:
    async with _real_host(cache_dir) as host:
        capsule = await host.load(python_example_wasm)  # no policy given
        url = http_server.url("/bytes", host="public.test")
        answer = json.loads(await capsule.run(json.dumps({"url": url})))
    assert (answer["ok"], answer["error"]) == (False, "denied")
    assert http_server.requests == []


async def test_aclose_cancels_real_network_io_promptly(
        cache_dir: Path, python_example_wasm: Path, http_server: TestServer) -> None:
    async with _real_host(cache_dir) as host:
        capsule = await host.load(python_example_wasm, policy=list(TEST_RULES))
        url = http_server.url("/never-headers", host="public.test")
        answers: list[str] = []

        async def in_flight() -> None:
            answers.append(await capsule.run(json.dumps({"url": url})))

        async with anyio.create_task_group() as nursery:
            nursery.start_soon(in_flight)
            # The test server offers no event for "request received": poll, bounded.
            assert await eventually(lambda: bool(http_server.requests))
            start = time.monotonic()
            await capsule.aclose()
            elapsed = time.monotonic() - start
    assert elapsed < PROMPT_S  # not the 30 s the server would keep it waiting
    assert json.loads(answers[0])["error"] == "cancelled"
