//! What a plugin has used: the snapshot the admin API and `/metrics` show.

use serde::{Deserialize, Serialize};

use super::QuotaKind;

/// One plugin's usage since the kernel started (storage bytes: what its
/// namespace holds now).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Usage {
    /// Bytes in the plugin's storage namespace (sum of key and value sizes),
    /// including writes in flight. `None` until measured: the namespace is
    /// scanned once, on the plugin's first storage call (or when the kernel
    /// asks with [`Quotas::measure_storage`](super::Quotas::measure_storage)).
    pub storage_bytes: Option<u64>,
    /// Storage operations admitted (a batch counts its operations).
    pub storage_operations: u64,
    /// Event publishes admitted past the permission and quota checks.
    pub events_published: u64,
    /// Outbound calls admitted past the origin and quota checks.
    pub outbound_calls: u64,
    /// Calls refused by a quota, per quota.
    pub refusals: Refusals,
}

/// Calls refused, per quota. Keys as in [`QuotaLimits`](super::QuotaLimits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Refusals {
    /// Writes refused by `storage-bytes`.
    pub storage_bytes: u64,
    /// Storage calls refused by `storage-ops-per-second`.
    pub storage_ops_per_second: u64,
    /// Publishes refused by `events-per-second`.
    pub events_per_second: u64,
    /// Outbound calls refused by `outbound-per-minute`.
    pub outbound_per_minute: u64,
}

impl Refusals {
    /// Refusals by `kind`.
    pub fn get(&self, kind: QuotaKind) -> u64 {
        match kind {
            QuotaKind::StorageBytes => self.storage_bytes,
            QuotaKind::StorageOpsPerSecond => self.storage_ops_per_second,
            QuotaKind::EventsPerSecond => self.events_per_second,
            QuotaKind::OutboundPerMinute => self.outbound_per_minute,
        }
    }

    /// Every refusal, whatever the kind.
    pub fn total(&self) -> u64 {
        QuotaKind::ALL
            .iter()
            .fold(0u64, |sum, kind| sum.saturating_add(self.get(*kind)))
    }

    pub(super) fn count(&mut self, kind: QuotaKind) {
        let counter = match kind {
            QuotaKind::StorageBytes => &mut self.storage_bytes,
            QuotaKind::StorageOpsPerSecond => &mut self.storage_ops_per_second,
            QuotaKind::EventsPerSecond => &mut self.events_per_second,
            QuotaKind::OutboundPerMinute => &mut self.outbound_per_minute,
        };
        *counter = counter.saturating_add(1);
    }
}
