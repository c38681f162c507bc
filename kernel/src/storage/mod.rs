//! Durable key-value storage behind a trait, so that a deployment that
//! outgrows one machine can swap the embedded sled engine for a distributed
//! one without touching a plugin.
//!
//! The kernel gives every plugin its own [`Namespace`]; a plugin can only name
//! keys inside it. Writes become durable through [`Storage::durable`], which
//! many concurrent writers share (group commit): one flush acknowledges every
//! write made before it started.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

mod group_flush;
mod sled_store;

pub use sled_store::SledStorage;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The underlying engine failed (I/O error, corruption).
    #[error("storage engine error: {0}")]
    Backend(String),
    /// The storage has been closed; the kernel is shutting down.
    #[error("storage is closed")]
    Closed,
}

impl From<sled::Error> for StorageError {
    fn from(error: sled::Error) -> Self {
        StorageError::Backend(error.to_string())
    }
}

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// One write of an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set a key to a value.
    Set(Vec<u8>, Vec<u8>),
    /// Delete a key.
    Delete(Vec<u8>),
}

/// The result of a compare-and-swap that did not swap: the current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasConflict {
    /// The value found instead of the expected one (none: absent).
    pub current: Option<Vec<u8>>,
}

/// A future returned by [`Storage::durable`].
pub type DurableFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send + 'a>>;

/// A storage engine: a set of isolated namespaces plus a durability barrier.
pub trait Storage: Send + Sync {
    /// The namespace called `name`, created on first use.
    fn namespace(&self, name: &str) -> Result<Arc<dyn Namespace>, StorageError>;
    /// Resolves once every write made before this call is on disk.
    fn durable(&self) -> DurableFuture<'_>;
    /// Flush and stop background work. Later writes fail with
    /// [`StorageError::Closed`] where the engine can tell.
    fn close(&self) -> Result<(), StorageError>;
}

/// An isolated key space. Operations are atomic individually; writes are
/// visible at once and durable after [`Storage::durable`].
pub trait Namespace: Send + Sync {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Set `key` to `value`.
    fn set(&self, key: &[u8], value: &[u8]) -> Result<(), StorageError>;
    /// Delete `key`; returns whether it existed.
    fn delete(&self, key: &[u8]) -> Result<bool, StorageError>;
    /// Up to `limit` entries whose keys start with `prefix`, in key order,
    /// strictly after `start_after` when given.
    fn scan(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<KeyValue>, StorageError>;
    /// Replace `key`'s value with `new` (none: delete) if it is `expected`
    /// (none: absent).
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), CasConflict>, StorageError>;
    /// Apply every operation, or none.
    fn batch(&self, operations: &[BatchOp]) -> Result<(), StorageError>;
}
