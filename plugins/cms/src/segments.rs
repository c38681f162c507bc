//! The caller's audience segments, asked of the personalisation plugin
//! (`tessera.personalization`, an optional dependency) through `invoke`:
//! `GET /me/segments` on its mount, as the caller's principal, with the
//! caller's visitor id (the `x-visitor-id` header, else the `tessera_vid`
//! cookie) passed on for anonymous visitors. It answers
//! `{"segments": ["tech-buyer", ...]}`.
//!
//! Asked at most once per delivery request, and only when an entry served
//! has variants. Without the plugin (not installed, disabled, failing) the
//! caller is in no segment and gets the default content; a failure is
//! logged, never returned.

use tessera_sdk::prelude::*;

/// The personalisation plugin's id.
pub const PLUGIN: &str = "tessera.personalization";

/// The header carrying an anonymous visitor's id.
pub const VISITOR_HEADER: &str = "x-visitor-id";

/// The cookie carrying an anonymous visitor's id.
pub const VISITOR_COOKIE: &str = "tessera_vid";

/// The caller's visitor id, from the header or the cookie.
pub fn visitor_id(request: &Request) -> Option<String> {
    if let Some(id) = request.header(VISITOR_HEADER) {
        return Some(id.trim().to_owned()).filter(|id| !id.is_empty());
    }
    request
        .header("cookie")?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == VISITOR_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|id| !id.is_empty())
}

/// The segments of the caller of `request`, fetched on first use.
pub struct CallerSegments<'a> {
    request: &'a Request,
    fetched: Option<Vec<String>>,
}

impl<'a> CallerSegments<'a> {
    /// Nothing asked yet.
    pub fn new(request: &'a Request) -> Self {
        Self {
            request,
            fetched: None,
        }
    }

    /// Whether the personalisation plugin was asked (the response then
    /// depends on who calls).
    pub fn asked(&self) -> bool {
        self.fetched.is_some()
    }

    /// The caller's segments (asked once).
    pub fn get(&mut self) -> &[String] {
        if self.fetched.is_none() {
            self.fetched = Some(fetch(self.request));
        }
        self.fetched.as_deref().unwrap_or_default()
    }
}

fn fetch(request: &Request) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        segments: Vec<String>,
    }
    let mut ask =
        Request::new(Method::Get, "/me/segments").with_header("accept", "application/json");
    if let Some(visitor) = visitor_id(request) {
        ask = ask.with_header(VISITOR_HEADER, visitor);
    }
    let answer = invoke::call(PLUGIN, &ask).and_then(|response| {
        if response.is_success() {
            response.body_json::<Answer>()
        } else {
            Err(Error::new(
                response.status,
                "segments_unavailable",
                format!("{PLUGIN} answered {}", response.status),
            ))
        }
    });
    match answer {
        Ok(answer) => answer.segments,
        // Not installed: the usual case without personalisation.
        Err(error) if error.code == "not_found" => Vec::new(),
        Err(error) => {
            log::warn(&format!(
                "cannot read the caller's segments from {PLUGIN}, serving default content: {error}"
            ));
            Vec::new()
        }
    }
}
