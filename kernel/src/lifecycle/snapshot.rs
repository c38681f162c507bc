//! A copy of a plugin's storage namespace taken before its `migrate` runs,
//! so that a failing migration leaves the data exactly as it was.

use std::sync::Arc;

use crate::storage::{BatchOp, KeyValue, Namespace, StorageError};

/// Entries copied per scan page and written per batch on restore.
const PAGE: usize = 500;

/// Every entry of a namespace at one moment.
pub struct Snapshot {
    namespace: Arc<dyn Namespace>,
    entries: Vec<KeyValue>,
}

impl Snapshot {
    /// Copy every entry of `namespace`.
    pub fn take(namespace: Arc<dyn Namespace>) -> Result<Self, StorageError> {
        let entries = all_entries(namespace.as_ref())?;
        Ok(Self { namespace, entries })
    }

    /// Put the namespace back as it was when the snapshot was taken:
    /// delete what was added, restore what was changed or deleted.
    pub fn restore(&self) -> Result<(), StorageError> {
        let now = all_entries(self.namespace.as_ref())?;
        let mut operations: Vec<BatchOp> = now
            .into_iter()
            .filter(|(key, _)| {
                self.entries
                    .binary_search_by(|(kept, _)| kept.as_slice().cmp(key.as_slice()))
                    .is_err()
            })
            .map(|(key, _)| BatchOp::Delete(key))
            .collect();
        operations.extend(
            self.entries
                .iter()
                .map(|(key, value)| BatchOp::Set(key.clone(), value.clone())),
        );
        for chunk in operations.chunks(PAGE) {
            self.namespace.batch(chunk)?;
        }
        Ok(())
    }
}

/// Every entry of `namespace`, sorted by key.
pub fn all_entries(namespace: &dyn Namespace) -> Result<Vec<KeyValue>, StorageError> {
    let mut entries = Vec::new();
    let mut start_after: Option<Vec<u8>> = None;
    loop {
        let page = namespace.scan(b"", start_after.as_deref(), PAGE)?;
        let full = page.len() == PAGE;
        start_after = page.last().map(|(key, _)| key.clone());
        entries.extend(page);
        if !full {
            break;
        }
    }
    Ok(entries)
}
