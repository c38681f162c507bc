//! What an administrator may limit per plugin, and the names of those limits.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Limits an administrator sets for one plugin, on top of the manifest's
/// memory and time per call. `None` means unlimited; the default limits
/// nothing.
///
/// Field names are kebab-case in every format (`quotas.toml`, JSON):
/// `storage-bytes`, `storage-ops-per-second`, `events-per-second`,
/// `outbound-per-minute`. An unknown name is an error, so a typo cannot
/// silently leave a plugin unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct QuotaLimits {
    /// Most bytes the plugin's storage namespace may hold, counted as the
    /// sum of key and value sizes. A write that would grow the namespace
    /// past it is refused; shrinking writes and deletes are always allowed.
    pub storage_bytes: Option<u64>,
    /// Most storage operations per second (get, set, delete, scan page,
    /// compare-and-swap: one each; a batch: one per operation it holds),
    /// with a burst of one second's worth.
    pub storage_ops_per_second: Option<u32>,
    /// Most event publishes per second, with a burst of one second's worth.
    pub events_per_second: Option<u32>,
    /// Most outbound HTTP calls per minute, with a burst of one minute's
    /// worth.
    pub outbound_per_minute: Option<u32>,
}

impl QuotaLimits {
    /// The limit of `kind`, widened to `u64`; `None` when unlimited.
    pub fn get(&self, kind: QuotaKind) -> Option<u64> {
        match kind {
            QuotaKind::StorageBytes => self.storage_bytes,
            QuotaKind::StorageOpsPerSecond => self.storage_ops_per_second.map(u64::from),
            QuotaKind::EventsPerSecond => self.events_per_second.map(u64::from),
            QuotaKind::OutboundPerMinute => self.outbound_per_minute.map(u64::from),
        }
    }
}

/// One kind of quota. Its name (`as_str`) is the key in `quotas.toml` and
/// the `kind` label of `tessera_plugin_quota_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaKind {
    /// `storage-bytes`.
    StorageBytes,
    /// `storage-ops-per-second`.
    StorageOpsPerSecond,
    /// `events-per-second`.
    EventsPerSecond,
    /// `outbound-per-minute`.
    OutboundPerMinute,
}

impl QuotaKind {
    /// Every kind, in a stable order.
    pub const ALL: [QuotaKind; 4] = [
        QuotaKind::StorageBytes,
        QuotaKind::StorageOpsPerSecond,
        QuotaKind::EventsPerSecond,
        QuotaKind::OutboundPerMinute,
    ];

    /// The kebab-case name, as in `quotas.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::StorageBytes => "storage-bytes",
            QuotaKind::StorageOpsPerSecond => "storage-ops-per-second",
            QuotaKind::EventsPerSecond => "events-per-second",
            QuotaKind::OutboundPerMinute => "outbound-per-minute",
        }
    }

    /// What a rate quota counts and over which period, for messages.
    pub(super) fn rate_unit(self) -> &'static str {
        match self {
            QuotaKind::StorageBytes => "bytes stored",
            QuotaKind::StorageOpsPerSecond => "storage operations per second",
            QuotaKind::EventsPerSecond => "event publishes per second",
            QuotaKind::OutboundPerMinute => "outbound calls per minute",
        }
    }
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_use_kebab_case_and_default_to_unlimited() {
        let limits: QuotaLimits =
            toml::from_str("storage-bytes = 64\noutbound-per-minute = 10").unwrap();
        assert_eq!(
            limits,
            QuotaLimits {
                storage_bytes: Some(64),
                outbound_per_minute: Some(10),
                ..QuotaLimits::default()
            }
        );
        let json = serde_json::to_value(limits).unwrap();
        assert_eq!(json["storage-bytes"], 64);
        assert!(json["events-per-second"].is_null());
    }

    #[test]
    fn an_unknown_limit_is_an_error() {
        let error = toml::from_str::<QuotaLimits>("storage-byte = 1").unwrap_err();
        assert!(error.to_string().contains("storage-byte"), "{error}");
    }

    #[test]
    fn kind_names_match_the_limit_keys() {
        let limits = QuotaLimits {
            storage_bytes: Some(1),
            storage_ops_per_second: Some(2),
            events_per_second: Some(3),
            outbound_per_minute: Some(4),
        };
        let json = serde_json::to_value(limits).unwrap();
        for (expected, kind) in (1..).zip(QuotaKind::ALL) {
            assert_eq!(json[kind.as_str()], expected);
            assert_eq!(limits.get(kind), Some(expected));
        }
    }
}
