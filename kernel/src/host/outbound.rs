//! `tessera:plugin/outbound`: HTTP calls to the origins a manifest allows,
//! sent by the kernel's client ([`crate::outbound`]).
//!
//! Order of checks: the URL, the origin against `capabilities.outbound`,
//! then the `outbound-per-minute` quota (a refusal is `unavailable` with a
//! message naming the quota: the WIT has no quota case). Each call is
//! logged with the plugin, method, origin, path, status and duration;
//! never headers, query strings or bodies, which may carry credentials.

use tessera_host_api::bindings::tessera::plugin::outbound::{
    self, OutboundError, OutboundRequest, OutboundResponse,
};
use wasmtime::component::{HasSelf, Linker};

use super::denied::capability_denied;
use super::http_types::method_name;
use crate::outbound::{OutboundCall, OutboundFailure};
use crate::runtime::HostState;

/// Whether a listed origin (perhaps with a trailing `/`) is `origin`.
fn same_origin(listed: &str, origin: &str) -> bool {
    let listed = listed.trim().trim_end_matches('/');
    !listed.is_empty() && listed.eq_ignore_ascii_case(origin)
}

/// The path of `url` after its `origin`, without the query string (which
/// may carry credentials), for the log.
fn path_of<'a>(url: &'a str, origin: &str) -> &'a str {
    let rest = url.get(origin.len()..).unwrap_or_default();
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest.get(..end) {
        Some("") | None => "/",
        Some(path) => path,
    }
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if authority_len == 0 {
        return None;
    }
    url.get(..url.len() - rest.len() + authority_len)
}

impl outbound::Host for HostState {
    async fn send(&mut self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let Some(origin) = origin_of(&request.url) else {
            return Err(OutboundError::InvalidUrl(format!(
                "`{}` is not an absolute http(s) URL",
                request.url
            )));
        };
        let allowed = self
            .plugin
            .manifest()
            .capabilities
            .outbound
            .iter()
            .any(
                |entry| match tessera_host_api::manifest::outbound_config_key(entry) {
                    // Origins the administrator configured under that key.
                    Some(key) => self.plugin.config().get(key).is_some_and(|origins| {
                        origins.split([',', ' ', '\n']).any(|listed| {
                            // A configured value may be a whole URL (a base
                            // URL the plugin also uses): its origin counts.
                            let listed = listed.trim();
                            same_origin(origin_of(listed).unwrap_or(listed), origin)
                        })
                    }),
                    None => same_origin(entry, origin),
                },
            );
        if !allowed {
            let message = format!(
                "plugin `{}` may not call `{origin}`; add it to capabilities.outbound",
                self.plugin.id()
            );
            return Err(OutboundError::NotPermitted(capability_denied(
                self, "outbound", origin, message,
            )));
        }
        self.runtime
            .quotas()
            .check_outbound(self.plugin.id())
            .map_err(|refusal| OutboundError::Unavailable(refusal.to_string()))?;
        let left = self
            .context
            .deadline
            .map(|deadline| deadline.saturating_duration_since(std::time::Instant::now()));
        let call = OutboundCall {
            method: method_name(&request.method).to_owned(),
            url: request.url.clone(),
            headers: request.headers,
            body: request.body,
            timeout: crate::outbound::time_limit(request.timeout_ms, left),
        };
        let started = std::time::Instant::now();
        let path = path_of(&request.url, origin);
        let outcome = self.runtime.outbound().send(call).await;
        let elapsed_ms = started.elapsed().as_millis();
        match &outcome {
            Ok(reply) => tracing::info!(
                plugin = %self.plugin.id(), origin, path, status = reply.status, elapsed_ms,
                "outbound call"
            ),
            Err(failure) => tracing::warn!(
                plugin = %self.plugin.id(), origin, path, elapsed_ms, %failure,
                "outbound call failed"
            ),
        }
        outcome
            .map(|reply| OutboundResponse {
                status: reply.status,
                headers: reply.headers,
                body: reply.body,
            })
            .map_err(|failure| match failure {
                OutboundFailure::Invalid(message) => OutboundError::InvalidUrl(message),
                OutboundFailure::Timeout => OutboundError::Timeout,
                OutboundFailure::TooLarge(limit) => OutboundError::ResponseTooLarge(limit),
                OutboundFailure::Connection(message) => OutboundError::Connection(message),
            })
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    outbound::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origin_is_scheme_and_authority() {
        assert_eq!(
            origin_of("https://crm.example.com/api?x=1"),
            Some("https://crm.example.com")
        );
        assert_eq!(
            origin_of("http://localhost:8080"),
            Some("http://localhost:8080")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("https:///path"), None);
    }
}
