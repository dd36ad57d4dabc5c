"""The host side of astrid:http/client: value conversion, error mapping, resource handles.

Conversions are tested as pure functions; the wiring is tested from a WAT guest that calls the
real imports with the exact WIT types (tests/support/wat.py: CLIENT_GUEST_WAT).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wasmtime import Config, Engine, Store, wat2wasm
from wasmtime.component import Component, Record, Variant

from astrid_host._core._limits import Limits
from astrid_host._core._model import (
    STANDARD_METHODS,
    AddressVerdict,
    DigestAlgorithm,
    ErrorCode,
    Integrity,
    InvalidRequest,
    ProhibitedAddress,
    RedirectPolicy,
    RequestOptions,
    RequestPart,
    Response,
    ResponseMeta,
    TimeoutPhase,
)
from astrid_host._core._wit_http import REQUEST_TY, RESPONSE_TY
from astrid_host._wasm._convert import ValueOutOfRange, lift, lower
from astrid_host._wasm._host import Host
from astrid_host._wasm._imports import (
    CLIENT_INTERFACE,
    READ_CHUNK_MAX,
    error_to_wit,
    guest_error,
    precheck_request,
)
from tests.support.fakes import FakeHttp
from tests.support.wat import CLIENT_GUEST_WAT, ERROR_CASES


def _rec(**fields: object) -> Record:
    r = Record()
    r.__dict__.update({k.replace("_", "-"): v for k, v in fields.items()})
    return r


def _wit_request(method: Variant, url: str = "https://a.test/", options: Record | None = None,
                 body: bytes | None = None) -> Record:
    return _rec(method=method, url=url, headers=[("set-cookie", b"a"), ("set-cookie", b"\xff")],
                body=body, options=options)


def _wit_options(**overrides: object) -> Record:
    fields: dict[str, object] = dict(
        connect_timeout_ms=None, first_byte_timeout_ms=5, between_bytes_timeout_ms=None,
        total_timeout_ms=70000, redirect_policy="manual", max_redirects=3,
        max_response_bytes=2**40, https_only=True, decompress=False,
        integrity=_rec(algorithm="sha384", digest=b"\x01" * 48))
    fields.update(overrides)
    return _rec(**fields)


# -------------------------------------------------------------------------- pure conversion


@pytest.mark.parametrize(("case", "token"), sorted(STANDARD_METHODS.items()))
def test_standard_method_case_becomes_its_wire_token(case: str, token: str) -> None:
    assert lift(REQUEST_TY, _wit_request(Variant(case))).method == token


@pytest.mark.parametrize("token", ["PROPFIND", "get", "BAD TOKEN", ""])
def test_other_method_is_passed_on_as_given(token: str) -> None:
    # Token validation belongs to the HTTP engine; the converter must not "fix" anything.
    assert lift(REQUEST_TY, _wit_request(Variant("other", token))).method == token


def test_request_keeps_duplicate_and_non_utf8_headers_and_binary_body() -> None:
    req = lift(REQUEST_TY, _wit_request(Variant("post"), body=b"\x00\xff"))
    assert req.headers == (("set-cookie", b"a"), ("set-cookie", b"\xff"))
    assert req.body == b"\x00\xff" and req.options is None


def test_request_options_convert_field_by_field() -> None:
    req = lift(REQUEST_TY, _wit_request(Variant("get"), options=_wit_options()))
    assert req.options == RequestOptions(
        connect_timeout_ms=None, first_byte_timeout_ms=5, between_bytes_timeout_ms=None,
        total_timeout_ms=70000, redirect_policy=RedirectPolicy.MANUAL, max_redirects=3,
        max_response_bytes=2**40, https_only=True, decompress=False,
        integrity=Integrity(DigestAlgorithm.SHA384, b"\x01" * 48))


@pytest.mark.parametrize(("field", "value"), [("max_redirects", 2**32),
                                              ("max_response_bytes", 2**64),
                                              ("total_timeout_ms", -1)])
def test_out_of_range_option_is_the_guests_invalid_request(field: str, value: int) -> None:
    with pytest.raises(ValueOutOfRange) as info:
        lift(REQUEST_TY, _wit_request(Variant("get"), options=_wit_options(**{field: value})))
    code = guest_error(info.value)  # what the import answers with instead of trapping
    assert code is not None and code.case == "invalid-request"
    assert isinstance(code.payload, InvalidRequest)
    assert code.payload.part is RequestPart.OPTIONS
    assert code.payload.detail == f"{field.replace('_', '-')} out of range"


def test_a_number_out_of_range_outside_a_request_is_the_hosts_fault() -> None:
    assert guest_error(ValueOutOfRange("2**32 does not fit WIT u32")) is None
    assert guest_error(TypeError("not a Variant")) is None


_SAMPLES: dict[str, ErrorCode] = {
    "denied": ErrorCode.denied("host not allowed"),
    "destination-prohibited": ErrorCode.destination_prohibited(
        "a.test", (AddressVerdict("10.0.0.1", "private"),)),
    "invalid-request": ErrorCode.invalid_request(RequestPart.HEADER, "bad name"),
    "dns-error": ErrorCode.dns_error("nxdomain"),
    "connection-refused": ErrorCode.connection_refused("refused"),
    "connection-failed": ErrorCode.connection_failed("reset"),
    "tls-error": ErrorCode.tls_error("bad cert"),
    "timeout": ErrorCode.timeout(TimeoutPhase.FIRST_BYTE),
    "body-too-large": ErrorCode.body_too_large(10),
    "request-too-large": ErrorCode.request_too_large(11),
    "too-many-redirects": ErrorCode.too_many_redirects(12),
    "redirect-blocked": ErrorCode.redirect_blocked("downgrade"),
    "integrity-mismatch": ErrorCode.integrity_mismatch("sha256"),
    "protocol-error": ErrorCode.protocol_error("bad chunk"),
    "stream-limit": ErrorCode.stream_limit(4),
    "closed": ErrorCode.closed(),
    "cancelled": ErrorCode.cancelled(),
    "internal": ErrorCode.internal("bug"),
}


def test_error_samples_cover_every_wit_case() -> None:
    assert set(_SAMPLES) == set(ErrorCode.CASES) == set(ERROR_CASES)


@pytest.mark.parametrize("case", sorted(_SAMPLES))
def test_error_code_becomes_the_matching_variant(case: str) -> None:
    code = _SAMPLES[case]
    value = error_to_wit(code)
    assert value.tag == case
    payload = code.payload
    if isinstance(payload, ProhibitedAddress):
        assert value.payload.host == "a.test"
        assert [(a.address, a.reason) for a in value.payload.addresses] == [("10.0.0.1",
                                                                               "private")]
    elif isinstance(payload, InvalidRequest):
        assert (value.payload.part, value.payload.detail) == ("header", "bad name")
    elif isinstance(payload, TimeoutPhase):
        assert value.payload == "first-byte"
    else:
        assert value.payload == payload


@given(st.integers(min_value=0, max_value=2**80))
def test_integer_error_payloads_saturate_instead_of_wrapping(n: int) -> None:
    """Invariant: a payload never exceeds its WIT width and never shrinks below min(n, max)."""
    assert error_to_wit(ErrorCode.stream_limit(n)).payload == min(n, 2**32 - 1)
    assert error_to_wit(ErrorCode.body_too_large(n)).payload == min(n, 2**64 - 1)


def test_response_record_has_dashed_fields_and_bytes() -> None:
    resp = Response(200, (("a", b"1"),), b"body", ResponseMeta("https://a.test/", 1, 2, 3))
    rec = lower(RESPONSE_TY, resp)
    assert rec.status == 200 and rec.body == b"body" and rec.headers == [("a", b"1")]
    assert getattr(rec.meta, "final-url") == "https://a.test/"
    assert getattr(rec.meta, "wire-bytes") == 3


@pytest.mark.parametrize("status", [-1, 65536])
def test_response_status_outside_u16_is_refused_not_wrapped(status: int) -> None:
    resp = Response(status, (), b"", ResponseMeta("u", 0, 0, 0))
    with pytest.raises(ValueError, match="status"):
        lower(RESPONSE_TY, resp)


# ------------------------------------------------- wasmtime-py value mapping we depend on


def _client_func_types() -> dict[str, object]:
    cfg = Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    engine = Engine(cfg)
    comp = Component(engine, wat2wasm(CLIENT_GUEST_WAT))
    client = comp.type.imports(engine)[CLIENT_INTERFACE].ty
    return {name: ext.ty for name, ext in client.exports(engine).items()}


def test_wasmtime_tags_method_but_not_the_send_result_or_request_options() -> None:
    funcs = _client_func_types()
    send = funcs["send"]
    (_, request_ty), = send.params
    fields = dict(request_ty.fields)
    assert fields["method"]._tagged() is True  # Variant("get") / Variant("other", "X")
    assert fields["options"]._tagged() is False  # None or a Record
    assert send.result._tagged() is False  # bare Record for ok, bare Variant for err


def test_wasmtime_cannot_lower_an_err_of_the_read_result_by_itself() -> None:
    """Why _imports lowers results itself: wasmtime-py routes every value to the ok case."""
    read = _client_func_types()["[method]incoming-response.read"]
    import ctypes

    from wasmtime import _ffi as ffi

    raw = ffi.wasmtime_component_val_t()
    with pytest.raises(ValueError):
        read.result.convert_to_c(Store(), Variant("closed"), ctypes.pointer(raw))


# ------------------------------------------------------------- through a real guest


async def _client_guest(host: Host):  # type: ignore[no-untyped-def]
    return await host.load(CLIENT_GUEST_WAT.encode(), name="client-guest")


async def test_send_reaches_the_backend_as_a_model_request(host: Host,
                                                           fake_http: FakeHttp) -> None:
    guest = await _client_guest(host)
    assert await guest.call("send-url", "https://a.test/x") == 200
    (req,) = fake_http.requests
    assert (req.method, req.url, req.headers, req.body, req.options) == (
        "GET", "https://a.test/x", (), None, None)


async def test_http_error_reaches_the_guest_as_its_error_case(host: Host,
                                                              fake_http: FakeHttp) -> None:
    fake_http.routes["https://denied.test/"] = ErrorCode.denied("not on the allowlist")
    guest = await _client_guest(host)
    result = await guest.call("send-url", "https://denied.test/")
    assert result == 1000 + ERROR_CASES.index("denied")


async def test_backend_bug_becomes_internal_and_the_store_survives(host: Host) -> None:
    guest = await _client_guest(host)
    assert await guest.call("send-url", "crash:now") == 1000 + ERROR_CASES.index("internal")
    assert await guest.call("send-url", "https://a.test/") == 200
    assert guest.instantiations == 1  # no trap, same Store


async def test_read_error_reaches_the_guest_as_err(host: Host, fake_http: FakeHttp) -> None:
    guest = await _client_guest(host)
    original_start = fake_http.start

    async def failing_start(req):  # type: ignore[no-untyped-def]
        stream = await original_start(req)
        stream.fail_read_with = ErrorCode.protocol_error("truncated")
        return stream

    fake_http.start = failing_start  # type: ignore[method-assign]
    result = await guest.call("stream-url", "https://a.test/", 16)
    assert result == 2000 + ERROR_CASES.index("protocol-error")
    assert fake_http.streams[-1].closed  # the guest dropped it, the dtor closed it


@settings(max_examples=15, deadline=None)
@given(size=st.integers(0, 5000), chunk=st.integers(0, 3000))
async def test_streamed_body_arrives_whole_for_any_chunk_size(size: int, chunk: int) -> None:
    """Invariant: reading in pieces of `max` (0 and huge included) yields exactly the body."""
    fake = FakeHttp(routes={"https://a.test/": bytes(range(256)) * (size // 256 + 1)})
    body_len = len(fake.routes["https://a.test/"])  # type: ignore[arg-type]
    async with Host(use_cache=False, http_factory=lambda ctx: fake) as host:
        guest = await _client_guest(host)
        assert await guest.call("stream-url", "https://a.test/", chunk) == body_len
        assert fake.streams[-1].closed and not guest._live.session.resources  # type: ignore


def test_read_chunk_cap_is_sane() -> None:
    assert 64 * 1024 <= READ_CHUNK_MAX <= 4 * 1024 * 1024


async def test_handles_alive_at_a_trap_are_closed_by_the_runtime(host: Host,
                                                                 fake_http: FakeHttp) -> None:
    guest = await _client_guest(host)
    from astrid_host._wasm._errors import CapsuleTrap

    with pytest.raises(CapsuleTrap):
        await guest.call("open-then-trap", "https://a.test/")
    assert [s.closed for s in fake_http.streams] == [True]


async def test_handles_alive_at_aclose_are_closed(host: Host, fake_http: FakeHttp) -> None:
    guest = await _client_guest(host)
    assert await guest.call("open-url", "https://a.test/") == 200
    assert await guest.call("open-url", "https://a.test/") == 200
    assert [s.closed for s in fake_http.streams] == [False, False]
    await guest.aclose()
    assert [s.closed for s in fake_http.streams] == [True, True]
    assert fake_http.closed


async def test_many_calls_on_a_borrowed_handle_read_the_same_stream(host: Host,
                                                                    fake_http: FakeHttp) -> None:
    guest = await _client_guest(host)
    assert await guest.call("status-many", "https://a.test/", 500) == 500 * 200
    assert len(fake_http.streams) == 1 and fake_http.streams[0].closed


_SHAPE_LIMITS = Limits(max_url_bytes=64, max_request_headers=10, max_request_bytes=1000)


@pytest.mark.parametrize(("url", "headers", "body", "expected"), [
    ("https://a.test/", 10, 1000, None),  # at every limit: reaches the backend
    ("https://a.test/" + "x" * 50, 0, 0, "invalid-request"),  # 65-byte URL
    ("https://a.test/", 11, 0, "invalid-request"),
    ("https://a.test/", 0, 1001, "request-too-large"),
])
async def test_oversized_request_is_refused_before_it_is_lifted(
        url: str, headers: int, body: int, expected: str | None) -> None:
    fake = FakeHttp()
    async with Host(use_cache=False, limits=_SHAPE_LIMITS, http_factory=lambda ctx: fake) as h:
        guest = await _client_guest(h)
        result = await guest.call("send-shaped", url, headers, body)
        if expected is None:
            assert result == 200
            (req,) = fake.requests
            assert len(req.headers) == headers and req.body == bytes(body)
        else:
            assert result == 1000 + ERROR_CASES.index(expected)
            assert fake.requests == []
        # The Store is fine afterwards: the refusal freed the unlifted arguments cleanly.
        assert await guest.call("send-url", "https://a.test/") == 200


def test_precheck_leaves_values_of_another_shape_to_the_normal_path() -> None:
    assert precheck_request(_FakeRaw(), Limits()) is None


class _FakeRaw:
    kind = -1  # not a record


def test_lowering_budget_makes_large_copies_wait_for_each_other() -> None:
    """Invariant: the bytes being lowered at once never exceed the budget; a copy larger than
    the whole budget still runs, alone."""
    import threading

    from astrid_host._wasm._dispatch import _ByteBudget
    from tests.support.timing import PROMPT_S, eventually_sync

    budget = _ByteBudget(100)
    assert budget.acquire(1000) == 100  # clamped: runs alone
    done = threading.Event()

    def second() -> None:
        budget.release(budget.acquire(60))
        done.set()

    worker = threading.Thread(target=second)
    worker.start()
    # Until the second copy is waiting on the budget (or, wrongly, got through).
    assert eventually_sync(lambda: done.is_set() or len(budget._cond._waiters) == 1)  # type: ignore[attr-defined]
    assert not done.is_set()  # waits while the first copy holds everything
    budget.release(100)
    assert done.wait(PROMPT_S)
    worker.join(PROMPT_S)
