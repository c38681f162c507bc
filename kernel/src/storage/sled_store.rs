//! The embedded default engine: sled on disk, one tree per namespace.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use super::group_flush::GroupFlush;
use super::{BatchOp, CasConflict, DurableFuture, KeyValue, Namespace, Storage, StorageError};

/// sled-backed [`Storage`]. Namespaces are sled trees named `ns/<name>`.
pub struct SledStorage {
    db: sled::Db,
    flush: GroupFlush,
}

impl SledStorage {
    /// Open (or create) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            // Durability comes from the group flush, not from a timer.
            .flush_every_ms(None)
            .open()?;
        let flush = GroupFlush::start(db.clone())?;
        Ok(Self { db, flush })
    }
}

impl Storage for SledStorage {
    fn namespace(&self, name: &str) -> Result<Arc<dyn Namespace>, StorageError> {
        let tree = self.db.open_tree(format!("ns/{name}"))?;
        Ok(Arc::new(SledNamespace { tree }))
    }

    fn durable(&self) -> DurableFuture<'_> {
        Box::pin(self.flush.wait())
    }

    fn close(&self) -> Result<(), StorageError> {
        self.flush.stop();
        self.db.flush()?;
        Ok(())
    }
}

struct SledNamespace {
    tree: sled::Tree,
}

impl Namespace for SledNamespace {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.tree.get(key)?.map(|value| value.to_vec()))
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError> {
        self.tree.insert(key, value)?;
        Ok(())
    }

    fn delete(&self, key: &[u8]) -> Result<bool, StorageError> {
        Ok(self.tree.remove(key)?.is_some())
    }

    fn scan(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StorageError> {
        let lower = match start_after {
            Some(after) if after >= prefix => Bound::Excluded(after.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        let mut entries = Vec::new();
        for item in self.tree.range((lower, Bound::Unbounded)) {
            let (key, value) = item?;
            if !key.starts_with(prefix) || entries.len() >= limit {
                break;
            }
            entries.push((key.to_vec(), value.to_vec()));
        }
        Ok(entries)
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), CasConflict>, StorageError> {
        Ok(self
            .tree
            .compare_and_swap(key, expected, new)?
            .map_err(|error| CasConflict {
                current: error.current.map(|value| value.to_vec()),
            }))
    }

    fn batch(&self, operations: &[BatchOp]) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for operation in operations {
            match operation {
                BatchOp::Set(key, value) => batch.insert(key.as_slice(), value.as_slice()),
                BatchOp::Delete(key) => batch.remove(key.as_slice()),
            }
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> (tempfile::TempDir, SledStorage) {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledStorage::open(dir.path()).unwrap();
        (dir, storage)
    }

    #[test]
    fn namespaces_do_not_see_each_other() {
        let (_dir, storage) = open();
        let a = storage.namespace("a").unwrap();
        let b = storage.namespace("b").unwrap();
        a.set(b"k", b"from a").unwrap();
        assert_eq!(b.get(b"k").unwrap(), None);
        assert_eq!(a.get(b"k").unwrap().as_deref(), Some(&b"from a"[..]));
    }

    #[test]
    fn scan_pages_through_a_prefix() {
        let (_dir, storage) = open();
        let ns = storage.namespace("scan").unwrap();
        for key in ["a/1", "a/2", "a/3", "b/1"] {
            ns.set(key.as_bytes(), b"v").unwrap();
        }
        let first = ns.scan(b"a/", None, 2).unwrap();
        let keys: Vec<_> = first.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
        let rest = ns.scan(b"a/", Some(b"a/2"), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, b"a/3".to_vec());
    }

    #[test]
    fn compare_and_swap_reports_the_current_value() {
        let (_dir, storage) = open();
        let ns = storage.namespace("cas").unwrap();
        assert_eq!(ns.compare_and_swap(b"k", None, Some(b"1")).unwrap(), Ok(()));
        let conflict = ns.compare_and_swap(b"k", None, Some(b"2")).unwrap();
        assert_eq!(
            conflict,
            Err(CasConflict {
                current: Some(b"1".to_vec())
            })
        );
    }

    #[test]
    fn batch_applies_all_operations() {
        let (_dir, storage) = open();
        let ns = storage.namespace("batch").unwrap();
        ns.set(b"gone", b"x").unwrap();
        ns.batch(&[
            BatchOp::Set(b"a".to_vec(), b"1".to_vec()),
            BatchOp::Delete(b"gone".to_vec()),
        ])
        .unwrap();
        assert_eq!(ns.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(ns.get(b"gone").unwrap(), None);
    }

    #[tokio::test]
    async fn durable_resolves_for_concurrent_writers() {
        let (_dir, storage) = open();
        let storage = Arc::new(storage);
        let ns = storage.namespace("durable").unwrap();
        let mut tasks = Vec::new();
        for i in 0..32u32 {
            let storage = storage.clone();
            let ns = ns.clone();
            tasks.push(tokio::spawn(async move {
                ns.set(&i.to_be_bytes(), b"v").unwrap();
                storage.durable().await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(ns.scan(b"", None, 100).unwrap().len(), 32);
    }
}
