//! Example capsule: fetch one URL through the host and return a short summary.
//!
//! `run(input)` takes either a bare URL (`https://example.org/`) or JSON such as
//! `{"url": "https://example.org/"}`, fetches it with `client.send` (the host checks the URL
//! against the capsule's egress policy and every resolved address before connecting) and
//! answers with one line per fact:
//!
//! ```text
//! status: 200
//! content-type: text/html; charset=utf-8
//! bytes: 1256
//! final-url: https://example.org/
//! title: Example Domain
//! ```
//!
//! `title` is the HTML `<title>` when there is one, otherwise `first-line` (the first
//! non-empty line of the body, at most 120 characters). A request the host refuses comes
//! back as `err` with the host's error code, e.g. `destination-prohibited: 10.0.0.1 (private)`.
//!
//! Three more ways to fetch, for bodies larger than one call should carry:
//!
//! - `{"url": "...", "stream": true}` uses `client.start` and reads the body through the body
//!   lane (`lane::read_to_vec_with`: `read-into` straight into a `Vec`, pieces of up to 64 KiB);
//!   the summary adds `reads: N`.
//! - `{"url": "...", "upload": "text"}` uses `client.upload`: it POSTs the text with
//!   `lane::write_all` (one `write-from`), then `finish`es and summarises the response.
//! - `{"url": "...", "output": true}` reads the body like `stream` and hands all of it to the
//!   host as the call's output (`lane::output::write_all`, one `output.write-from`;
//!   `astrid-host run --output FILE` saves it); the answer is the status and the size.
//!
//! Build it with `python scripts/build_guests.py --only rust-example` (see README.md).

wit_bindgen::generate!({
    path: "../../../wit",
    world: "capsule",
});

mod lane;

use astrid::http::client;
use astrid::http::types::{ErrorCode, Method, Request, RequestOptions, Response};

/// Largest body the capsule asks for; bigger responses fail with `body-too-large`.
const MAX_BODY: u64 = 4 * 1024 * 1024;
const MAX_LINE: usize = 120;
/// Largest piece one `read-into` of the streamed download copies.
const READ_PIECE: usize = 64 * 1024;

struct Example;

impl Guest for Example {
    fn run(input: String) -> Result<String, String> {
        let url = parse_input(&input)?;
        let trimmed = input.trim();
        if let Some(text) = json_string_field(trimmed, "upload") {
            return upload(url, text.as_bytes()).map_err(|e| describe_error(&e));
        }
        if json_bool_field(trimmed, "stream") == Some(true) {
            return stream(url).map_err(|e| describe_error(&e));
        }
        if json_bool_field(trimmed, "output") == Some(true) {
            return fetch_to_output(url).map_err(|e| describe_error(&e));
        }
        let resp = client::send(&request(Method::Get, url)).map_err(|e| describe_error(&e))?;
        Ok(summarise(&resp))
    }
}

/// A request with the timeouts and the body limit this capsule asks for.
fn request(method: Method, url: String) -> Request {
    Request {
        method,
        url,
        headers: vec![("accept".into(), b"text/html, */*;q=0.5".to_vec())],
        body: None,
        options: Some(RequestOptions {
            connect_timeout_ms: Some(10_000),
            first_byte_timeout_ms: Some(10_000),
            between_bytes_timeout_ms: Some(10_000),
            total_timeout_ms: Some(30_000),
            redirect_policy: None,
            max_redirects: None,
            max_response_bytes: Some(MAX_BODY),
            https_only: false,
            decompress: true,
            integrity: None,
        }),
    }
}

/// `client.start`: the response head first, then the body through the lane (the host copies
/// each piece straight into the `Vec`). Dropping `body` (at the end) closes the connection.
fn stream(url: String) -> Result<String, ErrorCode> {
    let body = client::start(&request(Method::Get, url))?;
    let mut reads = 0u32;
    let all = lane::read_to_vec_with(&body, READ_PIECE, |_| reads += 1)?;
    let total = all.len();
    let first_piece = &all[..total.min(READ_PIECE)];
    let content_type = body
        .headers()
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "-".into());
    let facts = format!(
        "status: {}\ncontent-type: {}\nbytes: {}\nfinal-url: {}\n",
        body.status(),
        content_type,
        total,
        body.meta().final_url
    );
    Ok(format!("{facts}{}\nreads: {reads}", describe_text(first_piece)))
}

/// `client.upload`: the request starts at once, the body follows through the lane (the host
/// copies it straight out of this memory), `finish` ends it and waits for the whole response.
fn upload(url: String, text: &[u8]) -> Result<String, ErrorCode> {
    let body = client::upload(&request(Method::Post, url))?;
    lane::write_all(&body, text)?;
    let resp = body.finish()?;
    Ok(summarise(&resp))
}

/// The whole body handed to the host as the call's output: read through the lane, then one
/// `output.write-from` (the host copies it out of this memory). Fails with `invalid-request`
/// when the host did not ask this call for output.
fn fetch_to_output(url: String) -> Result<String, ErrorCode> {
    let body = client::start(&request(Method::Get, url))?;
    let all = lane::read_to_vec(&body)?;
    lane::output::write_all(&all)?;
    Ok(format!("status: {}\nbytes: {}\noutput: all of it", body.status(), all.len()))
}

/// A bare URL, or a JSON object with a string `url` field.
fn parse_input(input: &str) -> Result<String, String> {
    let trimmed = input.trim();
    if !trimmed.starts_with('{') {
        return if trimmed.is_empty() {
            Err("input: expected a URL or {\"url\": \"...\"}".into())
        } else {
            Ok(trimmed.to_string())
        };
    }
    json_string_field(trimmed, "url").ok_or_else(|| "input: JSON without a string \"url\"".into())
}

/// The value of `"key": "..."` in a flat JSON object (enough for this example: no
/// dependency on a JSON crate keeps the capsule small). Handles the common escapes.
fn json_string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let after_key = &json[json.find(&needle)? + needle.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let mut chars = after_colon.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// `true`/`false` of `"key": true` in a flat JSON object.
fn json_bool_field(json: &str, key: &str) -> Option<bool> {
    let needle = format!("\"{key}\"");
    let after_key = &json[json.find(&needle)? + needle.len()..];
    let value = after_key.trim_start().strip_prefix(':')?.trim_start();
    if value.starts_with("true") {
        Some(true)
    } else if value.starts_with("false") {
        Some(false)
    } else {
        None
    }
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a [u8]> {
    resp.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

fn summarise(resp: &Response) -> String {
    let content_type = header(resp, "content-type")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "-".into());
    format!(
        "status: {}\ncontent-type: {}\nbytes: {}\nfinal-url: {}\n{}",
        resp.status,
        content_type,
        resp.body.len(),
        resp.meta.final_url,
        describe_text(&resp.body)
    )
}

/// `title: ...` for HTML with a `<title>`, otherwise `first-line: ...`.
fn describe_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Some(title) = html_title(&text) {
        format!("title: {}", clip(&title))
    } else {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        format!("first-line: {}", clip(first))
    }
}

/// The text inside the first `<title>...</title>`, whitespace collapsed.
fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    Some(text[start..end].split_whitespace().collect::<Vec<_>>().join(" "))
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_LINE {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(MAX_LINE).collect();
        c.push('…');
        c
    }
}

/// One line a person can act on, led by the error-code case name.
fn describe_error(e: &ErrorCode) -> String {
    match e {
        ErrorCode::Denied(why) => format!("denied: {why}"),
        ErrorCode::DestinationProhibited(p) => {
            let addrs: Vec<String> =
                p.addresses.iter().map(|a| format!("{} ({})", a.address, a.reason)).collect();
            format!("destination-prohibited: {}: {}", p.host, addrs.join(", "))
        }
        ErrorCode::InvalidRequest(r) => format!("invalid-request: {:?}: {}", r.part, r.detail),
        ErrorCode::DnsError(d) => format!("dns-error: {d}"),
        ErrorCode::ConnectionRefused(d) => format!("connection-refused: {d}"),
        ErrorCode::ConnectionFailed(d) => format!("connection-failed: {d}"),
        ErrorCode::TlsError(d) => format!("tls-error: {d}"),
        ErrorCode::Timeout(phase) => format!("timeout: {phase:?}"),
        ErrorCode::BodyTooLarge(limit) => format!("body-too-large: limit {limit} bytes"),
        ErrorCode::RequestTooLarge(limit) => format!("request-too-large: limit {limit} bytes"),
        ErrorCode::TooManyRedirects(n) => format!("too-many-redirects: limit {n}"),
        ErrorCode::RedirectBlocked(d) => format!("redirect-blocked: {d}"),
        ErrorCode::IntegrityMismatch(d) => format!("integrity-mismatch: {d}"),
        ErrorCode::ProtocolError(d) => format!("protocol-error: {d}"),
        ErrorCode::StreamLimit(n) => format!("stream-limit: {n}"),
        ErrorCode::Closed => "closed".into(),
        ErrorCode::Cancelled => "cancelled".into(),
        ErrorCode::Internal(d) => format!("internal: {d}"),
    }
}

export!(Example);
