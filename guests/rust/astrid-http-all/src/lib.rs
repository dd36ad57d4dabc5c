//! A conformance capsule for upstream Astrid's HTTP interface: every function and resource
//! method of `astrid:http/host@1.1.0` is called from a hook action a test can trigger with
//! JSON arguments, and each action returns what the capsule saw as JSON (never a trap, never a
//! `deny` for a host error: host errors are part of the report).
//!
//! Built with upstream's SDK (`astrid-sdk` 0.7.2). The SDK wraps only `http-request-opts` and
//! `http-stream-start-opts` (+ `status`/`headers`/`read-chunk`/`close`), so this capsule calls
//! the raw imports `astrid-sys` generates for the rest, the way a capsule author would.
//!
//! Actions (`astrid-hook-trigger(action, payload)`; the result is `capsule-result.data`):
//!
//! | action | calls |
//! |---|---|
//! | `http_request` | `http-request` |
//! | `http_request_opts` | `http-request-opts` |
//! | `http_stream_start` | `http-stream-start`, then the [reading](#reading) below |
//! | `http_stream_start_opts` | `http-stream-start-opts`, then the reading below |
//! | `stream_poll` | `http-stream-start-opts`, `subscribe-readable`, `pollable.ready`, `poll`, `pollable.block`, `read-chunk` until EOF |
//! | `stream_body` | `http-stream-start-opts`, `body-stream`, then `input-stream.subscribe` + `read` or `blocking-read` until `closed` |
//! | `upload` | `http-upload-start`, `body-sink`, `subscribe-writable`, `check-write`/`write`/`blocking-flush` or `blocking-write-and-flush`, `finish` (twice), then the reading below |
//!
//! Arguments: `request` (`{"url", "method"?, "headers"?: [[name, value], ...], "body"?: text}`),
//! `options` (the WIT `request-options` in snake case; `redirect` is `"follow"`, `"error"` or
//! `"manual"`; absent = all `none`), plus per action: `stream_body` takes `max` (bytes per
//! read, default 65536) and `blocking` (default false); `upload` takes `pieces` (texts written
//! in order) and `mode` (`"write"`, the default, or `"blocking"`).
//!
//! <a name="reading"></a>Reading a stream: `status`, `headers`, `read-chunk` until it returns
//! an empty list, `trailers`, `close`, `close` again, then one more `read-chunk`.
//!
//! Report conventions: a host `error-code` is `{"code": "<case>"}` plus `"detail"` for
//! `protocol` and `unknown`; bodies are `{"text": <UTF-8, lossy>, "len", "fnv1a64"}`;
//! header lists are `[[name, value], ...]` in the order the host gave them.

#![deny(unsafe_code)]

use astrid_sdk::astrid_sys::astrid::http1_1_0::host as http;
use astrid_sdk::astrid_sys::astrid::io::poll;
use astrid_sdk::astrid_sys::astrid::io::streams::{InputStream, OutputStream, StreamError};
use astrid_sdk::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const DEFAULT_READ_MAX: u64 = 65_536;
/// Safety valve: a host that never reports the end of a stream must not hang the test forever.
const MAX_READS: usize = 100_000;

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(FNV_PRIME))
}

fn body_report(bytes: &[u8]) -> Value {
    json!({
        "text": String::from_utf8_lossy(bytes),
        "len": bytes.len(),
        // A string: JSON numbers above 2^53 do not survive every parser.
        "fnv1a64": fnv1a64(bytes).to_string(),
    })
}

fn error_report(e: &http::ErrorCode) -> Value {
    use http::ErrorCode as E;
    let code = match e {
        E::CapabilityDenied => "capability-denied",
        E::InvalidRequest => "invalid-request",
        E::DnsError => "dns-error",
        E::AirlockRejected => "airlock-rejected",
        E::TlsError => "tls-error",
        E::Timeout => "timeout",
        E::ConnectionError => "connection-error",
        E::BodyTooLarge => "body-too-large",
        E::Closed => "closed",
        E::Quota => "quota",
        E::RedirectBlocked => "redirect-blocked",
        E::TooManyRedirects => "too-many-redirects",
        E::IntegrityMismatch => "integrity-mismatch",
        E::SchemeDenied => "scheme-denied",
        E::DecompressionBomb => "decompression-bomb",
        E::Protocol(detail) => return json!({"code": "protocol", "detail": detail}),
        E::Unknown(detail) => return json!({"code": "unknown", "detail": detail}),
    };
    json!({ "code": code })
}

fn poll_error_report(e: &poll::ErrorCode) -> Value {
    use poll::ErrorCode as E;
    match e {
        E::InvalidInput => json!({"code": "invalid-input"}),
        E::Closed => json!({"code": "closed"}),
        E::TooLarge => json!({"code": "too-large"}),
        E::Cancelled => json!({"code": "cancelled"}),
        E::Unknown(detail) => json!({"code": "unknown", "detail": detail}),
    }
}

fn stream_error_report(e: &StreamError) -> Value {
    match e {
        StreamError::Closed => json!({"code": "closed"}),
        StreamError::LastOperationFailed(error) => {
            json!({"code": "last-operation-failed", "detail": error.to_debug_string()})
        }
    }
}

fn headers_report(headers: &[http::KeyValuePair]) -> Value {
    headers.iter().map(|kv| json!([kv.key, kv.value])).collect()
}

fn unit_report(result: Result<(), http::ErrorCode>) -> Value {
    match result {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": error_report(&e)}),
    }
}

/// A request as the test writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestArg {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeoutsArg {
    connect_ms: Option<u64>,
    first_byte_ms: Option<u64>,
    between_bytes_ms: Option<u64>,
    total_ms: Option<u64>,
}

/// `request-options` as the test writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsArg {
    timeouts: Option<TimeoutsArg>,
    redirect: Option<String>,
    max_redirects: Option<u32>,
    max_response_bytes: Option<u64>,
    max_decompressed_bytes: Option<u64>,
    auto_decompress: Option<bool>,
    https_only: Option<bool>,
    integrity: Option<String>,
}

fn method(name: Option<&str>) -> http::HttpMethod {
    use http::HttpMethod as M;
    match name.unwrap_or("GET") {
        "GET" => M::Get,
        "HEAD" => M::Head,
        "POST" => M::Post,
        "PUT" => M::Put,
        "DELETE" => M::Delete,
        "CONNECT" => M::Connect,
        "OPTIONS" => M::Options,
        "TRACE" => M::Trace,
        "PATCH" => M::Patch,
        other => M::Other(other.to_string()),
    }
}

impl RequestArg {
    fn to_wit(&self) -> http::HttpRequestData {
        http::HttpRequestData {
            url: self.url.clone(),
            method: method(self.method.as_deref()),
            headers: self
                .headers
                .iter()
                .map(|(key, value)| http::KeyValuePair { key: key.clone(), value: value.clone() })
                .collect(),
            body: self.body.as_ref().map(|text| text.as_bytes().to_vec()),
        }
    }
}

impl OptionsArg {
    fn to_wit(&self) -> Result<http::RequestOptions, SysError> {
        let redirect = match self.redirect.as_deref() {
            None => None,
            Some("follow") => Some(http::RedirectPolicy::Follow),
            Some("error") => Some(http::RedirectPolicy::Error),
            Some("manual") => Some(http::RedirectPolicy::Manual),
            Some(other) => {
                return Err(SysError::ApiError(format!(
                    "options.redirect: expected follow, error or manual, got {other:?}"
                )));
            }
        };
        Ok(http::RequestOptions {
            timeouts: self.timeouts.as_ref().map(|t| http::TimeoutConfig {
                connect_ms: t.connect_ms,
                first_byte_ms: t.first_byte_ms,
                between_bytes_ms: t.between_bytes_ms,
                total_ms: t.total_ms,
            }),
            redirect,
            max_redirects: self.max_redirects,
            max_response_bytes: self.max_response_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            auto_decompress: self.auto_decompress,
            https_only: self.https_only,
            integrity: self.integrity.clone(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestArgs {
    request: RequestArg,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptsArgs {
    request: RequestArg,
    #[serde(default)]
    options: OptionsArg,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyStreamArgs {
    request: RequestArg,
    #[serde(default)]
    options: OptionsArg,
    #[serde(default)]
    max: Option<u64>,
    #[serde(default)]
    blocking: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadArgs {
    request: RequestArg,
    #[serde(default)]
    options: OptionsArg,
    #[serde(default)]
    pieces: Vec<String>,
    #[serde(default)]
    mode: Option<String>,
}

fn response_report(result: Result<http::HttpResponseData, http::ErrorCode>) -> Value {
    match result {
        Ok(r) => json!({
            "ok": true,
            "status": r.status,
            "headers": headers_report(&r.headers),
            "body": body_report(&r.body),
            "meta": {
                "final_url": r.meta.final_url,
                "redirect_count": r.meta.redirect_count,
                "elapsed_ms": r.meta.elapsed_ms,
                "wire_bytes": r.meta.wire_bytes,
            },
        }),
        Err(e) => json!({"ok": false, "error": error_report(&e)}),
    }
}

/// `status`, `headers`, `read-chunk` to the end, `trailers`, `close` twice, one more read.
fn read_stream(stream: &http::HttpStream) -> Value {
    let status = stream.status();
    let headers = headers_report(&stream.headers());
    let mut body = Vec::new();
    let mut chunks = Vec::new();
    let mut read_error = Value::Null;
    for _ in 0..MAX_READS {
        match stream.read_chunk() {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                chunks.push(chunk.len());
                body.extend_from_slice(&chunk);
            }
            Err(e) => {
                read_error = error_report(&e);
                break;
            }
        }
    }
    let trailers = match stream.trailers() {
        Ok(None) => Value::Null,
        Ok(Some(list)) => json!({"ok": true, "trailers": headers_report(&list)}),
        Err(e) => json!({"ok": false, "error": error_report(&e)}),
    };
    let close = unit_report(stream.close());
    let close_again = unit_report(stream.close());
    let read_after_close = match stream.read_chunk() {
        Ok(chunk) => json!({"ok": true, "len": chunk.len()}),
        Err(e) => json!({"ok": false, "error": error_report(&e)}),
    };
    json!({
        "ok": true,
        "status": status,
        "headers": headers,
        "chunks": chunks,
        "body": body_report(&body),
        "read_error": read_error,
        "trailers": trailers,
        "close": close,
        "close_again": close_again,
        "read_after_close": read_after_close,
    })
}

fn stream_report(result: Result<http::HttpStream, http::ErrorCode>) -> Value {
    match result {
        Ok(stream) => read_stream(&stream),
        Err(e) => json!({"ok": false, "error": error_report(&e)}),
    }
}

/// `subscribe-readable`, then per chunk: `ready`, `poll([p])`, `block`, `read-chunk`.
fn poll_stream(stream: &http::HttpStream) -> Value {
    let pollable = stream.subscribe_readable();
    let mut steps = Vec::new();
    let mut body = Vec::new();
    for _ in 0..MAX_READS {
        let ready = pollable.ready();
        let polled = match poll::poll(&[&pollable]) {
            Ok(indices) => json!({"ok": true, "ready": indices}),
            Err(e) => json!({"ok": false, "error": poll_error_report(&e)}),
        };
        let blocked = match pollable.block() {
            Ok(()) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": poll_error_report(&e)}),
        };
        let (read, done) = match stream.read_chunk() {
            Ok(chunk) => {
                body.extend_from_slice(&chunk);
                (json!({"ok": true, "len": chunk.len()}), chunk.is_empty())
            }
            Err(e) => (json!({"ok": false, "error": error_report(&e)}), true),
        };
        steps.push(json!({"ready": ready, "poll": polled, "block": blocked, "read": read}));
        if done {
            break;
        }
    }
    drop(pollable);
    json!({"ok": true, "status": stream.status(), "steps": steps, "body": body_report(&body)})
}

/// Read `input` until it reports `closed` (or fails), waiting on `subscribe` between reads.
fn read_input(input: &InputStream, max: u64, blocking: bool) -> Value {
    let mut body = Vec::new();
    let mut reads = Vec::new();
    let mut end = Value::Null;
    for _ in 0..MAX_READS {
        let result = if blocking {
            input.blocking_read(max)
        } else {
            let ready = input.subscribe();
            if let Err(e) = ready.block() {
                end = json!({"poll_error": poll_error_report(&e)});
                break;
            }
            drop(ready);
            input.read(max)
        };
        match result {
            Ok(bytes) => {
                reads.push(bytes.len());
                body.extend_from_slice(&bytes);
            }
            Err(e) => {
                end = stream_error_report(&e);
                break;
            }
        }
    }
    json!({"reads": reads, "body": body_report(&body), "end": end})
}

/// Write every piece to `sink`: `check-write` + `write` + `blocking-flush`, or
/// `blocking-write-and-flush`. Returns one report per piece.
fn write_pieces(upload: &http::HttpUpload, sink: &OutputStream, pieces: &[String],
                blocking: bool) -> Vec<Value> {
    let mut reports = Vec::new();
    for piece in pieces {
        let bytes = piece.as_bytes();
        if blocking {
            reports.push(match sink.blocking_write_and_flush(bytes) {
                Ok(()) => json!({"ok": true, "written": bytes.len()}),
                Err(e) => json!({"ok": false, "error": stream_error_report(&e)}),
            });
            continue;
        }
        let mut written = 0usize;
        let mut permits = Vec::new();
        let mut failure = Value::Null;
        while written < bytes.len() && failure.is_null() {
            let writable = upload.subscribe_writable();
            if let Err(e) = writable.block() {
                failure = json!({"poll_error": poll_error_report(&e)});
                break;
            }
            drop(writable);
            match sink.check_write() {
                Ok(0) => permits.push(0),
                Ok(permit) => {
                    permits.push(permit);
                    let take = usize::try_from(permit).unwrap_or(usize::MAX).min(bytes.len() - written);
                    match sink.write(&bytes[written..written + take]) {
                        Ok(()) => written += take,
                        Err(e) => failure = stream_error_report(&e),
                    }
                }
                Err(e) => failure = stream_error_report(&e),
            }
            if permits.len() >= MAX_READS {
                failure = json!({"code": "no-progress"});
            }
        }
        if failure.is_null() {
            if let Err(e) = sink.blocking_flush() {
                failure = stream_error_report(&e);
            }
        }
        reports.push(json!({
            "ok": failure.is_null(),
            "written": written,
            "permits": permits,
            "error": failure,
        }));
    }
    reports
}

/// Runs the HTTP interface of upstream Astrid one function at a time for the host's tests.
#[derive(Default)]
pub struct HttpAll;

#[capsule]
impl HttpAll {
    /// `http-request` with the request as given.
    #[astrid::interceptor("http_request")]
    pub fn http_request(&self, args: RequestArgs) -> Result<Value, SysError> {
        Ok(response_report(http::http_request(&args.request.to_wit())))
    }

    /// `http-request-opts` with the request and options as given.
    #[astrid::interceptor("http_request_opts")]
    pub fn http_request_opts(&self, args: OptsArgs) -> Result<Value, SysError> {
        let options = args.options.to_wit()?;
        Ok(response_report(http::http_request_opts(&args.request.to_wit(), &options)))
    }

    /// `http-stream-start`, then read the stream.
    #[astrid::interceptor("http_stream_start")]
    pub fn http_stream_start(&self, args: RequestArgs) -> Result<Value, SysError> {
        Ok(stream_report(http::http_stream_start(&args.request.to_wit())))
    }

    /// `http-stream-start-opts`, then read the stream.
    #[astrid::interceptor("http_stream_start_opts")]
    pub fn http_stream_start_opts(&self, args: OptsArgs) -> Result<Value, SysError> {
        let options = args.options.to_wit()?;
        Ok(stream_report(http::http_stream_start_opts(&args.request.to_wit(), &options)))
    }

    /// Read a stream by waiting on `subscribe-readable` before every `read-chunk`.
    #[astrid::interceptor("stream_poll")]
    pub fn stream_poll(&self, args: OptsArgs) -> Result<Value, SysError> {
        let options = args.options.to_wit()?;
        Ok(match http::http_stream_start_opts(&args.request.to_wit(), &options) {
            Ok(stream) => poll_stream(&stream),
            Err(e) => json!({"ok": false, "error": error_report(&e)}),
        })
    }

    /// Read a stream's body through `body-stream` (an `astrid:io` input-stream).
    #[astrid::interceptor("stream_body")]
    pub fn stream_body(&self, args: BodyStreamArgs) -> Result<Value, SysError> {
        let options = args.options.to_wit()?;
        let stream = match http::http_stream_start_opts(&args.request.to_wit(), &options) {
            Ok(stream) => stream,
            Err(e) => return Ok(json!({"ok": false, "error": error_report(&e)})),
        };
        let input = stream.body_stream();
        let report = read_input(&input, args.max.unwrap_or(DEFAULT_READ_MAX), args.blocking);
        drop(input);  // a child of the stream: dropped first
        Ok(json!({"ok": true, "status": stream.status(), "read": report}))
    }

    /// Upload `pieces` through `http-upload-start` / `body-sink`, `finish`, read the response.
    #[astrid::interceptor("upload")]
    pub fn upload(&self, args: UploadArgs) -> Result<Value, SysError> {
        let blocking = match args.mode.as_deref() {
            None | Some("write") => false,
            Some("blocking") => true,
            Some(other) => {
                return Err(SysError::ApiError(format!(
                    "mode: expected write or blocking, got {other:?}"
                )));
            }
        };
        let options = args.options.to_wit()?;
        let upload = match http::http_upload_start(&args.request.to_wit(), &options) {
            Ok(upload) => upload,
            Err(e) => return Ok(json!({"ok": false, "error": error_report(&e)})),
        };
        let sink = upload.body_sink();
        let writes = write_pieces(&upload, &sink, &args.pieces, blocking);
        drop(sink);  // the body ends when the sink is gone and `finish` is called
        let response = stream_report(upload.finish());
        let finish_again = match upload.finish() {
            Ok(_) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": error_report(&e)}),
        };
        Ok(json!({
            "ok": true,
            "writes": writes,
            "response": response,
            "finish_again": finish_again,
        }))
    }
}
