"""Fuzzing the host imports from a guest-shaped harness.

The WAT guest forwards whatever request value it is given to the real ``client.send`` /
``client.start`` + ``read`` imports, so every generated value crosses the real canonical-ABI
boundary both ways and reaches the real engine and guard (made-up ``*.test`` names resolve to
the loopback test server or to nothing; no traffic leaves loopback).

Invariant: for any WIT-shaped request (any method token, URL text, header names and bytes,
body, options at their full integer widths, integrity digests) and any ``read`` size, the
guest gets a valid response or an ``error-code`` other than ``internal``; it never traps and the
host never raises. For raw bytes given as a URL or header name, the only other outcome is
the canonical ABI's own trap on invalid or incomplete UTF-8, and the capsule recovers from it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wasmtime.component import Record, Variant

from astrid_host._core._limits import Limits
from astrid_host._wasm._capsule import Capsule
from astrid_host._wasm._errors import CapsuleTrap
from astrid_host._wasm._host import Host
from tests.hostile._support import engine_open_streams, load_hostile
from tests.support.guard import loopback_as_public, test_resolver
from tests.support.http import run_http_server
from tests.support.values import ERROR_CASE_NAMES, outcome_of, wit_options
from tests.support.wat import ERROR_CASES

U32, U64 = 2**32 - 1, 2**64 - 1
#: Short limits so that no generated request can keep an example waiting.
FUZZ_LIMITS = Limits(connect_timeout_s=1, first_byte_timeout_s=1, between_bytes_timeout_s=1,
                     total_timeout_s=2, max_response_bytes=256 * 1024,
                     max_stream_bytes=256 * 1024, call_timeout_s=10)
SETTINGS = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)  # str must be UTF-8
_standard = st.sampled_from(["get", "head", "post", "put", "delete", "options", "patch"])
methods = st.one_of(
    _standard.map(Variant), _standard.map(Variant), _standard.map(Variant),
    st.one_of(text, st.sampled_from(["PROPFIND", "CONNECT", "trace", "G E T", ""])).map(
        lambda t: Variant("other", t)))
paths = st.sampled_from(["/echo", "/bytes?n=5000&chunk=700", "/chunked?n=3000",
                         "/status?code=204", "/status?code=599", "/redirect?to=/echo",
                         "/redirect?to=http://private.test/", "/loop", "/gzip?n=3000",
                         "/dup-headers", "/garbage", "/short?n=50&after=5"])
hosts = st.sampled_from(["public.test", "other.test", "unknown.test", "private.test",
                         "example.com", "127.0.0.1", "[::1]", "169.254.169.254"])
_good_names = st.sampled_from(["x-a", "accept", "X-Trace-Id", "cookie"])
header_names = st.one_of(_good_names, _good_names, _good_names, _good_names, _good_names,
                         st.sampled_from(["host", "Content-Length", "connection",
                                          "transfer-encoding", "x\r\ny", "", "x y"]), text)
header_values = st.one_of(st.sampled_from([b"1", b"text/plain", b"a=b"]),
                          st.binary(max_size=40))
headers = st.one_of(st.just([]), st.just([]),
                    st.lists(st.tuples(header_names, header_values), max_size=4))
opt_u32 = st.one_of(st.none(), st.sampled_from([0, 1, 50, U32]), st.integers(0, U32))
opt_u64 = st.one_of(st.none(), st.sampled_from([0, 1, U64]), st.integers(0, U64))
integrity = st.one_of(st.none(), st.builds(
    lambda a, d: _integrity(a, d),
    st.sampled_from(["sha256", "sha384", "sha512"]),
    st.one_of(st.binary(max_size=70), st.binary(min_size=32, max_size=32),
              st.binary(min_size=64, max_size=64))))
options = st.one_of(st.none(), st.none(), st.none(), st.builds(
    lambda c, f, b, t, rp, mr, mx, h, d, i: wit_options(
        connect_timeout_ms=c, first_byte_timeout_ms=f, between_bytes_timeout_ms=b,
        total_timeout_ms=t, redirect_policy=rp, max_redirects=mr, max_response_bytes=mx,
        https_only=h, decompress=d, integrity=i),
    opt_u32, opt_u32, opt_u32, opt_u32,
    st.one_of(st.none(), st.sampled_from(["follow", "error", "manual"])),
    opt_u32, opt_u64, st.booleans(), st.booleans(), integrity))


def _integrity(algorithm: str, digest: bytes) -> Record:
    r = Record()
    r.__dict__.update({"algorithm": algorithm, "digest": digest})
    return r


def _request(method: Variant, url: str, hdrs: list[tuple[str, bytes]], body: bytes | None,
             opts: Record | None) -> Record:
    r = Record()
    r.__dict__.update(method=method, url=url, headers=hdrs, body=body, options=opts)
    return r


def urls(port: int) -> st.SearchStrategy[str]:
    built = st.builds(lambda scheme, host, path: f"{scheme}://{host}:{port}{path}",
                      st.sampled_from(["http", "https", "ftp", "HTTP"]), hosts, paths)
    return st.one_of(built, built, built, text, st.just(f"http://public.test:{port}/echo#frag"),
                     st.just(f"http://user:pw@public.test:{port}/echo"))


def _allowed(value: Any) -> str:
    case, payload = outcome_of(value)
    if case == "ok":
        assert isinstance(value, Record) and 100 <= value.status <= 599
        return case
    assert case in ERROR_CASE_NAMES and case != "internal", (case, payload)
    return case


def _call(capsule: Capsule, export: str, *args: Any) -> Any:
    """Call the guest from hypothesis' worker thread, on the event loop."""
    return anyio.from_thread.run(capsule.call, export, *args)


@given(data=st.data())
@SETTINGS
def _any_wit_request(capsule: Capsule, port: int, seen: Counter[str],
                     data: st.DataObject) -> None:
    req = _request(data.draw(methods), data.draw(urls(port)), data.draw(headers),
                   data.draw(st.one_of(st.none(), st.binary(max_size=200))), data.draw(options))
    streamed = data.draw(st.booleans())
    max_bytes = data.draw(st.sampled_from([0, 1, 7, 65536, U32]))
    before = capsule.instantiations
    if not streamed:
        seen[_allowed(_call(capsule, "fetch", req))] += 1
    else:
        result = _call(capsule, "stream", req, max_bytes)
        if result >= 1000:  # 1000/2000 + the error-code case of start / read
            assert result % 1000 < len(ERROR_CASES) and ERROR_CASES[result % 1000] != "internal"
            seen[ERROR_CASES[result % 1000]] += 1
        else:
            seen["ok"] += 1
    assert capsule.instantiations == before  # no trap
    assert engine_open_streams(capsule) == 0


@given(url=st.binary(max_size=60), name=st.binary(max_size=20), value=st.binary(max_size=20),
       count=st.integers(0, 150))
@SETTINGS
def _raw_guest_bytes(capsule: Capsule, port: int, seen: Counter[str], url: bytes,
                     name: bytes, value: bytes, count: int) -> None:
    target = f"http://public.test:{port}/echo"
    for export, args, text_bytes, lifted in (
            ("send-url-bytes", (url,), url, True),
            ("send-headers", (target, name, value, count), name, count > 0)):
        valid = _is_utf8(text_bytes) or not lifted
        try:
            result = _call(capsule, export, *args)
        except CapsuleTrap as exc:
            assert not valid and exc.kind == "other" and "utf-8" in exc.message
            seen["utf8-trap"] += 1
            continue
        assert valid, f"{export} accepted invalid UTF-8 {text_bytes!r}"
        assert result < 1000 or ERROR_CASES[result - 1000] != "internal"
        seen["ok" if result < 1000 else ERROR_CASES[result - 1000]] += 1


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _run_against_the_real_host(cache_dir: Path, check: Any, backend: str) -> Counter[str]:
    # The async test runner would run every hypothesis example in a new event loop with new
    # fixtures;
    # instead one host and one capsule serve every example, driven from a worker thread.
    async def main() -> None:
        async with run_http_server() as server, Host(
                cache_dir=cache_dir, resolver=test_resolver(),
                classifier=loopback_as_public(), limits=Limits()) as host:
            capsule = await load_hostile(host, FUZZ_LIMITS, name="fuzz")
            await anyio.to_thread.run_sync(check, capsule, server.port, seen)
            assert engine_open_streams(capsule) == 0
    seen: Counter[str] = Counter()
    anyio.run(main, backend=backend)
    return seen


def test_any_wit_request_gives_a_response_or_an_error_code(cache_dir: Path,
                                                           anyio_backend: str) -> None:
    seen = _run_against_the_real_host(cache_dir, _any_wit_request, anyio_backend)
    # The generator really reaches the server and the guard's refusals, not only one path.
    assert {"ok", "invalid-request", "denied", "dns-error"} <= set(seen), seen


def test_raw_guest_bytes_give_an_error_code_or_the_utf8_trap(cache_dir: Path,
                                                              anyio_backend: str) -> None:
    seen = _run_against_the_real_host(cache_dir, _raw_guest_bytes, anyio_backend)
    assert {"utf8-trap", "invalid-request"} <= set(seen), seen
