//! Quotas of installed plugins for the admin API: read limits and usage,
//! and set limits that are saved to `<data>/quotas.toml` so that they
//! survive a restart.

use serde::Serialize;

use super::{Lifecycle, LifecycleError};
use crate::quota::{QUOTAS_FILE, QuotaLimits, Usage};

/// One plugin's quota limits (`null`: unlimited) and what it has used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginQuota {
    /// Its limits.
    pub limits: QuotaLimits,
    /// Its usage since the kernel started.
    pub usage: Usage,
}

impl Lifecycle {
    /// The limits and usage of installed plugin `id`.
    pub fn quota(&self, id: &str) -> Result<PluginQuota, LifecycleError> {
        self.record(id)?;
        Ok(self.quota_of(id))
    }

    /// Replace the limits of installed plugin `id` with `limits` (a limit
    /// left out is unlimited): enforced from the next call on, and saved
    /// in `<data>/quotas.toml`.
    pub async fn set_quota(
        &self,
        id: &str,
        limits: QuotaLimits,
    ) -> Result<PluginQuota, LifecycleError> {
        let _guard = self.lock.lock().await;
        self.record(id)?;
        let quotas = self.runtime.quotas().clone();
        let path = self.data.join(QUOTAS_FILE);
        let plugin = id.to_owned();
        tokio::task::spawn_blocking(move || quotas.save_limits(&path, &plugin, limits))
            .await
            .map_err(|error| LifecycleError::Io {
                what: format!("saving the quotas of `{id}`"),
                source: std::io::Error::other(error.to_string()),
            })??;
        tracing::info!(plugin = %id, ?limits, "quota limits changed");
        Ok(self.quota_of(id))
    }

    /// Limits and usage of `id`, installed or not.
    pub(super) fn quota_of(&self, id: &str) -> PluginQuota {
        let quotas = self.runtime.quotas();
        PluginQuota {
            limits: quotas.limits(id),
            usage: quotas.usage(id),
        }
    }
}
