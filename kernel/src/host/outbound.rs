//! `tessera:plugin/outbound`: HTTP calls to the origins a manifest allows.
//!
//! The origin check is real. The HTTP client is not part of this kernel yet,
//! so an allowed call reports `unavailable`; nothing leaves the machine.
//! The `outbound-per-minute` quota is enforced already, after the origin
//! check: a refusal is `unavailable` with a message naming the quota (the
//! WIT has no quota case yet).

use tessera_host_api::bindings::tessera::plugin::outbound::{
    self, OutboundError, OutboundRequest, OutboundResponse,
};
use wasmtime::component::{HasSelf, Linker};

use super::denied::capability_denied;
use crate::runtime::HostState;

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
            .any(|entry| entry.trim_end_matches('/').eq_ignore_ascii_case(origin));
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
        Err(OutboundError::Unavailable(
            "this kernel has no outbound HTTP client yet; no request was sent".into(),
        ))
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
