//! Conformance guest in Rust: implements `astrid:http/conformance-tests` (wit/worlds.wit) by
//! driving the `astrid:http/client` imports exactly as the doc comments say, so that the host
//! test suite can compare what a Rust guest sees with what the Python and Go guests see.
//!
//! Shared conventions (identical in every guest language, see docs/guests.md):
//! - `upload-pattern` treats `chunk == 0` as 1 (a zero-sized piece would never finish).
//! - `drop-early` reads pieces of at most `chunk` bytes until it has `read-bytes` or more.
//! - `read-after-end` reads with pieces of 65536 bytes.
//! - `write-after-finish` writes one byte (`0x78`) after `finish`, whatever `finish` returned.
//! - `upload-then-stream` uploads like `upload-pattern` (`chunk == 0` as 1) and reads the
//!   response with `read(chunk)` (also at least 1), counting and hashing like `stream-all`.
//! - `meta-after` reads like `drop-early` with `chunk` 65536, then asks for `meta()`.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "conformance-lane",
});

// The body lane's helpers as capsule authors get them: the example's module itself
// (`shared` in guest.toml makes it an input of this guest's build).
#[path = "../../example/src/lane.rs"]
mod lane;

use astrid::http::client;
use astrid::http::types::{ErrorCode, Request, Response, ResponseMeta};
use exports::astrid::http::conformance_tests::{Guest, StreamReport};
use exports::astrid::http::lane_tests::Guest as LaneGuest;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const PATTERN_MODULUS: u64 = 251;
const READ_AFTER_END_CHUNK: u32 = 65_536;
const META_AFTER_CHUNK: u32 = 65_536;

fn fnv1a64(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Reads `stream` to the end with `read(chunk)`: what `stream-all` reports.
fn read_report(stream: &client::IncomingResponse, chunk: u32) -> Result<StreamReport, ErrorCode> {
    let mut report = StreamReport {
        status: stream.status(),
        header_count: stream.headers().len() as u32,
        total_bytes: 0,
        chunks: 0,
        fnv1a64: FNV_OFFSET,
    };
    while let Some(piece) = stream.read(chunk)? {
        if !piece.is_empty() {
            report.chunks += 1;
        }
        report.total_bytes += piece.len() as u64;
        report.fnv1a64 = fnv1a64(report.fnv1a64, &piece);
    }
    Ok(report)
}

/// Reads pieces of at most `chunk` bytes until `read_bytes` or more (or the end).
fn read_about(
    stream: &client::IncomingResponse,
    read_bytes: u64,
    chunk: u32,
) -> Result<u64, ErrorCode> {
    let mut total = 0u64;
    while total < read_bytes {
        let want = (read_bytes - total).min(u64::from(chunk)) as u32;
        match stream.read(want)? {
            Some(piece) => total += piece.len() as u64,
            None => break,
        }
    }
    Ok(total)
}

/// Writes `total_bytes` bytes (byte i = i % 251) in pieces of `chunk` bytes (0 counts as 1).
fn write_pattern(
    body: &client::OutgoingBody,
    total_bytes: u64,
    chunk: u32,
) -> Result<(), ErrorCode> {
    let chunk = u64::from(chunk.max(1));
    // One buffer long enough that any piece is a slice of it starting at offset % 251.
    let window = chunk.min(total_bytes.max(1)) as usize;
    let pattern: Vec<u8> = (0..window as u64 + PATTERN_MODULUS)
        .map(|i| (i % PATTERN_MODULUS) as u8)
        .collect();
    let mut offset = 0u64;
    while offset < total_bytes {
        let len = (total_bytes - offset).min(chunk) as usize;
        let start = (offset % PATTERN_MODULUS) as usize;
        body.write(&pattern[start..start + len])?;
        offset += len as u64;
    }
    Ok(())
}

struct Conformance;

impl Guest for Conformance {
    fn fetch(req: Request) -> Result<Response, ErrorCode> {
        client::send(&req)
    }

    fn stream_all(req: Request, chunk: u32) -> Result<StreamReport, ErrorCode> {
        let stream = client::start(&req)?;
        read_report(&stream, chunk)
    }

    fn drop_early(req: Request, read_bytes: u64, chunk: u32) -> Result<u64, ErrorCode> {
        let stream = client::start(&req)?;
        let total = read_about(&stream, read_bytes, chunk)?;
        drop(stream);
        Ok(total)
    }

    fn upload_pattern(req: Request, total_bytes: u64, chunk: u32) -> Result<Response, ErrorCode> {
        let body = client::upload(&req)?;
        write_pattern(&body, total_bytes, chunk)?;
        body.finish()
    }

    fn upload_then_stream(
        req: Request,
        total_bytes: u64,
        chunk: u32,
    ) -> Result<StreamReport, ErrorCode> {
        let body = client::upload(&req)?;
        write_pattern(&body, total_bytes, chunk)?;
        let stream = body.finish_streaming()?;
        read_report(&stream, chunk.max(1))
    }

    fn meta_after(req: Request, read_bytes: u64) -> Result<ResponseMeta, ErrorCode> {
        let stream = client::start(&req)?;
        read_about(&stream, read_bytes, META_AFTER_CHUNK)?;
        Ok(stream.meta())
    }

    fn open_many(req: Request, count: u32) -> Vec<Result<u16, ErrorCode>> {
        let mut open = Vec::new();
        let mut outcomes = Vec::with_capacity(count as usize);
        for _ in 0..count {
            match client::start(&req) {
                Ok(stream) => {
                    outcomes.push(Ok(stream.status()));
                    open.push(stream);
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        drop(open);
        outcomes
    }

    fn read_after_end(req: Request) -> Result<Option<Vec<u8>>, ErrorCode> {
        let stream = client::start(&req)?;
        while stream.read(READ_AFTER_END_CHUNK)?.is_some() {}
        stream.read(READ_AFTER_END_CHUNK)
    }

    fn write_after_finish(req: Request) -> Result<(), ErrorCode> {
        let body = client::upload(&req)?;
        let _ = body.finish();
        body.write(b"x")
    }
}

impl LaneGuest for Conformance {
    fn stream_all_lane(req: Request, chunk: u32) -> Result<StreamReport, ErrorCode> {
        let stream = client::start(&req)?;
        let mut chunks = 0u32;
        let body = lane::read_to_vec_with(&stream, chunk as usize, |_| chunks += 1)?;
        Ok(StreamReport {
            status: stream.status(),
            header_count: stream.headers().len() as u32,
            total_bytes: body.len() as u64,
            chunks,
            fnv1a64: fnv1a64(FNV_OFFSET, &body),
        })
    }

    fn upload_pattern_lane(req: Request, total_bytes: u64) -> Result<Response, ErrorCode> {
        let data: Vec<u8> = (0..total_bytes).map(|i| (i % PATTERN_MODULUS) as u8).collect();
        let body = client::upload(&req)?;
        lane::write_all(&body, &data)?;
        body.finish()
    }

    fn relay_lane(src: Request, dst: Request) -> Result<Response, ErrorCode> {
        let data = lane::read_to_vec(&client::start(&src)?)?;
        let body = client::upload(&dst)?;
        lane::write_all(&body, &data)?;
        body.finish()
    }

    fn fetch_to_output(req: Request) -> Result<StreamReport, ErrorCode> {
        let stream = client::start(&req)?;
        let headers = stream.headers();
        // Room for the whole body (and the one byte the last, empty read needs) up front, so
        // the buffer is never moved; a length this guest could not hold is left to growing.
        let room = content_length(&headers).filter(|&n| n < MAX_PRESIZE).map_or(0, |n| n + 1);
        let mut chunks = 0u32;
        let body = lane::read_onto(&stream, Vec::with_capacity(room), lane::PIECE, |_| chunks += 1)?;
        lane::output::write_all(&body)?;
        Ok(StreamReport {
            status: stream.status(),
            header_count: headers.len() as u32,
            total_bytes: body.len() as u64,
            chunks,
            fnv1a64: 0,
        })
    }
}

/// The largest `content-length` `fetch-to-output` sizes its buffer for up front.
const MAX_PRESIZE: usize = 256 << 20;

/// The response's `content-length`, when it has exactly one that is a number.
fn content_length(headers: &[(String, Vec<u8>)]) -> Option<usize> {
    let mut values = headers.iter().filter(|(name, _)| name.eq_ignore_ascii_case("content-length"));
    let (_, value) = values.next()?;
    if values.next().is_some() {
        return None;
    }
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

export!(Conformance);
