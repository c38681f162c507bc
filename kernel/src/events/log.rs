//! An append-only, sled-backed log of events, ordered by a sequence number.
//!
//! Keys in the kernel namespace `kernel/events`: `log/<seq, 20 digits>`
//! holds a [`LoggedEvent`], `meta/next-seq` the next sequence number; both
//! are written in one atomic batch. Readers wait for new events on
//! [`EventLog::watch`].

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::EventStore;
use crate::storage::{BatchOp, Namespace, StorageError};

/// Name of the kernel namespace of the event log.
pub const NAMESPACE: &str = "kernel/events";

const NEXT_SEQ: &[u8] = b"meta/next-seq";
/// Events read (and at most removed in one batch) per page of a compaction.
const REMOVE_PAGE: usize = 256;

/// One event in the log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Position in the log, from 1; the event's id.
    pub seq: u64,
    /// Dotted topic, `identity.user.registered`.
    pub topic: String,
    /// Who published it: `kernel` or a plugin id.
    pub source: String,
    /// Milliseconds since the Unix epoch.
    pub published_at: u64,
    /// The payload, byte for byte (JSON by convention), stored as base64.
    #[serde(with = "crate::serde_base64")]
    pub payload: Vec<u8>,
}

impl LoggedEvent {
    /// The payload as JSON when it is JSON, else as a base64 string.
    pub fn payload_view(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|_| {
            serde_json::Value::String(
                base64::engine::general_purpose::STANDARD.encode(&self.payload),
            )
        })
    }

    /// The event as the admin API shows it.
    pub fn view(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "topic": self.topic,
            "source": self.source,
            "published_at": self.published_at,
            "payload": self.payload_view(),
        })
    }
}

/// The log.
pub struct EventLog {
    namespace: Arc<dyn Namespace>,
    next: Mutex<u64>,
    last: tokio::sync::watch::Sender<u64>,
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
            last: tokio::sync::watch::Sender::new(next - 1),
        })
    }
}

impl EventStore for EventLog {
    /// Append an event; returns its sequence number. The write is visible
    /// at once; callers that promise durability await
    /// [`Storage::durable`](crate::storage::Storage::durable) afterwards.
    fn publish(&self, topic: &str, source: &str, payload: Vec<u8>) -> Result<u64, StorageError> {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = *next;
        let published_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let event = LoggedEvent {
            seq,
            topic: topic.to_owned(),
            source: source.to_owned(),
            published_at,
            payload,
        };
        let bytes =
            serde_json::to_vec(&event).map_err(|error| StorageError::Backend(error.to_string()))?;
        self.namespace.batch(&[
            BatchOp::Set(key(seq).into_bytes(), bytes),
            BatchOp::Set(NEXT_SEQ.to_vec(), (seq + 1).to_string().into_bytes()),
        ])?;
        *next = seq + 1;
        drop(next);
        self.last.send_replace(seq);
        tracing::debug!(topic, seq, source, "event appended");
        Ok(seq)
    }

    /// The event `seq`, if it exists.
    fn get(&self, seq: u64) -> Result<Option<LoggedEvent>, StorageError> {
        match self.namespace.get(key(seq).as_bytes())? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| StorageError::Backend(error.to_string())),
            None => Ok(None),
        }
    }

    /// Up to `limit` events after `after` whose topic passes `wanted`, and
    /// the sequence number scanned up to (so a reader can skip what it
    /// does not want).
    fn read_matching(
        &self,
        after: u64,
        limit: usize,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<LoggedEvent>, u64), StorageError> {
        let mut out = Vec::new();
        let mut scanned = after;
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
                scanned = event.seq;
                if wanted(&event.topic) {
                    out.push(event);
                    if out.len() >= limit {
                        return Ok((out, scanned));
                    }
                }
            }
            if !full {
                return Ok((out, scanned));
            }
        }
    }

    /// Remove expired events, a page at a time, each page in one batch.
    fn remove_expired(
        &self,
        through: u64,
        published_before: u64,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<u64, StorageError> {
        let mut removed = 0;
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let page = self
                .namespace
                .scan(b"log/", cursor.as_deref(), REMOVE_PAGE)?;
            let full = page.len() == REMOVE_PAGE;
            let mut deletes = Vec::new();
            let mut done = !full;
            for (key, bytes) in page {
                let event: LoggedEvent = serde_json::from_slice(&bytes)
                    .map_err(|error| StorageError::Backend(error.to_string()))?;
                if event.seq > through || event.published_at >= published_before {
                    done = true;
                    break;
                }
                if !keep(event.seq) {
                    deletes.push(BatchOp::Delete(key.clone()));
                }
                cursor = Some(key);
            }
            if !deletes.is_empty() {
                removed += deletes.len() as u64;
                self.namespace.batch(&deletes)?;
            }
            if done {
                return Ok(removed);
            }
        }
    }

    /// The sequence number of the newest event (0: none yet).
    fn last_seq(&self) -> u64 {
        *self.last.borrow()
    }

    /// A receiver that changes whenever an event is appended.
    fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.last.subscribe()
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

    #[test]
    fn expired_events_are_removed_up_to_the_bounds_and_kept_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let storage = SledStorage::open(dir.path()).unwrap();
        let log = EventLog::open(storage.namespace(NAMESPACE).unwrap()).unwrap();
        for n in 1..=600 {
            log.publish("a.event", "kernel", json(n)).unwrap();
        }
        let later = u64::MAX;
        // Nothing is past a bound of 0, nor published before the epoch.
        assert_eq!(log.remove_expired(0, later, &|_| false).unwrap(), 0);
        assert_eq!(log.remove_expired(600, 0, &|_| false).unwrap(), 0);
        // Up to 550 (across pages), keeping 7 and 300.
        let keep = |seq: u64| seq == 7 || seq == 300;
        assert_eq!(log.remove_expired(550, later, &keep).unwrap(), 548);
        let left: Vec<u64> = log
            .read(None, 0, 1000)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left.len(), 52);
        assert_eq!(left[..3], [7, 300, 551]);
        assert_eq!(left.last(), Some(&600));
        assert!(log.get(7).unwrap().is_some());
        assert!(log.get(8).unwrap().is_none());
        // Removing everything keeps the sequence going.
        assert_eq!(log.remove_expired(600, later, &|_| false).unwrap(), 52);
        assert_eq!(log.publish("a.event", "kernel", json(0)).unwrap(), 601);
        assert_eq!(log.last_seq(), 601);
    }

    fn json(value: u32) -> Vec<u8> {
        value.to_string().into_bytes()
    }
}
