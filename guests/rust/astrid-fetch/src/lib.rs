//! A tool capsule written the way upstream Astrid's SDK (`astrid-sdk` 0.7.2) intends, so that
//! astrid-host can be tested against a capsule it did not shape: one tool, `fetch`, that makes
//! an HTTP request through `astrid:http/host@1.1.0` and returns the status and body text.
//!
//! What the SDK turns this into (see docs/dev/astrid-upstream.md):
//! - `#[capsule]` exports `astrid-hook-trigger`; the tool is the hook action `tool_execute_fetch`,
//!   its payload `{"type":"tool_execute_request","call_id":..,"tool_name":"fetch","arguments":..}`.
//! - The result is published on `tool.v1.execute.fetch.result` as
//!   `{"type":"tool_execute_result","call_id":..,"result":{"call_id","content","is_error"}}`;
//!   `content` is the JSON text of [`FetchResult`], or the error message when `is_error`.
//! - The action `tool_describe` returns (and publishes) the tool's JSON schema.
//!
//! Configuration comes from `Capsule.toml`'s `[env]` through `astrid:sys/host.get-config`; the
//! SDK reads a missing key as "", so every key here has a default in the manifest and an empty
//! value means "use the built-in default" as well.

#![deny(unsafe_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use astrid_sdk::http::{self as sdk_http, RedirectPolicy};
use astrid_sdk::prelude::*;
use astrid_sdk::schemars;
use serde::{Deserialize, Serialize};

const DEFAULT_USER_AGENT: &str = "astrid-fetch/0.1";
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1_048_576;

/// Arguments of the `fetch` tool.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchArgs {
    /// Absolute `http:` or `https:` URL to request.
    pub url: String,
    /// HTTP method; `GET` when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Request header fields, name to value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body as UTF-8 text; no body when absent.
    #[serde(default)]
    pub body: Option<String>,
}

/// What `fetch` returns.
#[derive(Debug, Serialize)]
pub struct FetchResult {
    /// The response status code.
    pub status: u16,
    /// The response body as text (invalid UTF-8 replaced by U+FFFD).
    pub body: String,
}

/// The capsule's settings, read from `[env]` on every call (the host may change them).
struct Settings {
    user_agent: String,
    timeout: Duration,
    max_response_bytes: u64,
    follow_redirects: bool,
}

/// `key`'s value, or `None` when it is missing or empty (the SDK cannot tell them apart).
fn setting(key: &str) -> Result<Option<String>, SysError> {
    let value = env::var(key)?;
    Ok(if value.trim().is_empty() { None } else { Some(value.trim().to_string()) })
}

fn number_setting(key: &str, default: u64) -> Result<u64, SysError> {
    match setting(key)? {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            SysError::ApiError(format!("config {key}: expected a whole number, got {text:?}"))
        }),
    }
}

fn bool_setting(key: &str, default: bool) -> Result<bool, SysError> {
    match setting(key)?.as_deref() {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(SysError::ApiError(format!(
            "config {key}: expected true or false, got {other:?}"
        ))),
    }
}

impl Settings {
    fn read() -> Result<Self, SysError> {
        Ok(Self {
            user_agent: setting("user_agent")?.unwrap_or_else(|| DEFAULT_USER_AGENT.to_string()),
            timeout: Duration::from_millis(number_setting("timeout_ms", DEFAULT_TIMEOUT_MS)?),
            max_response_bytes: number_setting("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES)?,
            follow_redirects: bool_setting("follow_redirects", true)?,
        })
    }
}

/// The capsule: stateless, so the SDK keeps one instance.
#[derive(Default)]
pub struct Fetch;

/// Fetches URLs over HTTP for the agent.
#[capsule]
impl Fetch {
    /// Request a URL and return the response status and body text.
    #[astrid::tool("fetch", mutable)]
    pub fn fetch(&self, args: FetchArgs) -> Result<FetchResult, SysError> {
        let settings = Settings::read()?;
        let method = args.method.as_deref().unwrap_or("GET").to_string();
        let mut request = sdk_http::Request::new(method.clone(), args.url.clone())
            .timeout(settings.timeout)
            .max_response_bytes(settings.max_response_bytes)
            .redirect(if settings.follow_redirects {
                RedirectPolicy::Follow
            } else {
                RedirectPolicy::Error
            });
        let mut has_user_agent = false;
        for (name, value) in &args.headers {
            has_user_agent |= name.eq_ignore_ascii_case("user-agent");
            request = request.header(name.clone(), value.clone());
        }
        if !has_user_agent {
            request = request.header("user-agent", settings.user_agent.clone());
        }
        if let Some(body) = args.body {
            request = request.body(body);
        }
        log::info(format!("fetch {method} {}", args.url));
        match sdk_http::send(&request) {
            Ok(response) => {
                log::info(format!("fetch {method} {}: {}", args.url, response.status()));
                Ok(FetchResult {
                    status: response.status(),
                    body: String::from_utf8_lossy(response.bytes()).into_owned(),
                })
            }
            Err(e) => {
                log::warn(format!("fetch {method} {} failed: {e}", args.url));
                Err(e)
            }
        }
    }
}
