//! What the bridge has done, shared between its worker and the requests
//! to `GET /api/mqtt-bridge/` (which run on other threads).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde_json::{Value, json};

/// Counters and the last error.
#[derive(Debug, Default)]
pub struct Status {
    connected: AtomicBool,
    connections: AtomicU64,
    received: AtomicU64,
    published: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// The bridge's status, for this loaded library.
pub static STATUS: Status = Status {
    connected: AtomicBool::new(false),
    connections: AtomicU64::new(0),
    received: AtomicU64::new(0),
    published: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    last_error: Mutex::new(None),
};

impl Status {
    /// Connected (or not) to the broker.
    pub fn set_connected(&self, connected: bool) {
        if connected && !self.connected.swap(true, Ordering::Relaxed) {
            self.connections.fetch_add(1, Ordering::Relaxed);
        } else if !connected {
            self.connected.store(false, Ordering::Relaxed);
        }
    }

    /// A message arrived.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Its event is in the kernel's log.
    pub fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// It was dropped (not telemetry, or refused by the kernel).
    pub fn dropped(&self, why: String) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.error(why);
    }

    /// Remember `why` as the last error.
    pub fn error(&self, why: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
    }

    /// As JSON.
    pub fn view(&self) -> Value {
        let last_error = self
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        json!({
            "connected": self.connected.load(Ordering::Relaxed),
            "connections": self.connections.load(Ordering::Relaxed),
            "received": self.received.load(Ordering::Relaxed),
            "published": self.published.load(Ordering::Relaxed),
            "dropped": self.dropped.load(Ordering::Relaxed),
            "last_error": last_error,
        })
    }
}
