//! `tessera:plugin/storage`: the calling plugin's private namespace.
//!
//! The namespace comes from the plugin itself, never from an argument, so a
//! plugin cannot name another plugin's keys. Writes return only once durable
//! (a shared group flush). Every call is metered by the plugin's quotas
//! ([`crate::quota`]): a refusal is `quota-exceeded` naming the quota, its
//! limit and the usage, and nothing is written (a plugin built against
//! contract 0.1 receives `limit-exceeded` with the same message).

use tessera_host_api::bindings::tessera::plugin::storage::{
    self, CasOutcome, Entry, Operation, QuotaExceeded as WitQuotaExceeded, ScanPage, ScanRequest,
    StorageError,
};
use wasmtime::component::{HasSelf, Linker};

use crate::quota::{MeteredError, MeteredNamespace, QuotaExceeded};
use crate::runtime::HostState;
use crate::storage::BatchOp;

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4 << 20;
/// Most entries per scan page and operations per batch.
pub const MAX_ITEMS: usize = 1000;

impl HostState {
    /// The plugin's namespace, metered by its quotas.
    fn namespace(&self) -> Result<MeteredNamespace, StorageError> {
        let namespace = self
            .plugin
            .namespace()
            .cloned()
            .ok_or(StorageError::NotPermitted)?;
        Ok(self.runtime.quotas().storage(self.plugin.id(), namespace))
    }

    /// Resolves once this call's writes are on disk. The future owns what it
    /// needs: `HostState` is not `Sync`, so it must not be borrowed across
    /// the wait.
    fn durable(&self) -> impl Future<Output = Result<(), StorageError>> + Send + 'static {
        let storage = self.runtime.storage().clone();
        async move {
            storage
                .durable()
                .await
                .map_err(|error| StorageError::Backend(error.to_string()))
        }
    }
}

fn check_key(key: &str) -> Result<(), StorageError> {
    if key.is_empty() {
        return Err(StorageError::InvalidKey("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::InvalidKey(format!(
            "the key is {} bytes long; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), StorageError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StorageError::ValueTooLarge(value.len() as u64));
    }
    Ok(())
}

/// A quota refusal is `quota-exceeded`; an engine failure is `backend`.
fn wit_error(error: MeteredError) -> StorageError {
    match error {
        MeteredError::Quota(refusal) => StorageError::QuotaExceeded(quota_exceeded(&refusal)),
        MeteredError::Storage(error) => StorageError::Backend(error.to_string()),
    }
}

/// The WIT record of a quota refusal.
fn quota_exceeded(refusal: &QuotaExceeded) -> WitQuotaExceeded {
    let (used, requested) = match refusal {
        QuotaExceeded::StorageBytes {
            used, requested, ..
        } => (Some(*used), *requested),
        QuotaExceeded::Rate { requested, .. } => (None, u64::from(*requested)),
    };
    WitQuotaExceeded {
        quota: refusal.kind().as_str().to_owned(),
        limit: refusal.limit(),
        used,
        requested,
        message: refusal.to_string(),
    }
}

impl storage::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(&key)?;
        self.namespace()?.get(key.as_bytes()).map_err(wit_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), StorageError> {
        check_key(&key)?;
        check_value(&value)?;
        self.namespace()?
            .set(key.as_bytes(), &value)
            .map_err(wit_error)?;
        self.durable().await
    }

    async fn delete(&mut self, key: String) -> Result<bool, StorageError> {
        check_key(&key)?;
        let existed = self
            .namespace()?
            .delete(key.as_bytes())
            .map_err(wit_error)?;
        self.durable().await?;
        Ok(existed)
    }

    async fn scan(&mut self, request: ScanRequest) -> Result<ScanPage, StorageError> {
        let limit = request.limit as usize;
        if limit == 0 || limit > MAX_ITEMS {
            return Err(StorageError::LimitExceeded(format!(
                "scan limit must be 1 to {MAX_ITEMS}, got {limit}"
            )));
        }
        let namespace = self.namespace()?;
        let mut found = namespace
            .scan(
                request.prefix.as_bytes(),
                request.start_after.as_deref().map(str::as_bytes),
                limit + 1,
            )
            .map_err(wit_error)?;
        let more = found.len() > limit;
        found.truncate(limit);
        let entries: Vec<Entry> = found
            .into_iter()
            .map(|(key, value)| Entry {
                key: String::from_utf8_lossy(&key).into_owned(),
                value,
            })
            .collect();
        let next = if more {
            entries.last().map(|entry| entry.key.clone())
        } else {
            None
        };
        Ok(ScanPage { entries, next })
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<CasOutcome, StorageError> {
        check_key(&key)?;
        if let Some(value) = &new {
            check_value(value)?;
        }
        let outcome = self
            .namespace()?
            .compare_and_swap(key.as_bytes(), expected.as_deref(), new.as_deref())
            .map_err(wit_error)?;
        match outcome {
            Ok(()) => {
                self.durable().await?;
                Ok(CasOutcome::Swapped)
            }
            Err(conflict) => Ok(CasOutcome::Conflict(conflict.current)),
        }
    }

    async fn batch(&mut self, operations: Vec<Operation>) -> Result<(), StorageError> {
        if operations.len() > MAX_ITEMS {
            return Err(StorageError::LimitExceeded(format!(
                "a batch holds at most {MAX_ITEMS} operations, got {}",
                operations.len()
            )));
        }
        let mut batch = Vec::with_capacity(operations.len());
        for operation in operations {
            match operation {
                Operation::Set(Entry { key, value }) => {
                    check_key(&key)?;
                    check_value(&value)?;
                    batch.push(BatchOp::Set(key.into_bytes(), value));
                }
                Operation::Delete(key) => {
                    check_key(&key)?;
                    batch.push(BatchOp::Delete(key.into_bytes()));
                }
            }
        }
        self.namespace()?.batch(&batch).map_err(wit_error)?;
        self.durable().await
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    storage::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
