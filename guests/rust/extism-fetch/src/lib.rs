//! Peer plugin for the benchmark suite: the work `benchmarks/bench_peer.py` gives the Rust
//! conformance capsule on astrid-host, done by an Extism plugin through the Extism host's
//! `http_request` (extism-pdk). It is not a capsule and astrid-host never loads it; it exists
//! so that the suite can put astrid-host and Extism side by side in one run.
//!
//! Every export mirrors one conformance export (wit/worlds.wit) and moves the body through the
//! plugin's own memory the way the capsule does through its own:
//!
//! - `fetch(url)`: GET `url`, copy the body into the plugin, return it to the host as the
//!   output (like `fetch`, which receives the response and returns it).
//! - `fetch_report(url)`: GET `url`, copy the body into the plugin and hash it (FNV-1a 64);
//!   the output is `status total fnv1a64` in decimal (like `stream-all`'s report).
//! - `upload(input)`: input `total url`; POST a body of `total` bytes where byte i is
//!   `i % 251`, built in the plugin (like `upload-pattern`); the output is
//!   `status` followed by a space and the response body.
//!
//! A non-2xx status is returned in the output, never as an error: the benchmark checks it.

use extism_pdk::*;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const PATTERN_MODULUS: usize = 251;

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = FNV_OFFSET;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn get(url: String) -> Result<http::HttpResponse, Error> {
    http::request::<()>(&HttpRequest::new(url), None)
}

#[plugin_fn]
pub fn fetch(url: String) -> FnResult<Vec<u8>> {
    Ok(get(url)?.body())
}

#[plugin_fn]
pub fn fetch_report(url: String) -> FnResult<String> {
    let res = get(url)?;
    let body = res.body();
    Ok(format!("{} {} {}", res.status_code(), body.len(), fnv1a64(&body)))
}

#[plugin_fn]
pub fn upload(input: String) -> FnResult<Vec<u8>> {
    let (total, url) = input
        .split_once(' ')
        .ok_or_else(|| Error::msg("input: expected `total url`"))?;
    let total: usize = total.parse()?;
    let body: Vec<u8> = (0..total).map(|i| (i % PATTERN_MODULUS) as u8).collect();
    let req = HttpRequest::new(url).with_method("POST");
    let res = http::request(&req, Some(body))?;
    let mut out = format!("{} ", res.status_code()).into_bytes();
    out.extend_from_slice(&res.body());
    Ok(out)
}
