//! The event store behind the bus: an append-only, ordered log of events.
//! [`EventLog`](super::EventLog) keeps it in the kernel's sled database; a
//! deployment that outgrows one machine implements this trait over a
//! distributed log (NATS JetStream, a PostgreSQL table) without touching
//! a plugin.

use super::LoggedEvent;
use crate::storage::StorageError;

/// An append-only, ordered, durable log of events.
pub trait EventStore: Send + Sync {
    /// Append an event; returns its sequence number (from 1, increasing).
    /// Visible to readers at once; durable after
    /// [`Storage::durable`](crate::storage::Storage::durable) (or the
    /// store's own equivalent).
    fn publish(&self, topic: &str, source: &str, payload: Vec<u8>) -> Result<u64, StorageError>;

    /// The event `seq`, if it exists.
    fn get(&self, seq: u64) -> Result<Option<LoggedEvent>, StorageError>;

    /// Up to `limit` events after `after` whose topic passes `wanted`, in
    /// order, and the sequence number scanned up to.
    fn read_matching(
        &self,
        after: u64,
        limit: usize,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<LoggedEvent>, u64), StorageError>;

    /// Remove the events numbered up to `through` that were published
    /// before `published_before` (milliseconds since the epoch), except
    /// those `keep` asks to keep; returns how many were removed. Stops at
    /// the first event outside those bounds: the log is in publishing
    /// order.
    fn remove_expired(
        &self,
        through: u64,
        published_before: u64,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<u64, StorageError>;

    /// The newest sequence number (0: empty).
    fn last_seq(&self) -> u64;

    /// A receiver that changes whenever an event is appended.
    fn watch(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Append a JSON event.
    fn publish_json(
        &self,
        topic: &str,
        source: &str,
        payload: &serde_json::Value,
    ) -> Result<u64, StorageError> {
        self.publish(topic, source, payload.to_string().into_bytes())
    }

    /// Up to `limit` events after `after` whose topic starts with
    /// `topic_prefix` when given.
    fn read(
        &self,
        topic_prefix: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StorageError> {
        let wanted = |topic: &str| topic_prefix.is_none_or(|prefix| topic.starts_with(prefix));
        self.read_matching(after, limit, &wanted)
            .map(|(events, _)| events)
    }
}
