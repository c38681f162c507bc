//! What a package holds, what its plugin may do and who signed it, as JSON:
//! `tessera plugin inspect --json` and the console's review before an
//! install (`POST /admin/plugins/inspect`).

use serde_json::json;

use super::{Package, Verification};

/// The package described for an administrator; `trusted_as` is the
/// trust store's name for the signer, when trusted.
pub fn describe(
    package: &Package,
    verification: &Verification,
    trusted_as: Option<&str>,
) -> serde_json::Value {
    let manifest = package.manifest();
    let plugin = &manifest.plugin;
    let capabilities = &manifest.capabilities;
    let signature = verification.signer().map(|signer| {
        json!({
            "public_key": signer.to_text(),
            "fingerprint": signer.fingerprint(),
            "trusted": verification.is_trusted(),
            "trusted_as": trusted_as,
        })
    });
    json!({
        "kind": package.kind().name(),
        "payload": package.payload_entry(),
        "payload_sha256": package.payload_sha256().to_hex(),
        "plugin": {
            "id": plugin.id,
            "version": plugin.version.to_string(),
            "name": plugin.name,
            "description": plugin.description,
            "api": plugin.api.to_string(),
            "mount": plugin.mount,
        },
        "dependencies": manifest
            .dependencies
            .iter()
            .map(|(id, range)| (id.clone(), json!(range.to_string())))
            .collect::<serde_json::Map<_, _>>(),
        "optional_dependencies": manifest
            .optional_dependencies
            .iter()
            .map(|(id, range)| (id.clone(), json!(range.to_string())))
            .collect::<serde_json::Map<_, _>>(),
        "capabilities": {
            "storage": capabilities.storage,
            "events": {
                "publish": capabilities.events.publish,
                "subscribe": capabilities.events.subscribe,
            },
            "outbound": capabilities.outbound,
            "permissions": capabilities.permissions,
            "invoke": capabilities.invoke,
        },
        "limits": {
            "memory": manifest.limits.memory,
            "timeout_ms": manifest.limits.timeout_ms,
        },
        "config": manifest.config,
        "entries": package
            .entries()
            .iter()
            .map(|entry| json!({
                "name": entry.name,
                "size": entry.size,
                "sha256": entry.sha256.to_hex(),
            }))
            .collect::<Vec<_>>(),
        "signature": signature,
        "verification": match verification {
            Verification::Unsigned => "unsigned",
            Verification::Signed { trusted: true, .. } => "trusted",
            Verification::Signed { trusted: false, .. } => "untrusted",
        },
    })
}
