"""The capsules built with upstream Astrid's SDK (guests/rust/astrid-*), through wasmtime.

There is no host adapter for upstream's WIT yet, so these tests link the imports each capsule
needs to small fakes written here (a kernel for the fetch tool; an HTTP host over canned
answers, with astrid:io pollables and streams, for http-all), call ``astrid-hook-trigger`` the
way upstream's kernel does, and read the answers with the pure modules (``_astrid_manifest``,
``_astrid_protocol``). They pin (1) exactly which upstream functions the two capsules import,
which is what the adapter must provide, (2) that the protocol module agrees with what the real
SDK does, and (3) that http-all drives every HTTP function and method and reports it as its
module docstring says. The fakes also record what wasmtime-py 50 demands of such a host
(``Releasing``, the tagged results in ``FakeHttpHost``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from wasmtime import Config, Engine, Store
from wasmtime.component import (
    Component,
    Linker,
    Record,
    ResourceAny,
    ResourceHost,
    ResourceType,
    Variant,
)

from astrid_host._core._astrid_manifest import parse_astrid_manifest
from astrid_host._core._astrid_protocol import (
    DESCRIBE_ACTION,
    DESCRIBE_RESPONSE_TOPIC,
    HookResult,
    ToolCall,
    ToolFailed,
    parse_tool_describe,
    parse_tool_result,
)
from astrid_host._core._astrid_topics import TopicVerdict
from tests.support.paths import built_guest

ROOT = Path(__file__).resolve().parent.parent.parent
FETCH_MANIFEST = parse_astrid_manifest(
    (ROOT / "guests/rust/astrid-fetch/Capsule.toml").read_text())


def imported_functions(component: Path) -> dict[str, set[str]]:
    """``{"astrid:http/host@1.1.0": {"http-request-opts", ...}, ...}`` from the component."""
    out = subprocess.run(["wasm-tools", "component", "wit", "--json", str(component)],
                         check=True, capture_output=True, text=True).stdout
    resolved = json.loads(out)
    (world,) = [w for w in resolved["worlds"] if w["name"] == "root"]
    imports = {}
    for item in world["imports"].values():
        if "interface" not in item:
            continue  # a type the world uses (capsule-result)
        iface = resolved["interfaces"][item["interface"]["id"]]
        package, _, version = resolved["packages"][iface["package"]]["name"].partition("@")
        imports[f"{package}/{iface['name']}@{version}"] = set(iface["functions"])
    return imports


@pytest.mark.guest("rust-astrid-fetch")
def test_the_fetch_capsule_imports_what_an_sdk_tool_capsule_imports() -> None:
    assert imported_functions(built_guest("rust-astrid-fetch.wasm")) == {
        "astrid:http/host@1.1.0": {"http-request-opts"},
        "astrid:ipc/host@1.0.0": {"publish"},
        "astrid:sys/host@1.0.0": {"log", "random-bytes", "get-config"},
        "astrid:guest/lifecycle@1.0.0": set(),  # types only (capsule-result)
    }


@pytest.mark.guest("rust-astrid-http-all")
def test_the_http_all_capsule_imports_every_http_function_and_method() -> None:
    stream = {"status", "headers", "read-chunk", "close", "subscribe-readable", "body-stream",
              "trailers"}
    upload = {"body-sink", "subscribe-writable", "finish"}
    assert imported_functions(built_guest("rust-astrid-http-all.wasm")) == {
        "astrid:http/host@1.1.0": {
            "http-request", "http-request-opts", "http-stream-start", "http-stream-start-opts",
            "http-upload-start",
            *(f"[method]http-stream.{m}" for m in stream),
            *(f"[method]http-upload.{m}" for m in upload)},
        "astrid:io/poll@1.0.0": {"poll", "[method]pollable.ready", "[method]pollable.block"},
        "astrid:io/streams@1.0.0": {
            "[method]input-stream.read", "[method]input-stream.blocking-read",
            "[method]input-stream.subscribe", "[method]output-stream.check-write",
            "[method]output-stream.write", "[method]output-stream.blocking-write-and-flush",
            "[method]output-stream.blocking-flush"},
        "astrid:io/error@1.0.0": {"[method]error.to-debug-string"},
        "astrid:sys/host@1.0.0": {"log", "random-bytes"},  # the SDK's panic hook, getrandom
        "astrid:guest/lifecycle@1.0.0": set(),
    }


# --- the fetch capsule against a fake kernel ----------------------------------------------


class Rec(Record):
    """A WIT record going into the guest: attributes named as in the WIT (dashes included)."""

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name.replace("_", "-"), value)


@dataclass
class FakeKernel:
    """Upstream's kernel, as far as the fetch capsule can tell: config, log, publish, HTTP."""

    config: dict[str, str]
    http_answer: Any = None  # a Rec(http-response-data) or a Variant(error-code)
    published: list[tuple[str, str]] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    requests: list[tuple[Any, Any]] = field(default_factory=list)

    def linker(self, engine: Engine) -> Linker:
        linker = Linker(engine)
        with linker.root() as root:
            with root.add_instance("astrid:ipc/host@1.0.0") as ipc:
                ipc.add_func("publish", self.publish)
            with root.add_instance("astrid:sys/host@1.0.0") as sys:
                sys.add_func("log", lambda _s, level, message: self.logs.append((level, message)))
                sys.add_func("random-bytes", lambda _s, n: bytes(n))
                sys.add_func("get-config", lambda _s, key: self.config.get(key))
            with root.add_instance("astrid:http/host@1.1.0") as http:
                http.add_func("http-request-opts", self.http_request_opts)
        return linker

    def publish(self, _store: Any, topic: str, payload: str) -> None:
        self.published.append((topic, payload))

    def http_request_opts(self, _store: Any, request: Any, options: Any) -> Any:
        self.requests.append((request, options))
        return self.http_answer


def ok_response(url: str, body: bytes, status: int = 200) -> Rec:
    return Rec(status=status, headers=[Rec(key="content-type", value="text/plain")], body=body,
               meta=Rec(final_url=url, redirect_count=0, elapsed_ms=1, wire_bytes=len(body)))


@dataclass
class Capsule:
    kernel: FakeKernel
    store: Store
    instance: Any

    @property
    def hook(self) -> Any:
        return self.instance.get_func(self.store, "astrid-hook-trigger")

    def trigger(self, action: str, payload: bytes) -> HookResult:
        hook = self.hook
        result = hook(self.store, action, payload)
        hook.post_return(self.store)
        return HookResult(result.action, result.data)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(Config())


@pytest.fixture(scope="module")
def fetch_component(engine: Engine) -> Component:
    return Component.from_file(engine, built_guest("rust-astrid-fetch.wasm"))


@pytest.fixture
def fetch(engine: Engine, fetch_component: Component) -> Iterator[Capsule]:
    kernel = FakeKernel(config=FETCH_MANIFEST.resolve_config({}))
    store = Store(engine)
    yield Capsule(kernel, store, kernel.linker(engine).instantiate(store, fetch_component))


FETCH = pytest.mark.guest("rust-astrid-fetch")


@FETCH
def test_a_tool_call_round_trips_through_the_sdk(fetch: Capsule) -> None:
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/a", "headers": {"x-a": "1"}})
    fetch.kernel.http_answer = ok_response("https://example.com/a", b"hello")

    assert fetch.trigger(call.action, call.payload()) == HookResult("continue", None)

    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.value() == {"status": 200, "body": "hello"}
    # The manifest routes the call to this action and lets the capsule publish the result.
    assert [h.action for h in FETCH_MANIFEST.handlers_for(call.request_topic)] == [call.action]
    assert FETCH_MANIFEST.publish.check_publish(topic) is TopicVerdict.ALLOWED


@FETCH
def test_manifest_defaults_reach_the_capsule_as_get_config_text(fetch: Capsule) -> None:
    """30000 and true in Capsule.toml arrive as "30000" and "true" and are understood."""
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/"})
    fetch.kernel.http_answer = ok_response("https://example.com/", b"")
    fetch.trigger(call.action, call.payload())
    ((request, options),) = fetch.kernel.requests
    assert (request.url, request.method.tag, request.body) == ("https://example.com/", "get", None)
    assert [(h.key, h.value) for h in request.headers] == [("user-agent", "astrid-fetch/0.1")]
    assert getattr(options.timeouts, "total-ms") == 30000
    assert getattr(options, "max-response-bytes") == 1048576
    assert options.redirect == "follow"


@FETCH
def test_operator_config_overrides_the_defaults(engine: Engine,
                                                fetch_component: Component) -> None:
    config = FETCH_MANIFEST.resolve_config({"follow_redirects": "false", "user_agent": "t/1"})
    kernel = FakeKernel(config=config, http_answer=ok_response("https://example.com/", b""))
    store = Store(engine)
    capsule = Capsule(kernel, store, kernel.linker(engine).instantiate(store, fetch_component))
    call = ToolCall("c-1", "fetch", {"url": "https://example.com/", "method": "POST",
                                     "body": "x"})
    capsule.trigger(call.action, call.payload())
    ((request, options),) = kernel.requests
    assert (request.method.tag, request.body) == ("post", b"x")
    assert ("user-agent", "t/1") in [(h.key, h.value) for h in request.headers]
    assert options.redirect == "error"


@FETCH
def test_a_host_error_becomes_an_error_result(fetch: Capsule) -> None:
    call = ToolCall("c-2", "fetch", {"url": "https://example.com/"})
    fetch.kernel.http_answer = Variant("timeout")
    fetch.trigger(call.action, call.payload())
    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.is_error
    with pytest.raises(ToolFailed, match="Timeout"):
        result.value()
    assert fetch.kernel.logs[-1][0] == "warn"


@FETCH
def test_bad_arguments_are_an_error_result_not_a_denial(fetch: Capsule) -> None:
    call = ToolCall("c-3", "fetch", {"link": "https://example.com/"})
    assert fetch.trigger(call.action, call.payload()) == HookResult("continue", None)
    ((topic, payload),) = fetch.kernel.published
    result = parse_tool_result(topic, payload, call)
    assert result.is_error and "failed to parse tool arguments" in result.content
    assert fetch.kernel.requests == []


@FETCH
def test_describe_returns_and_publishes_the_tool_schema(fetch: Capsule) -> None:
    answer = fetch.trigger(DESCRIBE_ACTION, b"{}")
    assert not answer.denied and answer.data is not None
    described = parse_tool_describe(answer.data)
    assert described.description == "Fetches URLs over HTTP for the agent."
    tool = described.tool("fetch")
    assert tool.mutable
    assert tool.input_schema["required"] == ["url"]
    assert set(tool.input_schema["properties"]) == {"url", "method", "headers", "body"}
    ((topic, payload),) = fetch.kernel.published
    assert topic == DESCRIBE_RESPONSE_TOPIC
    assert parse_tool_describe(payload) == described


@FETCH
@pytest.mark.parametrize(("action", "payload", "reason"), [
    ("tool_execute_nope", b"{}", "unknown hook action"),
    ("tool_execute_fetch", b"not json", "failed to parse tool execute payload"),
    ("tool_execute_fetch", b'{"type":"tool_execute_request"}', "missing field `call_id`"),
])
def test_an_unknown_action_or_unreadable_payload_is_denied_and_publishes_nothing(
        fetch: Capsule, action: str, payload: bytes, reason: str) -> None:
    answer = fetch.trigger(action, payload)
    assert answer.denied and answer.data is not None and reason in answer.data
    assert fetch.kernel.published == []


@FETCH
def test_the_unused_entry_points_are_stubs_that_return(fetch: Capsule) -> None:
    """The SDK exports all four entry points; a tool capsule's run/install/upgrade do nothing."""
    for name in ("run", "astrid-install", "astrid-upgrade"):
        func = fetch.instance.get_func(fetch.store, name)
        assert func is not None
        assert func(fetch.store) is None
        func.post_return(fetch.store)
    assert fetch.kernel.published == [] and fetch.kernel.requests == []


# --- the http-all capsule against a fake HTTP host ------------------------------------------

_STREAM, _UPLOAD, _POLLABLE, _INPUT, _OUTPUT, _ERROR = range(1, 7)
PERMIT = 4  # output-stream.check-write: small, so pieces take several writes


@dataclass
class FakeStream:
    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    trailers: list[tuple[str, str]] | None = None
    closed: bool = False


@dataclass
class FakeUpload:
    url: str
    body: bytearray = field(default_factory=bytearray)
    finished: bool = False


class Releasing:
    """A linker instance whose functions get borrowed handles as ResourceHost values.

    wasmtime-py 50 leaves releasing a borrowed handle to the callback: each one must be
    released exactly once (``to_host`` or ``drop``), or the guest's call fails with "borrow
    handles still remain at the end of the call" (a method ignoring its ``this`` is enough).
    Converting every borrow up front does that once, for every function.
    """

    def __init__(self, instance: Any) -> None:
        self.instance = instance

    def __enter__(self) -> Releasing:
        self.instance.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.instance.__exit__(*exc)

    def add_resource(self, name: str, ty: ResourceType, dtor: Any) -> None:
        self.instance.add_resource(name, ty, dtor)

    def add_func(self, name: str, func: Any) -> None:
        def released(store: Any, handle: Any) -> Any:
            if isinstance(handle, ResourceAny) and not handle.owned:
                return handle.to_host(store)
            return handle

        def call(store: Any, *args: Any) -> Any:
            args = tuple([released(store, a) for a in arg] if isinstance(arg, list)
                         else released(store, arg) for arg in args)
            return func(store, *args)

        self.instance.add_func(name, call)


@dataclass
class FakeHttpHost:
    """astrid:http@1.1.0 + astrid:io over canned answers: enough to drive every call the
    http-all capsule makes and to see what it sent."""

    answers: dict[str, Any] = field(default_factory=dict)  # url -> FakeStream or Variant
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)
    uploads: list[FakeUpload] = field(default_factory=list)
    objects: dict[int, Any] = field(default_factory=dict)
    next_rep: int = 1

    def own(self, kind: int, obj: Any) -> ResourceHost:
        rep, self.next_rep = self.next_rep, self.next_rep + 1
        self.objects[rep] = obj
        return ResourceHost.own(rep, kind)

    def obj(self, _store: Any, this: ResourceHost) -> Any:
        return self.objects[this.rep]

    def answer(self, name: str, request: Any, options: Any) -> Any:
        self.calls.append((name, request, options))
        answer = self.answers[request.url]
        if isinstance(answer, Variant):
            return answer
        return FakeStream(answer.status, list(answer.headers), list(answer.chunks),
                          answer.trailers)

    def buffered(self, name: str, request: Any, options: Any) -> Any:
        answer = self.answer(name, request, options)
        if isinstance(answer, Variant):
            return answer
        body = b"".join(answer.chunks)
        return Rec(status=answer.status, headers=[Rec(key=k, value=v) for k, v in answer.headers],
                   body=body, meta=Rec(final_url=request.url, redirect_count=0, elapsed_ms=2,
                                       wire_bytes=len(body)))

    def streamed(self, name: str, request: Any, options: Any) -> Any:
        answer = self.answer(name, request, options)
        return answer if isinstance(answer, Variant) else self.own(_STREAM, answer)

    def read_chunk(self, store: Any, this: Any) -> Any:
        stream = self.obj(store, this)
        if stream.closed:
            return Variant("closed")
        return stream.chunks.pop(0) if stream.chunks else b""

    def close(self, store: Any, this: Any) -> None:
        self.obj(store, this).closed = True

    def trailers(self, store: Any, this: Any) -> Any:
        found = self.obj(store, this).trailers
        return None if found is None else [Rec(key=k, value=v) for k, v in found]

    def input_read(self, store: Any, this: Any, length: int) -> Any:
        stream = self.obj(store, this)
        if not stream.chunks:
            # stream-error.closed. wasmtime-py tags a variant only when its cases are ambiguous;
            # stream-error has one unit case, so `closed` is passed as None.
            return None
        chunk = stream.chunks.pop(0)
        if len(chunk) > length:
            stream.chunks.insert(0, chunk[length:])
        return chunk[:length]

    def poll(self, _store: Any, pollables: list[Any]) -> list[int]:
        """Everything is always ready."""
        return list(range(len(pollables)))

    def upload_start(self, _store: Any, request: Any, options: Any) -> Any:
        self.calls.append(("http-upload-start", request, options))
        upload = FakeUpload(request.url)
        self.uploads.append(upload)
        return self.own(_UPLOAD, upload)

    def write(self, store: Any, this: Any, data: bytes) -> Variant:
        """``result<_, stream-error>``: tagged, as ok and stream-error's ``closed`` are both
        None in wasmtime-py."""
        self.obj(store, this).body.extend(data)
        return Variant("ok", None)

    def finish(self, store: Any, this: Any) -> Any:
        upload = self.obj(store, this)
        if upload.finished:
            return Variant("closed")
        upload.finished = True
        # The "server" echoes the body in two chunks, with a trailer.
        body = bytes(upload.body)
        return self.own(_STREAM, FakeStream(201, [("x-echo", "1")],
                                            [body[:3], body[3:]], [("x-sum", str(len(body)))]))

    def linker(self, engine: Engine) -> Linker:
        def drop(_store: Any, rep: int) -> None:
            self.objects.pop(rep, None)

        linker = Linker(engine)
        with linker.root() as root:
            with Releasing(root.add_instance("astrid:sys/host@1.0.0")) as sys:
                sys.add_func("log", lambda _s, level, message: None)
                sys.add_func("random-bytes", lambda _s, n: bytes(n))
            with Releasing(root.add_instance("astrid:io/error@1.0.0")) as error:
                error.add_resource("error", ResourceType.host(_ERROR), drop)
                error.add_func("[method]error.to-debug-string",
                               lambda s, this: str(self.obj(s, this)))
            with Releasing(root.add_instance("astrid:io/poll@1.0.0")) as poll:
                poll.add_resource("pollable", ResourceType.host(_POLLABLE), drop)
                poll.add_func("[method]pollable.ready", lambda _s, _this: True)
                poll.add_func("[method]pollable.block", lambda _s, _this: None)
                poll.add_func("poll", self.poll)
            with Releasing(root.add_instance("astrid:io/streams@1.0.0")) as streams:
                streams.add_resource("input-stream", ResourceType.host(_INPUT), drop)
                streams.add_resource("output-stream", ResourceType.host(_OUTPUT), drop)
                streams.add_func("[method]input-stream.read", self.input_read)
                streams.add_func("[method]input-stream.blocking-read", self.input_read)
                streams.add_func("[method]input-stream.subscribe",
                                 lambda _s, _this: self.own(_POLLABLE, None))
                streams.add_func("[method]output-stream.check-write", lambda _s, _this: PERMIT)
                streams.add_func("[method]output-stream.write", self.write)
                streams.add_func("[method]output-stream.blocking-write-and-flush", self.write)
                streams.add_func("[method]output-stream.blocking-flush",
                                 lambda _s, _this: Variant("ok", None))
            with Releasing(root.add_instance("astrid:http/host@1.1.0")) as http:
                http.add_resource("http-stream", ResourceType.host(_STREAM), drop)
                http.add_resource("http-upload", ResourceType.host(_UPLOAD), drop)
                http.add_func("http-request",
                              lambda _s, r: self.buffered("http-request", r, None))
                http.add_func("http-request-opts",
                              lambda _s, r, o: self.buffered("http-request-opts", r, o))
                http.add_func("http-stream-start",
                              lambda _s, r: self.streamed("http-stream-start", r, None))
                http.add_func("http-stream-start-opts",
                              lambda _s, r, o: self.streamed("http-stream-start-opts", r, o))
                http.add_func("http-upload-start", self.upload_start)
                http.add_func("[method]http-stream.status",
                              lambda s, this: self.obj(s, this).status)
                http.add_func("[method]http-stream.headers", lambda s, this: [
                    Rec(key=k, value=v) for k, v in self.obj(s, this).headers])
                http.add_func("[method]http-stream.read-chunk", self.read_chunk)
                http.add_func("[method]http-stream.close", self.close)
                http.add_func("[method]http-stream.subscribe-readable",
                              lambda _s, _this: self.own(_POLLABLE, None))
                http.add_func("[method]http-stream.body-stream",
                              lambda s, this: self.own(_INPUT, self.obj(s, this)))
                http.add_func("[method]http-stream.trailers", self.trailers)
                http.add_func("[method]http-upload.body-sink",
                              lambda s, this: self.own(_OUTPUT, self.obj(s, this)))
                http.add_func("[method]http-upload.subscribe-writable",
                              lambda _s, _this: self.own(_POLLABLE, None))
                http.add_func("[method]http-upload.finish", self.finish)
        return linker


HTTP_ALL = pytest.mark.guest("rust-astrid-http-all")
URL = "https://example.com/data"
CANNED = FakeStream(200, [("content-type", "text/plain"), ("set-cookie", "a"),
                          ("set-cookie", "b")], [b"hello ", b"world"], [("grpc-status", "0")])


@pytest.fixture(scope="module")
def http_all_component(engine: Engine) -> Component:
    return Component.from_file(engine, built_guest("rust-astrid-http-all.wasm"))


@dataclass
class HttpAll:
    host: FakeHttpHost
    capsule: Capsule

    def run(self, action: str, **args: Any) -> Any:
        answer = self.capsule.trigger(action, json.dumps(args).encode())
        assert not answer.denied, answer.data
        return answer.json()


@pytest.fixture
def http_all(engine: Engine, http_all_component: Component) -> HttpAll:
    host = FakeHttpHost(answers={URL: CANNED, "https://example.com/broken":
                                 Variant("protocol", "bad chunk")})
    store = Store(engine)
    instance = host.linker(engine).instantiate(store, http_all_component)
    return HttpAll(host, Capsule(FakeKernel(config={}), store, instance))


def body(text: str) -> dict[str, Any]:
    data = text.encode()
    digest = 0xCBF29CE484222325
    for byte in data:
        digest = ((digest ^ byte) * 0x100000001B3) % 2**64
    return {"text": text, "len": len(data), "fnv1a64": str(digest)}


@HTTP_ALL
def test_http_request_reports_the_buffered_response(http_all: HttpAll) -> None:
    report = http_all.run("http_request", request={
        "url": URL, "method": "PROPFIND", "headers": [["a", "1"], ["a", "2"]], "body": "q"})
    assert report == {
        "ok": True, "status": 200,
        "headers": [["content-type", "text/plain"], ["set-cookie", "a"], ["set-cookie", "b"]],
        "body": body("hello world"),
        "meta": {"final_url": URL, "redirect_count": 0, "elapsed_ms": 2, "wire_bytes": 11}}
    ((name, request, options),) = http_all.host.calls
    assert (name, options) == ("http-request", None)
    assert request.method == Variant("other", "PROPFIND")
    assert [(h.key, h.value) for h in request.headers] == [("a", "1"), ("a", "2")]
    assert request.body == b"q"


@HTTP_ALL
def test_http_request_opts_passes_every_option(http_all: HttpAll) -> None:
    http_all.run("http_request_opts", request={"url": URL}, options={
        "timeouts": {"connect_ms": 1, "first_byte_ms": 2, "between_bytes_ms": 3, "total_ms": 4},
        "redirect": "manual", "max_redirects": 5, "max_response_bytes": 6,
        "max_decompressed_bytes": 7, "auto_decompress": False, "https_only": True,
        "integrity": "sha256-AAAA"})
    ((name, _request, o),) = http_all.host.calls
    assert name == "http-request-opts"
    t = o.timeouts
    assert [getattr(t, f) for f in ("connect-ms", "first-byte-ms", "between-bytes-ms",
                                    "total-ms")] == [1, 2, 3, 4]
    assert [getattr(o, f) for f in ("redirect", "max-redirects", "max-response-bytes",
                                    "max-decompressed-bytes", "auto-decompress", "https-only",
                                    "integrity")] == ["manual", 5, 6, 7, False, True,
                                                      "sha256-AAAA"]


@HTTP_ALL
@pytest.mark.parametrize("action", ["http_request", "http_stream_start"])
def test_a_host_error_is_reported_with_its_case_and_detail(http_all: HttpAll,
                                                           action: str) -> None:
    report = http_all.run(action, request={"url": "https://example.com/broken"})
    assert report == {"ok": False, "error": {"code": "protocol", "detail": "bad chunk"}}


@HTTP_ALL
@pytest.mark.parametrize("action", ["http_stream_start", "http_stream_start_opts"])
def test_a_stream_is_read_to_the_end_then_closed_twice(http_all: HttpAll, action: str) -> None:
    report = http_all.run(action, request={"url": URL})
    assert report["status"] == 200 and report["chunks"] == [6, 5]
    assert report["body"] == body("hello world")
    assert report["trailers"] == {"ok": True, "trailers": [["grpc-status", "0"]]}
    assert report["close"] == report["close_again"] == {"ok": True}
    assert report["read_after_close"] == {"ok": False, "error": {"code": "closed"}}
    assert report["read_error"] is None
    assert http_all.host.calls[0][0] == action.replace("_", "-")


@HTTP_ALL
def test_stream_poll_waits_on_the_pollable_before_every_read(http_all: HttpAll) -> None:
    report = http_all.run("stream_poll", request={"url": URL})
    assert report["body"] == body("hello world")
    assert [s["read"]["len"] for s in report["steps"]] == [6, 5, 0]
    assert all(s["ready"] and s["poll"] == {"ok": True, "ready": [0]}
               and s["block"] == {"ok": True} for s in report["steps"])


@HTTP_ALL
@pytest.mark.parametrize("blocking", [False, True])
def test_stream_body_reads_the_input_stream_until_closed(http_all: HttpAll,
                                                         blocking: bool) -> None:
    report = http_all.run("stream_body", request={"url": URL}, max=4, blocking=blocking)
    assert report["read"] == {"reads": [4, 2, 4, 1], "body": body("hello world"),
                              "end": {"code": "closed"}}


@HTTP_ALL
@pytest.mark.parametrize("mode", ["write", "blocking"])
def test_upload_writes_every_piece_then_finishes_once(http_all: HttpAll, mode: str) -> None:
    report = http_all.run("upload", request={"url": URL, "body": "ignored"},
                          pieces=["abcdefghij", "", "xyz"], mode=mode)
    (upload,) = http_all.host.uploads
    assert bytes(upload.body) == b"abcdefghijxyz"
    assert [w["ok"] for w in report["writes"]] == [True, True, True]
    if mode == "write":
        assert report["writes"][0]["permits"] == [PERMIT] * 3
    response = report["response"]
    assert (response["status"], response["body"]) == (201, body("abcdefghijxyz"))
    assert response["trailers"] == {"ok": True, "trailers": [["x-sum", "13"]]}
    assert report["finish_again"] == {"ok": False, "error": {"code": "closed"}}


@HTTP_ALL
@pytest.mark.parametrize(("action", "payload", "reason"), [
    ("upload", {"request": {"url": URL}, "mode": "sideways"}, "mode: expected"),
    ("http_request_opts", {"request": {"url": URL}, "options": {"redirect": "maybe"}},
     "options.redirect"),
    ("http_request", {"request": {"url": URL}, "extra": 1}, "unknown field"),
    ("nope", {}, "unknown hook action"),
])
def test_bad_arguments_are_denied_with_the_reason(http_all: HttpAll, action: str,
                                                  payload: dict[str, Any], reason: str) -> None:
    answer = http_all.capsule.trigger(action, json.dumps(payload).encode())
    assert answer.denied and answer.data is not None and reason in answer.data
    assert http_all.host.calls == []
