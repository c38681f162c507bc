//! Storage calls metered for quotas: each operation is charged against
//! `storage-ops-per-second`, and every write keeps the namespace's byte count
//! exact (sum of key and value sizes) and is refused before writing when it
//! would grow the namespace past `storage-bytes`.
//!
//! The byte count is measured once per plugin by scanning its namespace,
//! then kept up to date from the size of what each write replaces:
//!
//! - `set` and `delete` read the current value and swap it with a
//!   compare-and-swap, so the size they account for is the size they
//!   replaced even when other requests write the same key; after a few lost
//!   races they fall back to the plugin's exclusive gate;
//! - `compare-and-swap` knows the size it replaces (`expected`);
//! - `batch` reads the old sizes and applies the batch under the plugin's
//!   exclusive gate.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::meter::{PluginMeter, Rate};
use super::{MeteredError, Reservation};
use crate::storage::{BatchOp, CasConflict, KeyValue, Namespace, StorageError};

/// Compare-and-swap attempts of a `set` or `delete` before it takes the
/// plugin's exclusive gate.
const OPTIMISTIC_ATTEMPTS: usize = 4;
/// Entries read per page when measuring a namespace.
const MEASURE_PAGE: usize = 1000;

/// A plugin's namespace with its quotas applied. Cheap to create: one per
/// host call.
pub struct MeteredNamespace {
    meter: Arc<PluginMeter>,
    namespace: Arc<dyn Namespace>,
}

/// The bytes an entry counts for.
fn entry_size(key: &[u8], value: Option<&[u8]>) -> i64 {
    value.map_or(0, |value| size_i64(key.len()) + size_i64(value.len()))
}

fn size_i64(size: usize) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

/// Sum of key and value sizes of every entry of `namespace`.
pub(super) fn measure(namespace: &dyn Namespace) -> Result<u64, StorageError> {
    let mut total = 0u64;
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = namespace.scan(b"", after.as_deref(), MEASURE_PAGE)?;
        for (key, value) in &page {
            total = total.saturating_add((key.len() + value.len()) as u64);
        }
        match page.last() {
            Some((key, _)) if page.len() == MEASURE_PAGE => after = Some(key.clone()),
            _ => return Ok(total),
        }
    }
}

impl MeteredNamespace {
    pub(super) fn new(meter: Arc<PluginMeter>, namespace: Arc<dyn Namespace>) -> Self {
        Self { meter, namespace }
    }

    /// Charge `count` operations, and measure the namespace if this is the
    /// plugin's first storage call.
    fn admit(&self, count: usize) -> Result<(), MeteredError> {
        let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
        self.meter.admit(Rate::StorageOps, count)?;
        if !self.meter.is_measured() {
            let _exclusive = self.meter.exclusive_gate();
            if !self.meter.is_measured() {
                let bytes = measure(self.namespace.as_ref())?;
                self.meter.set_measured(bytes);
            }
        }
        Ok(())
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MeteredError> {
        self.admit(1)?;
        Ok(self.namespace.get(key)?)
    }

    /// Set `key` to `value`, unless that would grow the namespace past
    /// `storage-bytes`.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<(), MeteredError> {
        self.admit(1)?;
        self.swap(key, Some(value)).map(|_| ())
    }

    /// Delete `key`; returns whether it existed.
    pub fn delete(&self, key: &[u8]) -> Result<bool, MeteredError> {
        self.admit(1)?;
        self.swap(key, None)
    }

    /// A page of entries, as [`Namespace::scan`]; one operation.
    pub fn scan(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, MeteredError> {
        self.admit(1)?;
        Ok(self.namespace.scan(prefix, start_after, limit)?)
    }

    /// As [`Namespace::compare_and_swap`], refused before writing when the
    /// swap would grow the namespace past `storage-bytes`.
    pub fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), CasConflict>, MeteredError> {
        self.admit(1)?;
        let _shared = self.meter.shared_gate();
        let reservation = self
            .meter
            .reserve(entry_size(key, new) - entry_size(key, expected))?;
        let outcome = self.namespace.compare_and_swap(key, expected, new)?;
        if outcome.is_ok() {
            reservation.commit();
        }
        Ok(outcome)
    }

    /// Apply every operation or none, as [`Namespace::batch`]; counts one
    /// operation per entry (at least one). Refused as a whole, before
    /// writing, when the batch would grow the namespace past
    /// `storage-bytes`.
    pub fn batch(&self, operations: &[BatchOp]) -> Result<(), MeteredError> {
        self.admit(operations.len())?;
        let _exclusive = self.meter.exclusive_gate();
        // Old and new value sizes per key, following the batch in order (a
        // key may appear more than once).
        let mut sizes: BTreeMap<&[u8], (i64, i64)> = BTreeMap::new();
        for operation in operations {
            let (key, value) = match operation {
                BatchOp::Set(key, value) => (key.as_slice(), Some(value.as_slice())),
                BatchOp::Delete(key) => (key.as_slice(), None),
            };
            let new = entry_size(key, value);
            if let Some(entry) = sizes.get_mut(key) {
                entry.1 = new;
            } else {
                let old = entry_size(key, self.namespace.get(key)?.as_deref());
                sizes.insert(key, (old, new));
            }
        }
        let delta = sizes.values().map(|(old, new)| new - old).sum();
        let reservation = self.meter.reserve(delta)?;
        self.namespace.batch(operations)?;
        reservation.commit();
        Ok(())
    }

    /// Replace `key`'s value with `new` (none: delete), accounting for the
    /// size replaced; returns whether the key existed.
    fn swap(&self, key: &[u8], new: Option<&[u8]>) -> Result<bool, MeteredError> {
        {
            let _shared = self.meter.shared_gate();
            let mut current = self.namespace.get(key)?;
            for _ in 0..OPTIMISTIC_ATTEMPTS {
                let Some(reservation) = self.reserve_swap(key, current.as_deref(), new)? else {
                    return Ok(false);
                };
                match self
                    .namespace
                    .compare_and_swap(key, current.as_deref(), new)?
                {
                    Ok(()) => {
                        reservation.commit();
                        return Ok(current.is_some());
                    }
                    // Another request wrote the key meanwhile: account for
                    // what is there now.
                    Err(conflict) => current = conflict.current,
                }
            }
        }
        // Contended: no other write of this plugin runs while we hold the
        // exclusive gate, so what we read is what we replace.
        let _exclusive = self.meter.exclusive_gate();
        let current = self.namespace.get(key)?;
        let Some(reservation) = self.reserve_swap(key, current.as_deref(), new)? else {
            return Ok(false);
        };
        match new {
            Some(value) => self.namespace.set(key, value)?,
            None => {
                self.namespace.delete(key)?;
            }
        }
        reservation.commit();
        Ok(current.is_some())
    }

    /// The reservation for replacing `current` with `new`; none when there
    /// is nothing to do (deleting an absent key).
    fn reserve_swap(
        &self,
        key: &[u8],
        current: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Option<Reservation>, MeteredError> {
        if current.is_none() && new.is_none() {
            return Ok(None);
        }
        let delta = entry_size(key, new) - entry_size(key, current);
        Ok(Some(self.meter.reserve(delta)?))
    }
}

impl std::fmt::Debug for MeteredNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredNamespace")
            .field("plugin", &self.meter.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::{QuotaExceeded, QuotaKind, QuotaLimits, Quotas};
    use crate::storage::{SledStorage, Storage};

    const PLUGIN: &str = "acme.test";

    struct Fixture {
        _dir: tempfile::TempDir,
        storage: SledStorage,
        quotas: Quotas,
    }

    impl Fixture {
        fn new(limits: QuotaLimits) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let storage = SledStorage::open(dir.path()).unwrap();
            let quotas = Quotas::new();
            quotas.set_limits(PLUGIN, limits);
            Self {
                _dir: dir,
                storage,
                quotas,
            }
        }

        fn raw(&self) -> Arc<dyn Namespace> {
            self.storage.namespace("plugin/acme.test").unwrap()
        }

        fn metered(&self) -> MeteredNamespace {
            self.quotas.storage(PLUGIN, self.raw())
        }

        fn bytes(&self) -> u64 {
            self.quotas.usage(PLUGIN).storage_bytes.unwrap()
        }

        /// What a fresh scan finds: the accounting must agree with it.
        fn scanned(&self) -> u64 {
            measure(self.raw().as_ref()).unwrap()
        }
    }

    fn unlimited() -> Fixture {
        Fixture::new(QuotaLimits::default())
    }

    #[test]
    fn existing_data_is_measured_on_the_first_call() {
        let fixture = unlimited();
        let raw = fixture.raw();
        raw.set(b"a", b"123").unwrap();
        // More than one measuring page.
        for i in 0..2500u32 {
            raw.set(format!("k{i:05}").as_bytes(), b"v").unwrap();
        }
        assert_eq!(fixture.quotas.usage(PLUGIN).storage_bytes, None);
        fixture.metered().get(b"a").unwrap();
        assert_eq!(fixture.bytes(), 4 + 2500 * 7);
        assert_eq!(fixture.bytes(), fixture.scanned());
    }

    #[test]
    fn set_counts_new_keys_and_overwrites_by_difference() {
        let fixture = unlimited();
        let ns = fixture.metered();
        ns.set(b"key", b"12345").unwrap();
        assert_eq!(fixture.bytes(), 8);
        ns.set(b"key", b"12").unwrap();
        assert_eq!(fixture.bytes(), 5);
        ns.set(b"key", b"1234567890").unwrap();
        assert_eq!(fixture.bytes(), 13);
        ns.set(b"other", b"").unwrap();
        assert_eq!(fixture.bytes(), 18);
        assert_eq!(fixture.bytes(), fixture.scanned());
    }

    #[test]
    fn delete_frees_the_entry_and_absent_keys_free_nothing() {
        let fixture = unlimited();
        let ns = fixture.metered();
        ns.set(b"a", b"xyz").unwrap();
        ns.set(b"b", b"xyz").unwrap();
        assert!(ns.delete(b"a").unwrap());
        assert_eq!(fixture.bytes(), 4);
        assert!(!ns.delete(b"a").unwrap());
        assert!(!ns.delete(b"never").unwrap());
        assert_eq!(fixture.bytes(), 4);
        assert_eq!(fixture.bytes(), fixture.scanned());
    }

    #[test]
    fn compare_and_swap_counts_only_what_it_swapped() {
        let fixture = unlimited();
        let ns = fixture.metered();
        assert_eq!(ns.compare_and_swap(b"k", None, Some(b"1")).unwrap(), Ok(()));
        assert_eq!(fixture.bytes(), 2);
        // A conflict changes nothing.
        let conflict = ns.compare_and_swap(b"k", None, Some(b"22222")).unwrap();
        assert!(conflict.is_err());
        assert_eq!(fixture.bytes(), 2);
        assert_eq!(
            ns.compare_and_swap(b"k", Some(b"1"), Some(b"333")).unwrap(),
            Ok(())
        );
        assert_eq!(fixture.bytes(), 4);
        assert_eq!(
            ns.compare_and_swap(b"k", Some(b"333"), None).unwrap(),
            Ok(())
        );
        assert_eq!(fixture.bytes(), 0);
        assert_eq!(fixture.bytes(), fixture.scanned());
    }

    #[test]
    fn batch_counts_overwrites_deletes_and_repeated_keys() {
        let fixture = unlimited();
        let ns = fixture.metered();
        ns.set(b"old", b"1234").unwrap();
        ns.set(b"gone", b"1234").unwrap();
        ns.batch(&[
            BatchOp::Set(b"old".to_vec(), b"1".to_vec()),
            BatchOp::Delete(b"gone".to_vec()),
            BatchOp::Set(b"new".to_vec(), b"123".to_vec()),
            BatchOp::Set(b"new".to_vec(), b"12345".to_vec()),
            BatchOp::Delete(b"absent".to_vec()),
            BatchOp::Set(b"temp".to_vec(), b"x".to_vec()),
            BatchOp::Delete(b"temp".to_vec()),
        ])
        .unwrap();
        // old: 3 + 1, new: 3 + 5.
        assert_eq!(fixture.bytes(), 12);
        assert_eq!(fixture.bytes(), fixture.scanned());
        assert_eq!(fixture.quotas.usage(PLUGIN).storage_operations, 2 + 7);
    }

    #[test]
    fn a_write_past_storage_bytes_is_refused_and_writes_nothing() {
        let fixture = Fixture::new(QuotaLimits {
            storage_bytes: Some(20),
            ..QuotaLimits::default()
        });
        let ns = fixture.metered();
        ns.set(b"a", b"123456789").unwrap(); // 10
        ns.set(b"b", b"123456789").unwrap(); // 20: exactly the limit
        let error = ns.set(b"c", b"1").unwrap_err();
        let MeteredError::Quota(QuotaExceeded::StorageBytes {
            limit,
            used,
            requested,
            ..
        }) = error
        else {
            panic!("expected a storage-bytes refusal, got {error:?}");
        };
        assert_eq!((limit, used, requested), (20, 20, 2));
        assert_eq!(fixture.raw().get(b"c").unwrap(), None);
        // Growing an existing value is refused too; shrinking is not.
        ns.set(b"a", b"1234567890").unwrap_err();
        assert_eq!(fixture.raw().get(b"a").unwrap().unwrap(), b"123456789");
        ns.set(b"a", b"1").unwrap();
        ns.set(b"c", b"1").unwrap();
        // Refused compare-and-swap and batch write nothing either.
        let cas = ns.compare_and_swap(b"d", None, Some(b"123456789"));
        assert!(matches!(cas, Err(MeteredError::Quota(_))), "{cas:?}");
        assert_eq!(fixture.raw().get(b"d").unwrap(), None);
        let batch = ns.batch(&[
            BatchOp::Delete(b"c".to_vec()),
            BatchOp::Set(b"e".to_vec(), b"123456789".to_vec()),
        ]);
        assert!(matches!(batch, Err(MeteredError::Quota(_))), "{batch:?}");
        assert_eq!(fixture.raw().get(b"c").unwrap().unwrap(), b"1");
        // A batch that frees as much as it adds fits.
        ns.batch(&[
            BatchOp::Delete(b"b".to_vec()),
            BatchOp::Set(b"e".to_vec(), b"123456789".to_vec()),
        ])
        .unwrap();
        assert_eq!(fixture.bytes(), fixture.scanned());
        let usage = fixture.quotas.usage(PLUGIN);
        assert_eq!(usage.refusals.storage_bytes, 4);
        assert_eq!(usage.refusals.get(QuotaKind::StorageBytes), 4);
    }

    #[test]
    fn storage_operations_are_rate_limited_and_batches_count_each_operation() {
        let fixture = Fixture::new(QuotaLimits {
            storage_ops_per_second: Some(5),
            ..QuotaLimits::default()
        });
        let ns = fixture.metered();
        ns.set(b"a", b"1").unwrap();
        ns.get(b"a").unwrap();
        ns.batch(&[
            BatchOp::Set(b"b".to_vec(), b"1".to_vec()),
            BatchOp::Set(b"c".to_vec(), b"1".to_vec()),
            BatchOp::Set(b"d".to_vec(), b"1".to_vec()),
        ])
        .unwrap();
        let error = ns.scan(b"", None, 10).unwrap_err();
        assert!(
            matches!(
                error,
                MeteredError::Quota(QuotaExceeded::Rate {
                    kind: QuotaKind::StorageOpsPerSecond,
                    limit: 5,
                    requested: 1,
                    ..
                })
            ),
            "{error:?}"
        );
        let usage = fixture.quotas.usage(PLUGIN);
        assert_eq!(usage.storage_operations, 5);
        assert_eq!(usage.refusals.storage_ops_per_second, 1);
    }

    /// A namespace where another writer changes the key just before each
    /// of the first `interferences` compare-and-swaps.
    struct Contended {
        inner: Arc<dyn Namespace>,
        interferences: std::sync::atomic::AtomicUsize,
        /// Bytes the intruder added, which the meter cannot know.
        unmetered: std::sync::atomic::AtomicI64,
    }

    impl Namespace for Contended {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
            self.inner.get(key)
        }
        fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &[u8]) -> Result<bool, StorageError> {
            self.inner.delete(key)
        }
        fn scan(
            &self,
            prefix: &[u8],
            start_after: Option<&[u8]>,
            limit: usize,
        ) -> Result<Vec<KeyValue>, StorageError> {
            self.inner.scan(prefix, start_after, limit)
        }
        fn compare_and_swap(
            &self,
            key: &[u8],
            expected: Option<&[u8]>,
            new: Option<&[u8]>,
        ) -> Result<Result<(), CasConflict>, StorageError> {
            use std::sync::atomic::Ordering;
            let left = self.interferences.load(Ordering::SeqCst);
            if left > 0 {
                self.interferences.store(left - 1, Ordering::SeqCst);
                // The intruder's value has a different size every time.
                let value = vec![b'i'; left * 3];
                let old = entry_size(key, self.inner.get(key)?.as_deref());
                self.inner.set(key, &value)?;
                self.unmetered
                    .fetch_add(entry_size(key, Some(&value)) - old, Ordering::SeqCst);
            }
            self.inner.compare_and_swap(key, expected, new)
        }
        fn batch(&self, operations: &[BatchOp]) -> Result<(), StorageError> {
            self.inner.batch(operations)
        }
    }

    #[test]
    fn lost_races_account_for_what_was_replaced() {
        use std::sync::atomic::Ordering;
        for interferences in [1, OPTIMISTIC_ATTEMPTS - 1, OPTIMISTIC_ATTEMPTS, 20] {
            let fixture = unlimited();
            fixture.raw().set(b"k", &[b's'; 200]).unwrap();
            let contended = Arc::new(Contended {
                inner: fixture.raw(),
                interferences: interferences.into(),
                unmetered: 0.into(),
            });
            let ns = fixture.quotas.storage(PLUGIN, contended.clone());
            // What the meter counts plus what the intruder wrote behind its
            // back is what is stored.
            let agrees = || {
                let counted = i64::try_from(fixture.bytes()).unwrap();
                let unmetered = contended.unmetered.load(Ordering::SeqCst);
                assert_eq!(
                    counted + unmetered,
                    i64::try_from(fixture.scanned()).unwrap(),
                    "{interferences} lost races"
                );
            };
            ns.set(b"k", b"final value").unwrap();
            assert_eq!(fixture.raw().get(b"k").unwrap().unwrap(), b"final value");
            agrees();
            contended
                .interferences
                .store(interferences, Ordering::SeqCst);
            assert!(ns.delete(b"k").unwrap());
            assert_eq!(fixture.raw().get(b"k").unwrap(), None);
            agrees();
        }
    }

    #[test]
    fn concurrent_writers_keep_the_count_exact() {
        let fixture = unlimited();
        std::thread::scope(|scope| {
            for thread in 0..8u8 {
                let ns = fixture.metered();
                scope.spawn(move || {
                    for round in 0..200usize {
                        // Every thread fights over the same few keys, with
                        // values of varying sizes.
                        let key = [b'k', (round % 3) as u8];
                        let value = vec![thread; (round * 7 + usize::from(thread)) % 50];
                        match round % 5 {
                            0 => {
                                ns.delete(&key).unwrap();
                            }
                            1 => ns
                                .batch(&[
                                    BatchOp::Set(key.to_vec(), value),
                                    BatchOp::Delete(vec![b'k', 9]),
                                ])
                                .unwrap(),
                            2 => {
                                let current = ns.get(&key).unwrap();
                                let _ = ns
                                    .compare_and_swap(&key, current.as_deref(), Some(&value))
                                    .unwrap();
                            }
                            _ => ns.set(&key, &value).unwrap(),
                        }
                    }
                });
            }
        });
        assert_eq!(fixture.bytes(), fixture.scanned());
    }

    #[test]
    fn concurrent_writers_cannot_pass_the_limit_together() {
        let fixture = Fixture::new(QuotaLimits {
            storage_bytes: Some(1000),
            ..QuotaLimits::default()
        });
        std::thread::scope(|scope| {
            for thread in 0..8u8 {
                let ns = fixture.metered();
                scope.spawn(move || {
                    for i in 0..100u8 {
                        // 2 + 8 = 10 bytes per entry.
                        let _ = ns.set(&[thread, i], &[0; 8]);
                    }
                });
            }
        });
        assert_eq!(fixture.bytes(), 1000);
        assert_eq!(fixture.scanned(), 1000);
    }
}
