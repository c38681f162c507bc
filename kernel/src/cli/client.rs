//! The blocking HTTP client of the commands that talk to a running kernel
//! (`tessera admin`, `tessera user`, `tessera role`): which kernel, which
//! token, and the kernel's JSON errors turned into a message with a hint.

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::Value;
use tessera_kernel::http::token_path;

use super::DataDir;

/// Which kernel to talk to, and as whom.
#[derive(Debug, Args)]
pub struct Connection {
    /// Base URL of the running kernel.
    #[arg(long, env = "TESSERA_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Bearer API token (default: read from <DATA>/admin-token, the token
    /// of the bootstrap administrator).
    #[arg(long, env = "TESSERA_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    data: DataDir,
}

/// An error the kernel answered with: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiFailure {
    /// HTTP status.
    status: u16,
    /// The kernel's stable error code.
    code: String,
    /// The kernel's message.
    message: String,
}

impl ApiFailure {
    /// What to do about it, when the code says enough.
    fn hint(&self) -> Option<&'static str> {
        Some(match self.code.as_str() {
            "unauthenticated" | "invalid_token" => {
                "the token was refused: pass --token, or --data with the kernel's data directory (its admin-token file)"
            }
            "forbidden" if self.message.contains("permission `") => {
                "the token's user lacks that permission: use the admin token, or grant a role holding it (`tessera role set`, `tessera user grant`)"
            }
            "site_not_found" => "`GET /admin/sites` lists the configured sites",
            "username_taken" => "`tessera user list` shows the accounts of the site",
            "identity_unavailable" => "the kernel's storage failed; see the kernel's log",
            "not_found" if self.message.contains("grant of role `") => {
                "`tessera user list` shows the roles each user holds"
            }
            "not_found" if self.message.contains("site `") => {
                "`GET /admin/sites` lists the configured sites"
            }
            "not_found" if self.message.contains("role `") => {
                "`tessera role list` shows the roles of the site"
            }
            "not_found" if self.message.contains("user `") => {
                "`tessera user list` shows the users of the site"
            }
            _ => return None,
        })
    }
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} ({}, HTTP {})",
            self.message, self.code, self.status
        )?;
        if let Some(hint) = self.hint() {
            write!(formatter, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiFailure {}

/// A blocking client of the kernel's HTTP API.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl Client {
    /// A client for `connection`, reading the token file when no token is
    /// given.
    pub fn new(connection: &Connection) -> anyhow::Result<Self> {
        let token = match &connection.token {
            Some(token) => token.clone(),
            None => {
                let path = token_path(&connection.data.data);
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "cannot read the admin token {}; pass --token or --data",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned()
            }
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        Ok(Self {
            agent,
            url: connection.url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Call the API with an optional raw body: a package for `POST`, JSON
    /// for `PUT`. A JSON error becomes an [`ApiFailure`].
    pub fn call(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<Value> {
        let content_type = if method == "POST" {
            "application/octet-stream"
        } else {
            "application/json"
        };
        self.send(method, path, body.map(|bytes| (bytes, content_type)))
    }

    /// Call the API with an optional JSON body.
    pub fn call_json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()?
            .map(|bytes| (bytes, "application/json"));
        self.send(method, path, body)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> anyhow::Result<Value> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("authorization", format!("Bearer {}", self.token));
        let response = match body {
            Some((bytes, content_type)) => self
                .agent
                .run(request.header("content-type", content_type).body(bytes)?),
            None => self.agent.run(request.body(())?),
        };
        let mut response = response
            .with_context(|| format!("cannot reach the kernel at {}; is it running?", self.url))?;
        let status = response.status();
        let text = response.body_mut().read_to_string()?;
        let value: Value = serde_json::from_str(&text)
            .with_context(|| format!("the kernel answered {status} with a non-JSON body"))?;
        if !status.is_success() {
            let field = |pointer: &str| value.pointer(pointer).and_then(Value::as_str);
            return Err(ApiFailure {
                status: status.as_u16(),
                code: field("/error/code").unwrap_or("error").to_owned(),
                message: field("/error/message").unwrap_or(&text).to_owned(),
            }
            .into());
        }
        Ok(value)
    }
}

/// `text` percent-encoded for a URL path segment or query value: every
/// byte but the unreserved ones (`A-Z a-z 0-9 - . _ ~`).
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The site a command acts on.
#[derive(Debug, Args)]
pub struct SiteArg {
    /// Site to act on (default: the site of the token's user, normally
    /// `default`). Only administrators of the default site may name
    /// another.
    #[arg(long, value_name = "SITE")]
    site: Option<String>,
}

impl SiteArg {
    /// The `?site=<site>` query, or nothing.
    pub fn query(&self) -> String {
        site_query(self.site.as_deref())
    }

    /// The option as typed on a command line (` --site <site>`), or
    /// nothing, for hints.
    pub fn flag(&self) -> String {
        self.site
            .as_deref()
            .map(|site| format!(" --site {site}"))
            .unwrap_or_default()
    }
}

/// The `?site=<site>` query of an optional site, or nothing.
fn site_query(site: Option<&str>) -> String {
    site.map(|site| format!("?site={}", encode(site)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_and_queries_are_encoded() {
        assert_eq!(encode("editor_2-b.c~"), "editor_2-b.c~");
        assert_eq!(encode("../a b&c"), "..%2Fa%20b%26c");
        assert_eq!(site_query(Some("partners")), "?site=partners");
        assert_eq!(site_query(None), "");
    }

    #[test]
    fn failures_carry_a_hint_when_the_code_says_enough() {
        let failure = ApiFailure {
            status: 401,
            code: "invalid_token".into(),
            message: "the bearer token is unknown".into(),
        };
        let text = failure.to_string();
        assert!(text.starts_with("the bearer token is unknown (invalid_token, HTTP 401)"));
        assert!(text.contains("hint: "), "{text}");
        let plain = ApiFailure {
            status: 400,
            code: "invalid_request".into(),
            message: "bad".into(),
        };
        assert_eq!(plain.to_string(), "bad (invalid_request, HTTP 400)");
    }
}
