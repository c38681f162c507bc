//! The audit log of security events: logins and their failures, account
//! and role changes, tokens, plugin installs. Append-only, in the kernel
//! namespace `kernel/audit`, readable by holders of `admin.audit.read`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::IdentityError;
use super::model::{UnixTime, now};
use crate::storage::Namespace;

/// Name of the kernel namespace of the audit log.
pub const NAMESPACE: &str = "kernel/audit";

/// One security event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log (increasing); use it as `before` to page.
    #[serde(default)]
    pub id: String,
    /// When it happened.
    pub time: UnixTime,
    /// What happened, dotted: `login.succeeded`, `login.failed`,
    /// `role.granted`, `plugin.installed` ...
    pub action: String,
    /// The site it happened on.
    pub site: String,
    /// Who did it (user id, username or `anonymous`).
    pub actor: String,
    /// What it was done to (a username, role, token id, plugin id).
    #[serde(default)]
    pub target: Option<String>,
    /// The client address, when known.
    #[serde(default)]
    pub address: Option<String>,
    /// More detail, never a secret.
    #[serde(default)]
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event happening now.
    pub fn new(action: &str, site: &str, actor: &str) -> Self {
        Self {
            id: String::new(),
            time: now(),
            action: action.to_owned(),
            site: site.to_owned(),
            actor: actor.to_owned(),
            target: None,
            address: None,
            detail: None,
        }
    }

    /// Name what it was done to.
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// Record the client address.
    pub fn address(mut self, address: Option<&str>) -> Self {
        self.address = address.map(str::to_owned);
        self
    }

    /// Add detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// The append-only audit log.
#[derive(Clone)]
pub struct AuditLog {
    namespace: Arc<dyn Namespace>,
}

impl AuditLog {
    /// The log in `namespace`.
    pub fn new(namespace: Arc<dyn Namespace>) -> Self {
        Self { namespace }
    }

    /// Append `event`. Its id orders by time: nanoseconds since the epoch
    /// plus random bits, so concurrent appends never collide.
    pub fn record(&self, mut event: AuditEvent) -> Result<(), IdentityError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let salt = super::secret::random_bytes::<3>()?;
        event.id = format!("{nanos:024}-{}", hex::encode(salt));
        tracing::info!(
            target: "tessera::audit",
            action = %event.action,
            site = %event.site,
            actor = %event.actor,
            target = event.target.as_deref().unwrap_or(""),
            "audit"
        );
        let bytes = super::store::encode(&event)?;
        self.namespace
            .set(format!("event/{}", event.id).as_bytes(), &bytes)?;
        Ok(())
    }

    /// Append `event`, logging rather than failing when storage refuses:
    /// the operation it describes has already happened.
    pub fn record_or_log(&self, event: AuditEvent) {
        let action = event.action.clone();
        if let Err(error) = self.record(event) {
            tracing::error!(%error, %action, "cannot write the audit log");
        }
    }

    /// The newest events first, at most `limit`, older than `before` (an
    /// event id) when given, optionally only those whose action starts
    /// with `action` and of `site`.
    pub fn read(
        &self,
        limit: usize,
        before: Option<&str>,
        action: Option<&str>,
        site: Option<&str>,
    ) -> Result<Vec<AuditEvent>, IdentityError> {
        // The namespace scans forward; the log is read whole and filtered.
        // Paging keeps responses small; a later index can bound the scan.
        let mut events = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.namespace.scan(b"event/", after.as_deref(), 512)?;
            let full = page.len() == 512;
            after = page.last().map(|(key, _)| key.clone());
            for (key, bytes) in page {
                let event: AuditEvent =
                    serde_json::from_slice(&bytes).map_err(|error| IdentityError::Corrupt {
                        key: String::from_utf8_lossy(&key).into_owned(),
                        message: error.to_string(),
                    })?;
                if before.is_some_and(|before| event.id.as_str() >= before) {
                    continue;
                }
                if action.is_some_and(|action| !event.action.starts_with(action)) {
                    continue;
                }
                if site.is_some_and(|site| event.site != site) {
                    continue;
                }
                events.push(event);
            }
            if !full {
                break;
            }
        }
        events.reverse();
        events.truncate(limit);
        Ok(events)
    }
}
