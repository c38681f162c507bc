//! What happens when a plugin reaches for a capability its manifest did not
//! declare: the call fails with the interface's typed `not-permitted`
//! error, and the attempt is logged (a `tracing` warning) and written to
//! the audit log, where administrators see it.

use crate::identity::AuditEvent;
use crate::runtime::HostState;

/// Record a refused `capability` (`events.publish`, `outbound`, `invoke`)
/// towards `target`, and return `message` for the typed error.
pub(super) fn capability_denied(
    state: &HostState,
    capability: &str,
    target: &str,
    message: String,
) -> String {
    tracing::warn!(
        plugin = %state.plugin.id(),
        request_id = %state.context.request_id,
        capability,
        target,
        "capability denied: not declared in the manifest"
    );
    if let Some(identity) = &state.context.directory {
        identity.audit().record_or_log(
            AuditEvent::new(
                "capability.denied",
                &state.context.principal.site,
                state.plugin.id(),
            )
            .target(target)
            .detail(format!("{capability}: {message}")),
        );
    }
    message
}
