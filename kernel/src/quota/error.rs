//! The errors of the quota module: a refusal, a bad `quotas.toml`, and a
//! metered storage call that failed either way.

use std::path::PathBuf;

use super::QuotaKind;

/// A call refused because it would exceed one of the plugin's quotas. The
/// call did nothing: no byte written, no event published, no request sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaExceeded {
    /// A write would grow the plugin's storage past `storage-bytes`.
    #[error(
        "plugin `{plugin}` is over its storage quota (storage-bytes = {limit}): \
         {used} bytes are stored and this write needs {requested} more; nothing was written. \
         Delete data, or ask an administrator to raise storage-bytes in quotas.toml"
    )]
    StorageBytes {
        /// Plugin id.
        plugin: String,
        /// The `storage-bytes` limit.
        limit: u64,
        /// Bytes stored (or reserved by writes in flight) when refused.
        used: u64,
        /// How many more bytes the write needed.
        requested: u64,
    },
    /// A rate quota (`storage-ops-per-second`, `events-per-second`,
    /// `outbound-per-minute`) has no room for this call now.
    #[error(
        "plugin `{plugin}` is over its quota {kind} = {limit} ({unit}): {requested} refused{hint}",
        unit = kind.rate_unit(),
        hint = rate_hint(*limit, *requested),
    )]
    Rate {
        /// Plugin id.
        plugin: String,
        /// Which quota.
        kind: QuotaKind,
        /// Its limit.
        limit: u32,
        /// How many operations the call needed (a batch needs one per
        /// operation it holds).
        requested: u32,
    },
}

fn rate_hint(limit: u32, requested: u32) -> &'static str {
    if requested > limit {
        "; a single call this large can never fit, split it"
    } else {
        "; retry later"
    }
}

impl QuotaExceeded {
    /// Which quota refused.
    pub fn kind(&self) -> QuotaKind {
        match self {
            QuotaExceeded::StorageBytes { .. } => QuotaKind::StorageBytes,
            QuotaExceeded::Rate { kind, .. } => *kind,
        }
    }

    /// The plugin refused.
    pub fn plugin(&self) -> &str {
        match self {
            QuotaExceeded::StorageBytes { plugin, .. } | QuotaExceeded::Rate { plugin, .. } => {
                plugin
            }
        }
    }

    /// The limit that refused.
    pub fn limit(&self) -> u64 {
        match self {
            QuotaExceeded::StorageBytes { limit, .. } => *limit,
            QuotaExceeded::Rate { limit, .. } => u64::from(*limit),
        }
    }
}

/// `quotas.toml` could not be used. The kernel refuses to start rather than
/// run plugins without the limits an administrator meant to set.
#[derive(Debug, thiserror::Error)]
pub enum QuotaFileError {
    /// The file exists but cannot be read.
    #[error("cannot read the quotas file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a table of plugin ids to limits.
    #[error(
        "{}: {message}\nexpected one table per plugin id with the keys \
         storage-bytes, storage-ops-per-second, events-per-second, outbound-per-minute, e.g.\n\
         [\"tessera.hello\"]\nstorage-bytes = 1048576",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with the line.
        message: String,
    },
    /// The file could not be replaced with new limits.
    #[error("cannot write the quotas file {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A metered storage call failed: refused by a quota, or failed in the
/// storage engine.
#[derive(Debug, thiserror::Error)]
pub enum MeteredError {
    /// Refused by a quota; nothing was done.
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_plugin_and_the_quota() {
        let bytes = QuotaExceeded::StorageBytes {
            plugin: "acme.blog".into(),
            limit: 64,
            used: 60,
            requested: 10,
        };
        let text = bytes.to_string();
        assert!(text.contains("`acme.blog`"), "{text}");
        assert!(text.contains("storage-bytes = 64"), "{text}");
        assert!(text.contains("nothing was written"), "{text}");

        let rate = QuotaExceeded::Rate {
            plugin: "acme.blog".into(),
            kind: QuotaKind::EventsPerSecond,
            limit: 5,
            requested: 1,
        };
        assert_eq!(
            rate.to_string(),
            "plugin `acme.blog` is over its quota events-per-second = 5 \
             (event publishes per second): 1 refused; retry later"
        );
        assert_eq!(rate.kind(), QuotaKind::EventsPerSecond);
        assert_eq!(rate.limit(), 5);
        assert_eq!(rate.plugin(), "acme.blog");
    }

    #[test]
    fn an_oversized_batch_is_told_to_split() {
        let rate = QuotaExceeded::Rate {
            plugin: "p".into(),
            kind: QuotaKind::StorageOpsPerSecond,
            limit: 10,
            requested: 50,
        };
        assert!(rate.to_string().contains("split it"), "{rate}");
    }
}
