//! Per-plugin quotas and metering: limits an administrator sets per plugin
//! on top of the manifest's memory and time per call, enforced by the host
//! functions with a typed refusal, and the usage they meter.
//!
//! - [`QuotaLimits`]: `storage-bytes`, `storage-ops-per-second`,
//!   `events-per-second`, `outbound-per-minute` (`None`: unlimited), set
//!   with [`Quotas::set_limits`], read from `<data>/quotas.toml` by
//!   [`Quotas::load_file`], or set and saved there by
//!   [`Quotas::save_limits`] (the admin API);
//! - [`Usage`]: what each plugin used, for `/metrics` and the admin API;
//! - [`MeteredNamespace`]: storage calls charged and byte-accounted;
//! - [`QuotaExceeded`]: the refusal, naming the plugin and the quota.
//!
//! Rates are token buckets holding one period's worth (the burst). Each
//! plugin has one meter behind one mutex, held only for arithmetic; no lock
//! is held across an await. See `docs/quotas.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::storage::{Namespace, StorageError};

mod bucket;
mod error;
mod file;
mod limits;
mod meter;
mod storage;
mod usage;

pub use error::{MeteredError, QuotaExceeded, QuotaFileError};
pub use limits::{QuotaKind, QuotaLimits};
pub use meter::Reservation;
pub use storage::MeteredNamespace;
pub use usage::{Refusals, Usage};

use meter::{PluginMeter, Rate};

/// The file in the data directory that [`Quotas::load_data_dir`] reads at
/// startup.
pub const QUOTAS_FILE: &str = "quotas.toml";

/// Every plugin's limits and usage. Shared (`Arc`) by the runtime, the host
/// functions and the metrics; thread-safe.
#[derive(Default)]
pub struct Quotas {
    meters: RwLock<HashMap<String, Arc<PluginMeter>>>,
    /// Held while the quotas file is read, changed and written.
    file_writer: std::sync::Mutex<()>,
}

impl Quotas {
    /// No limits, no usage.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply the limits in a quotas file (`<data>/quotas.toml`): every
    /// plugin id it names gets exactly the limits of its table; other
    /// plugins keep theirs. A missing file limits nothing. Returns how many
    /// plugins the file names.
    pub fn load_file(&self, path: &Path) -> Result<usize, QuotaFileError> {
        let limits = file::read(path)?;
        for (plugin, limits) in &limits {
            self.set_limits(plugin, *limits);
            tracing::info!(plugin = %plugin, ?limits, file = %path.display(), "quota limits set");
        }
        Ok(limits.len())
    }

    /// Apply `<data>/quotas.toml` ([`QUOTAS_FILE`]) with
    /// [`load_file`](Self::load_file): what `tessera serve` calls at
    /// startup.
    pub fn load_data_dir(&self, data: &Path) -> Result<usize, QuotaFileError> {
        self.load_file(&data.join(QUOTAS_FILE))
    }

    /// Set the limits of `plugin` like [`set_limits`](Self::set_limits)
    /// and record them in the quotas file at `path` (`<data>/quotas.toml`),
    /// so that they survive a restart. The file is rewritten atomically with
    /// every other plugin's table kept (comments are not); a file that
    /// cannot be parsed is left alone and nothing changes. Concurrent calls
    /// are serialized.
    pub fn save_limits(
        &self,
        path: &Path,
        plugin: &str,
        limits: QuotaLimits,
    ) -> Result<(), QuotaFileError> {
        let _writer = self
            .file_writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file::write_one(path, plugin, limits)?;
        self.set_limits(plugin, limits);
        tracing::info!(plugin = %plugin, ?limits, file = %path.display(), "quota limits saved");
        Ok(())
    }

    /// Set the limits of `plugin` (loaded or not), replacing its previous
    /// ones. A rate whose limit changed starts with a full bucket.
    pub fn set_limits(&self, plugin: &str, limits: QuotaLimits) {
        self.meter(plugin).set_limits(limits);
    }

    /// The limits of `plugin` (unlimited if never set).
    pub fn limits(&self, plugin: &str) -> QuotaLimits {
        self.existing(plugin)
            .map(|meter| meter.limits())
            .unwrap_or_default()
    }

    /// What `plugin` has used (nothing if it never made a metered call).
    pub fn usage(&self, plugin: &str) -> Usage {
        self.existing(plugin)
            .map(|meter| meter.usage())
            .unwrap_or_default()
    }

    /// Usage of every plugin with limits or metered calls, by plugin id.
    pub fn all_usage(&self) -> BTreeMap<String, Usage> {
        let meters: Vec<Arc<PluginMeter>> = self.read().values().cloned().collect();
        meters
            .into_iter()
            .map(|meter| (meter.id().to_owned(), meter.usage()))
            .collect()
    }

    /// `plugin`'s storage namespace with its quotas applied: what the
    /// storage host functions call.
    pub fn storage(&self, plugin: &str, namespace: Arc<dyn Namespace>) -> MeteredNamespace {
        MeteredNamespace::new(self.meter(plugin), namespace)
    }

    /// Measure `plugin`'s stored bytes now by scanning `namespace` (its
    /// namespace), replacing the running count. Storage calls do this on
    /// their own the first time; call it when a plugin is loaded to have
    /// the figure from the start, or after its data was changed outside
    /// the host functions. Returns the bytes found.
    pub fn measure_storage(
        &self,
        plugin: &str,
        namespace: &dyn Namespace,
    ) -> Result<u64, StorageError> {
        let meter = self.meter(plugin);
        let _exclusive = meter.exclusive_gate();
        let bytes = storage::measure(namespace)?;
        meter.set_measured(bytes);
        Ok(bytes)
    }

    /// Admit one storage operation of `plugin` under
    /// `storage-ops-per-second`, and count it.
    pub fn check_storage_op(&self, plugin: &str) -> Result<(), QuotaExceeded> {
        self.check_storage_ops(plugin, 1)
    }

    /// Admit `count` storage operations (a batch) at once, or none.
    pub fn check_storage_ops(&self, plugin: &str, count: u32) -> Result<(), QuotaExceeded> {
        self.meter(plugin).admit(Rate::StorageOps, count)
    }

    /// Whether growing `plugin`'s storage by `delta_bytes` stays within
    /// `storage-bytes`. Changes nothing (a refusal is counted). Writers
    /// that run concurrently should use
    /// [`reserve_storage_growth`](Self::reserve_storage_growth) instead.
    pub fn check_storage_growth(
        &self,
        plugin: &str,
        delta_bytes: i64,
    ) -> Result<(), QuotaExceeded> {
        self.meter(plugin).check_growth(delta_bytes)
    }

    /// Check `delta_bytes` against `storage-bytes` and count growth as used
    /// at once; commit the reservation after the write, or drop it to give
    /// the bytes back.
    pub fn reserve_storage_growth(
        &self,
        plugin: &str,
        delta_bytes: i64,
    ) -> Result<Reservation, QuotaExceeded> {
        self.meter(plugin).reserve(delta_bytes)
    }

    /// Add `delta_bytes` (negative: freed) to `plugin`'s stored bytes.
    /// Ignored until the namespace has been measured, since the measuring
    /// scan will see the write.
    pub fn record_storage_bytes(&self, plugin: &str, delta_bytes: i64) {
        self.meter(plugin).record_bytes(delta_bytes);
    }

    /// Admit one event publish of `plugin` under `events-per-second`, and
    /// count it.
    pub fn check_event_publish(&self, plugin: &str) -> Result<(), QuotaExceeded> {
        self.meter(plugin).admit(Rate::Events, 1)
    }

    /// Admit one outbound call of `plugin` under `outbound-per-minute`, and
    /// count it.
    pub fn check_outbound(&self, plugin: &str) -> Result<(), QuotaExceeded> {
        self.meter(plugin).admit(Rate::Outbound, 1)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<PluginMeter>>> {
        self.meters
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn existing(&self, plugin: &str) -> Option<Arc<PluginMeter>> {
        self.read().get(plugin).cloned()
    }

    fn meter(&self, plugin: &str) -> Arc<PluginMeter> {
        if let Some(meter) = self.existing(plugin) {
            return meter;
        }
        self.meters
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(plugin.to_owned())
            .or_insert_with(|| Arc::new(PluginMeter::new(plugin)))
            .clone()
    }
}

impl std::fmt::Debug for Quotas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quotas")
            .field("plugins", &self.read().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_plugins_are_unlimited_and_unused() {
        let quotas = Quotas::new();
        assert_eq!(quotas.limits("nobody"), QuotaLimits::default());
        assert_eq!(quotas.usage("nobody"), Usage::default());
        assert!(quotas.all_usage().is_empty());
    }

    #[test]
    fn checks_count_per_plugin() {
        let quotas = Quotas::new();
        quotas.set_limits(
            "a",
            QuotaLimits {
                outbound_per_minute: Some(1),
                ..QuotaLimits::default()
            },
        );
        quotas.check_outbound("a").unwrap();
        let error = quotas.check_outbound("a").unwrap_err();
        assert_eq!(error.kind(), QuotaKind::OutboundPerMinute);
        // Another plugin has its own meter.
        quotas.check_outbound("b").unwrap();
        quotas.check_outbound("b").unwrap();
        quotas.check_event_publish("b").unwrap();
        quotas.check_storage_op("b").unwrap();
        quotas.check_storage_ops("b", 10).unwrap();
        let all = quotas.all_usage();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(all["a"].outbound_calls, 1);
        assert_eq!(all["a"].refusals.outbound_per_minute, 1);
        assert_eq!(all["b"].outbound_calls, 2);
        assert_eq!(all["b"].events_published, 1);
        assert_eq!(all["b"].storage_operations, 11);
    }

    #[test]
    fn load_file_sets_the_limits_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(QUOTAS_FILE);
        let quotas = Quotas::new();
        assert_eq!(quotas.load_file(&path).unwrap(), 0);
        quotas.set_limits(
            "kept",
            QuotaLimits {
                events_per_second: Some(3),
                ..QuotaLimits::default()
            },
        );
        std::fs::write(&path, "[\"tessera.hello\"]\nstorage-bytes = 64\n").unwrap();
        assert_eq!(quotas.load_data_dir(dir.path()).unwrap(), 1);
        assert_eq!(quotas.limits("tessera.hello").storage_bytes, Some(64));
        assert_eq!(quotas.limits("kept").events_per_second, Some(3));
    }

    #[test]
    fn usage_serializes_with_kebab_case() {
        let quotas = Quotas::new();
        quotas.check_event_publish("p").unwrap();
        let json = serde_json::to_value(quotas.usage("p")).unwrap();
        assert_eq!(json["events-published"], 1);
        assert!(json["storage-bytes"].is_null());
        assert_eq!(json["refusals"]["events-per-second"], 0);
    }

    #[test]
    fn measure_storage_replaces_the_running_count() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::SledStorage::open(dir.path()).unwrap();
        let namespace = crate::storage::Storage::namespace(&storage, "plugin/p").unwrap();
        namespace.set(b"ab", b"cd").unwrap();
        let quotas = Quotas::new();
        assert_eq!(quotas.measure_storage("p", namespace.as_ref()).unwrap(), 4);
        assert_eq!(quotas.usage("p").storage_bytes, Some(4));
        quotas.record_storage_bytes("p", 6);
        assert_eq!(quotas.usage("p").storage_bytes, Some(10));
        quotas.check_storage_growth("p", 1).unwrap();
        let reservation = quotas.reserve_storage_growth("p", 5).unwrap();
        assert_eq!(reservation.delta(), 5);
        assert_eq!(quotas.usage("p").storage_bytes, Some(15));
        drop(reservation);
        assert_eq!(quotas.measure_storage("p", namespace.as_ref()).unwrap(), 4);
        assert_eq!(quotas.usage("p").storage_bytes, Some(4));
    }
}
