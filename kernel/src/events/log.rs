//! An append-only, sled-backed log of events, ordered by a sequence number.
//!
//! Keys in the kernel namespace `kernel/events`: `log/<seq, 20 digits>`
//! holds a [`LoggedEvent`], `meta/next-seq` the next sequence number; both
//! are written in one atomic batch.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::storage::{BatchOp, Namespace, StorageError};

/// Name of the kernel namespace of the event log.
pub const NAMESPACE: &str = "kernel/events";

const NEXT_SEQ: &[u8] = b"meta/next-seq";

/// One event in the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedEvent {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Dotted topic, `identity.user.registered`.
    pub topic: String,
    /// Who published it: `kernel` or a plugin id.
    pub source: String,
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// The event's data.
    pub payload: serde_json::Value,
}

/// The log.
pub struct EventLog {
    namespace: Arc<dyn Namespace>,
    next: Mutex<u64>,
}

impl EventLog {
    /// Open the log stored in `namespace`.
    pub fn open(namespace: Arc<dyn Namespace>) -> Result<Self, StorageError> {
        let next = namespace
            .get(NEXT_SEQ)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(1);
        Ok(Self {
            namespace,
            next: Mutex::new(next),
        })
    }

    /// Append an event; returns its sequence number.
    pub fn publish(
        &self,
        topic: &str,
        source: &str,
        payload: serde_json::Value,
    ) -> Result<u64, StorageError> {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = *next;
        let event = LoggedEvent {
            seq,
            topic: topic.to_owned(),
            source: source.to_owned(),
            time: crate::identity::model::now(),
            payload,
        };
        let bytes =
            serde_json::to_vec(&event).map_err(|error| StorageError::Backend(error.to_string()))?;
        self.namespace.batch(&[
            BatchOp::Set(key(seq).into_bytes(), bytes),
            BatchOp::Set(NEXT_SEQ.to_vec(), (seq + 1).to_string().into_bytes()),
        ])?;
        *next = seq + 1;
        tracing::debug!(topic, seq, source, "event appended");
        Ok(seq)
    }

    /// Up to `limit` events after `after`, in order, whose topic starts
    /// with `topic_prefix` when given.
    pub fn read(
        &self,
        topic_prefix: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<LoggedEvent>, StorageError> {
        let mut out = Vec::new();
        let mut cursor = key(after).into_bytes();
        loop {
            let page = self.namespace.scan(b"log/", Some(&cursor), 256)?;
            let full = page.len() == 256;
            if let Some((last, _)) = page.last() {
                cursor.clone_from(last);
            }
            for (_, bytes) in page {
                let event: LoggedEvent = serde_json::from_slice(&bytes)
                    .map_err(|error| StorageError::Backend(error.to_string()))?;
                if topic_prefix.is_none_or(|prefix| event.topic.starts_with(prefix)) {
                    out.push(event);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            if !full {
                return Ok(out);
            }
        }
    }
}

fn key(seq: u64) -> String {
    format!("log/{seq:020}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SledStorage, Storage};

    #[test]
    fn a_reopened_log_continues_the_sequence_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledStorage::open(dir.path()).unwrap();
        {
            let log = EventLog::open(storage.namespace(NAMESPACE).unwrap()).unwrap();
            assert_eq!(log.publish("a.one", "kernel", json(1)).unwrap(), 1);
            assert_eq!(log.publish("b.two", "kernel", json(2)).unwrap(), 2);
        }
        // A new log on the same namespace reads the next number back.
        let log = EventLog::open(storage.namespace(NAMESPACE).unwrap()).unwrap();
        assert_eq!(log.publish("a.three", "kernel", json(3)).unwrap(), 3);
        let all = log.read(None, 0, 10).unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let a = log.read(Some("a."), 0, 10).unwrap();
        assert_eq!(a.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(log.read(None, 2, 10).unwrap().len(), 1);
        assert_eq!(log.read(None, 0, 1).unwrap().len(), 1);
    }

    fn json(value: u32) -> serde_json::Value {
        serde_json::json!(value)
    }
}
